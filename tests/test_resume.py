"""Stopped runs continue bit for bit: the training loops from a saved state, and whole runs
stopped by SIGINT, SIGTERM or SIGKILL at several points, then `cdlite run --resume`."""
import copy
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.data import make_dataset
from cdlite.diffusion import EDMDenoiser, TeacherConfig, train_teacher
from cdlite.distill import ConsistencyFunction, DistillConfig, distill
from cdlite.catalog import get_recipe
from cdlite.runs.runner import resume_run
from cdlite.nn.networks import build_network

ARGS = ["--quick", "--set", "teacher.steps=800", "--set", "teacher.eval_every=50",
        "--set", "distill.steps=400", "--set", "distill.eval_every=40",
        "--set", "eval.n_samples=300", "--set", "eval.n_curve=100"]


def _teacher_run(steps, resume=None, on_state=None):
    ds = make_dataset("gaussians", 16, n_test=50, seed=0)
    net = build_network("mlp", d=2, hidden=32, depth=2, input_fourier=4)
    teacher = EDMDenoiser(net, ds.sigma_data)
    cfg = TeacherConfig(steps=steps, batch=64, eval_every=50, ema_half_life=20)
    rng = make_rng(5)
    res = train_teacher(teacher, net.init(make_rng(1)), ds.train, cfg, rng, resume=resume,
                        on_state=on_state)
    return res, rng, ds, net


def _keep(states):
    """on_state gets the live arrays (saving them is the caller's job): keep a copy."""
    return lambda state: states.append(copy.deepcopy(state))


def test_the_teacher_loop_continues_bit_for_bit():
    states = []
    full, rng_full, _, _ = _teacher_run(200, on_state=_keep(states))
    assert [s.step for s in states] == [50, 100, 150, 200]
    mid = states[1]  # the state saved after step 100
    again, rng_again, _, _ = _teacher_run(200, resume=mid)
    for k in full.params:
        assert np.array_equal(full.params[k], again.params[k]), k
        assert np.array_equal(full.ema[k], again.ema[k]), k
    assert rng_full.random() == rng_again.random()


def test_the_distillation_loop_continues_bit_for_bit():
    teacher_res, _, ds, net = _teacher_run(100)
    D = EDMDenoiser(net, ds.sigma_data).bind(teacher_res.ema)
    student = ConsistencyFunction(net, ds.sigma_data, 0.002)
    cfg = DistillConfig(steps=120, batch=64, eval_every=40, ema_half_life=10)

    def run(resume=None, on_state=None):
        params = {k: v.copy() for k, v in teacher_res.ema.items()}
        return distill(D, student, params, ds.train, cfg, make_rng(9), 0.002, 20.0, 7.0,
                       resume=resume, on_state=on_state)
    states = []
    full = run(on_state=_keep(states))
    again = run(resume=states[0])
    for part in ("params", "target", "ema"):
        for k, v in getattr(full, part).items():
            assert np.array_equal(v, getattr(again, part)[k]), (part, k)


# --- whole runs, stopped from outside -----------------------------------------------------------

def _cli(*args):
    return [sys.executable, "-m", "cdlite_cli.main", "run", *map(str, args)]


def _metrics(folder):
    try:
        return json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def _comparable(m):
    return {k: v for k, v in m.items() if k not in ("timings_s",)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(_cli("toy-gaussians", *ARGS, "--out", out, "-q"), check=True,
                   capture_output=True)
    return out


# (signal, condition on metrics.json to wait for before sending it)
STOPS = {
    "SIGINT in teacher training": (signal.SIGINT, lambda m: len(m.get("teacher_curve", [])) >= 4),
    "SIGTERM in distillation": (signal.SIGTERM,
                                lambda m: len(m.get("student_curve", [])) >= 4),
    "SIGKILL in teacher training": (signal.SIGKILL,
                                    lambda m: len(m.get("teacher_curve", [])) >= 6),
}


@pytest.mark.parametrize("name", list(STOPS))
def test_a_stopped_run_resumes_to_the_same_results(name, reference, tmp_path):
    signum, ready = STOPS[name]
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli("toy-gaussians", *ARGS, "--out", out, "-q"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not ready(_metrics(out)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be stopped"
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    stopped = _metrics(out)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL and stopped["status"] == "running"
    else:
        assert proc.returncode == 130, err.decode()
        assert stopped["status"] == "partial" and b"--resume" in err
    assert "references" not in stopped["stages_done"]  # it really stopped before the end
    assert "f_mem" in resume_run(out, get_recipe, progress=False)  # the summary table
    assert _metrics(out)["status"] == "complete"
    assert _comparable(_metrics(out)) == _comparable(_metrics(reference))
    assert (out / "samples.npz").read_bytes() == (reference / "samples.npz").read_bytes()
    assert not (out / ".lock").exists()


def test_a_second_signal_exits_at_once_without_claiming_a_write(tmp_path):
    code = (
        "import os, signal, sys\n"
        "from cdlite.runs.signals import stop_on_signals, RunInterrupted\n"
        "with stop_on_signals(lambda: 'the folder keeps what was saved before'):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        import time; time.sleep(5)\n"
        "    except RunInterrupted:\n"
        "        print('saving the partial folder', flush=True)\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        import time; time.sleep(5)\n"
        "        print('partial folder written', flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 128 + signal.SIGINT
    assert "partial folder written" not in out.stdout
    assert "without saving" in out.stderr and "keeps what was saved" in out.stderr
