"""`cdlite lesson`: the lessons that come with the package (list, copy).

Every user mistake (a CdliteError) is a one-line `Error: ...` and exit status 2.
"""
from __future__ import annotations

from pathlib import Path

import click

import cdlite  # noqa: F401  (first: it sets the BLAS thread default before NumPy loads)
from cdlite_cli.errors import friendly_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def lesson():
    """The lessons: eight scripts (and notebooks) from the forward process to the random-feature
    picture, installed with cdlite.

    \b
    Start here:
      cdlite lesson list                 the lessons, in order
      cdlite lesson copy lessons         copy them into ./lessons to run and edit
      python lessons/01_forward_and_denoiser.py --quick
    """


@lesson.command("list")
@friendly_errors
def list_cmd():
    """List the lessons, in order, with their exercises.

    \b
    Example:
      cdlite lesson list
    """
    from cdlite.course import EXERCISES, LESSONS
    from cdlite.course.lesson import lessons_folder
    for k, (name, title) in LESSONS.items():
        names = [e.name for e in EXERCISES.values() if e.lesson == k]
        extra = f"  (exercises: {', '.join(names)})" if names else ""
        click.echo(f"{k}  {name:<32} {title}{extra}")
    click.echo(f"\nthe files are in {lessons_folder()}; `cdlite lesson copy DIR` copies them")


@lesson.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True,
              help="Copy into a non-empty DIRECTORY, overwriting the lesson files there.")
@friendly_errors
def copy(directory, force):
    """Copy the lessons and their README into DIRECTORY (a new or empty folder).

    \b
    Example:
      cdlite lesson copy lessons
      python lessons/01_forward_and_denoiser.py --quick
    """
    from cdlite.course.lesson import copy_lessons
    written = copy_lessons(directory, force)
    click.echo(f"copied {len(written)} files into {directory}; run one with\n"
               f"  python {directory / written[0].name} --quick")


if __name__ == "__main__":
    lesson(prog_name="cdlite lesson")
