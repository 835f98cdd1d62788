"""The faults a hostile new user tried on cdlite's run folders and inputs, tried again: each case
runs the real command in a fresh process, and the table says what happened (exit status, the
first line cdlite printed, and what the folder holds afterwards). The README's table is this
script's output.

    python tools/fault_table.py            # about 5 minutes on 2 cores; prints Markdown
    python tools/fault_table.py --only sweep,seeds,identity,disk,locks,sizes   # some sections

Everything happens in a temporary folder; nothing is left behind. The disk cases mount a small
tmpfs, which needs root: without it their rows say so.
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

TINY = ["--quick", "--set", "teacher.steps=60", "--set", "distill.steps=30",
        "--set", "eval.n_samples=100", "--set", "eval.n_curve=50", "--set", "eval.n_boot=50"]
SLOW = ["--quick", "--set", "teacher.steps=3000", "--set", "teacher.eval_every=100",
        "--set", "eval.n_samples=200", "--set", "eval.n_curve=80"]
ROWS = []
TMP = [""]  # the temporary folder, left out of the messages shown


def cdlite_cmd(*args, cwd=None, wait=True, env=None):
    cmd = [sys.executable, "-m", "cdlite_cli.main", *map(str, args)]
    env = {**os.environ, **(env or {})}
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def measured(*args, env=None, limit=60):
    """(exit status, stderr, seconds, peak RSS in MB) of a cdlite command, the RSS as GNU time
    reports it (a child of this big process would start from this process's peak); one still
    running after `limit` seconds is killed (status "killed")."""
    timer = ["/usr/bin/time", "-f", "__peak_kb__ %M"] if os.path.exists("/usr/bin/time") else []
    cmd = [*timer, sys.executable, "-m", "cdlite_cli.main", *map(str, args)]
    start = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit,
                           env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return "killed", "", time.perf_counter() - start, float("nan")
    seconds = time.perf_counter() - start
    lines = r.stderr.splitlines()
    peak = [int(x.split()[1]) for x in lines if x.startswith("__peak_kb__")]
    err = "\n".join(x for x in lines if not x.startswith(("__peak_kb__", "Command exited")))
    return r.returncode, err, seconds, (peak[0] / 1024 if peak else float("nan"))


def first_line(text: str) -> str:
    lines = [s for s in text.strip().splitlines() if s.strip()]
    line = next((s for s in lines if s.startswith("Error:")), lines[-1] if lines else "")
    return line if len(line) < 150 else line[:147] + "..."


def status(folder: Path) -> str:
    try:
        m = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return "no metrics.json"
    return f"status {m.get('status')}, stages done: {len(m.get('stages_done', []))}"


def row(case: str, rc, message: str, after: str = ""):
    def clean(text):
        return text.replace(TMP[0] + "/", "").replace("|", "\\|")
    ROWS.append((case, str(rc), clean(message), clean(after)))
    print(f"  {case}: exit {rc}", file=sys.stderr)


def wait_for(folder: Path, ready, proc, limit=120):
    start = time.time()
    while proc.poll() is None and time.time() - start < limit:
        try:
            if ready(json.loads((folder / "metrics.json").read_text())):
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    return False


# --- signals, locks and the lifecycle -----------------------------------------------------------

def signal_cases(tmp: Path):
    for name, sig, ready in (
            ("Ctrl-C (SIGINT) during the teacher", signal.SIGINT,
             lambda m: len(m.get("teacher_curve", [])) >= 3),
            ("SIGTERM during the teacher", signal.SIGTERM,
             lambda m: len(m.get("teacher_curve", [])) >= 3),
            ("Ctrl-C while the figures are drawn", signal.SIGINT,
             lambda m: m.get("stage") == "report")):
        out = tmp / f"sig-{sig}-{len(ROWS)}"
        proc = cdlite_cmd("run", "toy-gaussians", *SLOW, "--out", out, "-q", wait=False)
        wait_for(out, ready, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        row(name, proc.returncode, first_line(err.decode()), status(out))
    out = tmp / "double"
    proc = cdlite_cmd("run", "toy-gaussians", *SLOW, "--out", out, "-q", wait=False)
    wait_for(out, lambda m: len(m.get("teacher_curve", [])) >= 3, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    shown = first_line(cdlite_cmd("show", out).stdout.splitlines()[0])
    row("double Ctrl-C", proc.returncode, first_line(err.decode()), f"{status(out)}; show: "
        f"{shown}")
    out = tmp / "killed"
    proc = cdlite_cmd("run", "toy-gaussians", *SLOW, "--out", out, "-q", wait=False)
    wait_for(out, lambda m: len(m.get("teacher_curve", [])) >= 3, proc)
    proc.kill()
    proc.wait()
    shown = cdlite_cmd("show", out).stdout.splitlines()[0]
    row("SIGKILL during the teacher, then `cdlite show`", proc.returncode, first_line(shown),
        status(out))
    again = cdlite_cmd("run", "toy-gaussians", *SLOW, "--out", out, "-q")
    row("a new run into the killed run's folder", again.returncode, first_line(again.stderr),
        status(out))
    resumed = cdlite_cmd("run", "--resume", out, "-q")
    row("`cdlite run --resume` of the killed run", resumed.returncode,
        "(summary table printed)" if resumed.returncode == 0 else first_line(resumed.stderr),
        status(out))


def lock_cases(tmp: Path):
    out = tmp / "shared"
    first = cdlite_cmd("run", "toy-gaussians", *SLOW, "--out", out, "-q", wait=False)
    time.sleep(0.3)
    second = cdlite_cmd("run", "toy-gaussians", *TINY, "--out", out, "-q")
    first.kill()
    first.wait()
    row("two runs with the same --out, 0.3 s apart", second.returncode,
        first_line(second.stderr), "the first run keeps the folder")
    work = tmp / "cwd"
    work.mkdir()
    procs = [cdlite_cmd("run", "toy-gaussians", *TINY, "-q", cwd=work, wait=False)
             for _ in range(2)]
    for p in procs:
        p.communicate(timeout=300)
    folders = sorted(p.name for p in (work / "runs").iterdir())
    row("two runs with the default --out at once", ",".join(str(p.returncode) for p in procs),
        "(both complete)", "folders: " + ", ".join(folders))


def overwrite_cases(tmp: Path):
    run = tmp / "done"
    cdlite_cmd("run", "toy-gaussians", *TINY, "--out", run, "-q")
    ck = run / "checkpoints" / "student.npz"
    for case, out in (("`sample CK.npz --out CK.npz`", ck),
                      ("`sample ... --out RUN/samples.npz`", run / "samples.npz")):
        r = cdlite_cmd("sample", ck, "-n", 5, "--out", out)
        row(case, r.returncode, first_line(r.stderr), "file unchanged")
    r = cdlite_cmd("run", "toy-gaussians", *TINY, "--out", run, "-q")
    row("a run into a finished run's folder", r.returncode, first_line(r.stderr), status(run))
    seeds = tmp / "seeds"
    p = cdlite_cmd("run", "toy-gaussians", *SLOW, "--seeds", 3, "--out", seeds, "-q", wait=False)
    wait_for(seeds / "seed-1", lambda m: True, p)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=120)
    r = cdlite_cmd("run", "toy-gaussians", *SLOW, "--seeds", 1, "--out", seeds, "-q")
    row("`--seeds 1` rerun into an interrupted `--seeds 3` folder", r.returncode,
        first_line(r.stderr), "seed-0: " + status(seeds / "seed-0"))
    forced = tmp / "forced"
    cdlite_cmd("run", "toy-gaussians", *TINY, "--out", forced, "-q")
    p = cdlite_cmd("run", "toy-gaussians", *SLOW, "--seed", 5, "--out", forced, "-q",
                   "--force", wait=False)
    wait_for(forced, lambda m: m.get("seed") == 5 and len(m.get("teacher_curve", [])) >= 2, p)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=120)
    aside = [q.name for q in tmp.iterdir() if q.name.startswith("forced.old-")]
    row("`--force`, then the new run is interrupted", p.returncode,
        "the old run was moved aside first", f"new: {status(forced)}; old, whole, in "
        f"FOLDER.old-...: {status(tmp / aside[0]) if aside else '?'}")
    return run


# --- inputs bounded before they are read --------------------------------------------------------

def _npy_header(shape, descr="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                              "shape": shape})
    return buf.getvalue()


def input_cases(tmp: Path, run: Path):
    lie = tmp / "lie.npz"
    with zipfile.ZipFile(lie, "w") as zf:
        zf.writestr("x.npy", _npy_header((10**10, 2)) + bytes(64))
    bomb = tmp / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", _npy_header((75_000_000, 2)) + bytes(600_000_000))
    for case, path in ((f"an npz of {lie.stat().st_size} bytes declaring shape (1e10, 2)", lie),
                       (f"a {bomb.stat().st_size // 1000} KB deflate bomb (600 MB inside)",
                        bomb)):
        r = cdlite_cmd("evaluate", path, "--train", run / "samples.npz")
        row(case, r.returncode, first_line(r.stderr))
    from cdlite.checkpoint import load_checkpoint, save_checkpoint
    arrays, meta = load_checkpoint(run / "checkpoints" / "teacher.npz")
    for case, change in (("checkpoint header claiming hidden=6000",
                          lambda m: m["network"].update(hidden=6000)),
                         ("checkpoint header steps=-5", lambda m: m.update(steps=-5)),
                         ("checkpoint header sigma_max=\"big\"",
                          lambda m: m.update(sigma_max="big")),
                         ("checkpoint header step=\"x\"", lambda m: m.update(step="x")),
                         ("checkpoint header model=\"wizard\"",
                          lambda m: m.update(model="wizard")),
                         ("checkpoint header sigma_data=-1", lambda m: m.update(sigma_data=-1)),
                         ("checkpoint with NaN weights", None)):
        m = json.loads(json.dumps(meta))
        a = dict(arrays)
        if change is None:
            a["out.W"] = a["out.W"] * np.nan
        else:
            change(m)
        path = tmp / "ck.npz"
        save_checkpoint(path, a, m)
        out = tmp / "s.npz"
        r = cdlite_cmd("sample", path, "-n", 10, "--out", out)
        row(case, r.returncode, first_line(r.stderr), f"output written: {out.exists()}")
    r = cdlite_cmd("sample", run / "checkpoints" / "teacher.npz", "--steps", 1_000_000_000,
                   "--out", tmp / "s.npz")
    row("`sample --steps 1000000000`", r.returncode, first_line(r.stderr))


def config_cases(tmp: Path):
    for setting in ("net.hidden=1e8", "eval.n_samples=1e11", "teacher.lr=inf",
                    "diffusion.sigma_max=inf", "teacher.P_mean=inf", "diffusion.rho=nan",
                    "teacher.grad_clip=nan", "diffusion.sigma_data=-1"):
        out = tmp / "cfg"
        r = cdlite_cmd("run", "toy-gaussians", "--quick", "--set", setting, "--out", out)
        row(f"`--set {setting}`", r.returncode, first_line(r.stderr),
            "folder made" if out.exists() else "no folder")
    np.save(tmp / "huge.npy", np.random.default_rng(0).standard_normal((80, 2)) * 1e30)
    r = cdlite_cmd("run", "toy-gaussians", "--quick", "--set", "data.name=array", "--set",
                   f"data.path={tmp / 'huge.npy'}", "--set", "data.n_test=40", "--out",
                   tmp / "cfg")
    row("data with values near 1e30", r.returncode, first_line(r.stderr))
    cdlite_cmd("run", "two-moons", *TINY, "--out", tmp / "moons", "-q")
    r = cdlite_cmd("run", "toy-gaussians", "--config", tmp / "moons" / "config.toml",
                   "--dry-run")
    row("`--config` with another recipe's config.toml", r.returncode, first_line(r.stderr))
    out = tmp / "oned"
    r = cdlite_cmd("run", "toy-gaussians", *TINY, "--set", "data.d=1", "--set", "data.K=3",
                   "--out", out, "-q")
    figs = sorted(p.name for p in (out / "figures").glob("*.png")) if out.exists() else []
    row("a 1-D dataset", r.returncode, "(summary table printed)", f"{status(out)}; figures: "
        f"{', '.join(figs)}")
    out = tmp / "diverge"
    r = cdlite_cmd("run", "toy-gaussians", *TINY, "--set", "distill.lr=1e9", "--set",
                   "distill.grad_clip=0", "--out", out, "-q")
    kept = "teacher row kept" if "teacher" in json.loads(
        (out / "metrics.json").read_text()) else "teacher row lost"
    row("distillation diverges", r.returncode, first_line(r.stderr), f"{status(out)}; {kept}")


def show_cases(tmp: Path, run: Path):
    bad = tmp / "badjson"
    shutil.copytree(run, bad)
    m = json.loads((bad / "metrics.json").read_text())
    m["student"]["f_mem_ci"] = [None, None]
    (bad / "metrics.json").write_text(json.dumps(m))
    r = cdlite_cmd("show", bad)
    row("`cdlite show` with a null CI", r.returncode, "(summary table printed)"
        if r.returncode == 0 else first_line(r.stderr))
    (bad / "metrics.json").write_text("{not json")
    r = cdlite_cmd("show", bad)
    row("`cdlite show` on malformed JSON", r.returncode, first_line(r.stderr))

# --- issue 22: sweeps, --seeds, resume identity, disks, kernel locks, sizes ---------------------

SWEEP = ["toy-gaussians", "--quick", "--set", "teacher.steps=60", "--set", "eval.n_samples=100",
         "--set", "eval.n_curve=50", "--set", "eval.n_boot=50", "--grid", "distill.steps=20,30"]


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ledger(out: Path) -> str:
    try:
        cells = json.loads((out / "sweep.json").read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return "no sweep.json"
    states = [c["status"] for c in cells]
    return ", ".join(f"{states.count(s)} {s}" for s in ("done", "failed", "pending"))


def sweep_cases(tmp: Path):
    out = tmp / "sweep-killed"
    p = cdlite_cmd("sweep", *SWEEP, "--workers", 2, "--out", out, wait=False)
    workers, deadline = [], time.time() + 60
    while time.time() < deadline and len(workers) < 2:
        workers = [c for c in _children(p.pid) if "spawn_main" in
                   Path(f"/proc/{c}/cmdline").read_text()]
        time.sleep(0.05)
    time.sleep(1.0)
    p.kill()
    p.communicate()
    time.sleep(3)
    left = sum(map(_alive, workers))
    again = cdlite_cmd("sweep", *SWEEP, "--workers", 2, "--out", out)
    row("SIGKILL of `cdlite sweep`, then the same command", again.returncode,
        first_line(again.stderr) if again.returncode else "(table printed)",
        f"{left} of {len(workers)} pool workers alive 3 s after the kill; {_ledger(out)}")
    for case, args in (
            ("`--grid seed=0,1,2`", ["toy-gaussians", "--quick", "--grid", "seed=0,1,2"]),
            ("duplicate grid values `distill.steps=40,4e1`",
             ["toy-gaussians", "--quick", "--grid", "distill.steps=40,4e1"]),
            ("`--scheduler http://127.0.0.1:8787`",
             ["toy-gaussians", "--quick", "--scheduler", "http://127.0.0.1:8787"])):
        r = cdlite_cmd("sweep", *args, "--out", tmp / "never")
        row(case, r.returncode, first_line(r.stderr),
            "no folder" if not (tmp / "never").exists() else "a folder was made")
    r = cdlite_cmd("sweep", "toy-gaussians", "--quick", "--seed", 5, "--dry-run")
    row("`sweep --seed 5` without --seeds", r.returncode,
        first_line(r.stdout.splitlines()[-1] if r.stdout else r.stderr), "(dry run)")
    spec = tmp / "spec.toml"
    spec.write_text('recipe = "toy-gaussians"\nquick = "no"\n')
    r = cdlite_cmd("sweep", "--spec", spec, "--dry-run")
    row('a spec file with `quick = "no"`', r.returncode, first_line(r.stderr))
    axis = ",".join(map(str, range(1, 1001)))
    for case, args in (("a 1e9-cell grid", ["--grid", f"distill.steps={axis}", "--grid",
                                            f"teacher.steps={axis}", "--grid",
                                            f"eval.n_boot={axis}"]),
                       ("`--seeds 100000000 --dry-run`", ["--seeds", 100_000_000, "--dry-run"])):
        rc, err, sec, rss = measured("sweep", "toy-gaussians", "--quick", *args, "--out",
                                     tmp / "never")
        row(case, rc, first_line(err), f"{sec:.2f} s, peak RSS {rss:.0f} MB")
    runs = tmp / "sweep-runs"
    r = cdlite_cmd("run", "toy-gaussians", *TINY, "--out", out, "-q", "--force")
    row("`cdlite run --out SWEEP --force` (a finished sweep)", r.returncode, first_line(r.stderr),
        _ledger(out))
    cdlite_cmd("run", "toy-gaussians", *TINY, "--out", runs, "-q")
    before = (runs / "report.md").read_bytes()
    r = cdlite_cmd("sweep", *SWEEP, "--out", runs)
    row("`cdlite sweep --out RUN` (a complete run)", r.returncode, first_line(r.stderr),
        "report.md unchanged" if (runs / "report.md").read_bytes() == before else "CHANGED")
    (out / "sweep.json").unlink()
    r = cdlite_cmd("sweep", *SWEEP, "--out", out)
    row("deleted sweep.json, then the same command", r.returncode,
        next((x for x in r.stderr.splitlines() if "cells," in x), first_line(r.stderr)),
        _ledger(out))
    cells = sorted((out / "cells").iterdir())
    cells[0].rename(out / "swap")
    cells[1].rename(cells[0])
    (out / "swap").rename(cells[1])
    teacher = next((out / "shared").iterdir()) / "checkpoints" / "teacher.npz"
    teacher.write_bytes(teacher.read_bytes()[:100])
    r = cdlite_cmd("sweep", *SWEEP, "--out", out)
    said = [x.strip() for x in r.stderr.splitlines() if "runs again" in x]
    row("swapped cell folders and a damaged shared teacher", r.returncode,
        first_line(said[0]) if said else first_line(r.stderr),
        f"{len(said)} lines 'runs again'; {_ledger(out)}")


def seeds_cases(tmp: Path):
    out = tmp / "seeds3"
    p = cdlite_cmd("run", "toy-gaussians", *SLOW, "--seeds", 3, "--out", out, "-q", wait=False)
    wait_for(out / "seed-1", lambda m: len(m.get("teacher_curve", [])) >= 2, p)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=120)
    seed0 = (out / "seed-0" / "metrics.json").read_bytes()
    r = cdlite_cmd("run", "--resume", out, "-q")
    kept = (out / "seed-0" / "metrics.json").read_bytes() == seed0
    row("`cdlite run --resume` of an interrupted `--seeds 3`", r.returncode,
        "(seed table printed)" if r.returncode == 0 else first_line(r.stderr),
        f"summary.json: {(out / 'summary.json').is_file()}; seed-0 kept: {kept}")
    p = cdlite_cmd("run", "toy-gaussians", *SLOW, "--seed", 7, "--seeds", 2, "--out", out, "-q",
                   "--force", wait=False)
    wait_for(out / "seed-7", lambda m: len(m.get("teacher_curve", [])) >= 2, p)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=120)
    aside = [q for q in tmp.iterdir() if q.name.startswith("seeds3.old-")]
    row("`--seeds --force`, then Ctrl-C", p.returncode, "the old folder was moved aside whole",
        f"new: {sorted(q.name for q in out.iterdir() if not q.name.startswith('.'))}; old: "
        f"{sorted(q.name for q in aside[0].iterdir())[:6] if aside else '?'}")


def identity_cases(tmp: Path):
    def stopped(name, seed, recipe="toy-gaussians"):
        out = tmp / name
        p = cdlite_cmd("run", recipe, *SLOW, "--seed", seed, "--out", out, "-q", wait=False)
        wait_for(out, lambda m: "teacher" in m.get("stages_done", []) and
                 len(m.get("student_curve", [])) >= 1, p)
        p.kill()
        p.wait()
        return out
    zero, one, moons = stopped("id0", 0), stopped("id1", 1), stopped("idm", 0, "two-moons")
    for case, src in (("seed-1 checkpoints copied into a killed seed-0 run, `--resume`", one),
                      ("two-moons checkpoints copied into a toy-gaussians run, `--resume`",
                       moons)):
        target = tmp / f"{zero.name}-{src.name}"
        shutil.copytree(zero, target)
        for ck in (src / "checkpoints").glob("*.npz"):
            shutil.copy(ck, target / "checkpoints" / ck.name)
        r = cdlite_cmd("run", "--resume", target, "-q")
        row(case, r.returncode, first_line(r.stderr), status(target))
    edited = tmp / "id-edited"
    shutil.copytree(zero, edited)
    text = (edited / "config.toml").read_text()
    (edited / "config.toml").write_text(text.replace("seed = 0", "seed = 4"))
    r = cdlite_cmd("run", "--resume", edited, "-q")
    row("an edited config.toml, `--resume`", r.returncode, first_line(r.stderr), status(edited))
    (zero / "samples.npz").unlink()
    r = cdlite_cmd("run", "--resume", zero)
    said = next((x for x in r.stderr.splitlines() if "samples.npz" in x), "")
    with np.load(zero / "samples.npz") as z:
        arrays = len(z.files)
    row("a deleted samples.npz, `--resume`", r.returncode, first_line(said),
        f"{status(zero)}; samples.npz holds {arrays} arrays")


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                        capture_output=True).returncode == 0
    return ok


def disk_cases(tmp: Path):
    disk = tmp / "small-disk"
    if not _tmpfs(disk, "1m"):
        row("a full disk during a run", "-", "(needs root to mount a 1 MB tmpfs: not tried)")
        return
    try:
        out = disk / "run"
        r = cdlite_cmd("run", "toy-gaussians", *TINY, "--out", out, "-q")
        row("a full disk (1 MB tmpfs) during a run", r.returncode, first_line(r.stderr),
            f"{status(out)}; .lock left: {(out / '.lock').exists()}")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        r = cdlite_cmd("run", "--resume", out, "-q")
        row("the same folder read-only, `--resume`", r.returncode, first_line(r.stderr),
            status(out))
        r = cdlite_cmd("run", "toy-gaussians", *TINY, "--out", disk / "new", "-q")
        row("a new run on a read-only file system", r.returncode, first_line(r.stderr),
            "no folder" if not (disk / "new").exists() else "folder made")
    finally:
        subprocess.run(["umount", str(disk)])


def lock_cases_22(tmp: Path):
    base = tmp / "lk-base"
    p = cdlite_cmd("run", "toy-gaussians", *SLOW, "--out", base, "-q", wait=False)
    wait_for(base, lambda m: len(m.get("teacher_curve", [])) >= 2, p)
    p.kill()
    p.wait()
    both, outcomes = 0, set()
    for i in range(10):
        folder = tmp / f"lk-{i}"
        shutil.copytree(base, folder)
        procs = [cdlite_cmd("run", "--resume", folder, "-q", wait=False) for _ in range(2)]
        codes = [q.wait(timeout=300) for q in procs]
        for q in procs:
            q.communicate()
        both += codes.count(0) == 2
        outcomes.add(" and ".join(map(str, sorted(codes))))
        shutil.rmtree(folder)
    row("two `--resume` of one folder at the same moment (10 tries)", "; ".join(sorted(outcomes)),
        "(one continues, the other: 'in use by PID ...')",
        f"both took the folder {both} times in 10")
    live = tmp / "lk-live"
    shutil.copytree(base, live)
    (live / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename,
                                            "started": "after a reboot"}))
    r = cdlite_cmd("run", "--resume", live, "-q")
    row("a lock file naming a live PID that holds no lock, `--resume`", r.returncode,
        "(summary table printed)" if r.returncode == 0 else first_line(r.stderr), status(live))
    empty = tmp / "lk-empty"
    shutil.copytree(base, empty)
    (empty / ".lock").write_text("")
    r = cdlite_cmd("run", "--resume", empty, "-q")
    row("an empty .lock (a full disk at start), `--resume`", r.returncode,
        "(summary table printed)" if r.returncode == 0 else first_line(r.stderr), status(empty))


def size_cases(tmp: Path, run: Path):
    budget = {"CDLITE_MEMORY_BUDGET": "1G"}
    for case, args, env in (
            ("`--set net.depth=1000000000`", ["run", "toy-gaussians", "--quick", "--set",
                                              "net.depth=1000000000", "--out", tmp / "sz"], {}),
            ("`--set data.K=1000000000`", ["run", "toy-gaussians", "--quick", "--set",
                                           "data.K=1000000000", "--out", tmp / "sz"], {}),
            ("`--config /dev/zero`", ["run", "toy-gaussians", "--config", "/dev/zero",
                                      "--dry-run"], {}),
            ("`sample --steps 100000000`", ["sample", run / "checkpoints" / "teacher.npz",
                                            "--steps", 100_000_000, "--out", tmp / "sz.npz"],
             {}),
            ("`sample --seed -1`", ["sample", run / "checkpoints" / "teacher.npz", "--seed", -1,
                                    "--out", tmp / "sz.npz"], {}),
            ("`--set eval.n_boot=1000000000` with CDLITE_MEMORY_BUDGET=1G",
             ["run", "toy-gaussians", "--quick", "--set", "eval.n_boot=1000000000", "--out",
              tmp / "sz"], budget),
            ("CDLITE_THREADS=garbage `cdlite run`", ["run", "toy-gaussians", "--quick",
                                                     "--out", tmp / "sz"],
             {"CDLITE_THREADS": "garbage"}),
            ("CDLITE_THREADS=garbage `cdlite --version`", ["--version"],
             {"CDLITE_THREADS": "garbage"}),
            ("CDLITE_MEMORY_BUDGET=inf `cdlite run`", ["run", "toy-gaussians", "--quick",
                                                       "--out", tmp / "sz"],
             {"CDLITE_MEMORY_BUDGET": "inf"})):
        rc, err, sec, rss = measured(*args, env=env)
        row(case, rc, first_line(err) if err.strip() else "(version printed)",
            f"{sec:.2f} s, peak RSS {rss:.0f} MB" + ("; folder made" if (tmp / "sz").exists()
                                                    else ""))
    from cdlite.checkpoint import load_checkpoint, save_checkpoint
    arrays, meta = load_checkpoint(run / "checkpoints" / "teacher.npz")
    meta["network"]["depth"] = 10**9
    save_checkpoint(tmp / "deep.npz", arrays, meta)
    rc, err, sec, rss = measured("sample", tmp / "deep.npz", "--out", tmp / "sz.npz")
    row("checkpoint header with depth 1e9", rc, first_line(err),
        f"{sec:.2f} s, peak RSS {rss:.0f} MB")


SECTIONS = ("signals", "locks", "inputs", "config", "show", "sweep", "seeds", "identity",
            "disk", "locks22", "sizes")


def main():
    only = set(SECTIONS)
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = set(sys.argv[2].split(","))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        TMP[0] = str(tmp)
        os.environ.setdefault("CDLITE_CACHE", str(tmp / "cache"))
        run = overwrite_cases(tmp)  # (the complete run the later cases use)
        cases = {"signals": signal_cases, "locks": lock_cases, "inputs": input_cases,
                 "config": config_cases, "show": show_cases, "sweep": sweep_cases,
                 "seeds": seeds_cases, "identity": identity_cases, "disk": disk_cases,
                 "locks22": lock_cases_22, "sizes": size_cases}
        for name, case in cases.items():
            if name in only:
                case(tmp, run) if name in ("inputs", "show", "sizes") else case(tmp)
    print("| fault | exit | what cdlite says | what the folder holds after |")
    print("|---|---|---|---|")
    for case, rc, message, after in ROWS:
        print(f"| {case} | {rc} | {message} | {after} |")


if __name__ == "__main__":
    main()
