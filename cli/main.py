"""The `cdlite` command: thin click wrappers over library functions (cdlite.experiments).

Every user mistake (a CdliteError) becomes a one-line message and exit status 2; Ctrl-C during a
run leaves a valid run folder marked partial and exits with 130.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

import cdlite  # noqa: F401  (first: it sets the BLAS thread default before NumPy loads)
from cdlite.backend import BackendError
from cdlite.errors import CdliteError


def friendly_errors(fn):
    """Turn user errors into `Error: ...` lines and a non-zero exit, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (CdliteError, BackendError) as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
    return wrapper


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
    from cdlite.experiments.recipes import RECIPES, THEORY_RECIPES
    for name, cfg in RECIPES.items():
        click.echo(f"{name:<15} {cfg.description}")
    for name, text in THEORY_RECIPES.items():
        click.echo(f"{name:<15} {text}")


@main.command()
@click.argument("recipe")
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
@click.option("--force", is_flag=True, help="Reuse --out even if it holds an earlier run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@friendly_errors
def run(recipe, quick, seed, seeds, out, device, sets, config_file, dry_run, force, quiet):
    """Run RECIPE end to end and write a run folder (config, metrics, samples, figures, report).

    \b
    Examples:
      cdlite run toy-gaussians
      cdlite run toy-gaussians --quick --out /tmp/first
      cdlite run toy-gaussians --seeds 3
      cdlite run digits --set data.n_train=64 --set teacher.steps=20000
      cdlite run rf-theory
    """
    from cdlite.experiments.commands import default_out, prepare_out, resolve_config
    from cdlite.experiments.config import to_toml
    from cdlite.experiments.recipes import THEORY_RECIPES
    theory = recipe in THEORY_RECIPES
    if theory and seeds:
        raise CdliteError("rf-theory is deterministic given its seed and runs one seed; drop "
                          "--seeds (use --seed N for another draw of W and the data)")
    cfg = resolve_config(recipe, quick, config_file, sets, seed, device)
    if dry_run:
        if theory:
            from cdlite.theory.recipe import config_toml
            click.echo(config_toml(*cfg), nl=False)
        else:
            click.echo(to_toml(cfg), nl=False)
        return
    out = prepare_out(out or default_out(recipe, quick), force)
    log = (lambda *a: None) if quiet else (lambda msg: click.echo(msg, err=True))
    try:
        if theory:
            from cdlite.experiments.report import theory_table
            from cdlite.theory.recipe import run_rf_theory
            cfg, s = cfg
            click.echo(theory_table(run_rf_theory(cfg, out, seed=s, log=log)))
        elif seeds:
            from cdlite.experiments.pipeline import run_seeds
            from cdlite.experiments.report import seed_table
            summary = run_seeds(cfg, range(cfg.seed, cfg.seed + seeds), out, quiet, log)
            click.echo(seed_table(summary))
        else:
            from cdlite.experiments.pipeline import run_recipe
            from cdlite.experiments.report import text_table, verdict
            m = run_recipe(cfg, out, quiet, log)
            click.echo(text_table(m))
            click.echo("\n" + verdict(m))
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: partial run folder written to {out}", err=True)
        sys.exit(130)
    click.echo(f"\nrun folder: {out}  (read {out / 'report.md'} first)")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@friendly_errors
def show(run_dir):
    """Print the summary table of a run folder again.

    \b
    Example:
      cdlite show runs/toy-gaussians
    """
    from cdlite.experiments.report import seed_table, text_table, verdict
    from cdlite.experiments.runfolder import read_metrics
    if (run_dir / "summary.json").is_file():
        click.echo(seed_table(json.loads((run_dir / "summary.json").read_text())))
        return
    m = read_metrics(run_dir)
    if m.get("recipe") == "rf-theory":
        from cdlite.experiments.report import theory_table
        click.echo(theory_table(m))
        return
    if m.get("status") != "complete":
        click.echo(f"(partial run: interrupted during {m.get('interrupted_in')!r})")
    click.echo(text_table(m))
    click.echo("\n" + verdict(m))


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("-n", "n", type=click.IntRange(1), default=1000, show_default=True,
              help="Number of samples.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output .npz (one array, 'samples').")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Teacher: Heun steps [run's]; student: sampling steps [1].")
@click.option("--device", type=click.Choice(["cpu", "gpu", "auto"]), default=None,
              help="[default: $CDLITE_DEVICE, else cpu]")
@friendly_errors
def sample(checkpoint, n, out, seed, steps, device):
    """Draw samples from a teacher or student checkpoint of a run.

    \b
    Examples:
      cdlite sample runs/toy-gaussians/checkpoints/student.npz -n 1000 --out student.npz
      cdlite sample runs/toy-gaussians/checkpoints/teacher.npz -n 500 --steps 40 --out t.npz
    """
    import numpy as np

    from cdlite.experiments.commands import sample_checkpoint
    from cdlite.fileio import atomic_file
    x, nfe, meta = sample_checkpoint(checkpoint, n, seed, steps, device)
    try:
        with atomic_file(out) as fh:
            np.savez(fh, samples=x)
    except OSError as e:
        raise CdliteError(f"cannot write {out}: {e.strerror}; choose another --out") from None
    step, planned = meta.get("step"), meta.get("steps_planned")
    when = f" at step {step}" + (f" of {planned} (an interrupted run)" if planned and step is not
                                 None and step < planned else "") if step is not None else ""
    click.echo(f"{x.shape[0]} samples of dimension {x.shape[1]} from the {meta['model']}{when} "
               f"(NFE {nfe}) -> {out}")


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
@friendly_errors
def evaluate(samples, train, test, key, threshold, as_json):
    """Memorization (and quality, with --test) of any samples file.

    \b
    Examples:
      cdlite evaluate runs/toy-gaussians/samples.npz --key student --train runs/toy-gaussians/samples.npz
      cdlite evaluate my_samples.npy --train train.npy --test test.npy --json
    """
    from cdlite.experiments.commands import evaluate_files
    from cdlite.fileio import json_safe
    r = evaluate_files(samples, train, test, key, threshold)
    if as_json:
        click.echo(json.dumps(json_safe(r)))
        return
    lo, hi = r["mem_frac_ci"]
    click.echo(f"f_mem {r['mem_frac']:.3f}  95% CI [{lo:.3f}, {hi:.3f}]  coverage "
               f"{r['coverage']:.3f}  ({r['n_samples']} samples, {r['n_train']} training points)")
    for k, v in r.get("quality", {}).items():
        click.echo(f"  {k:<20} {v:.4g}" if isinstance(v, float) else f"  {k:<20} {v}")


if __name__ == "__main__":
    main()
