"""The run folder (docs/design.md §7) and its lifecycle: a folder never claims more than it holds.

    cdlite.json    what the folder is: a run, its recipe, seed and config hash (identity.py)
    config.toml    the resolved config, with the recipe's name first (what --config reads back)
    metrics.json   everything measured so far, "status", and "files": the size and SHA-256 of
                   every file a finished stage left (samples.npz, checkpoints/*.npz)
    samples.npz    the sample sets so far (plain float32 arrays)
    checkpoints/   the models (and, for resume, their training state)
    figures/, report.md

The lifecycle:
- One run owns a folder through a kernel lock on `.lock` (cdlite.locking): a second run on the
  folder is refused with the owner's name, and the kernel drops the lock when its process ends,
  however it ends, so there is no stale lock: a killed run's folder is simply not in use.
- "status" in metrics.json moves running -> complete | partial | failed. Every write is atomic
  (cdlite.fileio), and each finished stage is saved as it ends, so a kill at any moment leaves a
  folder whose status and metrics say what it holds. "complete" is written last of all, after
  the figures and report.md.
- SIGINT and SIGTERM are handled alike: the first stops the run at once, saves what finished and
  marks the folder partial; a second one exits immediately, saying that the folder was left as
  it was (status "running", so `cdlite show` reports it as stopped mid-write).
- A failure keeps the finished stages' results and marks the folder failed, with the error.
- `force=True` moves an earlier run aside (FOLDER.old-<time>) instead of writing into it, and
  removes it once the new run is complete: a folder never mixes two runs. Only a run folder is
  ever moved: a folder of another kind, or holding files cdlite did not write, is refused.
- A resumed run trusts a finished stage only if its files are whole (cdlite.runs.files).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from .. import npzio
from ..errors import CdliteError
from ..fileio import atomic_file, make_folder, read_limited, write_json, write_text
from ..locking import LOCK, FolderLock, describe, holder
from .files import stage_files, undo_stages_with_bad_files, file_record
from .identity import check_target, declare, text_hash

FINISHED = ("complete", "partial", "failed")


class StageLimit(Exception):
    """Raised after the stage named by RunFolder.stop_after: a run that computes only what
    several runs share (a sweep's teacher) ends there, its folder marked partial."""


# --- reading a folder -----------------------------------------------------------------------

JSON_LIMIT = 256 << 20  # bytes of a metrics.json, sweep.json or summary.json (a few KB to MB)


def read_json(path: Path, what: str = "file") -> dict:
    """A JSON object from disk (read with a size limit), or a CdliteError that says what is
    wrong with the file."""
    try:
        value = json.loads(read_limited(path, JSON_LIMIT, what).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CdliteError(f"{path} is not valid JSON ({e}); the {what} is damaged (it was not "
                          "written by cdlite, or was edited by hand)") from None
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


def describe_state(folder) -> tuple[str, str]:
    """(state, one line for a person) of a run folder: complete, partial, failed, running (its
    owner is alive), killed (status running, owner gone) or empty."""
    folder = Path(folder)
    owner = holder(folder)
    if owner is not None:
        return "running", f"{folder} is in use by {describe(owner)}"
    return _state(folder)


def _state(folder: Path) -> tuple[str, str]:
    """describe_state of a folder that no other process holds (or that this one has locked)."""
    if not (folder / "metrics.json").is_file():
        return "empty", f"{folder} holds no run"
    m = read_metrics(folder)
    status = m.get("status")
    if status == "running":  # and nobody holds the lock: its process ended without a word
        stage = m.get("stage", "?")
        return "killed", (f"{folder}: the run was stopped without saving (killed, or a second "
                          f"signal) during {stage!r}; it holds the stages that finished before")
    if status in FINISHED:
        return status, f"{folder} holds a {status} run"
    return "damaged", f"{folder}/metrics.json has no valid status ({status!r})"


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
        self.lock: FolderLock | None = None   # held from create/reopen to finish

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path, recipe: str, config_toml: str, seed: int, force: bool = False,
               log=None) -> RunFolder:
        """Take `path` for a new run of `recipe`: refuse a folder in use or holding a run (unless
        force: then the old run is moved aside), lock it, write config.toml and a metrics.json
        with status "running"."""
        path = Path(path)
        lock, replaced = _make_room(path, force)
        folder = cls(path, {"recipe": recipe, "seed": seed, "status": "running",
                            "stage": "setup", "stages_done": [], "timings_s": {}}, log=log)
        folder.replaced, folder.lock = replaced, lock
        try:
            declare(path, "run", recipe=recipe, seed=seed, config=text_hash(config_toml))
            write_text(path / "config.toml", config_toml)
            folder.save()
        except OSError as e:
            lock.release()
            raise CdliteError(f"cannot write the run folder {path}: {e.strerror}; free some "
                              "space or choose another --out") from None
        return folder

    @classmethod
    def reopen(cls, path, log=None, check=None) -> RunFolder:
        """Take back a stopped run's folder (partial, failed, or killed) to continue it: lock it,
        check(path) that it is the run the caller means (identity), read what it holds (a
        finished stage whose files are missing or changed is undone), mark it running."""
        path = Path(path)
        lock = FolderLock.acquire(path, what="run")
        try:
            state, line = _state(path)
            if state == "complete":
                raise CdliteError(f"{line}: there is nothing to resume (`cdlite show {path}`)")
            if state in ("empty", "damaged"):
                raise CdliteError(f"{line}; only a partial, failed or killed run can be resumed")
            if check is not None:
                check(path)
            metrics = read_metrics(path)
            undo_stages_with_bad_files(path, metrics, log or (lambda *a: None))
            samples = {}
            if (path / "samples.npz").is_file():
                samples = dict(npzio.load(path / "samples.npz"))
        except BaseException:
            lock.release()
            raise
        for key in ("interrupted_in", "error"):  # they described the stop, now undone
            metrics.pop(key, None)
        metrics["status"] = "running"
        folder = cls(path, metrics, samples, log=log)
        folder.lock = lock
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

    @contextlib.contextmanager
    def stage(self, name: str):
        """`with folder.stage("teacher"):` marks the stage in metrics.json while it runs, then
        records its time and saves its results when it ends; after the stage named by
        stop_after, the run ends there (StageLimit)."""
        self.metrics["stage"] = name
        self.save(samples=False)  # `cdlite show` (and a kill) can tell which stage was running
        self.log(f"[{name}]")
        start = time.perf_counter()
        yield
        self.metrics["timings_s"][name] = round(time.perf_counter() - start, 3)
        if name not in self.metrics["stages_done"]:  # (the report is redone on resume)
            self.metrics["stages_done"].append(name)
        if self.samples:
            write_samples(self.path / "samples.npz", self.samples)
        self.record_files(name)
        self.save(samples=False)
        if name == self.stop_after:
            raise StageLimit(name)

    def record_files(self, stage: str | None) -> None:
        """Note the size and hash of every file the stages left (samples.npz, checkpoints/):
        new ones as files of `stage` (None: note only the files already noted)."""
        files = self.metrics.setdefault("files", {})
        for rel in stage_files(self.path):
            if rel in files or stage is not None:
                old = files.get(rel, {})
                files[rel] = {**file_record(self.path / rel), "stage": old.get("stage", stage)}

    def finish(self, status: str, error: str | None = None) -> None:
        """The last write of a run: its status (complete, partial or failed), then the lock is
        released. An earlier run moved aside is removed once the new one is complete."""
        assert status in FINISHED, status
        self.metrics["status"] = status
        if status != "complete":
            self.metrics["interrupted_in"] = self.metrics.get("stage")
        if error:
            self.metrics["error"] = error
        try:
            try:
                if self.samples:
                    write_samples(self.path / "samples.npz", self.samples)
                self.record_files(None)  # what a stopped stage rewrote is noted as it now is
            except OSError:  # a full disk: metrics.json (a few KB) may still say how it ended
                pass
            self.save(samples=False)
        finally:
            if self.lock is not None:
                self.lock.release()
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


def _make_room(path: Path, force: bool) -> tuple[FolderLock, Path | None]:
    """Create and lock `path` for a new run, after checking that it can take one; with force, an
    earlier run is moved aside (FOLDER.old-...) and the new run gets a fresh folder. Returns the
    lock and the folder moved aside (or None)."""
    if path.exists() and not path.is_dir():
        raise CdliteError(f"--out {path} is a file; give a folder for the run")
    make_folder(path, "run")
    lock = FolderLock.acquire(path, what="run")
    try:
        if check_target(path, "run") is None:
            return lock, None
        state, line = _state(path)
        if not force:
            advice = (f"resume it with `cdlite run --resume {path}`, " if state in
                      ("partial", "killed", "failed") else "")
            raise CdliteError(f"{line}; {advice}choose another --out, or add --force to move it "
                              "aside and start over")
        aside = path.with_name(f"{path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}-"
                               f"{os.getpid()}")
        try:
            os.rename(path, aside)
            path.mkdir()
        except OSError as e:
            raise CdliteError(f"cannot move the earlier run {path} aside: {e.strerror}") \
                from None
        new = FolderLock.acquire(path, what="run")
    except BaseException:
        lock.release()
        raise
    lock.release()  # the lock of the folder moved aside (its file stays there, unlocked)
    with contextlib.suppress(OSError):
        os.remove(aside / LOCK)
    return new, aside
