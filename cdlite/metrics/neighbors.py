"""Exact k-nearest-neighbour search by blocked matrix products |x|^2 - 2 x.a + |a|^2
(docs/design.md §5.4).

Shapes: m query points x (m, d), n training points a (n, d), blocks of bm queries by bn training
points, K candidates kept per query (K >= k).

Why it is not just `cdist`: the full (m, n) distance matrix of 10,000 samples against 60,000
MNIST images is 2.4 GB in float32. We walk it block by block, so the working memory is bounded
by `max_bytes` whatever m and n, and each block is one matrix product (the fast path of BLAS).

Why it is not just the matrix product either: |x|^2 - 2 x.a + |a|^2 subtracts numbers of size
|x|^2 to get a result of size |x - a|^2. For a sample that sits almost on a training point
(exactly the memorized ones) the result is pure rounding noise, and the ratio d1/d2 would be
wrong. So the product only *proposes* K candidates per query, and then:
  1. the candidates' distances are recomputed directly as sum((x - a)^2) in float64 (no
     cancellation: the ratio of a near-copy at distance 1e-4 is right to ~1e-12);
  2. a rounding-error bound E on the product proves that no point outside the candidate list can
     be closer than the k-th candidate ("certificate"); queries whose certificate fails (rare:
     more than K points within E of each other) are searched again in float64.
Both sets are first shifted by the training mean (distances do not change, the norms and thus
the rounding errors shrink: pixel data sit far from the origin).
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import array_module, to_numpy
from cdlite.errors import CdliteError
from cdlite.metrics._checks import as_pair, check_positive_int

DEFAULT_MAX_BYTES = 256 * 2**20  # working memory of one block of scores (bm x bn pairs)
_MIN_ROWS = 64                    # keep blocks at least this tall: small products run slowly
_GROUP = 32                       # columns per group in the candidate pre-selection (measured:
                                  # 32 beats 16, 64 and 128 on 60,000-column blocks)


def block_slices(total: int, size: int):
    """Consecutive slices of length `size` covering range(total)."""
    size = max(1, int(size))
    return [slice(i, min(i + size, total)) for i in range(0, total, size)]


def block_sizes(m: int, n: int, bytes_per_entry: int, max_bytes: int = DEFAULT_MAX_BYTES):
    """(bm, bn): blocks of a (m, n) table with bm * bn * bytes_per_entry <= max_bytes.

    Full rows (bn = n) when a block of _MIN_ROWS full rows fits, else shorter rows.
    """
    entries = max(1, int(max_bytes) // int(bytes_per_entry))
    bn = n if n * min(m, _MIN_ROWS) <= entries else max(1, entries // _MIN_ROWS)
    bm = max(1, min(m, entries // bn))
    return bm, bn


def _centered(v, center, cdtype, chunk: int = 256):
    """(v - center) in `cdtype` with one spare last column, and two float64 row norms.

    Returns out (B, d + 1) (the caller fills column d, see `_search`), |out[:, :d]|^2 of the
    rounded values and |v| of the original rows. Done chunk by chunk (small enough to stay in
    cache) so that no float64 copy of a large training set is ever made.
    """
    xp = array_module(v)
    d = v.shape[1]
    out = xp.empty((v.shape[0], d + 1), dtype=cdtype)
    norm2 = xp.empty(v.shape[0], dtype=xp.float64)
    norm_orig = xp.empty(v.shape[0], dtype=xp.float64)
    for rows in block_slices(v.shape[0], chunk):
        v64 = v[rows].astype(xp.float64)                        # (chunk, d)
        norm_orig[rows] = xp.sqrt(xp.einsum("ij,ij->i", v64, v64))
        v64 -= center
        out[rows, :d] = v64
        c64 = out[rows, :d].astype(xp.float64)                  # the values the product sees
        norm2[rows] = xp.einsum("ij,ij->i", c64, c64)
    return out, norm2, norm_orig


def _error_bound(d: int, cdtype, x_norm, a_norm_max, shift_err):
    """Bound on |score_hat - score| for the scores |a|^2 - 2 x.a computed in `cdtype`.

    Floating-point sums of d products are off by at most ~d * eps times the sum of the
    magnitudes (Higham, Accuracy and Stability of Numerical Algorithms, 2002, eq. 3.5), here
    <= (|x| + |a|)^2. `shift_err` bounds how far the rounded centred points moved; a move by
    delta changes a squared distance by at most 2 (|x| + |a|) delta + delta^2. Doubled for safety.
    """
    eps = float(np.finfo(cdtype).eps)
    r = x_norm + a_norm_max
    return 2.0 * ((d + 8) * eps * r * r + 2.0 * r * shift_err + shift_err * shift_err)


def _topk_smallest(s, idx, K: int):
    """The K smallest entries of each row of s (any order), with their labels from idx."""
    xp = array_module(s)
    if s.shape[1] <= K:
        return s, idx
    part = xp.argpartition(s, K - 1, axis=1)[:, :K]              # (bm, K)
    return xp.take_along_axis(s, part, axis=1), xp.take_along_axis(idx, part, axis=1)


def _k_smallest_columns(s, K: int):
    """Column positions (bm, <=K) of the K smallest scores in each row of s, in any order.

    A full argpartition of a (bm, 60000) block costs more than the matrix product that made it.
    Cheaper: deal each row's columns into n_groups groups of _GROUP columns and take each
    group's minimum (one fast pass). The K groups with the smallest minima already hold the K
    smallest scores (any other entry is >= its group's minimum >= K group minima), so only
    K * _GROUP columns stay in play. Group g holds columns g, g + n_groups, g + 2 n_groups, ...:
    its minimum is then an elementwise minimum of contiguous stretches of the row (twice as fast
    as the minimum over _GROUP neighbouring columns).
    """
    xp = array_module(s)
    bm, bn = s.shape
    n_groups = bn // _GROUP
    if n_groups <= 2 * K:                                        # short rows: sort them directly
        cols = xp.broadcast_to(xp.arange(bn), s.shape)
        return _topk_smallest(s, cols, K)[1]
    dealt = s[:, :n_groups * _GROUP].reshape(bm, _GROUP, n_groups)  # a view, no copy
    gmin = dealt.min(axis=1)                                     # (bm, n_groups)
    groups = xp.argpartition(gmin, K - 1, axis=1)[:, :K]         # (bm, K)
    cols = (groups[:, :, None] + n_groups * xp.arange(_GROUP)).reshape(bm, K * _GROUP)
    tail = xp.broadcast_to(xp.arange(n_groups * _GROUP, bn), (bm, bn - n_groups * _GROUP))
    cols = xp.concatenate([cols, tail], axis=1)                  # (bm, K*_GROUP + tail)
    return _topk_smallest(xp.take_along_axis(s, cols, axis=1), cols, K)[1]


def _exact_d2(x, a, idx, chunk: int = 16):
    """|x_i - a_j|^2 in float64 for the candidates j = idx[i, :] (bm, K): the differences
    first, so no cancellation. Done a few rows at a time, in one reused (chunk, K, d) array
    that stays in cache (the same numbers as all rows at once)."""
    xp = array_module(x)
    (bm, K), d = idx.shape, x.shape[1]
    out = xp.empty((bm, K), dtype=xp.float64)
    diff = xp.empty((min(chunk, bm), K, d), dtype=xp.float64)
    for rows in block_slices(bm, chunk):
        dr = diff[:rows.stop - rows.start]
        dr[...] = a[idx[rows]]                                   # (chunk, K, d) candidates
        xp.subtract(x[rows].astype(xp.float64)[:, None, :], dr, out=dr)
        dr *= dr
        dr.sum(axis=2, out=out[rows])
    return out


def _search(x, a, k: int, K: int, cdtype, max_bytes: int):
    """One pass of the blocked search in `cdtype`; returns exact d2, indices and certificates."""
    xp = array_module(x, a)
    (m, d), n = x.shape, a.shape[0]
    center = a.mean(axis=0, dtype=xp.float64)                    # (d,)
    eps64, eps_c = float(np.finfo(np.float64).eps), float(np.finfo(cdtype).eps)
    # score = |a|^2 - 2 x.a as ONE product: [-2 x, 1] . [a, |a|^2] (no extra pass over the block)
    a_aug, aa64, a_norm = _centered(a, center, cdtype)            # (n, d+1), (n,), (n,)
    a_aug[:, d] = aa64
    a_norm_max = float(xp.sqrt(aa64.max()))
    c_norm = float(xp.sqrt((center * center).sum()))
    # how far rounding moved the centred points: x - center in float64, then cast to cdtype
    a_shift_err = eps64 * (float(a_norm.max()) + c_norm) + eps_c * a_norm_max

    itemsize = np.dtype(cdtype).itemsize
    bm, bn = block_sizes(m, n, itemsize + 1, max_bytes)          # scores (+ small group minima)
    bm = max(1, min(bm, int(max_bytes) // max(1, 16 * K * d)))   # room for the float64 re-check
    d2_out = xp.empty((m, k), dtype=xp.float64)
    idx_out = xp.empty((m, k), dtype=xp.int64)
    certified = xp.empty(m, dtype=bool)
    buf = None                                                   # reused block of scores
    for rows in block_slices(m, bm):
        x_aug, xx, x_norm = _centered(x[rows], center, cdtype)   # (bm, d+1), (bm,), (bm,)
        x_aug[:, :d] *= -2                                       # exact: scaling by 2
        x_aug[:, d] = 1
        best_s = xp.empty((x_aug.shape[0], 0), dtype=cdtype)
        best_i = xp.empty((x_aug.shape[0], 0), dtype=xp.int64)
        for cols in block_slices(n, bn):
            shape = (x_aug.shape[0], cols.stop - cols.start)
            # writing into the previous block's memory spares the page faults of a new array
            out = buf if buf is not None and buf.shape == shape else None
            s = buf = xp.matmul(x_aug, a_aug[cols].T, out=out)  # (bm, bn) |a|^2 - 2 x.a
            pos = _k_smallest_columns(s, K)                      # (bm, <=K)
            s, i = xp.take_along_axis(s, pos, axis=1), pos + cols.start
            best_s, best_i = _topk_smallest(xp.concatenate([best_s, s], axis=1),
                                            xp.concatenate([best_i, i], axis=1), K)
        # 1. exact float64 distances of the K candidates, without cancellation
        d2 = _exact_d2(x[rows], a, best_i)                       # (bm, K)
        by_index = xp.argsort(best_i, axis=1)                    # so that ties go to the
        best_i = xp.take_along_axis(best_i, by_index, axis=1)    # smaller index under the
        d2 = xp.take_along_axis(d2, by_index, axis=1)            # stable sort by distance
        order = xp.argsort(d2, axis=1, kind="stable")[:, :k]     # (bm, k)
        d2_out[rows] = xp.take_along_axis(d2, order, axis=1)
        idx_out[rows] = xp.take_along_axis(best_i, order, axis=1)
        # 2. certificate: every non-candidate has a true score >= (K-th approx score) - E
        if best_s.shape[1] == n:
            certified[rows] = True                               # every point was a candidate
            continue
        shift_err = eps64 * (x_norm + c_norm) + eps_c * xp.sqrt(xx) + a_shift_err  # (bm,)
        E = _error_bound(d, cdtype, xp.sqrt(xx), a_norm_max, shift_err)
        lower = best_s.max(axis=1).astype(xp.float64) + xx - E  # (bm,) lower bound on |x-a|^2
        certified[rows] = lower >= d2_out[rows, k - 1]
    return d2_out, idx_out, certified


def nearest_neighbors(x, train, k: int = 2, n_candidates: int | None = None,
                      max_bytes: int = DEFAULT_MAX_BYTES):
    """Exact k nearest neighbours of each row of x in `train` by blocked matrix products.

    Returns `(dist, idx)`, NumPy arrays of shape (m, k): float64 Euclidean distances in
    increasing order (exact to float64 rounding, also for near-copies) and int64 row indices
    into `train` (ties go to the smaller index). Working memory is about `max_bytes` plus one
    centred copy of `train` in the compute precision (float32 when both inputs are float32,
    float64 otherwise). `n_candidates` (default k + 6) is how many candidates per query the
    product proposes before the exact re-check; more only helps data with many near-ties.
    """
    xp, x, a = as_pair(x, train, "x", "train")
    k = check_positive_int(k, "k")
    if k > a.shape[0]:
        raise CdliteError(f"k = {k} neighbours asked for, but train has only {a.shape[0]} points; "
                          f"lower k or pass more training points")
    K = min(a.shape[0], max(k, check_positive_int(n_candidates or k + 6, "n_candidates")))
    cdtype = np.float32 if (x.dtype == xp.float32 and a.dtype == xp.float32) else np.float64
    d2, idx, ok = _search(x, a, k, K, cdtype, max_bytes)
    if cdtype == np.float32 and not bool(ok.all()):
        # near-ties beyond float32 resolution: redo those queries in float64, whose rounding
        # errors are 1e-9 times smaller; anything still tied there is tied to ~1e-13.
        redo = xp.nonzero(~ok)[0]
        d2[redo], idx[redo], _ = _search(x[redo], a, k, K, np.float64, max_bytes)
    return np.sqrt(to_numpy(d2)), to_numpy(idx)


def kth_neighbor_distance(x, k: int = 3, max_bytes: int = DEFAULT_MAX_BYTES):
    """Distance of each row of x to its k-th nearest *other* row of x: shape (m,), float64.

    Used for the k-NN balls of precision/recall (Kynkaanniemi et al. 2019). The point itself is
    its own 0-th neighbour, so we ask for k + 1 neighbours and keep the last.
    """
    dist, _ = nearest_neighbors(x, x, k=k + 1, max_bytes=max_bytes)
    return dist[:, k]
