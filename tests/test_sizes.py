"""Sweep sizes (cdlite.sizes): the cell count is a product, computed before any cell exists."""
import time

import pytest

from cdlite.errors import CdliteError
from cdlite.sizes import CELL_BYTES, MAX_CELLS, check_grid, grid_cells


def test_the_cell_count_is_the_product_of_the_axes_times_the_seeds():
    axes = [("data.n_train", (8, 16, 32)), ("net.depth", [2, 3]), ("teacher.steps", 5)]
    assert grid_cells(axes, (0, 1)) == 3 * 2 * 5 * 2
    assert grid_cells([], 7) == 7  # --seeds alone
    assert grid_cells([("a", 10**6)] * 3, 10**6) == 10**24  # exact, not a float
    assert check_grid(axes, range(2)) == 60


def test_a_billion_cells_are_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(CdliteError) as e:
        check_grid([("data.n_train", 1000), ("net.depth", 1000)], 1000)
    assert time.perf_counter() - start < 1
    assert str(e.value) == ("this sweep has data.n_train (1,000 values) x net.depth (1,000 "
                            "values) x 1,000 seeds = 1,000,000,000 cells, more than 1,000; "
                            "check --grid and --seeds, and add --yes to run them all")


def test_yes_runs_a_large_sweep_within_the_budget_only():
    assert check_grid([("a", 100)], 100, yes=True, budget=10**4 * CELL_BYTES) == 10**4
    with pytest.raises(CdliteError, match="keeping track of 1,000,000,000 sweep cells needs"):
        check_grid([("a", 10**6)], range(1000), yes=True, budget=1 << 30)
    with pytest.raises(CdliteError, match="more than 1,000"):
        check_grid([], MAX_CELLS + 1)
    assert check_grid([], MAX_CELLS) == MAX_CELLS


def test_an_empty_sweep_is_one_line():
    with pytest.raises(CdliteError, match=r"no cells \(a \(0 values\) x 1 seed\)"):
        check_grid([("a", ())], 1)
