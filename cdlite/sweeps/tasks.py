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

import os
import tempfile
import time
from pathlib import Path

from ..config import override
from ..catalog import get_recipe
from ..runs.folder import RunFolder
from ..runs.lock import LOCK
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
    with tempfile.TemporaryDirectory(prefix="cdlite-shared-") as tmp:
        folder = _start(recipe, cfg, Path(tmp) / "run")
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
    with tempfile.TemporaryDirectory(prefix="cdlite-cell-") as tmp:
        path = Path(tmp) / "run"
        if shared:
            write_tree(path, shared)
            (path / "config.toml").write_text(config_toml(recipe, cfg), encoding="utf-8")
            folder = RunFolder.reopen(path)
        else:
            folder = _start(recipe, cfg, path)
        metrics = drive(recipe, cfg, folder, prepared, log=None, progress=False)
        files = read_tree(path)
    return {"files": files, "seconds": time.perf_counter() - start,
            "status": metrics["status"]}
