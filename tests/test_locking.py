"""Kernel folder locks (cdlite.locking), tried with real processes: simultaneous starts, SIGKILL,
PID files that lie, empty lock files, forked children, probes."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from cdlite.errors import CdliteError
from cdlite.locking import LOCK, FolderLock, holder

HOLD = ("import sys, os, time\n"
        "from cdlite.locking import FolderLock\n"
        "lock = FolderLock.acquire(sys.argv[1], what='sweep')\n"
        "if len(sys.argv) > 2 and os.fork() == 0:\n"   # a child that outlives its parent
        "    time.sleep(60); os._exit(0)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")


def _holding_process(folder, fork_child=False):
    """A separate Python process that holds `folder`'s lock until it is killed."""
    args = [sys.executable, "-c", HOLD, str(folder)] + (["fork"] if fork_child else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _contender(folder, barrier, results, done):
    barrier.wait()
    try:
        lock = FolderLock.acquire(folder, wait=0)
    except CdliteError as e:
        results.put(("refused", str(e)))
        return
    results.put(("won", lock.held))
    done.wait(10)  # hold it until the other one has answered


def test_two_processes_at_the_same_moment_exactly_one_wins(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for i in range(40):
        folder = tmp_path / f"f{i}"
        folder.mkdir()
        barrier, results, done = ctx.Barrier(2), ctx.Queue(), ctx.Event()
        procs = [ctx.Process(target=_contender, args=(folder, barrier, results, done))
                 for _ in range(2)]
        for p in procs:
            p.start()
        outcome = sorted(results.get(timeout=20) for _ in procs)
        done.set()
        for p in procs:
            p.join(10)
        assert [o[0] for o in outcome] == ["refused", "won"], outcome
        assert "is in use by" in outcome[0][1]


def test_sigkill_of_the_holder_frees_the_folder_at_once(tmp_path):
    proc = _holding_process(tmp_path)
    with pytest.raises(CdliteError, match=rf"in use by PID {proc.pid} on .* \(a sweep\); wait"):
        FolderLock.acquire(tmp_path, wait=0)
    assert holder(tmp_path)["pid"] == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert holder(tmp_path) is None  # the lock file is still there, naming the dead process
    with FolderLock.acquire(tmp_path, wait=0) as lock:
        assert lock.held and json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK).exists()


def test_a_forked_child_does_not_keep_a_killed_parents_lock(tmp_path):
    proc = _holding_process(tmp_path, fork_child=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        FolderLock.acquire(tmp_path, wait=0).release()  # the child still sleeps
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the child is in the parent's session


def test_a_lock_file_naming_a_live_unrelated_process_does_not_block(tmp_path):
    for pid in (1, os.getppid()):  # alive, and not holding anything
        (tmp_path / LOCK).write_text(json.dumps({"pid": pid, "host": os.uname().nodename,
                                                 "started": "2020-01-01 00:00:00"}))
        assert holder(tmp_path) is None
        FolderLock.acquire(tmp_path, wait=0).release()


def test_an_empty_lock_file_does_not_block(tmp_path):
    (tmp_path / LOCK).write_bytes(b"")  # what a full disk left behind
    assert holder(tmp_path) is None
    with FolderLock.acquire(tmp_path, wait=0):
        assert holder(tmp_path)["pid"] == os.getpid()


def test_a_holder_that_wrote_no_name_is_still_a_holder(tmp_path):
    lock = FolderLock.acquire(tmp_path)
    os.ftruncate(lock._fd, 0)  # as if its write had failed on a full disk
    with pytest.raises(CdliteError, match="in use by another process"):
        FolderLock.acquire(tmp_path, wait=0)
    lock.release()
    lock.release()  # a second release does nothing
    assert not lock.held


def test_a_full_disk_leaves_a_working_lock_and_no_trap(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "pwrite", full)  # the owner's record cannot be written
    lock = FolderLock.acquire(tmp_path)
    assert lock.held and holder(tmp_path) == dict.fromkeys(["pid", "host", "started", "what"])
    lock.release()
    FolderLock.acquire(tmp_path, wait=0).release()


def test_probes_do_not_make_acquire_fail(tmp_path):
    code = ("import sys, time\nfrom cdlite.locking import holder\nend = time.time() + 3\n"
            "while time.time() < end:\n    holder(sys.argv[1])\n")
    prober = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    try:
        time.sleep(0.5)
        for _ in range(50):
            FolderLock.acquire(tmp_path).release()
    finally:
        prober.kill()
        prober.wait()


def test_one_process_cannot_take_its_own_folder_twice(tmp_path):
    with FolderLock.acquire(tmp_path, what="run"):
        with pytest.raises(CdliteError, match=rf"PID {os.getpid()} .*\(a run\)"):
            FolderLock.acquire(tmp_path, wait=0.05)


def test_a_missing_folder_or_an_unwritable_one_is_one_line(tmp_path):
    with pytest.raises(CdliteError, match="not a folder"):
        FolderLock.acquire(tmp_path / "nope")
    (tmp_path / LOCK).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CdliteError, match="cannot lock"):
        FolderLock.acquire(tmp_path)
    assert not (tmp_path / "elsewhere").exists()


def test_a_file_system_without_locks_is_refused_in_one_line(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    monkeypatch.setattr(fcntl, "flock", no_locks)  # what an NFS mount with 'nolock' answers
    with pytest.raises(CdliteError, match="does not support file locks .*local disk"):
        FolderLock.acquire(tmp_path)
