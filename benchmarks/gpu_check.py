"""The GPU check: one prepared script for a machine with CuPy and a CUDA device.

It runs, in order, each part's result written to the summary as soon as the part ends (a part
that fails or times out is recorded as such; the others still run):

  1. environment   Python, NumPy, CuPy, the device and its CUDA versions;
  2. pytest -m gpu the GPU tests (tests/test_gpu.py and the other `gpu`-marked tests);
  3. parity        CuPy against NumPy from the same seeds: teacher and CD steps (weights after
                   20 steps), Heun sampling of the trained teacher, the exact NN search;
  4. throughput    the step benchmark (benchmarks/bench_steps.py) for the toy and digits networks
                   at batch 256 to 8,192 on the GPU and on the CPU (NumPy, 1 BLAS thread):
                   ms per step, samples per second, GPU/CPU speed-up, the batch from which the
                   GPU wins;
  5. pipeline      `cdlite run toy-gaussians --quick --device gpu` and the same on the CPU, as
                   subprocesses: wall time and the f_mem of each row on both devices.

One summary file, gpu_check.json, in the folder given by --out (default $OUT, else
./gpu_check_out); the same summary is printed at the end.

    python benchmarks/gpu_check.py                       # on the GPU machine, about 3-6 minutes
    python benchmarks/gpu_check.py --out /tmp/gpu --batch 256 1024
    python benchmarks/gpu_check.py --dry-run             # anywhere: the whole script on the CPU

--dry-run runs every part without a GPU, to check the script itself: the device is the strict
fake CuPy of tests/fake_cupy.py (NumPy underneath: its timings are CPU timings and mean nothing),
and the pipeline runs with --device cpu. It is what the test suite runs (tests/test_bench.py).
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_steps, next to this file

import bench_steps  # noqa: E402

from cdlite.backend import gpu_available, make_rng, to_numpy  # noqa: E402

ROWS = ("teacher", "teacher_fewstep", "student", "student_2step")


# --- the summary file -----------------------------------------------------------------------------

class Summary:
    """The one summary file, rewritten after every part (so that a killed run keeps the parts
    that finished)."""

    def __init__(self, folder: Path, dry_run: bool):
        self.path = Path(folder) / "gpu_check.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data = {"dry_run": dry_run, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                     "parts": {}}

    def part(self, name: str, fn, *args):
        """Run one part; record its result, or its error, and its time."""
        print(f"--- {name}", flush=True)
        t = time.perf_counter()
        try:
            result = {"ok": True, **fn(*args)}
        except Exception as e:  # one failing part must not lose the others
            result = {"ok": False, "error": f"{type(e).__name__}: {e}",
                      "traceback": traceback.format_exc()[-4000:]}
            print(result["traceback"], flush=True)
        result["seconds"] = round(time.perf_counter() - t, 1)
        self.data["parts"][name] = result
        self.write()
        return result

    def write(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        os.replace(tmp, self.path)


# --- the parts ----------------------------------------------------------------------------------

def environment(xp) -> dict:
    out = {"python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "cpu_count": os.cpu_count(),
           "array_module": xp.__name__, "cupy": getattr(xp, "__version__", None)}
    try:
        props = xp.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        out["device"] = name.decode() if isinstance(name, bytes) else str(name)
        out["device_memory_GiB"] = round(props.get("totalGlobalMem", 0) / 2**30, 1)
        out["cuda_runtime"] = xp.cuda.runtime.runtimeGetVersion()
        out["cuda_driver"] = xp.cuda.runtime.driverGetVersion()
    except AttributeError:  # the fake device of a dry run has no versions
        pass
    return out


def gpu_tests(timeout: int) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    tail = (proc.stdout + proc.stderr)[-3000:]
    print(tail, flush=True)
    last = [line for line in tail.splitlines() if line.strip()][-1:]
    return {"returncode": proc.returncode, "result": last[0] if last else "", "tail": tail}


def _teacher_and_student(xp, steps: int = 20):
    """Train 20 teacher and 20 CD steps on `xp` from fixed seeds (the toy network)."""
    from cdlite.diffusion import EDMDenoiser, edm_loss, consistency_grid
    from cdlite.distill import ConsistencyFunction, cd_loss
    from cdlite.nn.networks import build_network
    from cdlite.nn.optim import Adam, clip_grad_norm, copy_params, ema_update
    net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32)
    params = {k: xp.asarray(v) for k, v in net.init(make_rng(0)).items()}
    train = xp.asarray(make_rng(1).standard_normal((16, 2)).astype(np.float32))
    den, opt, rng = EDMDenoiser(net, 1.0), Adam(2e-3), make_rng(2)
    losses = []
    for _ in range(steps):
        loss, g = edm_loss(den, params, train[xp.asarray(rng.integers(0, 16, 256))], rng)
        clip_grad_norm(g, 1.0)
        opt.step(params, g)
        losses.append(loss)
    student = ConsistencyFunction(net, 1.0, 0.002)
    sp, target = copy_params(params), copy_params(params)
    grid = consistency_grid(18, 0.002, 20.0, 7.0, xp, np.float32)
    opt = Adam(2e-4)
    for _ in range(steps):
        loss, g = cd_loss(student, sp, target, den.bind(params), train, grid, rng)
        clip_grad_norm(g, 1.0)
        opt.step(sp, g)
        ema_update(target, sp, 0.95)
        losses.append(loss)
    return net, params, sp, losses


def _max_rel(a, b) -> float:
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def parity(xp) -> dict:
    """CuPy against NumPy on the same seeds (float32 both: equal to rounding, not bit for bit)."""
    from cdlite.diffusion import EDMDenoiser, generate, karras_sigmas
    from cdlite.metrics import nearest_neighbors
    net, p_cpu, s_cpu, l_cpu = _teacher_and_student(np)
    _, p_gpu, s_gpu, l_gpu = _teacher_and_student(xp)
    out = {"teacher_weights_max_rel": max(_max_rel(p_gpu[k], p_cpu[k]) for k in p_cpu),
           "student_weights_max_rel": max(_max_rel(s_gpu[k], s_cpu[k]) for k in s_cpu),
           "losses_max_rel": _max_rel(np.array(l_gpu), np.array(l_cpu))}
    sig = karras_sigmas(18, 0.002, 20.0)
    x_cpu, _ = generate(EDMDenoiser(net, 1.0).bind(p_cpu), 4096, 2, sig, make_rng(3))
    x_gpu, _ = generate(EDMDenoiser(net, 1.0).bind(p_gpu), 4096, 2, sig, make_rng(3), xp=xp)
    out["heun_samples_max_abs"] = float(np.abs(to_numpy(x_gpu) - x_cpu).max())
    rng = make_rng(4)
    a = rng.standard_normal((20000, 64)).astype(np.float32)
    q = np.concatenate([a[:100] + np.float32(1e-3), rng.standard_normal((900, 64), np.float32)])
    d_cpu, i_cpu = nearest_neighbors(q, a)
    d_gpu, i_gpu = nearest_neighbors(xp.asarray(q), xp.asarray(a))
    out["nn_indices_equal"] = bool(np.array_equal(i_gpu, i_cpu))
    out["nn_distances_max_rel"] = _max_rel(d_gpu, d_cpu)
    out["ok_to_rounding"] = bool(out["teacher_weights_max_rel"] < 1e-2 and out["nn_indices_equal"]
                                 and out["heun_samples_max_abs"] < 5e-2)
    print(json.dumps(out, indent=1), flush=True)
    return out


def throughput(xp, sizes, batches, rounds: int) -> dict:
    """The step benchmark on the device and on the CPU, per size and batch."""
    table = []
    for size in sizes:
        for B in batches:
            row = {"size": size, "batch": B}
            for label, mod in (("gpu", xp), ("cpu", np)):
                res = bench_steps.bench(size, B, mod, None, rounds, 0.05)
                for step in ("teacher", "CD"):
                    ms = res["ms"][f"cdlite {step}"]
                    row[f"{label}_{step}_ms"] = round(ms, 3)
                    row[f"{label}_{step}_samples_per_s"] = round(B / ms * 1e3)
                    row[f"{label}_{step}_floor_ms"] = round(res["ms"][f"floor {step}"], 3)
            for step in ("teacher", "CD"):
                row[f"{step}_gpu_speedup"] = round(row[f"cpu_{step}_ms"] / row[f"gpu_{step}_ms"], 2)
            print(json.dumps(row), flush=True)
            table.append(row)
    wins = {}
    for size in sizes:
        for step in ("teacher", "CD"):
            won = [r["batch"] for r in table if r["size"] == size and r[f"{step}_gpu_speedup"] > 1]
            wins[f"{size} {step}"] = min(won) if won else None
    return {"rows": table, "gpu_wins_from_batch": wins}


def pipeline(device: str, folder: Path, timeout: int) -> dict:
    """`cdlite run toy-gaussians --quick` on `device` and on the CPU: wall time and f_mem."""
    out = {}
    for dev in dict.fromkeys([device, "cpu"]):
        run_dir = folder / f"quick-{dev}"
        cmd = [sys.executable, "-m", "cdlite_cli.main", "run", "toy-gaussians", "--quick",
               "--device", dev, "--out", str(run_dir), "--force", "--quiet"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        wall = round(time.perf_counter() - t, 1)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:])} failed ({proc.returncode}): "
                               f"{(proc.stdout + proc.stderr)[-1500:]}")
        m = json.loads((run_dir / "metrics.json").read_text())
        out[dev] = {"wall_s": wall, "timings_s": m.get("timings_s"),
                    **{row: {"f_mem": m[row]["f_mem"], "ci": m[row]["f_mem_ci"]}
                       for row in ROWS if row in m}}
    if device != "cpu":
        g, c = out[device], out["cpu"]
        out["f_mem_within_cpu_ci"] = {row: bool(c[row]["ci"][0] - 0.02 <= g[row]["f_mem"]
                                                <= c[row]["ci"][1] + 0.02) for row in ROWS}
    print(json.dumps(out, indent=1), flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out",
                    help="folder of the summary file (default $OUT, else ./gpu_check_out)")
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU: check the script on the CPU with tests/fake_cupy.py")
    ap.add_argument("--size", nargs="+", default=list(bench_steps.SIZES),
                    choices=list(bench_steps.SIZES))
    ap.add_argument("--batch", nargs="+", type=int, default=[256, 1024, 2048, 4096, 8192])
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the step benchmark")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["tests", "parity", "throughput", "pipeline"])
    ap.add_argument("--timeout", type=int, default=300, help="seconds per subprocess")
    args = ap.parse_args(argv)

    if args.dry_run:
        sys.path.insert(0, str(ROOT / "tests"))
        import fake_cupy  # the strict stand-in for CuPy (NumPy underneath)
        sys.modules["cupy"] = fake_cupy.module
        xp, device = fake_cupy.module, "cpu"
    elif not gpu_available():
        raise SystemExit("gpu_check: CuPy with a CUDA device is needed (CuPy imported: "
                         f"{'cupy' in sys.modules}); install it (README, 'GPU') or check the "
                         "script with --dry-run")
    else:
        import cupy as xp
        device = "gpu"

    summary = Summary(Path(args.out), args.dry_run)
    summary.part("environment", environment, xp)
    if "tests" not in args.skip:
        summary.part("pytest -m gpu", gpu_tests, args.timeout)
    if "parity" not in args.skip:
        summary.part("parity", parity, xp)
    if "throughput" not in args.skip:
        summary.part("throughput", throughput, xp, args.size, args.batch, args.rounds)
    if "pipeline" not in args.skip:
        summary.part("pipeline", pipeline, device, Path(args.out), args.timeout)
    summary.data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    summary.write()
    failed = [k for k, v in summary.data["parts"].items() if not v["ok"]]
    verdict = "all parts ok" if not failed else "failed: " + ", ".join(failed)
    print(f"\nsummary: {summary.path}  ({verdict})")
    return summary.data


if __name__ == "__main__":
    main()
