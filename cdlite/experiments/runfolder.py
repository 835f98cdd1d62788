"""The run folder and its lifecycle (docs/design.md §7.1-§7.3): a folder never claims more than
it holds.

    config.toml    the resolved config, with the recipe's name first (what --config reads back)
    metrics.json   everything measured so far, and "status"
    samples.npz    the sample sets so far (plain float32 arrays)
    checkpoints/   the models (and, for resume, their training state)
    figures/, report.md

The lifecycle:
- One run owns a folder through `.lock`, created exclusively, holding the owner's PID and host.
  A second run on the folder is refused with the owner's name; a lock left by a process that no
  longer runs (a kill, a crash, a power cut) is told apart and reported as such.
- "status" in metrics.json moves running -> complete | partial | failed. Every write is atomic
  (cdlite.fileio), and each finished stage is saved as it ends, so a kill at any moment leaves a
  folder whose status and metrics say what it holds. "complete" is written last of all, after
  the figures and report.md.
- SIGINT and SIGTERM are handled alike: the first stops the run at once, saves what finished and
  marks the folder partial; a second one exits immediately, saying that the folder was left as
  it was (status "running", so `cdlite show` reports it as stopped mid-write).
- A failure keeps the finished stages' results and marks the folder failed, with the error.
- `force=True` moves an earlier run aside (FOLDER.old-<time>) instead of writing into it, and
  removes it once the new run is complete: a folder never mixes two runs.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

from .. import npzio
from ..errors import CdliteError
from ..fileio import atomic_file, write_json, write_text

LOCK = ".lock"
FINISHED = ("complete", "partial", "failed")


class StageLimit(Exception):
    """Raised after the stage named by RunFolder.stop_after: a run that computes only what
    several runs share (a sweep's teacher) ends there, its folder marked partial."""


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a run (a KeyboardInterrupt, so Ctrl-C code handles it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --- reading a folder -----------------------------------------------------------------------

def read_json(path: Path, what: str = "file") -> dict:
    """A JSON object from disk, or a CdliteError that says what is wrong with the file."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CdliteError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CdliteError(f"{path} is not valid JSON ({e}); the {what} is damaged (it was not "
                          "written by cdlite, or was edited by hand)") from None
    except OSError as e:
        raise CdliteError(f"cannot read {path}: {e.strerror}") from None
    if not isinstance(value, dict):
        raise CdliteError(f"{path} holds a JSON {type(value).__name__}, not an object; the "
                          f"{what} is damaged")
    return value


def read_metrics(run_dir) -> dict:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise CdliteError(f"{run_dir} is not a run folder: no metrics.json in it "
                          f"(make one with `cdlite run RECIPE --out {run_dir}`)")
    return read_json(path, "run's metrics.json")


def lock_owner(folder) -> dict | None:
    """The lock's record {pid, host, started, alive} of a folder, or None when unlocked."""
    path = Path(folder) / LOCK
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        owner = {}
    if not isinstance(owner, dict):
        owner = {}
    owner["alive"] = _alive(owner)
    return owner


def _alive(owner: dict) -> bool | None:
    """Is the lock's process still running? None when it runs on another host (cannot tell)."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_state(folder) -> tuple[str, str]:
    """(state, one line for a person) of a run folder: complete, partial, failed, running (its
    owner is alive), killed (status running, owner gone) or empty."""
    folder = Path(folder)
    owner = lock_owner(folder)
    if not (folder / "metrics.json").is_file():
        if owner and owner["alive"] is not False:
            return "running", f"{folder} is in use by a run of {_who(owner)} (starting)"
        return "empty", f"{folder} holds no run"
    m = read_metrics(folder)
    status = m.get("status")
    if status == "running":
        if owner and owner["alive"] is not False:
            return "running", f"{folder} is in use by a run of {_who(owner)}"
        stage = m.get("stage", "?")
        return "killed", (f"{folder}: the run was stopped without saving (killed, or a second "
                          f"signal) during {stage!r}; it holds the stages that finished before")
    if status in FINISHED:
        return status, f"{folder} holds a {status} run"
    return "damaged", f"{folder}/metrics.json has no valid status ({status!r})"


def _who(owner: dict) -> str:
    return (f"PID {owner.get('pid', '?')} on {owner.get('host', '?')} (started "
            f"{owner.get('started', '?')})")


# --- the folder a run owns --------------------------------------------------------------------

class RunFolder:
    """The folder of one run: what it has measured (`metrics`) and sampled (`samples`), written
    to disk as each stage ends. Made by `RunFolder.create`, which takes the lock."""

    def __init__(self, path: Path, metrics: dict, samples: dict | None = None, log=None):
        self.path = Path(path)
        self.metrics = metrics
        self.samples = samples if samples is not None else {}
        self.log = log or (lambda *a: None)
        self.progress: bool | None = None     # progress bars: None = when stderr is a terminal
        self.stopped = False                  # set when the run was stopped before its end
        self.stop_after: str | None = None    # end the run after this stage (StageLimit)
        self.replaced: Path | None = None     # an earlier run moved aside by force=True

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path, recipe: str, config_toml: str, seed: int, force: bool = False,
               log=None) -> RunFolder:
        """Take `path` for a new run of `recipe`: refuse a folder in use or holding a run (unless
        force: then the old run is moved aside), lock it, write config.toml and a metrics.json
        with status "running"."""
        path = Path(path)
        replaced = _make_room(path, force)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CdliteError(f"cannot create the run folder {path}: {e.strerror}; choose "
                              "another --out") from None
        acquire_lock(path)
        folder = cls(path, {"recipe": recipe, "seed": seed, "status": "running",
                            "stage": "setup", "stages_done": [], "timings_s": {}}, log=log)
        folder.replaced = replaced
        write_text(path / "config.toml", config_toml)
        folder.save()
        return folder

    @classmethod
    def reopen(cls, path, log=None) -> RunFolder:
        """Take back a stopped run's folder (partial, failed, or killed: its lock is stale) to
        continue it: lock it again, read what it holds, mark it running."""
        path = Path(path)
        state, line = describe_state(path)
        if state == "complete":
            raise CdliteError(f"{line}: there is nothing to resume (`cdlite show {path}`)")
        if state in ("running", "empty", "damaged"):
            raise CdliteError(f"{line}; only a partial, failed or killed run can be resumed")
        owner = lock_owner(path)
        if owner is not None and owner["alive"] is False:
            os.remove(path / LOCK)  # the stale lock of a process that no longer runs
        acquire_lock(path)
        try:
            metrics = read_metrics(path)
            samples = {}
            if (path / "samples.npz").is_file():
                samples = dict(npzio.load(path / "samples.npz"))
        except BaseException:
            release(path)
            raise
        for key in ("interrupted_in", "error"):  # they described the stop, now undone
            metrics.pop(key, None)
        metrics["status"] = "running"
        folder = cls(path, metrics, samples, log=log)
        folder.save(samples=False)
        return folder

    # -- progress ---------------------------------------------------------------------------
    def save(self, samples: bool = True) -> None:
        """Write samples.npz (unless samples=False: nothing new there), then metrics.json
        (atomically each): the metrics never name a sample set that is not on disk."""
        if samples and self.samples:
            write_samples(self.path / "samples.npz", self.samples)
        write_json(self.path / "metrics.json", self.metrics)

    def record(self, metrics: dict | None = None, samples: dict | None = None) -> None:
        """Add a stage's results: metrics entries (a dict entry is merged into the one already
        there, e.g. "reference") and sample sets (host arrays)."""
        for k, v in (metrics or {}).items():
            old = self.metrics.get(k)
            self.metrics[k] = {**old, **v} if isinstance(old, dict) and isinstance(v, dict) else v
        self.samples.update(samples or {})

    def done(self, name: str) -> bool:
        """Did stage `name` finish (in this session or an earlier one of a resumed run)?"""
        return name in self.metrics["stages_done"]

    def run_stage(self, name: str, fn, *args):
        """Run the stage fn(*args) -> (metrics, samples, value) unless it finished earlier;
        record its metrics and samples, save, and return its value (None when skipped)."""
        if self.done(name):
            return None
        with self.stage(name):
            metrics, samples, value = fn(*args)
            self.record(metrics, samples)
        if name == self.stop_after:
            raise StageLimit(name)
        return value

    @contextlib.contextmanager
    def stage(self, name: str):
        """`with folder.stage("teacher"):` marks the stage in metrics.json while it runs, then
        records its time and saves its results when it ends."""
        self.metrics["stage"] = name
        self.save(samples=False)  # `cdlite show` (and a kill) can tell which stage was running
        self.log(f"[{name}]")
        start = time.perf_counter()
        yield
        self.metrics["timings_s"][name] = round(time.perf_counter() - start, 3)
        if name not in self.metrics["stages_done"]:  # (the report is redone on resume)
            self.metrics["stages_done"].append(name)
        self.save()

    def finish(self, status: str, error: str | None = None) -> None:
        """The last write of a run: its status (complete, partial or failed), then the lock is
        released. An earlier run moved aside is removed once the new one is complete."""
        assert status in FINISHED, status
        self.metrics["status"] = status
        if status != "complete":
            self.metrics["interrupted_in"] = self.metrics.get("stage")
        if error:
            self.metrics["error"] = error
        self.save()
        release(self.path)
        if status == "complete" and self.replaced is not None:
            shutil.rmtree(self.replaced, ignore_errors=True)
            self.replaced = None


def write_samples(path: Path, samples: dict) -> None:
    """samples.npz: plain float32 arrays (m, d), written atomically. What np.savez_compressed
    writes, but with a fixed date in the zip entries, so that the same samples give the same
    bytes (a resumed run's samples.npz is byte for byte the uninterrupted run's)."""
    with atomic_file(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in samples.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array, np.float32),
                                          allow_pickle=False)


def _make_room(path: Path, force: bool) -> Path | None:
    """Check that `path` can take a new run; with force, move an earlier run aside."""
    if path.exists() and not path.is_dir():
        raise CdliteError(f"--out {path} is a file; give a folder for the run")
    if not path.exists() or not any(path.iterdir()):
        return None
    state, line = describe_state(path)
    if state == "running":
        raise CdliteError(f"{line}; wait for it to finish or choose another --out")
    if not force:
        advice = (f"resume it with `cdlite run --resume {path}`, " if state in
                  ("partial", "killed", "failed") else "")
        raise CdliteError(f"{line}; {advice}choose another --out, or add --force to move it "
                          "aside and start over")
    aside = path.with_name(f"{path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.rename(path, aside)
    except OSError as e:
        raise CdliteError(f"cannot move the earlier run {path} aside: {e.strerror}") from None
    return aside


def acquire_lock(path: Path) -> None:
    """Create path/.lock exclusively; refuse when another run holds it."""
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    try:
        fd = os.open(path / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        owner = lock_owner(path) or {}
        if owner.get("alive") is False:
            raise CdliteError(f"{path} has a stale lock of {_who(owner)}, a run that no longer "
                              f"runs; resume it with `cdlite run --resume {path}`, or add --force "
                              "to move it aside") from None
        raise CdliteError(f"{path} is in use by a run of {_who(owner)}; wait for it to finish or "
                          "choose another --out") from None
    except OSError as e:
        raise CdliteError(f"cannot lock the run folder {path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(record)


def release(path: Path) -> None:
    """Remove the lock of `path` if this process holds it."""
    owner = lock_owner(path)
    if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        with contextlib.suppress(FileNotFoundError):
            os.remove(Path(path) / LOCK)


# --- signals ----------------------------------------------------------------------------------

@contextlib.contextmanager
def stop_on_signals(describe_folder=None):
    """Within the block, SIGINT and SIGTERM raise RunInterrupted (the run then saves what it has
    and marks its folder partial); a second signal exits at once with 128 + its number, printing
    `describe_folder()` (what the folder was left holding). Only in the main thread (signal
    handlers cannot be installed elsewhere); previous handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        if received:
            where = describe_folder() if describe_folder else ""
            os.write(2, f"\n{signal.Signals(signum).name} again: stopping now, without saving; "
                        f"{where}\n".encode())
            os._exit(128 + signum)
        received.append(signum)
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

