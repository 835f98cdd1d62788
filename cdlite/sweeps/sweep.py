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

from .. import sizes
from ..config import Config, ConfigError, at_least, flatten, override, to_dict, to_toml
from ..errors import CdliteError
from ..fileio import write_json
from ..catalog import get_recipe
from ..runs.folder import describe_state, file_problem, read_json
from ..runs.runner import config_toml
from ..runs.identity import check_target, declare, read_mark, text_hash
from ..locking import FolderLock
from ..runs.signals import stop_on_signals
from .tasks import cell_task, read_tree, remove_orphans, shared_task, write_tree



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
        """A spec file: recipe = "...", seeds = 3 or [..], seed, quick, [set] and [grid]
        tables, each value checked against its type as a config's are (quick = "no" is an
        error, not true)."""
        unknown = set(d) - {"recipe", "seeds", "seed", "quick", "set", "grid"}
        if unknown or "recipe" not in d:
            raise CdliteError(f"{source}: a sweep spec has recipe = \"...\", seeds, seed, quick, "
                              f"[set] and [grid]; got {sorted(d)}")
        seeds = d.get("seeds", 1)
        listed = isinstance(seeds, list)
        try:
            fields = SpecFile(**{k: d[k] for k in ("recipe", "seed", "quick") if k in d},
                              seeds=1 if listed else seeds)
        except ConfigError as e:
            raise CdliteError(f"{source}: {e}") from None
        except TypeError as e:
            raise CdliteError(f"{source}: {e}") from None
        if listed:
            bad = [s for s in seeds if not (isinstance(s, int) and not isinstance(s, bool)
                                            and s >= 0)]
            if bad or not seeds:
                raise CdliteError(f"{source}: seeds = {seeds!r}: give a number of seeds, or a "
                                  "list of whole numbers >= 0")
        for name, table in (("grid", d.get("grid", {})), ("set", d.get("set", {}))):
            if not isinstance(table, dict):
                raise CdliteError(f"{source}: {name} must be a [{name}] table, got {table!r:.60}")
        sizes.check_grid([(k, v if isinstance(v, list) else [v])
                          for k, v in flatten(d.get("grid", {}))],
                         len(seeds) if listed else fields.seeds, yes=True)
        seeds = (tuple(seeds) if listed else
                 tuple(range(fields.seed, fields.seed + fields.seeds)))
        grid = tuple((k, tuple(v if isinstance(v, list) else [v]))
                     for k, v in flatten(d.get("grid", {})))
        return cls(fields.recipe, grid, tuple(flatten(d.get("set", {}))), seeds, fields.quick)


@dataclass(frozen=True)
class SpecFile(Config):
    """The scalar fields of a spec file, typed as config fields are."""
    recipe: str = ""
    seeds: int = 1
    seed: int = 0
    quick: bool = False

    def check(self):
        yield from at_least(self, 1, "seeds")
        yield from at_least(self, 0, "seed")


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
    check_spec(spec)
    recipe = get_recipe(spec.recipe)
    base = recipe.quick(recipe.defaults) if spec.quick else recipe.defaults
    keys = [k for k, _ in spec.grid]
    cells, seen = [], {}
    for combo in itertools.product(*(values for _, values in spec.grid)):
        for seed in spec.seeds:
            settings = dict(zip(keys, combo))
            cfg = override(base, list(spec.sets) + list(settings.items()) + [("seed", seed)])
            sizes.check_config(cfg)
            share = recipe.share_key(cfg) if recipe.share_key else ""
            cell = Cell(len(cells), settings, int(seed), cfg, share)
            twin = seen.setdefault(to_toml(cfg), cell)
            if twin is not cell:
                raise CdliteError(f"the cells {twin.folder[6:]} and {cell.folder[6:]} are the "
                                  "same run (a value given twice, e.g. 40 and 4e1, or a seed "
                                  "twice); give each --grid value and seed once")
            cells.append(cell)
    return cells


def check_spec(spec: SweepSpec, yes: bool = True) -> int:
    """What can be refused from the spec alone, before any cell is built: the seed as a grid
    key or a setting (--seeds and --seed say it), a key twice, a value twice, and the cell
    count (sizes.check_grid: over 1,000 without `yes` is refused). Returns the count."""
    keys = [k for k, _ in spec.grid]
    if "seed" in keys:
        raise CdliteError("--grid seed=...: the seeds of a sweep are --seeds K (seeds S, S+1, "
                          "..., S+K-1, with --seed S), so that each cell's folder says its seed")
    if any(k == "seed" for k, _ in spec.sets):
        raise CdliteError("--set seed=...: a sweep's seeds are --seed S and --seeds K")
    if len(set(keys)) != len(keys):
        raise CdliteError(f"--grid names a key twice: {keys}")
    for key, values in spec.grid:
        twice = sorted({str(v) for v in values if list(values).count(v) > 1})
        if twice:
            raise CdliteError(f"--grid {key} gives {', '.join(twice)} twice; give each value "
                              "once")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise CdliteError(f"the seeds {list(spec.seeds)} name a seed twice")
    return sizes.check_grid(spec.grid, spec.seeds, yes)


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
