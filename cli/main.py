"""The `cdlite` command: thin click wrappers over library functions (cdlite.catalog, cdlite.runs).

Every user mistake (a CdliteError) becomes a one-line message and exit status 2; Ctrl-C during a
run leaves a valid run folder marked partial and exits with 130.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

import cdlite  # noqa: F401  (first: it sets the BLAS thread default before NumPy loads)
from cdlite.errors import CdliteError
from cdlite_cli.errors import computing, friendly_errors
from cdlite_cli.exercise import exercise
from cdlite_cli.lesson import lesson
from cdlite_cli.sweep import sweep


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             invoke_without_command=True)
@click.version_option(package_name="cdlite")
@click.pass_context
def main(ctx):
    """cdlite: watch a diffusion model memorize its training data, distill it with consistency
    distillation, and measure how much memorization the student keeps.

    \b
    Start here:
      cdlite list                         the recipes
      cdlite run toy-gaussians            the headline experiment (~1 minute on 2 cores)
      cdlite run toy-gaussians --quick    the whole pipeline in seconds
      cdlite show runs/toy-gaussians      its summary table again
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@main.command("list")
def list_cmd():
    """List the recipes, one line each.

    \b
    Example:
      cdlite list
      cdlite run two-moons --dry-run      the full config of one of them
    """
    from cdlite.catalog import RECIPES
    from cdlite.sweeps.studies import STUDIES
    for name, recipe in RECIPES.items():
        click.echo(f"{name:<15} {recipe.description}")
    click.echo("\nstudies (cdlite sweep NAME):")
    for name, study in STUDIES.items():
        click.echo(f"{name:<15} {study.question}")


@main.command()
@click.argument("recipe", required=False)
@click.option("--resume", "resume", type=click.Path(path_type=Path), default=None,
              metavar="RUN_DIR", help="Continue a stopped run (partial, failed or killed) with "
              "its own config; finished stages are kept.")
@click.option("--quick", is_flag=True, help="Short variant (seconds): the whole pipeline, "
              "too short for conclusions.")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Random seed [default: the config's, 0].")
@click.option("--seeds", type=click.IntRange(1), default=None,
              help="Run K seeds (seed, seed+1, ...) and summarise mean and spread.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder [default: runs/RECIPE (runs/RECIPE-quick with --quick), with "
                   "-2, -3, ... appended if taken].")
@click.option("--device", type=click.Choice(["cpu", "gpu", "auto"]), default=None,
              help="NumPy on the CPU or CuPy on a GPU [default: the config's, else "
                   "$CDLITE_DEVICE, else cpu].")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a config field, e.g. --set teacher.steps=8000 (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="TOML file with config overrides (same sections as config.toml).")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and stop.")
@click.option("--force", is_flag=True, help="Move an earlier run in --out aside and start over.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@computing
def run(recipe, resume, quick, seed, seeds, out, device, sets, config_file, dry_run, force,
        quiet):
    """Run RECIPE end to end and write a run folder (config, metrics, samples, figures, report).

    \b
    Examples:
      cdlite run toy-gaussians
      cdlite run toy-gaussians --quick --out /tmp/first
      cdlite run toy-gaussians --seeds 3
      cdlite run digits --set data.n_train=64 --set teacher.steps=20000
      cdlite run rf-theory
      cdlite run --resume runs/toy-gaussians      after Ctrl-C, a kill or a failure
    """
    from cdlite.catalog import get_recipe
    from cdlite.runs import runner
    log = (lambda *a: None) if quiet else (lambda msg: click.echo(msg, err=True))
    progress = False if quiet else None  # None: progress bars when stderr is a terminal
    if resume is not None:
        runner.refuse_with_resume(RECIPE=recipe, quick=quick, seed=seed, seeds=seeds, out=out,
                                  device=device, set=sets, config=config_file, dry_run=dry_run,
                                  force=force)
        _interruptible(lambda: click.echo(runner.resume_run(resume, get_recipe, log, progress)))
        return
    if recipe is None:
        raise CdliteError("name a recipe (`cdlite list` shows them), or --resume RUN_DIR")
    rec = get_recipe(recipe)
    cfg = runner.resolve_config(rec, quick, config_file, sets, seed, device)
    if dry_run:
        click.echo(runner.config_toml(rec, cfg), nl=False)
        return
    target = out or (lambda: runner.default_out(rec.name, quick))
    if seeds:
        from cdlite.runs.seeds import run_seeds
        _interruptible(lambda: click.echo(rec.seed_table(run_seeds(
            rec, cfg, range(cfg.seed, cfg.seed + seeds), target, log, force, progress))))
    else:
        _interruptible(lambda: click.echo(rec.table(runner.run_recipe(
            rec, cfg, target, log, force, progress))))


def _interruptible(action):
    """Run `action`; on SIGINT/SIGTERM (the run folder was then saved and marked partial)
    say how to continue and exit with 130."""
    try:
        action()
    except KeyboardInterrupt as e:
        where = getattr(e, "folder", None)  # set when a run saved its folder as partial
        click.echo("\ninterrupted" + (f": {where} holds what finished, marked partial; "
                                        f"continue it with `cdlite run --resume {where}`"
                                        if where else ""), err=True)
        sys.exit(130)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@friendly_errors
def show(run_dir):
    """Print the summary of a run folder again, with its state.

    \b
    Example:
      cdlite show runs/toy-gaussians
    """
    from cdlite.runs.folder import describe_state
    from cdlite.runs.identity import kind_of
    kind = kind_of(run_dir)
    if kind == "seeds":
        click.echo(_shown(run_dir, "summary.json", "seed_table"))
        return
    if kind == "sweep":
        raise CdliteError(f"{run_dir} is a sweep folder: read {run_dir / 'report.md'} and "
                          f"{run_dir / 'sweep.csv'}, or `cdlite show` one of its cells/")
    state, line = describe_state(run_dir)
    if state != "complete":
        hint = (f"; continue it with `cdlite run --resume {run_dir}`"
                if state in ("partial", "killed", "failed") else "")
        click.echo(f"({line}{hint})")
    click.echo(_shown(run_dir, "metrics.json", "table"))


def _shown(folder: Path, name: str, table: str) -> str:
    """The terminal table of a run's metrics.json (or a seeds folder's summary.json), after
    checking it against its schema and its files against their records: a damaged or edited
    file is one line, never a traceback."""
    from cdlite.catalog import get_recipe
    from cdlite.experiments.schema import problems
    from cdlite.runs.files import file_problem
    from cdlite.runs.folder import read_json, read_metrics
    if name == "summary.json" and not (folder / name).is_file():
        raise CdliteError(f"{folder} holds an interrupted --seeds run (no summary.json yet); "
                          f"continue it with `cdlite run --resume {folder}`")
    m = read_metrics(folder) if name == "metrics.json" else read_json(folder / name, name)
    recipe = get_recipe(str(m.get("recipe", "")))
    if name == "metrics.json":
        wrong = [p for p in problems(m) if not p.endswith(": missing")]
        if wrong:
            raise CdliteError(f"{folder}/metrics.json does not match its schema ({wrong[0]}"
                              f"{f'; and {len(wrong) - 1} more' if len(wrong) > 1 else ''}): "
                              "it was edited or damaged; `cdlite run --resume` cannot mend it, "
                              "run it again into another folder")
        files = m.get("files") if isinstance(m.get("files"), dict) else {}
        gone = [f"{rel} {why}" for rel, rec in files.items()
                if (why := file_problem(folder / rel, rec if isinstance(rec, dict) else {}))]
        if gone:
            click.echo(f"({folder}: {'; '.join(gone[:3])})")
    try:
        return getattr(recipe, table)(m)
    except (TypeError, KeyError, ValueError, IndexError, AttributeError) as e:
        raise CdliteError(f"{folder}/{name} cannot be shown ({type(e).__name__}: {e}); it was "
                          "edited or damaged") from None


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("-n", "n", type=click.IntRange(1), default=1000, show_default=True,
              help="Number of samples.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output .npz (one array, 'samples').")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Teacher: Heun steps [run's]; student: sampling steps [1].")
@click.option("--device", type=click.Choice(["cpu", "gpu", "auto"]), default=None,
              help="[default: $CDLITE_DEVICE, else cpu]")
@click.option("--force", is_flag=True, help="Replace --out if it exists (never the checkpoint).")
@computing
def sample(checkpoint, n, out, seed, steps, device, force):
    """Draw samples from a teacher or student checkpoint of a run.

    \b
    Examples:
      cdlite sample runs/toy-gaussians/checkpoints/student.npz -n 1000 --out student.npz
      cdlite sample runs/toy-gaussians/checkpoints/teacher.npz -n 500 --steps 40 --out t.npz
    """
    from cdlite.runs.commands import sample_to_file
    click.echo(sample_to_file(checkpoint, n, out, seed, steps, device, force))


@main.command()
@click.argument("samples", type=click.Path(path_type=Path))
@click.option("--train", "train", type=click.Path(path_type=Path), required=True,
              help=".npy/.npz with the training points (a run's samples.npz works: 'train').")
@click.option("--test", "test", type=click.Path(path_type=Path), default=None,
              help="Held-out points for the quality figures.")
@click.option("--key", default=None, help="Array name in SAMPLES when it holds several.")
@click.option("--threshold", type=float, default=1 / 3, show_default="1/3",
              help="Memorized when |x-a1|/|x-a2| < threshold.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@computing
def evaluate(samples, train, test, key, threshold, as_json):
    """Memorization (and quality, with --test) of any samples file.

    \b
    Examples:
      cdlite evaluate runs/toy-gaussians/samples.npz --key student \\
          --train runs/toy-gaussians/samples.npz
      cdlite evaluate my_samples.npy --train train.npy --test test.npy --json
    """
    from cdlite.runs.commands import evaluate_files, evaluation_text
    click.echo(evaluation_text(evaluate_files(samples, train, test, key, threshold), as_json))


main.add_command(exercise)  # cdlite exercise list/start/check: the course (cdlite.course)
main.add_command(lesson)  # cdlite lesson list/copy: the lessons shipped with the package
main.add_command(sweep)  # cdlite sweep: grids, seeds, studies (cdlite.sweeps)

if __name__ == "__main__":
    main()
