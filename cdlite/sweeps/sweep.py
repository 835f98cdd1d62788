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
What a sweep runs (its spec, its cells) is cdlite.sweeps.spec.

The ledger is JSON, not sqlite3: it is a record that can be made again, not the truth. A cell is
done when its folder holds the complete run of that cell (its cdlite.json identity checked), so
a deleted or damaged ledger is rebuilt from the cells; one process writes it, under the sweep's
kernel lock, each write an atomic rename, so transactions would add nothing; and JSON stays
readable by people and by `cdlite show`, and safe on file systems where SQLite's locking is not.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..errors import CdliteError
from ..fileio import make_folder, write_json
from ..catalog import get_recipe
from ..runs.files import file_problem
from ..runs.folder import describe_state, read_json
from ..runs.runner import config_toml
from ..runs.identity import check_target, declare, read_mark, text_hash
from ..locking import FolderLock
from ..runs.signals import stop_on_signals
from .spec import Cell, SweepSpec, check_spec, expand, parse_grid  # noqa: F401 (the API)
from .tasks import cell_task, read_tree, remove_orphans, shared_task, write_tree



# --- the ledger --------------------------------------------------------------------------------

class Ledger:
    """SWEEP/sweep.json: the spec and the state of every cell and shared task, written
    atomically after every change, so that a stopped sweep is continued where it was."""

    def __init__(self, out: Path, spec: SweepSpec, cells: list[Cell], log=None):
        self.out, self.spec, self.cells = out, spec, cells
        self.log = log or (lambda *a: None)
        path = out / "sweep.json"
        old = read_json(path, "sweep's ledger") if path.is_file() else None
        if old is not None and not isinstance(old.get("cells", []), list):
            raise CdliteError(f"{path} is damaged (its cells are not a list); delete it and "
                              "rerun the same command: it is rebuilt from the cell folders")
        if old is not None and old.get("spec") != spec.to_dict():
            raise CdliteError(f"{out} holds a sweep of another spec ({old.get('spec')}); choose "
                              "another --out (or rerun it with the same recipe, grid, set, "
                              "seeds and --quick)")
        self.state = {c.folder: self._was(old, c) for c in cells}
        self.shared = (old or {}).get("shared", {})
        self.rows = (old or {}).get("rows", [])
        if not isinstance(self.shared, dict) or not isinstance(self.rows, list):
            self.shared, self.rows = {}, []  # derived values: made again

    def _was(self, old, cell: Cell) -> dict:
        """The cell's state, from its folder first: done when its folder holds the complete run
        of this cell (its identity checked), whatever the ledger says, so that a deleted ledger
        is rebuilt from the cells instead of computing them again; a cell whose folder holds
        another run (folders swapped or copied) is run again; one the ledger marks failed stays
        failed; everything else (running when the sweep stopped, never started) is pending."""
        entry = next((c for c in (old or {}).get("cells", []) if isinstance(c, dict)
                      and c.get("folder") == cell.folder), {})
        folder = self.out / cell.folder
        if folder.is_dir() and describe_state(folder)[0] == "complete":
            why = self._not_this_cell(cell, folder)
            if why is None:
                seconds = entry.get("seconds") if entry.get("status") == "done" else \
                    _seconds(folder)
                return {"status": "done", "error": None, "seconds": seconds}
            self.log(f"  {cell.folder} holds another run ({why}): it runs again")
            return {"status": "pending", "error": None, "seconds": None}
        if entry.get("status") == "failed":
            return {"status": "failed", "error": entry.get("error"), "seconds": None}
        return {"status": "pending", "error": None, "seconds": None}

    def _not_this_cell(self, cell: Cell, folder: Path) -> str | None:
        """Why the run folder `folder` is not `cell`'s run (None when it is)."""
        recipe = get_recipe(self.spec.recipe)
        try:
            mark = read_mark(folder)
        except CdliteError as e:
            return str(e)
        if mark is None:
            return "no cdlite.json"
        want = {"kind": "run", "recipe": recipe.name, "seed": cell.seed,
                "config": text_hash(config_toml(recipe, cell.cfg))}
        wrong = [f"{k} {mark.get(k)!r}, not {v!r}" for k, v in want.items() if mark.get(k) != v]
        return "; ".join(wrong) or None
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


def _read_shared(out: Path, key: str, log):
    """The files a shared task of an earlier session left, or None when there are none, or
    when they are not whole (a file missing or changed since it was written: then they are
    removed, and the shared stages run again)."""
    folder = out / "shared" / key
    if not folder.is_dir():
        return None
    why = damaged_shared(folder)
    if why is None:
        return read_tree(folder)
    log(f"  shared/{key}: {why}; its stages run again")
    shutil.rmtree(folder, ignore_errors=True)
    return None


def damaged_shared(folder: Path) -> str | None:
    """What is wrong with a shared task's folder (None when its files are the ones it wrote)."""
    try:
        files = read_json(folder / "metrics.json", "shared stages' metrics.json").get("files")
    except CdliteError as e:
        return str(e)
    if not isinstance(files, dict) or not files:
        return "its metrics.json records no files"
    for rel, record in files.items():
        why = file_problem(folder / rel, record) if isinstance(record, dict) else "is damaged"
        if why:
            return f"{rel} {why}"
    return None


def _seconds(folder: Path):
    """The compute time of a cell, from its metrics.json (for a ledger rebuilt from folders)."""
    timings = read_json(folder / "metrics.json", "run's metrics.json").get("timings_s")
    numbers = [v for v in (timings or {}).values() if isinstance(v, (int, float))]
    return round(sum(numbers), 2) if numbers else None


# --- running it -----------------------------------------------------------------------------

def run_sweep(spec: SweepSpec, out, executor_factory, log=None, yes: bool = False,
              on_done=None) -> dict:
    """Run every cell of `spec` not yet done into the sweep folder `out`; returns the ledger's
    counts. executor_factory() makes the executor (after every cell's config was checked, so a
    bad grid costs nothing). on_done(out, ledger) writes the table, figures and report."""
    log = log or (lambda *a: None)
    check_spec(spec, yes)  # the count before any cell is built
    cells = expand(spec)
    out = Path(out)
    check_target(out, "sweep")
    make_folder(out, "sweep")
    lock = FolderLock.acquire(out, what="sweep")
    try:
        check_target(out, "sweep")  # again, now that nobody else can write it
        declare(out, "sweep", recipe=spec.recipe, spec=text_hash(json.dumps(spec.to_dict())))
        _remove_unfinished_installs(out)
        remove_orphans()
        ledger = Ledger(out, spec, cells, log)
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
        shared = _read_shared(out, key, log) if len(group) > 1 else None
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
