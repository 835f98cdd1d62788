"""The nearest neighbours that f_mem rests on, by definition (docs/design.md §5).

For each generated point x_i, the training points sorted by their Euclidean distance to it:
the first is its nearest neighbour a_(1), the second a_(2), and the memorization test reads
the ratio |x - a_(1)| / |x - a_(2)|. Written as the full (m, n) distance table in float64 and
a sort of each row: a few lines anyone can check, and the reference the fast path is tested
against. It holds m * n * d numbers at once, so it is for small sets (tests, a course);
cdlite.metrics.neighbors.nearest_neighbors returns the same answer by a blocked, certified
search in bounded memory (tests/test_metrics_memorization.py checks that they agree).

Shapes: m query points x (m, d), n training points a (n, d).
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import to_numpy
from cdlite.errors import CdliteError
from cdlite.metrics._checks import as_pair, check_positive_int


def nearest_neighbors_brute(x, train, k: int = 2):
    """(dist, idx) of the k nearest training points of each row of x, by definition.

    NumPy arrays of shape (m, k): float64 distances in increasing order and int64 row indices
    into `train`; among points at the same distance the smaller index comes first (a stable
    sort of each row).
    """
    _, x, a = as_pair(x, train, "x", "train")
    k = check_positive_int(k, "k")
    if k > a.shape[0]:
        raise CdliteError(f"k = {k} neighbours asked for, but train has only {a.shape[0]} points; "
                          f"lower k or pass more training points")
    x, a = to_numpy(x).astype(np.float64), to_numpy(a).astype(np.float64)
    d2 = ((x[:, None, :] - a[None, :, :]) ** 2).sum(axis=2)  # (m, n): |x_i - a_j|^2
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]        # (m, k): nearest first
    return np.sqrt(np.take_along_axis(d2, idx, axis=1)), idx
