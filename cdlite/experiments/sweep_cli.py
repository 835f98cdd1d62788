"""`cdlite sweep`: from the command's options to a SweepSpec, a folder and an executor."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import CdliteError
from .executors import make_executor
from .recipes import RECIPES
from .runner import load_toml, parse_sets
from .studies import STUDIES, finish, summary_table
from .sweep import SweepSpec, expand, parse_grid, run_sweep


def make_spec(name, grid, sets, seeds, seed, quick, spec_file) -> SweepSpec:
    """The spec a `cdlite sweep` runs: a spec file, a study, or a recipe with a grid."""
    if spec_file is not None:
        if name or grid or quick:
            raise CdliteError("--spec holds the recipe, grid and --quick; drop NAME, --grid and "
                              "--quick")
        spec = SweepSpec.from_toml(load_toml(spec_file), spec_file)
    elif name in STUDIES:
        if grid:
            raise CdliteError(f"{name} is a study with its own grid; drop --grid (or sweep its "
                              f"recipe, {STUDIES[name].spec.recipe}, with your own grid)")
        spec = STUDIES[name].quick_spec if quick else STUDIES[name].spec
    elif name in RECIPES:
        spec = SweepSpec(name, parse_grid(grid), quick=quick)
    else:
        raise CdliteError(f"unknown recipe or study {name!r}; choose a recipe "
                          f"({', '.join(RECIPES)}) or a study ({', '.join(STUDIES)})")
    extra = tuple(parse_sets(sets))
    new_seeds = tuple(range(seed, seed + seeds)) if seeds else None
    return replace(spec, sets=spec.sets + extra, seeds=new_seeds or spec.seeds)


def run(name, grid, sets, seeds, seed, quick, spec_file, out, workers, scheduler, yes,
        dry_run, log, echo) -> None:
    spec = make_spec(name, grid, sets, seeds, seed, quick, spec_file)
    if dry_run:
        cells = expand(spec)
        shared = len({c.share for c in cells})
        echo(f"{len(cells)} cells, {shared} distinct teachers:")
        for c in cells:
            echo(f"  {c.folder}")
        return
    out = Path(out or Path("runs") / ("sweep-" + (spec.study or spec.recipe)
                                      + ("-quick" if spec.quick else "")))
    try:
        counts = run_sweep(spec, out, lambda: make_executor(workers, scheduler), log, yes,
                           finish)
    except KeyboardInterrupt:
        echo(f"\ninterrupted: pending cells were cancelled; {out}/sweep.json keeps the finished "
             "ones; rerun the same command to continue", err=True)
        raise SystemExit(130) from None
    import json
    rows = json.loads((out / "sweep.json").read_text()).get("rows", [])
    if rows:
        echo(summary_table(rows, [k for k, _ in spec.grid]))
    echo(f"\n{counts['done']} done, {counts['failed']} failed, {counts['pending']} pending; "
         f"sweep folder: {out} (read {out / 'report.md'})")
    if counts["failed"]:
        raise CdliteError(f"{counts['failed']} cell(s) failed (their errors are in "
                          f"{out / 'report.md'}); rerun the same command to retry them")
