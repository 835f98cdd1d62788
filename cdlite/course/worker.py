"""The child process of `cdlite exercise check`: python -m cdlite.course.worker NAME FILE.

    python -m cdlite.course.worker NAME FILE SEED   (the token arrives on stdin)

It reports to its parent (cdlite.course.runner.check_file) on a private copy of stdout, one JSON
object per line; file descriptor 1 itself is pointed at stderr first, so whatever the student's
code prints (even through os.write(1, ...)) cannot be mistaken for a report. Each line carries the
token the parent wrote on stdin, read before the student's file is imported: a line the student's
code writes to the private descriptor has no token and fails the file instead of passing it. If
that code closes the descriptor, the worker exits quietly and the parent reports a stopped check.
"""
from __future__ import annotations

import json
import os
import sys


def main(argv) -> int:
    import cdlite  # noqa: F401  (first: one BLAS thread, as everywhere in cdlite)
    from cdlite.course.registry import get_exercise
    from cdlite.course.runner import run_checks

    token = sys.stdin.readline().strip()
    channel = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # nothing more arrives on stdin
    sys.stdout.flush()
    os.dup2(2, 1)  # the student's prints go to stderr

    def emit(event, **data):
        line = (json.dumps({"event": event, **data, "token": token}) + "\n").encode("utf-8")
        try:
            while line:
                line = line[os.write(channel, line):]
        except OSError:
            os._exit(3)  # the student's code closed or broke the channel: the parent says so

    name, path, seed = argv
    run_checks(get_exercise(name), path, emit, int(seed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
