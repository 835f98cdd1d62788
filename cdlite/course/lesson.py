"""What the lessons in examples/lessons/ share: quick mode, the output folder, showing a figure;
and where an installed cdlite keeps them (`cdlite lesson list`, `cdlite lesson copy DIR`).

A lesson runs as a script,

    python examples/lessons/01_forward_and_denoiser.py [--quick] [--out lessons_out]

and as a notebook (jupytext). In a notebook sys.argv belongs to the kernel, so the environment
says the same: CDLITE_QUICK=1 for quick mode, CDLITE_LESSONS_OUT=DIR for the folder. Quick mode
runs every line of the lesson on less data and fewer steps (seconds; CI uses it); its numbers are
too rough for the questions at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import CdliteError

DEFAULT_OUT = "lessons_out"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (the lesson opened as a notebook)."""
    return "ipykernel" in sys.modules


@dataclass(frozen=True)
class Lesson:
    name: str       # e.g. "01_forward_and_denoiser": the prefix of its figure files
    quick: bool     # less data, fewer steps
    out: Path       # where the figures go

    def pick(self, full, quick):
        """`quick` in quick mode, else `full`: lesson sizes read as lesson.pick(4000, 200)."""
        return quick if self.quick else full

    def show(self, fig, title: str) -> None:
        """Save fig as OUT/NAME_TITLE.png and close it; in a notebook, show that file."""
        import matplotlib.pyplot as plt
        path = self.out / f"{self.name}_{title}.png"
        if fig.get_layout_engine() is None:  # a figure made with layout="constrained" keeps it
            fig.tight_layout()
        fig.savefig(path, dpi=90, bbox_inches="tight")
        if in_notebook():  # show the saved file itself, whatever matplotlib backend is active
            from IPython.display import Image, display
            display(Image(data=path.read_bytes(), format="png"))
        plt.close(fig)
        print(f"figure: {path}")


def setup(name: str, argv=None) -> Lesson:
    """Read quick mode and the output folder (flags in a script, the environment in a notebook),
    create the folder, and keep matplotlib off the screen in a script."""
    quick = os.environ.get("CDLITE_QUICK", "").strip().lower() in ("1", "true", "yes")
    out = os.environ.get("CDLITE_LESSONS_OUT") or DEFAULT_OUT
    if not in_notebook():
        import matplotlib
        matplotlib.use("Agg")  # a script writes PNG files; no window
        parser = argparse.ArgumentParser(description=f"cdlite lesson {name}")
        parser.add_argument("--quick", action="store_true",
                            help="every step on less data (seconds); also CDLITE_QUICK=1")
        parser.add_argument("--out", default=None,
                            help=f"folder for the figures [default: $CDLITE_LESSONS_OUT or "
                                 f"{DEFAULT_OUT}]")
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        quick = quick or args.quick
        out = args.out or out
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mode = "quick mode: less data, fewer steps; too rough for the questions" if quick else "full"
    print(f"lesson {name} ({mode}); figures go to {out}/")
    return Lesson(name, quick, out)


# ---- the lessons as shipped with the package --------------------------------------------------

def lessons_folder() -> Path:
    """The folder holding the lesson files: the installed package's cdlite/course/lessons (a
    wheel ships them as package data), or examples/lessons/ of a source checkout."""
    from importlib import resources
    try:
        folder = Path(str(resources.files("cdlite.course.lessons")))
    except (ModuleNotFoundError, TypeError):
        folder = None
    if folder is None or not (folder / "README.md").is_file():
        folder = Path(__file__).resolve().parents[2] / "examples" / "lessons"
    if not (folder / "README.md").is_file():
        raise CdliteError("the lesson files are missing from this installation of cdlite; "
                          "reinstall it (pip install --force-reinstall cdlite)")
    return folder


def lesson_files() -> list[Path]:
    """The lesson scripts in order, then their README."""
    from .exercise import LESSONS
    folder = lessons_folder()
    return [folder / name for name, _ in LESSONS.values()] + [folder / "README.md"]


def copy_lessons(directory, force: bool = False) -> list[Path]:
    """Copy the lessons and their README into `directory` (created if missing) to run and edit
    them there. A folder with anything in it is refused unless force; force replaces only the
    lesson files themselves (a symbolic link among them is replaced, never followed) and leaves
    every other file alone. Returns the paths written."""
    from ..fileio import write_text
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CdliteError(f"{directory} is a file, not a folder: give a new folder, e.g. "
                          f"`cdlite lesson copy lessons`")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise CdliteError(f"{directory} is not empty; copy the lessons into a new folder, or "
                          f"pass --force to overwrite the lesson files in it (other files are "
                          f"left alone)")
    written = []
    for src in lesson_files():
        dst = directory / src.name
        if dst.is_dir() and not dst.is_symlink():
            raise CdliteError(f"{dst} is a folder; remove it or copy the lessons elsewhere")
        try:
            write_text(dst, src.read_text(encoding="utf-8"))
        except OSError as e:
            raise CdliteError(f"cannot write {dst}: {e.strerror}; choose a folder you can write "
                              f"to") from None
        written.append(dst)
    return written
