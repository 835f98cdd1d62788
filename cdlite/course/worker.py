"""The child process of `cdlite exercise check`: python -m cdlite.course.worker NAME FILE.

It reports to its parent (cdlite.course.runner.check_file) on a private copy of stdout, one JSON
object per line; file descriptor 1 itself is pointed at stderr first, so whatever the student's
code prints (even through os.write(1, ...)) cannot be mistaken for a report.
"""
from __future__ import annotations

import json
import os
import sys


def main(argv) -> int:
    import cdlite  # noqa: F401  (first: one BLAS thread, as everywhere in cdlite)
    from cdlite.course.registry import get_exercise
    from cdlite.course.runner import run_checks

    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    sys.stdout.flush()
    os.dup2(2, 1)  # the student's prints go to stderr

    def emit(event, **data):
        channel.write(json.dumps({"event": event, **data}) + "\n")
        channel.flush()

    name, path = argv
    run_checks(get_exercise(name), path, emit)
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
