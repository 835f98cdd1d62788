"""Memorization fraction f_mem: the nearest-neighbour ratio test of docs/design.md §5.1.

A generated sample x is memorized when |x - a_(1)| / |x - a_(2)| < 1/3, with a_(1), a_(2) its
nearest and second-nearest training points (the test used by Yoon et al. 2023 and by Jiang & Zou
2026). Distances are plain L2 in the data space the model is trained in, so the ratio does not
change under a common scale or shift of samples and training set.

Exact duplicates in the training set: if a_(1) and a_(2) were two copies of the same point, a
sample sitting on it would get 0/0 and a sample near it ratio 1 ("not memorized"), although it
copies a training point. So training points that coincide exactly are merged and count as ONE
point: a_(2) is the nearest training point *different* from a_(1). Reported indices refer to
the first copy in the training set. An exact copy of a training point has ratio 0 (memorized).

Shapes: m generated samples (m, d), n training points (n, d).
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import array_module, make_rng, to_numpy
from cdlite.errors import CdliteError
from cdlite.metrics._checks import as_pair, check_fraction, check_positive_int
from cdlite.metrics.neighbors import DEFAULT_MAX_BYTES, nearest_neighbors

MEM_THRESHOLD = 1.0 / 3.0   # ratio below which a sample counts as memorized (docs/design.md §5.1)


def unique_points(train):
    """(distinct rows of train, index of the first copy of each), order of first appearance.

    Runs on the host: np.unique(axis=0) sorts whole rows (exact comparison, no tolerance).
    """
    host = np.ascontiguousarray(to_numpy(train))
    _, first = np.unique(host, axis=0, return_index=True)
    first = np.sort(first)                                       # keep the training order
    if first.size == host.shape[0]:
        return train, np.arange(host.shape[0])
    xp = array_module(train)
    return train[xp.asarray(first)], first


def nn_ratios(samples, train, max_bytes: int = DEFAULT_MAX_BYTES):
    """Nearest and second-nearest training point of each sample and the ratio d1 / d2.

    Returns a dict of NumPy arrays of shape (m,): `ratio` = d1 / d2, `d1`, `d2` (float64
    distances), `idx1`, `idx2` (row indices into `train`, first copy of duplicated points), and
    the counts `n_train`, `n_distinct`. Duplicated training points count once (module docstring).
    """
    _, x, a = as_pair(samples, train, "samples", "train")
    a_distinct, first = unique_points(a)
    if a_distinct.shape[0] < 2:
        raise CdliteError(
            f"train has {a_distinct.shape[0]} distinct point(s) among {a.shape[0]}: the ratio "
            f"test needs a nearest and a second-nearest training point; pass at least 2")
    dist, idx = nearest_neighbors(x, a_distinct, k=2, max_bytes=max_bytes)   # (m, 2)
    d1, d2 = dist[:, 0], dist[:, 1]                              # d2 > 0: points are distinct
    return {"ratio": d1 / d2, "d1": d1, "d2": d2,
            "idx1": first[idx[:, 0]], "idx2": first[idx[:, 1]],
            "n_train": int(a.shape[0]), "n_distinct": int(a_distinct.shape[0])}


def bootstrap_ci(memorized, n_boot: int = 1000, level: float = 0.95, rng=None):
    """Percentile bootstrap interval of the fraction of True in `memorized` (Efron 1979).

    Resampling m indicators with replacement and counting the True ones is a Binomial(m, f)
    draw with f the observed fraction, so we draw those counts directly: same distribution,
    no (n_boot, m) table. `rng` is a numpy Generator (default: seed 0, for reproducibility).
    """
    memorized = np.asarray(to_numpy(memorized), dtype=bool).ravel()
    if memorized.size == 0:
        raise CdliteError("no samples given: the bootstrap needs at least one")
    n_boot = check_positive_int(n_boot, "n_boot")
    level = check_fraction(level, "level")
    rng = make_rng(0) if rng is None else rng
    m, f = memorized.size, float(memorized.mean())
    fractions = rng.binomial(m, f, size=n_boot) / m             # (n_boot,)
    lo, hi = np.quantile(fractions, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def coverage(idx1, memorized, n_train: int):
    """Fraction of training points that are the nearest neighbour of >= 1 memorized sample.

    Tells memorizing the set (coverage near f_mem * m / n or 1) from collapsing onto a few
    points (f_mem high, coverage tiny). `n_train` is the number of distinct training points.
    """
    idx1 = np.asarray(to_numpy(idx1))
    memorized = np.asarray(to_numpy(memorized), dtype=bool)
    return float(np.unique(idx1[memorized]).size / n_train)


def memorization_fraction(samples, train, threshold: float = MEM_THRESHOLD, n_boot: int = 1000,
                          rng=None, max_bytes: int = DEFAULT_MAX_BYTES):
    """f_mem = fraction of samples with d1 / d2 < threshold, with a bootstrap 95% interval.

    Returns a dict: `f_mem`, `f_mem_ci` ([low, high]), `coverage`, `threshold`,
    `n_samples`, `n_train`, `n_distinct_train` (plain numbers) and the per-sample NumPy arrays
    `ratio`, `d1`, `d2`, `idx1`, `idx2`, `memorized`.
    """
    threshold = float(threshold)
    if not 0.0 < threshold <= 1.0:
        raise CdliteError(f"threshold = {threshold}: the ratio d1 / d2 lies in [0, 1], so choose "
                          f"a threshold in (0, 1]; 1/3 is the usual one")
    r = nn_ratios(samples, train, max_bytes=max_bytes)
    memorized = r["ratio"] < threshold                           # (m,)
    return {
        "f_mem": float(memorized.mean()),
        "f_mem_ci": bootstrap_ci(memorized, n_boot, rng=rng),
        "coverage": coverage(r["idx1"], memorized, r["n_distinct"]),
        "threshold": threshold,
        "n_samples": int(memorized.size),
        "n_train": r["n_train"],
        "n_distinct_train": r["n_distinct"],
        "ratio": r["ratio"], "d1": r["d1"], "d2": r["d2"],
        "idx1": r["idx1"], "idx2": r["idx2"], "memorized": memorized,
    }


def chance_level(reference, train, threshold: float = MEM_THRESHOLD, n_boot: int = 1000,
                 rng=None):
    """f_mem of a reference sample (fresh true samples or held-out data) against `train`.

    Isolated training points catch fresh samples too (docs/design.md §5.2: 0.13-0.23 in 2-D
    with n = 16), so f_mem of a model means little without this figure beside it. Same dict as
    `memorization_fraction`.
    """
    return memorization_fraction(reference, train, threshold, n_boot, rng)


def ratio_histogram(ratio, bins: int = 20):
    """Counts of the ratios in `bins` equal bins over [0, 1]: {"edges": [...], "counts": [...]}."""
    counts, edges = np.histogram(np.clip(np.asarray(to_numpy(ratio)), 0.0, 1.0),
                                 bins=check_positive_int(bins, "bins"), range=(0.0, 1.0))
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def memorization_report(samples, train, threshold: float = MEM_THRESHOLD, n_boot: int = 1000,
                        rng=None, reference=None, features=None, copy_threshold=None):
    """Everything the run report says about memorization, as JSON-ready values.

    Keys: f_mem, f_mem_ci, coverage, threshold, n_samples, n_train, n_distinct_train,
    d1_median, d1_mean, ratio_median, ratio_hist ({"edges", "counts"}), and the lists ratio, d1
    (one entry per sample). With `reference` (fresh true samples / held-out data): chance_f_mem,
    chance_f_mem_ci. With `features` (a callable (B, d) -> (B, f), e.g. `digits_features()`)
    or copy_threshold: copy_* keys from `copy_similarity` (in the data space if features is None).
    """
    r = memorization_fraction(samples, train, threshold, n_boot, rng)
    out = {k: r[k] for k in ("f_mem", "f_mem_ci", "coverage", "threshold", "n_samples",
                             "n_train", "n_distinct_train")}
    out.update(d1_median=float(np.median(r["d1"])), d1_mean=float(r["d1"].mean()),
               ratio_median=float(np.median(r["ratio"])), ratio_hist=ratio_histogram(r["ratio"]),
               ratio=r["ratio"].tolist(), d1=r["d1"].tolist())
    if reference is not None:
        c = chance_level(reference, train, threshold, n_boot, rng)
        out.update(chance_f_mem=c["f_mem"], chance_f_mem_ci=c["f_mem_ci"])
    if features is not None or copy_threshold is not None:
        from cdlite.metrics.copying import COPY_THRESHOLD, copy_similarity
        cs = copy_similarity(samples, train, features=features,
                             threshold=COPY_THRESHOLD if copy_threshold is None else copy_threshold)
        out.update({f"copy_{k}": v for k, v in cs.items() if k not in ("similarity", "idx")})
    return out
