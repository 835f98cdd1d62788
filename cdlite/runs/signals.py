"""SIGINT and SIGTERM during a run: the first stops the run at once (it saves what finished and
marks its folder partial); a second one exits immediately."""
from __future__ import annotations

import contextlib
import os
import signal
import threading


class RunInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a run (a KeyboardInterrupt, so Ctrl-C code handles it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals(describe_folder=None):
    """Within the block, SIGINT and SIGTERM raise RunInterrupted (the run then saves what it has
    and marks its folder partial); a second signal exits at once with 128 + its number, printing
    `describe_folder()` (what the folder was left holding). Only in the main thread (signal
    handlers cannot be installed elsewhere); previous handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        if received:
            where = describe_folder() if describe_folder else ""
            os.write(2, f"\n{signal.Signals(signum).name} again: stopping now, without saving; "
                        f"{where}\n".encode())
            os._exit(128 + signum)
        received.append(signum)
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
