"""Sizes counted before anything is built: how many cells a sweep has.

A sweep runs every combination of its grid's values once per seed, so its cell count is a
product, known from the axes' lengths alone. `check_grid` computes it with Python's exact
integers and refuses a large sweep before a single cell (a resolved config, a folder, a ledger
row) exists: a grid of 10^9 cells is one line at once instead of an hour of expanding configs
(about 4 ms each) and gigabytes of them.
"""
from __future__ import annotations

import math
from typing import Iterable

from .errors import CdliteError
from .npzio import check_budget

MAX_CELLS = 1000  # a sweep with more cells than this runs only with --yes
# bytes one cell holds while a sweep runs: its resolved config and Cell (2.3 KB measured with
# tracemalloc for toy-gaussians), its ledger row (0.3 KB) and its share of sweep.json, rounded up
CELL_BYTES = 4096


def _length(values) -> int:
    return int(values) if isinstance(values, int) else len(values)


def grid_cells(axes: Iterable[tuple[str, object]], seeds) -> int:
    """The number of cells of a sweep: the product of the axes' lengths times the number of
    seeds. `axes` holds (key, values) pairs, where values is a sequence or its length; `seeds`
    is a sequence of seeds or their number. Nothing is built."""
    return math.prod(_length(values) for _, values in axes) * _length(seeds)


def check_grid(axes, seeds, yes: bool = False, limit: int = MAX_CELLS,
               budget: int | None = None) -> int:
    """The cell count of a sweep, refused in one line when it is zero, when it exceeds `limit`
    without `yes`, or when its cells' bookkeeping alone would exceed the memory budget."""
    axes = [(key, _length(values)) for key, values in axes]
    n_seeds = _length(seeds)
    cells = grid_cells(axes, n_seeds)
    factors = " x ".join([f"{key} ({n:,} values)" for key, n in axes] +
                         [f"{n_seeds:,} seed{'s' if n_seeds != 1 else ''}"])
    if cells == 0:
        raise CdliteError(f"this sweep has no cells ({factors}); give every --grid key at "
                          "least one value and at least one seed")
    if cells > limit and not yes:
        raise CdliteError(f"this sweep has {factors} = {cells:,} cells, more than {limit:,}; "
                          "check --grid and --seeds, and add --yes to run them all")
    check_budget(cells * CELL_BYTES, f"keeping track of {cells:,} sweep cells", budget)
    return cells
