"""Run folders never lie: one owner (a lock), a status written last, nothing finished lost or
overwritten without --force, --force never mixing two runs, and inputs bounded before use."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from cdlite.locking import LOCK
from cdlite.nn.networks import MLPConfig, RFConfig, make_network
from cdlite_cli.main import main

from cli_helpers import TINY, invoke, metrics


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("done") / "run"
    assert invoke("run", "toy-gaussians", *TINY, "--out", out, "-q").exit_code == 0
    return out


def _lock(folder, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                           "started": "earlier"}))


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_folder_in_use_is_refused_naming_its_owner(tmp_path):
    from cdlite.locking import FolderLock
    (tmp_path / "run").mkdir()
    with FolderLock.acquire(tmp_path / "run", what="run"):  # a kernel lock: a second open file
        result = invoke("run", "toy-gaussians", *TINY, "--out", tmp_path / "run", "-q")
        resumed = invoke("run", "--resume", tmp_path / "run")
    assert result.exit_code == 2 and f"PID {os.getpid()}" in result.output
    assert "in use" in result.output and not (tmp_path / "run" / "metrics.json").exists()
    assert resumed.exit_code == 2 and "stale" not in result.output + resumed.output


def test_a_killed_run_is_reported_as_such_and_its_old_lock_file_blocks_nothing(tmp_path, done):
    import shutil
    killed = tmp_path / "killed"
    shutil.copytree(done, killed)
    m = metrics(killed)
    m.update(status="running", stage="distillation")  # as a SIGKILL leaves it
    (killed / "metrics.json").write_text(json.dumps(m))
    _lock(killed, _dead_pid())
    shown = invoke("show", killed)
    assert "killed" in shown.output and f"cdlite run --resume {killed}" in shown.output
    again = invoke("run", "toy-gaussians", *TINY, "--out", killed, "-q")
    assert again.exit_code == 2 and "--resume" in again.output and "--force" in again.output


def test_force_moves_the_old_run_aside_and_drops_it_when_the_new_one_completes(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", "toy-gaussians", *TINY, "--out", out, "-q").exit_code == 0
    refused = invoke("run", "toy-gaussians", *TINY, "--seed", 1, "--out", out, "-q")
    assert refused.exit_code == 2 and "--force" in refused.output
    assert invoke("run", "toy-gaussians", *TINY, "--seed", 1, "--out", out, "-q",
                  "--force").exit_code == 0
    assert metrics(out)["seed"] == 1 and "seed = 1" in (out / "config.toml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_force_never_mixes_two_runs_when_the_new_one_stops(tmp_path, monkeypatch):
    import cdlite.experiments.stages as pipeline
    out = tmp_path / "run"
    assert invoke("run", "toy-gaussians", *TINY, "--out", out, "-q").exit_code == 0
    old = metrics(out)

    def stop(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "distill", stop)
    result = CliRunner().invoke(main, ["run", "toy-gaussians", *TINY, "--seed", "2", "--out",
                                       str(out), "-q", "--force"])
    assert result.exit_code == 130
    new = metrics(out)
    assert new["seed"] == 2 and new["status"] == "partial" and "student" not in new
    assert not (out / "checkpoints" / "student.npz").exists()  # none of the old run's files
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(aside) == 1 and metrics(aside[0]) == old  # the old run, whole


def test_ctrl_c_while_the_figures_are_drawn_is_not_swallowed(tmp_path, monkeypatch):
    import cdlite.report.figures as figures

    def stop(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(figures, "make_figures", stop)
    result = CliRunner().invoke(main, ["run", "toy-gaussians", *TINY, "--out",
                                       str(tmp_path / "run"), "-q"])
    assert result.exit_code == 130
    m = metrics(tmp_path / "run")
    assert m["status"] == "partial" and m["interrupted_in"] == "report"
    assert "references" in m["stages_done"]  # everything computed is kept


def test_a_failure_keeps_the_finished_stages_and_is_marked(tmp_path, monkeypatch):
    import cdlite.experiments.stages as pipeline
    from cdlite.errors import CdliteError

    def diverge(*a, **k):
        raise CdliteError("distill (CD) diverged at step 7: loss = nan; lower the learning rate")
    monkeypatch.setattr(pipeline, "distill", diverge)
    result = invoke("run", "toy-gaussians", *TINY, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 2 and "diverged" in result.output
    m = metrics(tmp_path / "run")
    assert m["status"] == "failed" and "diverged" in m["error"]
    assert "teacher" in m and m["stages_done"][:3] == ["data", "teacher", "teacher evaluation"]
    assert not (tmp_path / "run" / LOCK).exists()


def test_sample_never_overwrites_its_input_or_results_without_force(done, tmp_path):
    ck = done / "checkpoints" / "student.npz"
    before = ck.read_bytes()
    for out in (ck, done / "samples.npz"):
        result = invoke("sample", ck, "-n", 5, "--out", out)
        assert result.exit_code == 2
    assert ck.read_bytes() == before
    assert "input file" in invoke("sample", ck, "-n", 5, "--out", ck, "--force").output
    assert invoke("sample", ck, "-n", 5, "--out", tmp_path / "s.npz").exit_code == 0
    assert invoke("sample", ck, "-n", 5, "--out", tmp_path / "s.npz").exit_code == 2
    assert invoke("sample", ck, "-n", 5, "--out", tmp_path / "s.npz", "--force").exit_code == 0


def test_a_seeds_rerun_never_replaces_a_finished_seed(tmp_path):
    assert invoke("run", "toy-gaussians", *TINY, "--seeds", 1, "--out", tmp_path,
                  "-q").exit_code == 0
    before = (tmp_path / "seed-0" / "metrics.json").read_bytes()
    again = invoke("run", "toy-gaussians", *TINY, "--seeds", 2, "--out", tmp_path, "-q")
    assert again.exit_code == 2
    assert (tmp_path / "seed-0" / "metrics.json").read_bytes() == before


@pytest.mark.parametrize("setting,message", [
    ("net.hidden=100000000", "more than the memory budget"),
    ("eval.n_samples=100000000000", "more than the memory budget"),
    ("diffusion.steps=1000000000", "more than the memory budget"),
    ("teacher.grad_clip=nan", "teacher.grad_clip=nan (must be finite)"),
    ("diffusion.sigma_max=inf", "must be finite"),
    ("diffusion.sigma_data=-1", "diffusion.sigma_data=-1.0 (must be >= 0)"),
])
def test_sizes_and_values_are_checked_before_anything_starts(tmp_path, setting, message):
    result = invoke("run", "toy-gaussians", "--quick", "--set", setting, "--out",
                    tmp_path / "run")
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "run").exists()


def test_data_at_a_scale_float32_cannot_hold_gets_its_own_message(tmp_path):
    np.save(tmp_path / "huge.npy", np.random.default_rng(0).standard_normal((80, 2)) * 1e30)
    result = invoke("run", "toy-gaussians", "--quick", "--set", "data.name=array", "--set",
                    f"data.path={tmp_path / 'huge.npy'}", "--set", "data.n_test=40", "--out",
                    tmp_path / "run")
    assert result.exit_code == 2 and "rescale the data" in result.output


def test_one_dimensional_data_runs_end_to_end_with_figures(tmp_path):
    result = invoke("run", "toy-gaussians", *TINY, "--set", "data.d=1", "--set", "data.K=3",
                    "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    m = metrics(tmp_path / "run")
    assert m["status"] == "complete" and m["dim"] == 1 and set(m["figures"]) >= {"samples"}


@pytest.mark.parametrize("cfg,d", [(MLPConfig(), 2), (MLPConfig(input_fourier=4, emb_mode="add",
                                                              residual=True, layernorm=True), 5),
                                   (RFConfig(p=16), 3), (RFConfig(p=8, emb_dim=0), 2)])
def test_shapes_from_the_header_match_the_built_network(cfg, d):
    net = make_network(cfg, d)
    built = {k: v.shape for k, v in net.init(np.random.default_rng(0)).items()}
    assert net.param_shapes() == built


def test_a_header_naming_a_huge_network_is_refused_before_it_is_built(done, tmp_path):
    from cdlite.checkpoint import load_checkpoint, save_checkpoint
    arrays, meta = load_checkpoint(done / "checkpoints" / "student.npz")
    meta["network"]["hidden"] = 10**6
    save_checkpoint(tmp_path / "lie.npz", arrays, meta)
    result = invoke("sample", tmp_path / "lie.npz", "-n", 5, "--out", tmp_path / "s.npz")
    assert result.exit_code == 2 and "too few for any network of that size" in result.output
    meta["network"]["hidden"], meta["steps"] = 128, -5
    save_checkpoint(tmp_path / "lie2.npz", arrays, meta)
    result = invoke("sample", tmp_path / "lie2.npz", "-n", 5, "--out", tmp_path / "s.npz")
    assert result.exit_code == 2 and "steps=-5" in result.output
    assert not (tmp_path / "s.npz").exists()


def test_nan_weights_are_refused_when_loaded(done, tmp_path):
    from cdlite.checkpoint import load_checkpoint, save_checkpoint
    arrays, meta = load_checkpoint(done / "checkpoints" / "teacher.npz")
    arrays["out.W"] = arrays["out.W"] * np.nan
    save_checkpoint(tmp_path / "nan.npz", arrays, meta)
    result = invoke("sample", tmp_path / "nan.npz", "-n", 5, "--out", tmp_path / "s.npz")
    assert result.exit_code == 2 and "NaN or inf" in result.output
