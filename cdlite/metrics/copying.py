"""Copy similarity: the largest cosine similarity of each sample to the training set.

The other family of memorization measures used for images (Somepalli et al. 2023, "Diffusion
Art or Digital Forgery?", and Carlini et al. 2023 use a similarity in a feature space, then a
threshold). Here: cosine similarity in a chosen feature space (`features`, e.g. the digits
classifier of `cdlite.metrics.features`; the data space itself when None).

Shapes: m samples, n training points, f feature dimension.
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import array_module, to_numpy
from cdlite.metrics._checks import as_pair, as_points, check_fraction
from cdlite.metrics.neighbors import DEFAULT_MAX_BYTES, block_sizes, block_slices

COPY_THRESHOLD = 0.95   # "near copy" in cosine similarity; a convention, not a paper's value


def _unit_rows(z):
    """Rows scaled to unit length, float64; an all-zero row stays zero (cosine 0 with anything)."""
    xp = array_module(z)
    z = z.astype(xp.float64)
    norm = xp.sqrt((z * z).sum(axis=1, keepdims=True))          # (B, 1)
    return z / xp.where(norm > 0, norm, 1.0)


def max_cosine(u, v, max_bytes: int = DEFAULT_MAX_BYTES):
    """For each row of u, the largest cosine similarity to a row of v, and that row's index.

    Blocked products u_hat @ v_hat.T with bounded memory (the same blocks as the neighbour
    search); float64, so values are right to ~1e-15. Returns NumPy arrays (m,), (m,).
    """
    xp, u, v = as_pair(u, v, "sample features", "train features")
    u, v = _unit_rows(u), _unit_rows(v)                          # (m, f), (n, f)
    m, n = u.shape[0], v.shape[0]
    best = xp.full(m, -np.inf)
    best_i = xp.zeros(m, dtype=xp.int64)
    bm, bn = block_sizes(m, n, 16, max_bytes)                    # float64 block + argmax
    for rows in block_slices(m, bm):
        for cols in block_slices(n, bn):
            c = u[rows] @ v[cols].T                              # (bm, bn) cosines
            j = c.argmax(axis=1)                                 # (bm,)
            cj = c[xp.arange(c.shape[0]), j]
            better = cj > best[rows]                             # first maximum wins ties
            best[rows] = xp.where(better, cj, best[rows])
            best_i[rows] = xp.where(better, j + cols.start, best_i[rows])
    return np.clip(to_numpy(best), -1.0, 1.0), to_numpy(best_i)


def copy_similarity(samples, train, features=None, threshold: float = COPY_THRESHOLD,
                    max_bytes: int = DEFAULT_MAX_BYTES):
    """Largest cosine similarity of each sample to the training set, in a feature space.

    `features`: a callable (B, d) -> (B, f) applied to samples and training points alike (None:
    the data space). Cosines are taken as they are, with no centring: in the data space a shift
    of the data changes them (unlike the ratio test). Returns a dict: `similarity` (NumPy (m,)),
    `idx` (most similar training point), and plain floats `mean`, `max`, `p95` (95th
    percentile), `frac_above` (fraction of samples with similarity > threshold), `threshold`.
    """
    threshold = check_fraction(threshold, "threshold", -1.0, 1.0)
    _, x, a = as_pair(samples, train, "samples", "train")
    if features is not None:
        x = as_points(features(x), "features(samples)")
        a = as_points(features(a), "features(train)")
    sim, idx = max_cosine(x, a, max_bytes)                       # (m,), (m,)
    return {"similarity": sim, "idx": idx,
            "mean": float(sim.mean()), "max": float(sim.max()),
            "p95": float(np.percentile(sim, 95)),
            "frac_above": float((sim > threshold).mean()), "threshold": threshold}
