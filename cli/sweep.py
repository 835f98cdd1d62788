"""`cdlite sweep`: a thin click wrapper over cdlite.experiments.sweep_cli (registered in
cli/main.py beside the other commands)."""
from __future__ import annotations

from pathlib import Path

import click

from cdlite_cli.errors import friendly_errors


@click.command()
@click.argument("name", required=False)
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2",
              help="A grid axis: every combination of the values is a cell (repeatable).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="A setting for every cell (repeatable).")
@click.option("--seeds", type=click.IntRange(1), default=None,
              help="Seeds per grid point: seed, seed+1, ... [default: 1; a study's own].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
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
@friendly_errors
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
    from cdlite.experiments import sweep_cli
    sweep_cli.run(name, grid, sets, seeds, seed, quick, spec_file, out, workers, scheduler,
                  yes, dry_run, (lambda *a: None) if quiet else
                  (lambda msg: click.echo(msg, err=True)), click.echo)
