"""cdlite's environment variables: one reader each, in one place, each validated when it is used.

    CDLITE_THREADS        BLAS threads (a whole number 1..1024); unset: 1, or the BLAS library's
                          own variable when the user set one (OPENBLAS_NUM_THREADS, ...)
    CDLITE_MEMORY_BUDGET  bytes cdlite may allocate for one input (8G, 500M, 1.5G, 1073741824);
                          unset: half the memory available now
    CDLITE_DEVICE         cpu, gpu or auto; unset: cpu
    CDLITE_CACHE          folder of cached files (the feature network); unset: ~/.cache/cdlite
    CDLITE_QUICK          1/true/yes/on or 0/false/no/off: lessons in quick mode (a notebook has
                          no --quick)
    CDLITE_LESSONS_OUT    folder of the lessons' figures (a notebook has no --out)

A reader raises a CdliteError naming the variable, its value and what it accepts. Nothing here
runs at import: `import cdlite` (and `cdlite --version`) works whatever the environment says,
and the commands that use a setting say what is wrong with it (`check_environment()` checks them
all at once, for a command's start). An empty value counts as unset.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

from .errors import CdliteError

MAX_THREADS = 1024
_SIZE = re.compile(r"(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*([kmgt]?)i?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _get(name: str) -> str | None:
    text = os.environ.get(name, "").strip()
    return text or None


def _bad(name: str, text: str, accepts: str, unset: str) -> CdliteError:
    return CdliteError(f"{name}={text!r} is not valid: give {accepts}, or unset it ({unset})")


def threads() -> int | None:
    """$CDLITE_THREADS as a thread count, or None when unset."""
    text = _get("CDLITE_THREADS")
    if text is None:
        return None
    if not (text.isdigit() and 1 <= int(text) <= MAX_THREADS):
        raise _bad("CDLITE_THREADS", text, f"a whole number of BLAS threads from 1 to "
                   f"{MAX_THREADS}, e.g. 2", "1 thread")
    return int(text)


def memory_budget() -> int:
    """Bytes cdlite may allocate for one input: $CDLITE_MEMORY_BUDGET (bytes; suffixes K, M, G,
    T, also as KiB/KB..., are powers of 1024), else half of the memory available now, else 4 GiB
    where that cannot be read."""
    text = _get("CDLITE_MEMORY_BUDGET")
    if text is not None:
        match = _SIZE.fullmatch(text)
        value = float(match[1] + (match[2] or "")) * _UNITS[match[3].lower()] if match else 0
        if not (math.isfinite(value) and value >= 1):
            raise _bad("CDLITE_MEMORY_BUDGET", text, "a positive size in bytes, e.g. 8G or 500M "
                       "(K, M, G, T are powers of 1024)", "half the available memory")
        return int(value)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def device() -> str | None:
    """$CDLITE_DEVICE in lower case ("cpu", "gpu" or "auto"), or None when unset."""
    from .backend import DEVICES  # (backend imports NumPy: only when the device is asked for)
    text = _get("CDLITE_DEVICE")
    if text is None:
        return None
    if text.lower() not in DEVICES:
        raise _bad("CDLITE_DEVICE", text, f"one of {', '.join(DEVICES)}", "cpu")
    return text.lower()


def _folder(name: str, default: Path | None, unset: str) -> Path | None:
    text = _get(name)
    if text is None:
        return default
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise _bad(name, text, "the path of a folder (this is a file)", unset)
    return path


def cache_dir() -> Path:
    """$CDLITE_CACHE, else ~/.cache/cdlite: where cdlite keeps files it can make again."""
    return _folder("CDLITE_CACHE", Path.home() / ".cache" / "cdlite", "~/.cache/cdlite")


def lessons_out() -> Path | None:
    """$CDLITE_LESSONS_OUT (the lessons' figures), or None when unset."""
    return _folder("CDLITE_LESSONS_OUT", None, "the --out of the lesson")


def quick() -> bool:
    """$CDLITE_QUICK as a yes/no (unset: no)."""
    text = _get("CDLITE_QUICK")
    if text is None or text.lower() in _NO:
        return False
    if text.lower() in _YES:
        return True
    raise _bad("CDLITE_QUICK", text, f"{' or '.join(_YES)} for quick mode, {' or '.join(_NO)} "
               "for the full one", "the full one")


def malloc() -> str:
    """$CDLITE_MALLOC: "cdlite" (the default: keep freed memory for reuse, cdlite.backend
    set_allocator) or "system" (the C library's own setting, to measure the difference)."""
    text = _get("CDLITE_MALLOC")
    if text is None:
        return "cdlite"
    if text.lower() not in ("cdlite", "system"):
        raise _bad("CDLITE_MALLOC", text, "cdlite, or CDLITE_MALLOC=system for the C library's own "
                   "setting", "cdlite")
    return text.lower()


# every variable and its reader: check_environment reads them all, and a test checks that no
# CDLITE_ name in the code is missing here
READERS = {"CDLITE_THREADS": threads, "CDLITE_MEMORY_BUDGET": memory_budget,
           "CDLITE_DEVICE": device, "CDLITE_CACHE": cache_dir, "CDLITE_QUICK": quick,
           "CDLITE_LESSONS_OUT": lessons_out,
           "CDLITE_MALLOC": malloc}


def check_environment() -> None:
    """Read every CDLITE_* variable that is set; the first invalid one raises its CdliteError.
    For the start of a command that computes (run, sweep, sample, ...), not for --version."""
    for name, read in READERS.items():
        if _get(name) is not None:
            read()
