"""Shared test setup: import cdlite first so its one-BLAS-thread default applies (small matrices
run much faster that way on a 2-core machine), and keep matplotlib off any display."""
import os

import cdlite  # noqa: F401

os.environ.setdefault("MPLBACKEND", "Agg")
