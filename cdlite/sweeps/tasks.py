"""The tasks of a sweep, as a worker runs them: plain functions of plain values, returning the
files they made (so that a worker needs no disk shared with the client, which writes them).

    shared_task(recipe, settings)            the stages that several cells share (for the
                                             pipeline: data, teacher, teacher evaluation)
    cell_task(recipe, settings, shared)      one cell: its run folder, continuing from the
                                             shared stages' files when there are some

`settings` are the cell's (key, value) overrides of the recipe's defaults; files are
{path inside the folder: bytes}. A cell's folder is a normal run folder, the same, timings
aside, as a single `cdlite run` with the same config (tests/test_sweep.py checks it).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..config import override
from ..catalog import get_recipe
from ..runs.folder import RunFolder
from ..runs.identity import declare, text_hash
from ..locking import LOCK, FolderLock, holder
from ..runs.runner import drive, config_toml

SHARED_FILES = ("metrics.json", "samples.npz")  # and checkpoints/*: what the cells continue from


def resolve(recipe_name: str, settings: list):
    recipe = get_recipe(recipe_name)
    return recipe, override(recipe.defaults, settings)


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (but its lock), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK and not p.name.endswith(".tmp")}


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


WORK_PREFIX = "cdlite-task-"  # a task's temporary folder in the system's temporary folder
CLIENT_PID: int | None = None  # in a local pool's worker: the sweep's process (executors)


@contextlib.contextmanager
def work_folder():
    """A temporary folder for one task, locked while the task runs and removed when it ends
    however it ends in Python (an error, SIGTERM, Ctrl-C). A worker killed outright leaves it
    locked by nobody, and the next worker that starts removes it (remove_orphans)."""
    tmp = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
    lock = FolderLock.acquire(tmp, what="sweep task")
    try:
        yield tmp
    finally:
        lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
        if CLIENT_PID is not None and os.getppid() != CLIENT_PID:
            os._exit(1)  # the sweep died (its SIGTERM stopped this task): nobody to report to


def remove_orphans() -> None:
    """Remove the task folders of workers that were killed (a lock file that nobody holds; a
    folder without one is being made or removed by its owner right now)."""
    for tmp in Path(tempfile.gettempdir()).glob(WORK_PREFIX + "*"):
        if (tmp / LOCK).is_file() and holder(tmp) is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _start(recipe, cfg, folder: Path) -> RunFolder:
    """A new run folder, as `cdlite run` makes it."""
    run = RunFolder.create(folder, recipe.name, config_toml(recipe, cfg), cfg.seed)
    run.metrics.update(description=recipe.description, device=cfg.device)
    return run


def shared_task(recipe_name: str, settings: list) -> dict:
    """Run the recipe's shared stages only; returns {"files": ..., "seconds": ...}."""
    start = time.perf_counter()
    recipe, cfg = resolve(recipe_name, settings)
    prepared = recipe.prepare(cfg)
    with work_folder() as tmp:
        folder = _start(recipe, cfg, tmp / "run")
        folder.stop_after = recipe.shared_stages[-1]
        drive(recipe, cfg, folder, prepared, log=None, progress=False)
        files = {rel: data for rel, data in read_tree(folder.path).items()
                 if rel in SHARED_FILES or rel.startswith("checkpoints" + os.sep)}
    return {"files": files, "seconds": time.perf_counter() - start}


def cell_task(recipe_name: str, settings: list, shared: dict | None = None) -> dict:
    """Run one cell; with `shared` (a shared_task's files) the finished shared stages are
    taken over, so the cell continues after them. Returns {"files", "seconds", "status"}."""
    start = time.perf_counter()
    recipe, cfg = resolve(recipe_name, settings)
    prepared = recipe.prepare(cfg)
    with work_folder() as tmp:
        path = tmp / "run"
        if shared:
            write_tree(path, shared)
            text = config_toml(recipe, cfg)  # the cell's own config and identity
            declare(path, "run", recipe=recipe.name, seed=cfg.seed, config=text_hash(text))
            (path / "config.toml").write_text(text, encoding="utf-8")
            folder = RunFolder.reopen(path)
        else:
            folder = _start(recipe, cfg, path)
        metrics = drive(recipe, cfg, folder, prepared, log=None, progress=False)
        files = read_tree(path)
    return {"files": files, "seconds": time.perf_counter() - start,
            "status": metrics["status"]}
