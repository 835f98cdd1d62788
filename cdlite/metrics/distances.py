"""Distances between a generated sample X (m, d) and a held-out test sample Y (n, d).

energy distance (Szekely & Rizzo 2013), MMD with a Gaussian kernel (Gretton et al. 2012),
sliced Wasserstein-2 (Rabin et al. 2011), Frechet distance of means and covariances (Dowson &
Landau 1982; the "FID" of Heusel et al. 2017 in a feature space), k-NN precision and recall
(Kynkaanniemi et al. 2019). All computed in float64 on the host or device of the inputs; all
return plain Python floats. The O(m n) ones work in blocks (bounded memory); callers subsample
large sets (see `quality_report`).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from cdlite.backend import array_module, make_rng, to_numpy
from cdlite.errors import CdliteError
from cdlite.metrics._checks import as_pair, check_positive_int
from cdlite.metrics.neighbors import (DEFAULT_MAX_BYTES, block_sizes, block_slices,
                                      kth_neighbor_distance)


def _centred64(x, y):
    """Both sets in float64, shifted by their pooled mean (fewer rounding errors in |x-y|^2)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    c = (x.sum(axis=0) + y.sum(axis=0)) / (x.shape[0] + y.shape[0])
    return x - c, y - c


def _sq_dist_blocks(x, y, max_bytes: int = DEFAULT_MAX_BYTES):
    """Yield (rows, cols, d2) with d2 = |x_i - y_j|^2 for blocks of the (m, n) table, float64.

    d2 is one array reused from block to block (use it before asking for the next block); it
    is computed as |x|^2 + |y|^2 - 2 x.y, clipped at 0 (rounding can dip below 0)."""
    xp = array_module(x)
    xx, yy = (x * x).sum(axis=1), (y * y).sum(axis=1)           # (m,), (n,)
    bm, bn = block_sizes(x.shape[0], y.shape[0], 24, max_bytes)  # d2, x.y, one fn(d2)
    d2 = xy = None
    for rows in block_slices(x.shape[0], bm):
        for cols in block_slices(y.shape[0], bn):
            shape = (rows.stop - rows.start, cols.stop - cols.start)
            if d2 is None or d2.shape != shape:
                d2, xy = xp.empty(shape), xp.empty(shape)
            xp.matmul(x[rows], y[cols].T, out=xy)
            xy *= 2.0                                            # 2 x.y  (bm, bn)
            xp.add(xx[rows, None], yy[None, cols], out=d2)
            d2 -= xy
            yield rows, cols, d2.clip(0.0, out=d2)


def _pair_means(x, y, fns, same: bool):
    """Mean of fn(|x_i - y_j|^2) over pairs for each fn(d2, out) of `fns`, all from one pass
    over the distance table; with same=True (x is y) over pairs i != j."""
    totals = [0] * len(fns)
    scratch = None
    for _, _, d2 in _sq_dist_blocks(x, y):
        if scratch is None or scratch.shape != d2.shape:
            scratch = array_module(x).empty(d2.shape)
        for i, fn in enumerate(fns):
            totals[i] += float(fn(d2, scratch).sum())
    if not same:
        return [t / (x.shape[0] * y.shape[0]) for t in totals]
    m = x.shape[0]
    zero = array_module(x).zeros(1)
    diagonal = [m * float(fn(zero, zero.copy())[0]) for fn in fns]  # the m terms with i == j
    return [(t - dg) / (m * (m - 1)) for t, dg in zip(totals, diagonal)]


def _distance(d2, out):
    return array_module(d2).sqrt(d2, out=out)                    # |x - y| from |x - y|^2


def _gaussian_kernel(h: float):
    def kernel(d2, out):                                         # exp(-d2 / (2 h^2))
        xp = array_module(d2)
        xp.negative(d2, out=out)
        xp.divide(out, 2.0 * h * h, out=out)
        return xp.exp(out, out=out)
    return kernel


def _energy_and_mmd2(x, y, h: float | None):
    """(energy distance, squared MMD with bandwidth h or None) of centred float64 sets, from one
    pass over each of the three distance tables (x-y, x-x, y-y)."""
    fns = [_distance] + ([_gaussian_kernel(h)] if h is not None else [])
    (dxy, *kxy), (dxx, *kxx), (dyy, *kyy) = (_pair_means(a, b, fns, same) for a, b, same in
                                             ((x, y, False), (x, x, True), (y, y, True)))
    energy = float(2 * dxy - dxx - dyy)
    return energy, (float(kxx[0] + kyy[0] - 2 * kxy[0]) if h is not None else None)


def energy_distance(x, y):
    """Energy distance 2 E|X-Y| - E|X-X'| - E|Y-Y'| (Szekely & Rizzo 2013), unbiased.

    The within-set means skip i == j (U-statistics), so the estimate is unbiased: about 0 (it
    can be slightly negative) for two samples of one distribution, > 0 otherwise. Cost O(m n d).
    """
    _, x, y = as_pair(x, y, "x", "y", min_x=2, min_a=2)
    return _energy_and_mmd2(*_centred64(x, y), None)[0]


def median_bandwidth(x, y, max_points: int = 1000, rng=None):
    """Median heuristic h = median of pairwise distances in the pooled sample (Gretton 2012)."""
    rng = make_rng(0) if rng is None else rng
    z = np.concatenate([to_numpy(x), to_numpy(y)]).astype(np.float64)
    if z.shape[0] > max_points:
        z = z[rng.choice(z.shape[0], size=max_points, replace=False)]
    h = float(np.median(pdist(z)))                               # distances over pairs i < j
    if h == 0.0:
        raise CdliteError("all points coincide: the median-distance bandwidth is 0; "
                          "pass bandwidth= explicitly")
    return h


def _checked_bandwidth(x, y, bandwidth, rng) -> float:
    h = median_bandwidth(x, y, rng=rng) if bandwidth is None else float(bandwidth)
    if not (np.isfinite(h) and h > 0):
        raise CdliteError(f"MMD bandwidth must be a finite number > 0, got {bandwidth!r}; "
                          "leave it out for the median-distance rule")
    return h


def mmd_rbf(x, y, bandwidth: float | None = None, rng=None):
    """Unbiased squared MMD with the Gaussian kernel exp(-|x-y|^2 / (2 h^2)) (Gretton et al. 2012).

    Bandwidth h: the median heuristic (median pairwise distance of the pooled sample, at most
    1,000 points) unless given. Returns (mmd2, h). About 0 for one distribution, > 0 otherwise.
    """
    _, x, y = as_pair(x, y, "x", "y", min_x=2, min_a=2)
    h = _checked_bandwidth(x, y, bandwidth, rng)
    x, y = _centred64(x, y)
    fn = [_gaussian_kernel(h)]
    (kxy,), (kxx,), (kyy,) = (_pair_means(a, b, fn, same) for a, b, same in
                              ((x, y, False), (x, x, True), (y, y, True)))
    return float(kxx + kyy - 2 * kxy), h


def energy_and_mmd(x, y, bandwidth: float | None = None, rng=None):
    """(energy distance, squared MMD, h): `energy_distance` and `mmd_rbf` from one pass over
    the pairs (the same numbers as calling both, at about half the cost)."""
    _, x, y = as_pair(x, y, "x", "y", min_x=2, min_a=2)
    h = _checked_bandwidth(x, y, bandwidth, rng)
    energy, mmd2 = _energy_and_mmd2(*_centred64(x, y), h)
    return energy, mmd2, h


def _w2_sq_sorted(px, py):
    """Squared W2 between 1-D empirical measures, rows of sorted px (L, m) and py (L, n).

    The quantile functions are steps at i/m and j/n; between merged breakpoints both are
    constant, so W2^2 = sum over pieces of (length) * (qx - qy)^2 exactly, for any m, n.
    """
    m, n = px.shape[1], py.shape[1]
    u = np.unique(np.concatenate([np.arange(1, m + 1) / m, np.arange(1, n + 1) / n]))
    u = np.concatenate([[0.0], u])
    mid, width = (u[1:] + u[:-1]) / 2, np.diff(u)                 # pieces of [0, 1]
    ix, iy = np.floor(mid * m).astype(int), np.floor(mid * n).astype(int)
    return ((px[:, ix] - py[:, iy]) ** 2 * width).sum(axis=1)    # (L,)


def sliced_wasserstein(x, y, n_projections: int = 128, rng=None):
    """Sliced Wasserstein-2 distance sqrt(E_theta W2^2(theta.X, theta.Y)) (Rabin et al. 2011).

    theta: `n_projections` random unit directions drawn by `rng` (default seed 0).
    """
    _, x, y = as_pair(x, y, "x", "y")
    rng = make_rng(0) if rng is None else rng
    x, y = to_numpy(x).astype(np.float64), to_numpy(y).astype(np.float64)
    theta = rng.standard_normal((check_positive_int(n_projections, "n_projections"), x.shape[1]))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)        # (L, d)
    px, py = np.sort(theta @ x.T, axis=1), np.sort(theta @ y.T, axis=1)  # (L, m), (L, n)
    return float(np.sqrt(_w2_sq_sorted(px, py).mean()))


def frechet_distance_gaussians(mu1, S1, mu2, S2):
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) (Dowson & Landau 1982).

    The squared Wasserstein-2 distance between N(mu1, S1) and N(mu2, S2).

    Matrix square roots by symmetric eigendecomposition (stable; tiny negative eigenvalues
    from rounding are clipped to 0), so no complex parts appear as with scipy.linalg.sqrtm.
    """
    mu1, mu2 = (np.asarray(to_numpy(m), np.float64) for m in (mu1, mu2))
    S1, S2 = (np.atleast_2d(np.asarray(to_numpy(S), np.float64)) for S in (S1, S2))
    w, V = np.linalg.eigh(S1)
    S1_half = (V * np.sqrt(np.clip(w, 0, None))) @ V.T            # (d, d)
    M = S1_half @ S2 @ S1_half
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((M + M.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(S1) + np.trace(S2) - 2 * tr_sqrt)


def frechet_distance(x, y):
    """Frechet distance of the Gaussians with the sample means and covariances of x and y."""
    _, x, y = as_pair(x, y, "x", "y", min_x=2, min_a=2)
    x, y = to_numpy(x).astype(np.float64), to_numpy(y).astype(np.float64)
    S_x = np.atleast_2d(np.cov(x, rowvar=False))                 # (d, d), ddof = 1
    S_y = np.atleast_2d(np.cov(y, rowvar=False))
    return frechet_distance_gaussians(x.mean(axis=0), S_x, y.mean(axis=0), S_y)


def _in_any_ball(q, centres, radii):
    """For each row of q: is it within radius r_j of some centre j? (bool, NumPy (B,))."""
    qc, cc = _centred64(q, centres)
    # slack for the rounding of |q|^2 - 2 q.c + |c|^2, so that a point on a ball's centre
    # (identical sets, radius 0 from duplicates) counts as inside
    xp = array_module(qc)
    scale = (qc * qc).sum(axis=1)[:, None]
    r2 = radii.astype(np.float64) ** 2
    inside = np.zeros(q.shape[0], dtype=bool)
    cc2 = (cc * cc).sum(axis=1)
    bound = hit = None                                           # reused block arrays
    for rows, cols, d2 in _sq_dist_blocks(qc, cc):
        if bound is None or bound.shape != d2.shape:
            bound, hit = xp.empty(d2.shape), xp.empty(d2.shape, dtype=bool)
        xp.add(scale[rows], cc2[None, cols], out=bound)
        bound *= 1e-12                                           # the slack
        bound += r2[None, cols]                                  # r^2 + slack  (bm, bn)
        inside[rows] |= to_numpy(xp.less_equal(d2, bound, out=hit).any(axis=1))
    return inside


def precision_recall(samples, real, k: int = 3):
    """k-NN precision and recall (Kynkaanniemi et al. 2019, "Improved precision and recall").

    The real manifold is the union of balls around each real point with radius = distance to its
    k-th nearest other real point; precision = fraction of samples inside it. Recall swaps the
    roles (balls around samples, fraction of real points inside). Both 1 for identical sets.
    Returns (precision, recall). Cost O(m n d) in blocks; subsample large sets first.
    """
    xp, x, r = as_pair(samples, real, "samples", "real", min_x=k + 1, min_a=k + 1)
    k = check_positive_int(k, "k")
    r_real = xp.asarray(kth_neighbor_distance(r, k))            # (n,)
    r_fake = xp.asarray(kth_neighbor_distance(x, k))            # (m,)
    precision = float(_in_any_ball(x, r, r_real).mean())
    recall = float(_in_any_ball(r, x, r_fake).mean())
    return precision, recall
