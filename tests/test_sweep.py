"""Sweeps: a grid of run folders with a ledger, on a local pool or a Dask cluster. A cell's
metrics.json is the same single run's, cells that differ only after the teacher share it, a
rerun continues, failures are recorded and retried, bad grids and schedulers are one line."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cdlite.catalog import get_recipe
from cdlite.runs.runner import resolve_config, run_recipe

from cli_helpers import invoke

SETS = ["--set", "teacher.steps=80", "--set", "eval.n_samples=150", "--set", "eval.n_curve=60",
        "--set", "eval.n_boot=50"]
GRID = ["--grid", "distill.steps=40,70"]




def ledger(out):
    return json.loads((out / "sweep.json").read_text())


def without_timings(path):
    m = json.loads(path.read_text())
    m.pop("timings_s")
    return m


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    result = invoke("sweep", "toy-gaussians", "--quick", *GRID, *SETS, "--workers", 2,
                    "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_a_sweep_writes_cells_ledger_table_and_figures(pool_sweep):
    out, printed = pool_sweep
    book = ledger(out)
    assert [c["status"] for c in book["cells"]] == ["done", "done"]
    assert len({c["share"] for c in book["cells"]}) == 1 and len(book["shared"]) == 1
    assert (out / "sweep.csv").read_text().count("\n") == 3  # header and two cells
    assert {r["distill.steps"] for r in book["rows"]} == {"40", "70"}
    for fig in ("phase_diagram", "distillation", "frontier"):
        assert (out / "figures" / f"{fig}.png").read_bytes()[:4] == b"\x89PNG"
    assert "2 done, 0 failed, 0 pending" in printed and "| distill.steps |" in printed


def test_a_cell_is_the_same_single_run(pool_sweep, tmp_path):
    """Bit for bit, timings aside, though its teacher was trained once for both cells."""
    out, _ = pool_sweep
    recipe = get_recipe("toy-gaussians")
    cfg = resolve_config(recipe, True, None, [s for s in SETS if s != "--set"] +
                         ["distill.steps=70"])
    run_recipe(recipe, cfg, tmp_path / "single", progress=False)
    cell = out / "cells" / "001-distill.steps=70-seed=0"
    assert without_timings(cell / "metrics.json") == \
        without_timings(tmp_path / "single" / "metrics.json")
    assert (cell / "samples.npz").read_bytes() == (tmp_path / "single" / "samples.npz").read_bytes()
    assert (cell / "config.toml").read_text() == (tmp_path / "single" / "config.toml").read_text()


def test_a_rerun_skips_finished_cells(pool_sweep):
    out, _ = pool_sweep
    stamp = (out / "cells" / "000-distill.steps=40-seed=0" / "metrics.json").stat().st_mtime_ns
    result = invoke("sweep", "toy-gaussians", "--quick", *GRID, *SETS, "--out", out)
    assert result.exit_code == 0 and "2 done, 0 failed, 0 pending" in result.output
    assert (out / "cells" / "000-distill.steps=40-seed=0" / "metrics.json").stat().st_mtime_ns \
        == stamp
    other = invoke("sweep", "toy-gaussians", "--quick", "--grid", "distill.steps=5", *SETS,
                   "--out", out)
    assert other.exit_code == 2 and "another spec" in other.output


def test_the_same_table_on_a_dask_cluster(pool_sweep, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    out, _ = pool_sweep
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = invoke("sweep", "toy-gaussians", "--quick", *GRID, *SETS, "--scheduler",
                        cluster.scheduler_address, "--out", tmp_path / "dask")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dask" / "sweep.csv").read_text().split("\n")[0] == \
        (out / "sweep.csv").read_text().split("\n")[0]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(ledger(tmp_path / "dask")["rows"]) == strip(ledger(out)["rows"])
    for cell in ledger(out)["cells"]:  # each cell's metrics, whichever executor ran it
        assert without_timings(tmp_path / "dask" / cell["folder"] / "metrics.json") == \
            without_timings(out / cell["folder"] / "metrics.json")


def test_an_unreachable_scheduler_is_one_line_within_ten_seconds(tmp_path):
    start = time.time()
    result = invoke("sweep", "toy-gaussians", "--quick", *GRID, *SETS, "--scheduler",
                    "tcp://127.0.0.1:9", "--out", tmp_path / "s")
    assert time.time() - start < 10.5
    assert result.exit_code == 2 and "cannot reach the Dask scheduler" in result.output


@pytest.mark.parametrize("args,message", [
    (["--grid", "distill.stepz=1,2"], "did you mean distill.steps"),
    (["--grid", "distill.steps=1,x"], "distill.steps='x' (must be an integer)"),
    (["--grid", "net.kind=mlp,cnn"], "choose one of mlp, rf"),
    (["--grid", "data.n_train=2,3,4,5,6,7,8,9,10,11,12", "--grid",
      "distill.steps=1,2,3,4,5,6,7,8,9,10", "--seeds", "10"], "add --yes"),
])
def test_bad_grids_are_refused_before_any_task(tmp_path, args, message):
    result = invoke("sweep", "toy-gaussians", "--quick", *args, "--out", tmp_path / "s")
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "s" / "cells").exists()


def die(*args):  # a task whose worker process dies
    os._exit(3)


def test_a_dead_worker_fails_its_cells_and_a_rerun_retries_them(tmp_path, monkeypatch):
    import cdlite.sweeps.sweep as sweep
    monkeypatch.setattr(sweep, "cell_task", die)
    args = ["sweep", "toy-gaussians", "--quick", "--grid", "distill.steps=40", *SETS,
            "--workers", 1, "--out", tmp_path / "s"]
    result = invoke(*args)
    assert result.exit_code == 2 and "failed" in result.output
    cell = ledger(tmp_path / "s")["cells"][0]
    assert cell["status"] == "failed" and "Process" in cell["error"]
    assert "failed" in (tmp_path / "s" / "report.md").read_text()
    monkeypatch.undo()
    assert invoke(*args).exit_code == 0
    assert ledger(tmp_path / "s")["cells"][0]["status"] == "done"


def test_ctrl_c_cancels_pending_cells_and_leaves_a_valid_ledger(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "cdlite_cli.main", "sweep", "toy-gaussians", "--quick",
           "--grid", "distill.steps=40,60,80,100", *SETS, "--workers", "1",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if any(c["status"] == "done" for c in ledger(out)["cells"]):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    states = [c["status"] for c in ledger(out)["cells"]]
    assert "done" in states and "pending" in states and "failed" not in states
    assert not (out / ".lock").exists()
    result = invoke(*cmd[3:])
    assert result.exit_code == 0 and "4 done" in result.output


def test_a_shipped_study_answers_its_question(tmp_path):
    assert "distill-time" in invoke("list").output
    out = tmp_path / "study"
    result = invoke("sweep", "distill-time", "--quick", "--seeds", 1, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "**How does the student's f_mem grow with distillation time" in report
    assert "## Answer" in report and "per doubling of the steps over steps 64-256" in report
    assert "converged when doubling the steps changes f_mem by less than" in report
    assert "| 256 | constant | 1 |" in report and "| 256 | cosine | 1 |" in report
    assert "End value, cosine schedule:" in report
    assert "As the imitation error falls, does the student's f_mem approach" in report
    assert (out / "figures" / "distillation.png").is_file() and "distillation.png" in report
    rows = ledger(out)["rows"]
    assert [r["distill.lr_schedule"] for r in rows] == ["constant", "cosine"]
    assert all(r["distill_steps"] == 256 and r["student_imitation_error"] > 0 for r in rows)
    assert "teacher_f_mem_at_student_loglik" in rows[0]


def test_the_phase_diagram_and_capacity_answers_with_known_rows():
    from cdlite.sweeps.studies import capacity_answer, phase_answer
    rows = [{"n_train": n, "teacher_f_mem": 0.9, "student_f_mem": 0.2, "chance": 0.1,
             "teacher_steps_to_f_mem_0.5": 100.0 * n ** 1.5, "teacher_steps_to_f_mem_0.9": None}
            for n in (8, 16, 32)]
    text = "\n".join(phase_answer(rows, []))
    assert "log-log slope 1.50 against n over 3 cells (0 never reached it" in text
    assert "Too few cells reached f_mem 0.9" in text
    rows = [{"distill.student_width": w, "distill.student_depth": 1, "student_f_mem": f,
             "teacher_f_mem": 0.9} for w, f in (("16", 0.1), ("64", 0.3))]
    assert "f_mem changes by +0.20" in "\n".join(capacity_answer(rows, []))


def _children(pid: int) -> list[int]:
    """PIDs whose parent is `pid` (Linux /proc)."""
    out = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(stat))
    return out


def _alive(pid: int) -> bool:
    """Is `pid` running (not gone, not a zombie waiting for its new parent to reap it)?"""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal")
def test_a_killed_sweep_takes_its_workers_along_and_its_rerun_continues(tmp_path):
    import tempfile
    from cdlite.sweeps.tasks import WORK_PREFIX
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "cdlite_cli.main", "sweep", "toy-gaussians", "--quick",
           "--grid", "distill.steps=40,60", *SETS, "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    workers = []
    while time.time() < deadline and len(workers) < 2:  # the pool (and its resource tracker)
        workers = [p for p in _children(proc.pid) if "spawn_main" in
                   open(f"/proc/{p}/cmdline").read()]
        time.sleep(0.05)
    time.sleep(1.0)  # the workers are inside their tasks
    proc.kill()
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(map(_alive, workers)):
        time.sleep(0.1)
    assert workers and not any(map(_alive, workers))
    result = invoke(*cmd[3:])  # no stale lock: the same command continues it
    assert result.exit_code == 0 and "2 done" in result.output, result.output
    left = [p for p in os.listdir(tempfile.gettempdir()) if p.startswith(WORK_PREFIX)
            and os.path.exists(os.path.join(tempfile.gettempdir(), p, ".lock"))]
    from cdlite.locking import holder
    assert not [p for p in left if holder(os.path.join(tempfile.gettempdir(), p)) is None]


@pytest.mark.parametrize("args,message", [
    (["--grid", "seed=0,1,2"], "--seeds K"),
    (["--grid", "distill.steps=40", "--set", "seed=3"], "--seed S and --seeds K"),
    (["--grid", "distill.steps=40,40"], "gives 40 twice"),
    (["--grid", "distill.steps=40,4e1"], "are the same run"),
    (["--grid", "distill.steps=40", "--scheduler", "http://127.0.0.1:8787"], "a web page"),
])
def test_sweeps_say_what_they_run(tmp_path, args, message):
    result = invoke("sweep", "toy-gaussians", "--quick", *args, "--out", tmp_path / "s")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "s").exists()


def test_seed_is_honoured_without_seeds(tmp_path):
    result = invoke("sweep", "toy-gaussians", "--quick", "--grid", "distill.steps=40",
                    "--seed", 5, "--dry-run")
    assert result.exit_code == 0 and "seed=5" in result.output and "seed=0" not in result.output


@pytest.mark.parametrize("args", [
    ["--grid", "distill.steps=" + ",".join(map(str, range(1, 1001))),
     "--grid", "teacher.steps=" + ",".join(map(str, range(1, 1001))),
     "--grid", "distill.N=" + ",".join(map(str, range(2, 1002)))],
    ["--grid", "distill.steps=40", "--seeds", "100000000"],
])
@pytest.mark.parametrize("dry", [[], ["--dry-run"]])
def test_a_huge_sweep_is_refused_within_a_second(tmp_path, args, dry):
    start = time.perf_counter()
    result = invoke("sweep", "toy-gaussians", "--quick", *args, *dry, "--out", tmp_path / "s")
    assert time.perf_counter() - start < 1.0
    assert result.exit_code == 2 and "add --yes" in result.output


def test_a_spec_file_is_typed_like_a_config(tmp_path):
    spec = tmp_path / "spec.toml"
    for body, message in (('recipe = "toy-gaussians"\nquick = "no"\n', "quick='no' (must be "
                           "true or false)"),
                          ('recipe = "toy-gaussians"\nseeds = "3"\n', "seeds='3'"),
                          ('recipe = "toy-gaussians"\nseeds = [1, 1]\n', "a seed twice"),
                          ('recipe = "toy-gaussians"\ngrid = 3\n', "[grid] table")):
        spec.write_text(body)
        result = invoke("sweep", "--spec", spec, "--dry-run")
        assert result.exit_code == 2 and message in result.output, result.output


def test_a_sweep_checks_its_cells_ledger_and_shared_teacher(pool_sweep, tmp_path):
    import shutil
    out = tmp_path / "s"
    shutil.copytree(pool_sweep[0], out)
    args = ["sweep", "toy-gaussians", "--quick", *GRID, *SETS, "--workers", 2, "--out", out]
    cells = sorted((out / "cells").iterdir())
    before = [(c / "metrics.json").read_bytes() for c in cells]
    (out / "sweep.json").unlink()  # rebuilt from the cell folders, whose identities agree
    result = invoke(*args)
    assert result.exit_code == 0 and "2 done, 0 to run" in result.output, result.output
    assert [(c / "metrics.json").read_bytes() for c in cells] == before
    assert [c["status"] for c in ledger(out)["cells"]] == ["done", "done"]
    tmp = out / "swap"
    cells[0].rename(tmp)  # swapped cells: each folder holds the other cell's run
    cells[1].rename(cells[0])
    tmp.rename(cells[1])
    teacher = next((out / "shared").iterdir()) / "checkpoints" / "teacher.npz"
    teacher.write_bytes(teacher.read_bytes()[:100])  # a damaged shared teacher
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert result.output.count("holds another run") == 2
    assert "teacher.npz has 100 bytes" in result.output and "runs again" in result.output
    assert [without_timings(c / "metrics.json") for c in cells] == \
        [without_timings(pool_sweep[0] / "cells" / c.name / "metrics.json") for c in cells]


def test_a_peer_that_is_not_a_dask_scheduler_is_one_line_and_nothing_is_allocated(tmp_path):
    import socket
    import threading
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def speak_http():  # a peer that speaks first, but not Dask: 8 bytes read as a huge length
        conn, _ = server.accept()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.close()
    threading.Thread(target=speak_http, daemon=True).start()
    start = time.time()
    result = invoke("sweep", "toy-gaussians", "--quick", *GRID, *SETS, "--scheduler",
                    f"127.0.0.1:{port}", "--out", tmp_path / "s")
    server.close()
    assert time.time() - start < 5
    assert result.exit_code == 2 and "is not a Dask scheduler" in result.output, result.output
    assert "bytes" in result.output and not (tmp_path / "s").exists()
