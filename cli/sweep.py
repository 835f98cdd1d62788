"""`cdlite sweep` (registered in cli/main.py beside the other commands): from the command's
options to a SweepSpec, a folder and an executor; the sweep itself is cdlite.sweeps."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from cdlite_cli.errors import computing


@click.command()
@click.argument("name", required=False)
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2",
              help="A grid axis: every combination of the values is a cell (repeatable).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="A setting for every cell (repeatable).")
@click.option("--seeds", type=click.IntRange(1), default=None,
              help="Seeds per grid point: seed, seed+1, ... [default: 1; a study's own].")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="The first seed [default: 0; a study's or spec's own].")
@click.option("--quick", is_flag=True, help="The recipe's (or study's) short variant.")
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A TOML sweep spec: recipe, seeds, quick, [set], [grid].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Sweep folder [default: runs/sweep-NAME]; rerunning continues it.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Local worker processes [default: one per core].")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run on a Dask cluster instead (pip install 'cdlite[dask]').")
@click.option("--yes", is_flag=True, help="Run a grid of more than 1,000 cells.")
@click.option("--dry-run", is_flag=True, help="List the cells and stop.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@computing
def sweep(name, grid, sets, seeds, seed, quick, spec_file, out, workers, scheduler, yes,
          dry_run, quiet):
    """Run a grid of configs x seeds (or a shipped study) as a task graph; each cell is a run
    folder, the sweep folder its ledger, table (sweep.csv), figures and report.

    \b
    Examples:
      cdlite sweep distill-time                     a shipped study (cdlite list)
      cdlite sweep toy-gaussians --grid data.n_train=8,16,32 --seeds 3
      cdlite sweep toy-gaussians --grid distill.steps=1000,4000 --set teacher.steps=2000
      cdlite sweep phase-diagram --scheduler tcp://10.0.0.5:8786
    """
    run(name, grid, sets, seeds, seed, quick, spec_file, out, workers, scheduler,
                  yes, dry_run, (lambda *a: None) if quiet else
                  (lambda msg: click.echo(msg, err=True)), click.echo)


def make_spec(name, grid, sets, seeds, seed, quick, spec_file, yes=False):
    """The spec a `cdlite sweep` runs: a spec file, a study, or a recipe with a grid; its cell
    count is checked before anything is built."""
    from cdlite.catalog import RECIPES
    from cdlite.errors import CdliteError
    from cdlite.runs.runner import load_toml, parse_sets
    from cdlite.sizes import check_grid
    from cdlite.sweeps.studies import STUDIES
    from cdlite.sweeps.spec import SweepSpec, parse_grid
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
    if seeds is None and seed is None:
        return replace(spec, sets=spec.sets + extra)
    count = seeds if seeds is not None else len(spec.seeds)
    first = seed if seed is not None else 0 if seeds is not None else spec.seeds[0]
    check_grid(spec.grid, count, yes)  # before a tuple of --seeds 100000000 is made
    return replace(spec, sets=spec.sets + extra, seeds=tuple(range(first, first + count)))


def _count_first(grid, seeds, yes) -> None:
    """The cell count of --grid and --seeds, refused when too large before the recipes (and
    NumPy's users) are even imported: a 1e9-cell grid is one line within a second."""
    from cdlite.sizes import check_grid
    axes = [(g.split("=", 1)[0], [v for v in g.split("=", 1)[1].split(",") if v.strip()])
            for g in grid if "=" in g]
    if axes or seeds:
        check_grid(axes or [], seeds or 1, yes)


def run(name, grid, sets, seeds, seed, quick, spec_file, out, workers, scheduler, yes,
        dry_run, log, echo) -> None:
    """The sweep the options describe: listed (--dry-run) or run, then its table."""
    _count_first(grid, seeds, yes)  # before the recipes are imported
    from cdlite.errors import CdliteError
    from cdlite.runs.folder import read_json
    from cdlite.sweeps.executors import make_executor
    from cdlite.sweeps.studies import finish, summary_table
    from cdlite.addresses import probe_scheduler, scheduler_address
    from cdlite.sweeps.spec import check_spec, expand
    from cdlite.sweeps.sweep import run_sweep
    if scheduler is not None:
        scheduler = scheduler_address(scheduler)
        if not dry_run:  # a peer that is not a scheduler: one line before the folder exists
            probe_scheduler(scheduler)
    spec = make_spec(name, grid, sets, seeds, seed, quick, spec_file, yes)
    check_spec(spec, yes)
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
    rows = read_json(out / "sweep.json", "sweep's ledger").get("rows", [])
    if rows:
        echo(summary_table(rows, [k for k, _ in spec.grid]))
    echo(f"\n{counts['done']} done, {counts['failed']} failed, {counts['pending']} pending; "
         f"sweep folder: {out} (read {out / 'report.md'})")
    if counts["failed"]:
        raise CdliteError(f"{counts['failed']} cell(s) failed (their errors are in "
                          f"{out / 'report.md'}); rerun the same command to retry them")
