"""What every `cdlite` command does with a user's mistake, or a fault of the machine (a full
disk, a read-only file system): one line, and a non-zero exit."""
from __future__ import annotations

import functools
import sys

import click

import cdlite  # noqa: F401  (first: it sets the BLAS thread default before NumPy loads)
from cdlite.backend import BackendError
from cdlite.errors import CdliteError
from cdlite.fileio import DISK_FAULTS


def friendly_errors(fn):
    """Turn user errors (CdliteError, BackendError) into `Error: ...` lines and exit status 2,
    never a traceback; anything else is a bug and keeps its traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (CdliteError, BackendError) as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
        except OSError as e:
            if e.errno not in DISK_FAULTS:
                raise
            where = f" ({e.filename})" if e.filename else ""
            click.echo(f"Error: {e.strerror}{where}; free some space or choose a writable "
                       "folder", err=True)
            sys.exit(2)
    return wrapper


def computing(fn):
    """friendly_errors for a command that computes: every CDLITE_* setting is checked first
    (cdlite.settings), so a bad one is one line before any work."""
    @functools.wraps(fn)
    def checked(*args, **kwargs):
        from cdlite.settings import check_environment
        check_environment()
        return fn(*args, **kwargs)
    return friendly_errors(checked)
