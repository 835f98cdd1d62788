"""Folders that know what they are: every folder cdlite writes holds cdlite.json, written first,
which says what kind of folder it is and which work it holds.

    {"kind": "run",   "recipe": "toy-gaussians", "seed": 0, "config": "3f2a..."}
    {"kind": "seeds", "recipe": "toy-gaussians", "seeds": [0, 1, 2], "config": "..."}
    {"kind": "sweep", "recipe": "toy-gaussians", "spec": "..."}

"config" is a hash of the resolved config.toml (of the first seed, for a seeds folder), "spec"
of the sweep's spec. A command reads it before it writes anything: it never writes into a folder
of another kind, or into a folder holding files that cdlite did not write (OWN_FILES); --resume
refuses a config.toml whose hash is not the one the run started with. Folders written before
cdlite.json existed are told apart by their files (metrics.json: a run, sweep.json: a sweep,
summary.json or seed-N/: seeds).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import CdliteError
from ..fileio import read_limited, write_json

MARK = "cdlite.json"
KINDS = ("run", "seeds", "sweep")
# what each kind of folder holds (besides cdlite.json, the lock and hidden temporary files)
OWN_FILES = {
    "run": ("config.toml", "metrics.json", "samples.npz", "checkpoints", "figures", "report.md"),
    "seeds": ("config.toml", "summary.json", "report.md", "seed-*"),
    "sweep": ("sweep.json", "sweep.csv", "cells", "shared", "figures", "report.md"),
}
_ARTICLE = {"run": "a run", "seeds": "a --seeds", "sweep": "a sweep"}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def declare(folder, kind: str, **identity) -> dict:
    """Write FOLDER/cdlite.json: the folder's kind and identity."""
    assert kind in KINDS, kind
    mark = {"kind": kind, **identity}
    write_json(Path(folder) / MARK, mark)
    return mark


def read_mark(folder) -> dict | None:
    """FOLDER/cdlite.json, or None when there is none; a damaged one is one line."""
    path = Path(folder) / MARK
    if not path.is_file():
        return None
    try:
        mark = json.loads(read_limited(path, 1 << 16, "folder record").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        mark = None
    if not isinstance(mark, dict) or mark.get("kind") not in KINDS:
        raise CdliteError(f"{path} is damaged (it should say which kind of cdlite folder "
                          f"{folder} is: {', '.join(KINDS)}); move the folder aside")
    return mark


def _ours(name: str, kind: str) -> bool:
    if name in (MARK, ".lock") or (name.startswith(".") and name.endswith(".tmp")):
        return True
    return any(name == own or (own.endswith("*") and name.startswith(own[:-1]))
               for own in OWN_FILES[kind])


def kind_of(folder) -> str | None:
    """"run", "seeds", "sweep", None (no folder, or an empty one) or "foreign" (files that no
    kind of cdlite folder holds)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    mark = read_mark(folder)
    if mark is not None:
        return mark["kind"]
    names = [p.name for p in folder.iterdir() if p.name != ".lock"]
    if not names:
        return None
    for kind, sign in (("run", "metrics.json"), ("sweep", "sweep.json"),
                       ("seeds", "summary.json")):
        if sign in names:
            return kind
    if any(n.startswith("seed-") for n in names):
        return "seeds"
    return "foreign"


def foreign_files(folder, kind: str) -> list[str]:
    """The names in `folder` that a folder of `kind` does not hold."""
    return sorted(p.name for p in Path(folder).iterdir() if not _ours(p.name, kind))


def check_target(folder, kind: str, option: str = "--out") -> str | None:
    """Refuse, in one line, a folder that a command making a `kind` folder must not write into:
    a folder of another kind, or one holding files cdlite did not write. Returns the folder's
    kind (None when it is empty or absent)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CdliteError(f"{option} {folder} is a file; give a folder")
    found = kind_of(folder)
    if found is None:
        return None
    if found == "foreign":
        names = foreign_files(folder, kind)
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise CdliteError(f"{option} {folder} holds files cdlite did not write ({shown}); cdlite "
                          f"writes only into an empty folder or its own; choose another {option}")
    if found != kind:
        raise CdliteError(f"{option} {folder} is {_ARTICLE[found]} folder, and this command "
                          f"makes {_ARTICLE[kind]} folder; choose another {option} (cdlite never "
                          "writes into a folder of another kind)")
    strays = foreign_files(folder, kind)
    if strays:
        raise CdliteError(f"{option} {folder} is {_ARTICLE[kind]} folder but also holds files "
                          f"cdlite did not write ({', '.join(strays[:3])}); move them out, or "
                          f"choose another {option}")
    return found
