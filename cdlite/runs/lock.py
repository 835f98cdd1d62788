"""The lock that makes one run (or one sweep) the only owner of its folder: FOLDER/.lock,
created exclusively, holding the owner's PID, host and start time. A lock left by a process
that no longer runs (a kill, a crash, a power cut) is told apart and reported as such."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from ..errors import CdliteError

LOCK = ".lock"


def lock_owner(folder) -> dict | None:
    """The lock's record {pid, host, started, alive} of a folder, or None when unlocked."""
    path = Path(folder) / LOCK
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        owner = {}
    if not isinstance(owner, dict):
        owner = {}
    owner["alive"] = _alive(owner)
    return owner


def _alive(owner: dict) -> bool | None:
    """Is the lock's process still running? None when it runs on another host (cannot tell)."""
    if owner.get("host") != socket.gethostname():  # a shared disk: its PIDs are not ours
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def who_holds(owner: dict) -> str:
    """'PID 12 on host (started ...)': the owner of a lock, for messages."""
    return (f"PID {owner.get('pid', '?')} on {owner.get('host', '?')} (started "
            f"{owner.get('started', '?')})")


def acquire_lock(path: Path) -> None:
    """Create path/.lock exclusively; refuse when another run holds it."""
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    try:  # O_EXCL: of two runs that start at once, exactly one creates the file
        fd = os.open(path / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        owner = lock_owner(path) or {}
        if owner.get("alive") is False:
            raise CdliteError(f"{path} has a stale lock of {who_holds(owner)}, a run that no "
                              f"longer runs; resume it with `cdlite run --resume {path}`, or add "
                              "--force to move it aside") from None
        raise CdliteError(f"{path} is in use by a run of {who_holds(owner)}; wait for it to finish "
                          "or choose another --out") from None
    except OSError as e:
        raise CdliteError(f"cannot lock the run folder {path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(record)


def release(path: Path) -> None:
    """Remove the lock of `path` if this process holds it."""
    owner = lock_owner(path)
    # only our own: a lock another run took over (ours was found stale) stays where it is
    if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        with contextlib.suppress(FileNotFoundError):
            os.remove(Path(path) / LOCK)
