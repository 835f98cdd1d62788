"""Run a lesson as a notebook, without Jupyter's user interface:

    python -m cdlite.course.notebook examples/lessons/01_forward_and_denoiser.py [--quick]
                                     [-o lessons_out/01_forward_and_denoiser.ipynb]

The jupytext "percent" file becomes a notebook, the lesson's exercises are appended as cells to
fill in (each exercise's own stubs, then `check(...)`: made from cdlite.course's exercises, so
there is one copy of every statement), a fresh python3 kernel runs it cell by cell (nbclient) in
the current folder, and the notebook is written with every output: the printed tables and the
figures, to read in Jupyter, VS Code or on GitHub. Needs the `course` extra
(pip install -e ".[course]": jupytext, nbclient, ipykernel); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import CdliteError
from .lesson import DEFAULT_OUT


def exercise_cells(lesson_no: int) -> list[tuple[str, str]]:
    """(markdown, code) cells for the exercises of lesson `lesson_no`: the statement, then the
    exercise's own code with its stubs and a `check(...)` call that grades it in the cell."""
    from .registry import EXERCISES
    cells = []
    for e in EXERCISES.values():
        if e.lesson != lesson_no:
            continue
        statement = "\n".join(("    " + line) if line.strip() else "" for line in
                              e.math.strip().splitlines())
        cells.append((f"## Exercise: {e.title}\n\nExercise `{e.name}` (also as a file: `cdlite "
                      f"exercise start {e.name} DIR`).\n\n{statement}\n\n"
                      f"Fill in the functions below (replace `raise NotImplementedError(...)`) "
                      f"and run the cell: `check` grades them here, as `cdlite exercise check` "
                      f"does. `check(..., hint=1)` shows the first step of the derivation.",
                      f"{e.code.strip()}\n\n\nfrom cdlite.course import check\n\n"
                      f"report = check({e.name!r}, {', '.join(e.functions)})"))
    return cells


def run_notebook(lesson, out=None, quick: bool = False, timeout: float = 600,
                 exercises: bool = True, note: str = "") -> Path:
    """Execute the lesson file as a notebook and write it to `out` (default
    lessons_out/NAME.ipynb), its exercises appended as cells to fill in, and `note` (markdown)
    as a first cell when given. Returns the path written."""
    try:
        import jupytext
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as e:
        raise CdliteError(f"running a lesson as a notebook needs the course extra ({e.name} is "
                          f"missing): pip install -e \".[course]\"; as a plain script it runs "
                          f"without: python {lesson}") from None
    lesson = Path(lesson)
    if not lesson.is_file():
        raise CdliteError(f"{lesson} is not a file; the lessons are examples/lessons/NN_*.py")
    out = Path(out) if out else Path(os.environ.get("CDLITE_LESSONS_OUT") or DEFAULT_OUT) / (
        lesson.stem + ".ipynb")
    out.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(lesson)
    if note:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))
    if exercises and lesson.name[:2].isdigit():
        for markdown, code in exercise_cells(int(lesson.name[:2])):
            nb.cells += [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(code)]
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": os.getcwd()}})
    before = os.environ.get("CDLITE_QUICK")
    try:
        if quick:
            os.environ["CDLITE_QUICK"] = "1"  # the kernel inherits it: a notebook has no --quick
        client.execute()
    except CellExecutionError as e:
        nbformat.write(nb, out)
        last = [line for line in str(e).strip().splitlines() if line.strip()][-1:]
        raise CdliteError(f"a cell of {lesson} failed ({last[0] if last else 'see the notebook'});"
                          f" the notebook up to that cell is in {out}") from None
    finally:
        if before is None:
            os.environ.pop("CDLITE_QUICK", None)
        else:
            os.environ["CDLITE_QUICK"] = before
    nbformat.write(nb, out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdlite.course.notebook",
                                     description="Run a cdlite lesson as a notebook.")
    parser.add_argument("lesson", help="a lesson file, e.g. examples/lessons/01_*.py")
    parser.add_argument("-o", "--out", default=None,
                        help=f"the notebook to write [default: {DEFAULT_OUT}/NAME.ipynb]")
    parser.add_argument("--quick", action="store_true", help="the lesson's quick mode")
    args = parser.parse_args(argv)
    try:
        path = run_notebook(args.lesson, args.out, args.quick)
    except CdliteError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} (open it in Jupyter, or with `jupytext` installed open the .py file "
          f"itself as a notebook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
