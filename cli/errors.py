"""What every `cdlite` command does with a user's mistake: one line, and a non-zero exit."""
from __future__ import annotations

import functools
import sys

import click

import cdlite  # noqa: F401  (first: it sets the BLAS thread default before NumPy loads)
from cdlite.backend import BackendError
from cdlite.errors import CdliteError


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
    return wrapper
