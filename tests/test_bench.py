"""The benchmarks' machinery (never their timings): the step benchmark and its matrix-product
floor, the PyTorch reference network (when torch is installed), and the GPU check's dry run."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_steps  # noqa: E402


def test_the_floor_holds_exactly_the_steps_products():
    from cdlite.nn.networks import build_network
    net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32)
    # embedding, Fourier features (fixed), input layer (no dx), h1, h2, out
    assert bench_steps.linears(net) == [(1, 16, False, False), (2, 32, False, False),
                                        (98, 128, True, False), (128, 128, True, True),
                                        (128, 128, True, True), (128, 2, True, True)]


def test_step_benchmark_runs_and_reports_the_floor_ratio(capsys):
    results = bench_steps.main(["--size", "toy", "--rounds", "2", "--block-ms", "1",
                                "--no-torch"])
    out = capsys.readouterr().out
    (res,) = results
    assert set(res["ratios"]) == {"teacher: cdlite/floor", "CD: cdlite/floor",
                                  "cdlite: CD/teacher"}
    assert all(r["min"] <= r["median"] <= r["max"] for r in res["ratios"].values())
    assert "load average" in out and "cdlite/floor" in out


def test_the_torch_reference_is_cdlites_network_and_denoiser():
    torch = pytest.importorskip("torch")
    import torch_reference
    from cdlite.diffusion import EDMDenoiser
    from cdlite.nn.networks import build_network
    for opts in (dict(d=2, hidden=32, depth=3, input_fourier=8), dict(d=6, hidden=16, depth=2)):
        net = build_network("mlp", **opts)
        rng = np.random.default_rng(0)
        params = {k: v + (0.1 * rng.standard_normal(v.shape)).astype(np.float32)
                  for k, v in net.init(rng).items()}
        y = rng.standard_normal((64, net.d)).astype(np.float32)
        sigma = np.exp(rng.normal(-1.2, 1.2, (64, 1))).astype(np.float32)
        D = EDMDenoiser(net, 0.8).forward(params, y, sigma[:, 0])[0]
        with torch.no_grad():
            Dt = torch_reference.edm_denoiser(torch_reference.TorchMLP(net, params),
                                              torch.from_numpy(y), torch.from_numpy(sigma), 0.8)
        np.testing.assert_allclose(Dt.numpy(), D, rtol=2e-4, atol=2e-5)


def test_gpu_check_dry_run_writes_its_summary(tmp_path, monkeypatch):
    import gpu_check
    monkeypatch.setitem(sys.modules, "cupy", None)  # the dry run installs the fake: undone after
    data = gpu_check.main(["--dry-run", "--out", str(tmp_path), "--size", "toy", "--batch",
                           "256", "--rounds", "1", "--skip", "tests"])
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["dry_run"] and set(saved["parts"]) == {"environment", "parity", "throughput",
                                                         "pipeline"}
    assert all(p["ok"] for p in saved["parts"].values()), saved["parts"]
    parity = data["parts"]["parity"]  # the fake device computes with NumPy: exactly equal
    assert parity["teacher_weights_max_rel"] == 0.0 and parity["nn_indices_equal"]
    assert data["parts"]["throughput"]["rows"][0]["batch"] == 256
    # the pipeline part reports what the run folder holds: every row's f_mem and interval as
    # metrics.json has them, the interval around its value, and the quick teacher memorizing
    # more than its 1-step Euler control (the control that tells CD from "fewer steps")
    run = json.loads((tmp_path / "quick-cpu" / "metrics.json").read_text())
    reported = data["parts"]["pipeline"]["cpu"]
    for row in gpu_check.ROWS:
        assert reported[row] == {"f_mem": run[row]["f_mem"], "ci": run[row]["f_mem_ci"]}
        lo, hi = reported[row]["ci"]
        assert 0.0 <= lo <= reported[row]["f_mem"] <= hi <= 1.0, (row, reported[row])
    assert reported["teacher"]["f_mem"] > reported["teacher_fewstep"]["f_mem"]
