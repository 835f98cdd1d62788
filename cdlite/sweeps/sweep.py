"""A sweep (docs/design.md §7): a grid over config keys times seeds, each cell a normal run folder,
and the sweep folder as the ledger of which cells are done, failed or pending.

    SWEEP/sweep.json    the spec, every cell (settings, status, error, time), the summary rows
    SWEEP/sweep.csv     one row per finished cell
    SWEEP/cells/NNN-... the cells' run folders
    SWEEP/shared/KEY/   what cells share (for the pipeline: a trained, evaluated teacher)
    SWEEP/figures/, SWEEP/report.md

The cells form a task graph: cells whose configs differ only after the teacher share one
teacher task, and their own tasks start when it is done. A local process pool or a Dask cluster
runs it (cdlite.sweeps.executors); results come back as data and only this process writes
the folder. Rerunning a sweep skips finished cells, takes over finished shared tasks, and
retries failed and pending ones; Ctrl-C cancels what is pending and leaves a valid ledger.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import flatten, override, to_dict
from ..errors import CdliteError
from ..fileio import write_json
from ..catalog import get_recipe
from ..runs.folder import describe_state, read_json
from ..runs.identity import check_target, declare, text_hash
from ..locking import FolderLock
from ..runs.signals import stop_on_signals
from .tasks import cell_task, read_tree, remove_orphans, shared_task, write_tree

MAX_CELLS = 1000  # a grid bigger than this needs --yes


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: a recipe, fixed settings, a grid of settings, seeds."""
    recipe: str
    grid: tuple = ()              # ((key, (value, ...)), ...): every combination is a cell
    sets: tuple = ()              # ((key, value), ...): the same for every cell
    seeds: tuple = (0,)           # each combination once per seed
    quick: bool = False           # the recipe's --quick variant as the base
    study: str = ""               # the shipped study it comes from, if any

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_toml(cls, d: dict, source) -> SweepSpec:
        """A spec file: recipe = "...", seeds = 3 or [..], quick, [set] and [grid] tables."""
        unknown = set(d) - {"recipe", "seeds", "seed", "quick", "set", "grid"}
        if unknown or "recipe" not in d:
            raise CdliteError(f"{source}: a sweep spec has recipe = \"...\", seeds, quick, "
                              f"[set] and [grid]; got {sorted(d)}")
        seeds = d.get("seeds", 1)
        seeds = (tuple(range(int(d.get("seed", 0)), int(d.get("seed", 0)) + int(seeds)))
                 if isinstance(seeds, int) else tuple(int(s) for s in seeds))
        grid = tuple((k, tuple(v if isinstance(v, list) else [v]))
                     for k, v in flatten(d.get("grid", {})))
        return cls(str(d["recipe"]), grid, tuple(flatten(d.get("set", {}))), seeds,
                   bool(d.get("quick", False)))


def parse_grid(items) -> tuple:
    """--grid key=v1,v2 options as ((key, (v1, v2)), ...)."""
    out = []
    for item in items:
        if "=" not in item:
            raise CdliteError(f"--grid expects key=v1,v2,..., got {item!r} "
                              "(e.g. --grid data.n_train=8,16,32)")
        key, values = item.split("=", 1)
        values = [v.strip() for v in values.split(",") if v.strip()]
        if not values:
            raise CdliteError(f"--grid {key}= has no values; give them as key=v1,v2")
        out.append((key.strip(), tuple(values)))
    return tuple(out)


@dataclass
class Cell:
    index: int
    settings: dict                # the grid's values of this cell (key -> value as given)
    seed: int
    cfg: object = field(repr=False)
    share: str = ""               # cells with one share key share their first stages

    @property
    def folder(self) -> str:
        slug = "-".join(f"{k}={v}" for k, v in self.settings.items())
        slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", f"{slug}-seed={self.seed}".strip("-"))
        return f"cells/{self.index:03d}-{slug[:80]}"

    def task_settings(self) -> list:
        return flatten(to_dict(self.cfg))


def expand(spec: SweepSpec) -> list[Cell]:
    """Every cell of the spec, each config resolved and checked before any task starts: an
    unknown key or a value of the wrong type is one line naming the key and the choices."""
    recipe = get_recipe(spec.recipe)
    base = recipe.quick(recipe.defaults) if spec.quick else recipe.defaults
    keys = [k for k, _ in spec.grid]
    if len(set(keys)) != len(keys):
        raise CdliteError(f"--grid names a key twice: {keys}")
    cells = []
    for combo in itertools.product(*(values for _, values in spec.grid)):
        for seed in spec.seeds:
            settings = dict(zip(keys, combo))
            cfg = override(base, list(spec.sets) + list(settings.items()) + [("seed", seed)])
            share = recipe.share_key(cfg) if recipe.share_key else ""
            cells.append(Cell(len(cells), settings, int(seed), cfg, share))
    return cells


# --- the ledger --------------------------------------------------------------------------------

class Ledger:
    """SWEEP/sweep.json: the spec and the state of every cell and shared task, written
    atomically after every change, so that a stopped sweep is continued where it was."""

    def __init__(self, out: Path, spec: SweepSpec, cells: list[Cell]):
        self.out, self.spec, self.cells = out, spec, cells
        path = out / "sweep.json"
        old = read_json(path, "sweep's ledger") if path.is_file() else None
        if old is not None and old.get("spec") != spec.to_dict():
            raise CdliteError(f"{out} holds a sweep of another spec ({old.get('spec')}); choose "
                              "another --out (or rerun it with the same recipe, grid, set, "
                              "seeds and --quick)")
        self.state = {c.folder: self._was(old, c) for c in cells}
        self.shared = (old or {}).get("shared", {})
        self.rows = (old or {}).get("rows", [])

    def _was(self, old, cell: Cell) -> dict:
        """The cell's state in the ledger of an earlier session: done only if its folder is
        complete too; a cell that was running when the sweep stopped is pending again."""
        entry = next((c for c in (old or {}).get("cells", []) if c["folder"] == cell.folder),
                     {})
        status = entry.get("status", "pending")
        if status == "done" and describe_state(self.out / cell.folder)[0] != "complete":
            status = "pending"
        if status not in ("done", "failed"):
            status = "pending"
        return {"status": status, "error": entry.get("error") if status == "failed" else None,
                "seconds": entry.get("seconds")}

    def mark(self, cell: Cell, status: str, error: str | None = None, seconds=None) -> None:
        self.state[cell.folder] = {"status": status, "error": error, "seconds": seconds}
        self.save()

    def save(self, extra: dict | None = None) -> None:
        cells = [{"folder": c.folder, "settings": c.settings, "seed": c.seed, "share": c.share,
                  **self.state[c.folder]} for c in self.cells]
        write_json(self.out / "sweep.json", {"spec": self.spec.to_dict(), "cells": cells,
                                             "shared": self.shared, "rows": self.rows,
                                             **(extra or {})})

    def counts(self) -> dict:
        out = {"done": 0, "failed": 0, "pending": 0}
        for s in self.state.values():
            out[s["status"]] = out.get(s["status"], 0) + 1
        return out


def _install(out: Path, rel: str, files: dict) -> None:
    """Write a task's files as SWEEP/rel, whole or not at all (a temporary folder renamed)."""
    final = out / rel
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_tree(tmp, files)
    if final.exists():  # only an unfinished cell or shared task is ever replaced
        shutil.rmtree(final)
    os.replace(tmp, final)


def _remove_unfinished_installs(out: Path) -> None:
    """The temporary folders of installs that a killed session left (only the lock's holder
    installs, so any there now are left over)."""
    for parent in (out / "cells", out / "shared"):
        for tmp in parent.glob("*.tmp-*") if parent.is_dir() else ():
            shutil.rmtree(tmp, ignore_errors=True)


def _read_shared(out: Path, key: str):
    """The files a shared task of an earlier session left, or None."""
    folder = out / "shared" / key
    return read_tree(folder) if folder.is_dir() else None


# --- running it -----------------------------------------------------------------------------

def run_sweep(spec: SweepSpec, out, executor_factory, log=None, yes: bool = False,
              on_done=None) -> dict:
    """Run every cell of `spec` not yet done into the sweep folder `out`; returns the ledger's
    counts. executor_factory() makes the executor (after every cell's config was checked, so a
    bad grid costs nothing). on_done(out, ledger) writes the table, figures and report."""
    log = log or (lambda *a: None)
    cells = expand(spec)
    if len(cells) > MAX_CELLS and not yes:
        raise CdliteError(f"this grid has {len(cells)} cells (more than {MAX_CELLS}); check "
                          "--grid and --seeds, and add --yes to run them all")
    out = Path(out)
    check_target(out, "sweep")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CdliteError(f"cannot create the sweep folder {out}: {e.strerror}; choose another "
                          "--out") from None
    lock = FolderLock.acquire(out, what="sweep")
    try:
        check_target(out, "sweep")  # again, now that nobody else can write it
        declare(out, "sweep", recipe=spec.recipe, spec=text_hash(json.dumps(spec.to_dict())))
        _remove_unfinished_installs(out)
        remove_orphans()
        ledger = Ledger(out, spec, cells)
        todo = [c for c in cells if ledger.state[c.folder]["status"] != "done"]
        log(f"sweep {out}: {len(cells)} cells, {len(cells) - len(todo)} done, "
            f"{len(todo)} to run")
        if todo:
            executor = executor_factory()
            log(f"on the {executor.name} ({executor.workers} workers)")
            try:
                with stop_on_signals(lambda: f"{out}/sweep.json keeps the cells that finished"):
                    _run_tasks(spec, out, todo, ledger, executor, log)
            finally:
                executor.close()
        ledger.save()
        if on_done is not None:
            on_done(out, ledger)
    finally:
        lock.release()
    return ledger.counts()


def _run_tasks(spec, out: Path, todo: list[Cell], ledger: Ledger, ex, log) -> None:
    """Submit the task graph: a shared task per group of cells that share one (unless an
    earlier session left it on disk), each cell once what it needs is there."""
    recipe = get_recipe(spec.recipe)
    groups: dict[str, list[Cell]] = {}
    for cell in todo:
        groups.setdefault(cell.share if recipe.shared_stages else f"#{cell.index}",
                          []).append(cell)
    running = {}
    for key, group in groups.items():
        shared = _read_shared(out, key) if len(group) > 1 else None
        if len(group) > 1 and shared is None:
            running[ex.submit(shared_task, spec.recipe, group[0].task_settings())] = (key, group)
            continue
        for cell in group:
            running[ex.submit(cell_task, spec.recipe, cell.task_settings(), shared)] = cell
    try:
        while running:
            done, _ = ex.wait(list(running))
            for future in done:
                _finished(spec, out, future, running.pop(future), ledger, ex, running, log)
    except KeyboardInterrupt:
        ex.cancel()
        for what in running.values():  # cells that were running or waiting stay pending
            for cell in (what[1] if isinstance(what, tuple) else [what]):
                ledger.mark(cell, "pending")
        raise


def _finished(spec, out, future, what, ledger: Ledger, ex, running: dict, log) -> None:
    """Record one finished task; a shared task's cells are submitted as soon as it is done."""
    try:
        result = ex.result(future)
    except Exception as e:  # noqa: BLE001  (the task's own error, or a worker that died)
        error = f"{type(e).__name__}: {e}".strip()
        for cell in (what[1] if isinstance(what, tuple) else [what]):
            ledger.mark(cell, "failed", error if not isinstance(what, tuple)
                        else f"its shared stages failed: {error}")
            log(f"  failed: {cell.folder}: {error}")
        return
    if isinstance(what, tuple):  # a shared task: keep its files, start its cells
        key, group = what
        _install(out, f"shared/{key}", result["files"])
        ledger.shared[key] = {"seconds": round(result["seconds"], 2)}
        ledger.save()
        for cell in group:
            running[ex.submit(cell_task, spec.recipe, cell.task_settings(),
                              result["files"])] = cell
        return
    _install(out, what.folder, result["files"])
    ledger.mark(what, "done", seconds=round(result["seconds"], 2))
    log(f"  done: {what.folder} ({result['seconds']:.1f} s)")
