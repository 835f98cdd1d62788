"""One process at a time in a folder: a kernel advisory lock (flock(2)) on FOLDER/.lock.

The lock is the kernel's, not the file's. `FolderLock.acquire` opens FOLDER/.lock and asks the
kernel for an exclusive flock on it; the kernel holds it for as long as the file stays open, and
drops it when the process ends, however it ends (exit, crash, SIGKILL, out-of-memory kill).
So there is no stale lock to detect or remove, no PID that could have been reused by another
process, and no window between "the old owner is gone" and "take it": asking is taking.

The file's bytes are only for messages. Once the lock is held, the owner writes
{"pid", "host", "started", "what"} into it, so that a refused second process can say who is in
the way. A lock file naming a live process that does not hold the lock (a PID reused after a
reboot, an old PID-file lock of an earlier cdlite), or an empty one (a disk that was full when
the owner tried to write it) does not block anything: only the kernel's lock does.

Details that keep it exact:
- The file is unlinked on release while the lock is still held. A process that opened the old
  file before that and then got its lock finds that the path no longer names the file it locked,
  and starts again on the new one; so only one process ever holds the lock the path names.
- The descriptor is close-on-exec, and a process forked while the lock is held (a pool worker)
  closes its copy at once (os.register_at_fork): a child outliving a killed parent cannot keep
  the folder locked. Closing a copy never unlocks the parent's (flock locks belong to the open
  file, which the parent still has open); only the parent's release or death does.
- `holder(folder)` tells whether a folder is locked by trying a shared lock without waiting and
  dropping it at once. Because such a probe holds the lock for microseconds, `acquire` keeps
  trying for `wait` seconds (0.2 by default) before it refuses.

Network file systems: on Linux (kernel 2.6.12 and later), flock on an NFS mount is emulated
with whole-file fcntl byte-range locks, which the NFS lock protocol (NLM for NFSv3, built into
NFSv4) carries to the server, so it also excludes a process on another machine; a client that
dies loses its lock when its lease expires (90 s by default on NFSv4). Mounts with `nolock`, and
some other network or FUSE file systems, have no locks at all: flock then fails with ENOLCK,
EOPNOTSUPP or ENOSYS, and cdlite refuses the folder in one line, naming the file system, instead
of running without a lock.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .errors import CdliteError

LOCK = ".lock"
_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_HELD_FDS: set[int] = set()  # descriptors of the locks this process holds (closed in a fork)


class FolderLock:
    """An exclusive kernel lock on a folder, held from `acquire` until `release` (or the end of
    the process). Use it as `with FolderLock.acquire(folder, what="run"):`."""

    def __init__(self, folder: Path, fd: int, what: str):
        self.folder, self.path, self.what = folder, folder / LOCK, what
        self._fd: int | None = fd
        self._pid = os.getpid()  # a forked child has closed its copy: its release does nothing

    @classmethod
    def acquire(cls, folder, what: str = "run", wait: float = 0.2) -> FolderLock:
        """Lock the existing folder `folder` for a `what` ("run", "seeds", "sweep"), or raise a
        CdliteError naming the process that holds it. Tries for `wait` seconds first."""
        folder = Path(folder)
        deadline = time.monotonic() + wait
        while True:
            fd = _open(folder)
            try:
                if _try_lock(fd, fcntl.LOCK_EX, folder) and _still_named(fd, folder / LOCK):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # busy, or the file we locked was released and unlinked meanwhile
            if time.monotonic() >= deadline:
                owner = holder(folder)  # None: it was free a moment ago, so try again
                if owner is not None or time.monotonic() >= deadline + 5:
                    raise CdliteError(f"{folder} is in use by {describe(owner or {})}; wait "
                                      "for it to finish or stop it, or choose another folder")
            time.sleep(0.01)
        _HELD_FDS.add(fd)
        lock = cls(folder, fd, what)
        lock._write_owner()
        return lock

    def _write_owner(self) -> None:
        """Who holds the lock, for other processes' messages. A failure (a full disk) is
        harmless: the lock is the kernel's, and others then read "an unnamed process"."""
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                             "what": self.what}).encode()
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, record, 0)
        except OSError:
            pass

    @property
    def held(self) -> bool:
        return self._fd is not None and self._pid == os.getpid()

    def release(self) -> None:
        """Unlink the lock file (while still holding the lock) and unlock; a second call does
        nothing. The folder may have been moved or removed meanwhile: then only unlock."""
        if self._fd is None or self._pid != os.getpid():
            self._fd = None
            return
        fd, self._fd = self._fd, None
        _HELD_FDS.discard(fd)
        try:
            if _still_named(fd, self.path):
                os.unlink(self.path)
        except OSError:
            pass  # a read-only or vanished folder: the kernel lock still goes with the close
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"FolderLock({str(self.folder)!r}, what={self.what!r}, held={self.held})"


def holder(folder) -> dict | None:
    """{"pid", "host", "started", "what"} of the process that holds `folder`'s lock (values None
    when it has not written them), or None when no process holds it. Nothing is waited for."""
    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None  # no lock file (or none we can open): nobody holds a lock through it
    try:
        if _try_lock(fd, fcntl.LOCK_SH, Path(folder)):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        data = os.pread(fd, 4096, 0)
    finally:
        os.close(fd)
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError:
        record = None
    record = record if isinstance(record, dict) else {}
    return {k: record.get(k) for k in ("pid", "host", "started", "what")}


def describe(owner: dict) -> str:
    """'PID 123 on HOST since 2026-01-01 12:00:00 (a run)', or what is known of it."""
    if not isinstance(owner.get("pid"), int):
        return "another process (it has not written its name into the lock file)"
    text = f"PID {owner['pid']} on {owner.get('host') or 'an unknown host'}"
    if owner.get("started"):
        text += f" since {owner['started']}"
    if owner.get("what"):
        text += f" ({'an' if str(owner['what'])[:1] in 'aeiou' else 'a'} {owner['what']})"
    return text


# --- the system calls ------------------------------------------------------------------------

def _open(folder: Path) -> int:
    """FOLDER/.lock opened for writing (created when missing), close-on-exec."""
    if not folder.is_dir():
        raise CdliteError(f"cannot lock {folder}: it is not a folder")
    try:
        return os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                       0o644)
    except OSError as e:  # a full disk, a read-only file system, no permission, a symlink
        raise CdliteError(f"cannot lock {folder}: {e.strerror} ({folder / LOCK})") from None


def _try_lock(fd: int, kind: int, folder: Path) -> bool:
    """Take the flock `kind` without waiting: True when taken, False when someone holds it."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in _UNSUPPORTED:
            raise CdliteError(f"cannot lock {folder}: its file system does not support file "
                              f"locks ({e.strerror}); use a folder on a local disk (or an NFS "
                              "mount without 'nolock')") from None
        raise CdliteError(f"cannot lock {folder}: {e.strerror}") from None


def _still_named(fd: int, path: Path) -> bool:
    """Does `path` still name the file open as `fd` (not unlinked, not replaced)?"""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _close_in_child() -> None:
    """After a fork, the child closes its copies of the parent's lock descriptors (without
    unlocking: that would unlock the parent too), so it cannot keep a folder locked."""
    for fd in _HELD_FDS:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_FDS.clear()


os.register_at_fork(after_in_child=_close_in_child)
