"""Atomic file writes, JSON-safe values, TOML text and PNG figures: the one place where cdlite
puts bytes on disk (checkpoints, run folders, figures, caches); and `read_limited`, which reads a
small file (a config, a JSON record) without trusting its size.

A file is written to a temporary name in its own folder, flushed to disk, then renamed over the
target, and the folder itself is synced so that the rename survives a crash: a crash or a Ctrl-C
mid-write leaves the earlier file (or none), never a broken one.
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
import tempfile
from contextlib import contextmanager

import numpy as np

from .errors import CdliteError

# errno values of a disk that refuses writes (full, over quota, read-only, failing, not ours):
# faults of the machine, reported in one line naming the folder, never as a traceback
DISK_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM)


@contextmanager
def atomic_file(path, mode: str = "wb"):
    """`with atomic_file(path) as fh:` write to fh; `path` appears only when the block succeeds."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())  # the data is on disk before the rename makes it visible
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; these are ordinary files
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: never leave a stray temporary file
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_folder(folder)


def fsync_folder(folder) -> None:
    """Make a rename inside `folder` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_folder(path, what: str) -> None:
    """Create the folder `path` (and its parents) for a `what` ("run", "seeds", "sweep"), or
    say in one line why it cannot be made."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CdliteError(f"cannot create the {what} folder {path}: {e.strerror}; choose "
                          "another --out") from None


def write_text(path, text: str) -> None:
    with atomic_file(path, "w") as fh:
        fh.write(text)


def json_safe(v):
    """Plain JSON values: NumPy scalars and arrays to Python, NaN and inf to None (strict JSON
    has neither). The one sanitizer for metrics, checkpoint headers and random-generator
    states."""
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return json_safe(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, np.generic):  # any other NumPy scalar (np.str_, ...)
        return v.item()
    return v


def write_json(path, obj) -> None:
    write_text(path, json.dumps(json_safe(obj), indent=2) + "\n")


def save_figure(fig, path, dpi: int = 110) -> str:
    """Write the matplotlib figure `fig` to `path` as PNG, atomically, and free it; returns the
    file name. A reader never sees a half-written PNG."""
    from .plotting import plt  # the backend is chosen once, there
    try:
        with atomic_file(path) as fh:
            fig.savefig(fh, dpi=dpi, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return os.path.basename(os.fspath(path))


# --- reading small files ----------------------------------------------------------------------

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"))


def read_limited(path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file `path`, refused in one line when it holds more than `limit`
    bytes, or is not a regular file (/dev/zero, /dev/urandom and a FIFO would otherwise be read
    without end, or wait for a writer). At most limit + 1 bytes are ever read."""
    path = os.fspath(path)
    try:
        _require_regular(os.stat(path).st_mode, path, what)  # before open: a FIFO would block
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CdliteError(f"{what} {path} does not exist") from None
    except OSError as e:
        raise CdliteError(f"cannot read {what} {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        _require_regular(os.fstat(fd).st_mode, path, what)  # it may have changed since stat
        try:
            data = fh.read(limit + 1)
        except OSError as e:
            raise CdliteError(f"cannot read {what} {path}: {e.strerror}") from None
    if len(data) > limit:
        raise CdliteError(f"{what} {path} is larger than {limit:,} bytes, more than any {what} "
                          "cdlite reads; is it the right file?")
    return data


def _require_regular(mode: int, path: str, what: str) -> None:
    for test, kind in _KINDS:
        if test(mode):
            raise CdliteError(f"{what} {path} is {kind}, not a file; give the path of a file")
