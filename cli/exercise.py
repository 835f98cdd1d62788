"""`cdlite exercise`: thin click wrappers over cdlite.course (list, start, check, hint).

Every user mistake (a CdliteError) is a one-line `Error: ...` and exit status 2; `check` exits
with 0 when every check passes and 1 when any fails, like a test runner.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

import cdlite  # noqa: F401  (first: it sets the BLAS thread default before NumPy loads)
from cdlite_cli.errors import friendly_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def exercise():
    """Exercises: write the key lines of cdlite yourself and have them checked at once.

    \b
    Start here:
      cdlite exercise list                       the exercises and their lessons
      cdlite exercise start silu exercises       write exercises/silu.py to fill in
      cdlite exercise check exercises/silu.py    grade it: pass or fail, with a hint
      cdlite exercise hint silu                  the first step of the derivation (then 2, 3)
    """


@exercise.command("list")
def list_cmd():
    """List the exercises, in lesson order.

    \b
    Example:
      cdlite exercise list
    """
    from cdlite.course import EXERCISES
    for e in EXERCISES.values():
        click.echo(f"{e.name:<19} lesson {e.lesson}  {e.title}  ({', '.join(e.functions)})")
    click.echo("\nthe lessons: `cdlite lesson list`; after the exercises: `cdlite exercise "
               "capstone DIR`")


@exercise.command()
@click.argument("name")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite DIRECTORY/NAME.py if it exists.")
@friendly_errors
def start(name, directory, force):
    """Write DIRECTORY/NAME.py: the function's signature, docstring and math, a body to fill in.

    \b
    Example:
      cdlite exercise start silu exercises
    """
    from cdlite.course import start_exercise
    path = start_exercise(name, directory, force)
    click.echo(f"wrote {path}: fill in the bodies marked YOUR CODE HERE, then run\n"
               f"  cdlite exercise check {path}")


@exercise.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds each check may take before it is stopped [default: 5].")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Seed of the randomized checks, to replay a report [default: a new one].")
@friendly_errors
def check(file, timeout, seed):
    """Grade FILE against cdlite's own implementation and exact answers.

    The functions run in a separate Python process with a time limit per check (this is your
    own code on your own machine: nothing else is sandboxed). Exit status 0: every check
    passes; 1: some fail.

    \b
    Example:
      cdlite exercise check exercises/silu.py
    """
    from cdlite.course import DEFAULT_TIMEOUT, check_file, format_report
    report = check_file(file, timeout=timeout or DEFAULT_TIMEOUT, seed=seed)
    click.echo(format_report(report))
    sys.exit(0 if report.passed else 1)


@exercise.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--quick", is_flag=True, help="A few seconds on tiny budgets: the pipeline runs, "
              "the outcomes are not expected to pass.")
@friendly_errors
def capstone(directory, quick):
    """Train a teacher, distill it and measure both, with your own exercises in DIRECTORY.

    DIRECTORY holds edm_loss.py, heun_step.py, cd_loss.py and f_mem.py, each passing its checks.
    Graded on outcomes: the teacher memorizes (f_mem >= 0.8) and the distilled student lies
    below the teacher's memorization-quality curve at matched log-likelihood (about a minute).
    Exit status 0: every outcome passes; 1: some do not.

    \b
    Example:
      cdlite exercise capstone exercises
    """
    from cdlite.course.capstone import run_capstone
    click.echo(f"capstone: checking your exercises in {directory}, then training "
               f"(about a minute)")
    report = run_capstone(directory, quick=quick, log=lambda line: click.echo(line))
    click.echo("\n".join(report.text().splitlines()[1 + len(report.lines):]))
    sys.exit(0 if report.passed else 1)


@exercise.command()
@click.argument("name")
@click.argument("k", type=click.IntRange(1), default=1, required=False)
@friendly_errors
def hint(name, k):
    """Print hints 1 to K of exercise NAME: the derivation's steps, one more each time.

    \b
    Example:
      cdlite exercise hint edm_precond       the first step
      cdlite exercise hint edm_precond 3     the first three
    """
    from cdlite.course import get_exercise, hints_text
    click.echo(hints_text(get_exercise(name), k))


if __name__ == "__main__":
    exercise(prog_name="cdlite exercise")
