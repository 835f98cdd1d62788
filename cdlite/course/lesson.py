"""What the lessons in examples/lessons/ share: quick mode, the output folder, showing a figure.

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
