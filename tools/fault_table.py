"""The faults a hostile new user tried on cdlite's run folders and inputs, tried again: each case
runs the real command in a fresh process, and the table says what happened (exit status, the
first line cdlite printed, and what the folder holds afterwards). The README's table is this
script's output.

    python tools/fault_table.py            # about 2 minutes on 2 cores; prints Markdown

Everything happens in a temporary folder; nothing is left behind.
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import io
import json
import os
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


def cdlite_cmd(*args, cwd=None, wait=True):
    cmd = [sys.executable, "-m", "cdlite_cli.main", *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


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
    import shutil
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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        TMP[0] = str(tmp)
        os.environ.setdefault("CDLITE_CACHE", str(tmp / "cache"))
        signal_cases(tmp)
        lock_cases(tmp)
        run = overwrite_cases(tmp)
        input_cases(tmp, run)
        config_cases(tmp)
        show_cases(tmp, run)
    print("| fault | exit | what cdlite says | what the folder holds after |")
    print("|---|---|---|---|")
    for case, rc, message, after in ROWS:
        print(f"| {case} | {rc} | {message} | {after} |")


if __name__ == "__main__":
    main()
