"""The exercises, in lesson order, and the two things a student does with them: start one (write
its file) and find which exercise a file is."""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import CdliteError
from ..fileio import write_text
from .ex_backprop import LAYERNORM, LINEAR, SILU
from .ex_cd import CD_LOSS, F_MEM
from .ex_edm import EDM_LOSS, EDM_PRECOND, EMPIRICAL, HEUN
from .exercise import Exercise

EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    EDM_PRECOND,                 # lesson 1
    SILU, LINEAR, LAYERNORM,     # lesson 2
    EDM_LOSS,                    # lesson 3
    EMPIRICAL,                   # lesson 4
    HEUN,                        # lesson 5
    CD_LOSS,                     # lesson 6
    F_MEM,                       # lesson 7
)}

MARKER = re.compile(r"cdlite exercise: ([A-Za-z0-9_]+)")


def get_exercise(name: str) -> Exercise:
    """The exercise called `name`, or a CdliteError listing the names."""
    if name not in EXERCISES:
        raise CdliteError(f"no exercise called {name!r}; the exercises are "
                          f"{', '.join(EXERCISES)} (`cdlite exercise list` says what each is)")
    return EXERCISES[name]


def start_exercise(name: str, directory, force: bool = False) -> Path:
    """Write DIRECTORY/NAME.py, the exercise file to fill in; never overwrite a student's work
    unless force, and never write through a symbolic link. Returns the path written."""
    exercise = get_exercise(name)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CdliteError(f"{directory} is a file, not a folder: give a folder for the exercise "
                          f"files, e.g. `cdlite exercise start {name} exercises`")
    path = directory / f"{name}.py"
    if path.is_symlink() and not force:
        raise CdliteError(f"{path} is a symbolic link (to {os.readlink(path)}); cdlite writes "
                          f"exercise files only as plain files of their folder: remove the link, "
                          f"or pass --force to replace the link (never what it points to)")
    if path.exists() and not force:
        raise CdliteError(f"{path} exists already (your work?): check it with `cdlite exercise "
                          f"check {path}`, or pass --force to start over")
    if path.is_dir():
        raise CdliteError(f"{path} is a folder; remove it or choose another folder for the "
                          f"exercise files")
    try:
        # a new file renamed over the name: a symbolic link there is replaced, never followed
        write_text(path, exercise.template(str(path)))
    except OSError as e:
        raise CdliteError(f"cannot write {path}: {e.strerror}; choose a folder you can write "
                          f"to") from None
    return path


def exercise_of_file(path) -> Exercise:
    """The exercise a student's file belongs to: by its name (NAME.py), else by the first line
    `cdlite exercise: NAME` that `start` writes. CdliteError when it is neither."""
    path = Path(path)
    if not path.exists():
        raise CdliteError(f"{path} does not exist; start an exercise with `cdlite exercise start "
                          f"NAME DIR` (names: {', '.join(EXERCISES)})")
    if not path.is_file() or path.suffix != ".py":
        raise CdliteError(f"{path} is not a .py file; give the exercise file, e.g. "
                          f"exercises/silu.py")
    if path.stem in EXERCISES:
        return EXERCISES[path.stem]
    try:
        head = path.read_text(errors="replace")[:300]
    except OSError as e:
        raise CdliteError(f"cannot read {path}: {e.strerror}") from None
    found = MARKER.search(head)
    if found and found.group(1) in EXERCISES:
        return EXERCISES[found.group(1)]
    raise CdliteError(f"cannot tell which exercise {path} is: name the file after the exercise "
                      f"({', '.join(EXERCISES)}) or keep its first line `cdlite exercise: NAME`")
