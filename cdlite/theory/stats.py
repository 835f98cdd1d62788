"""Error bars of the rf-theory recipe: a timescale measured on R training sets per n, its
log-log slope against n, and a bootstrap confidence interval over the draws.

Bonnaire et al. (arXiv 2505.17638) predict tau_mem proportional to n (slope 1) and tau_gen
independent of n (slope 0). Within one draw the training sets are nested (the first n points of
one sample), so the values at different n are correlated; the draws are independent. The
bootstrap therefore resamples whole draws: each resample averages log tau over the drawn draws at
every n and fits one line. Shape letters: R draws, N training-set sizes.
"""
from __future__ import annotations

import math
import warnings

import numpy as np


def loglog_fit(ns, taus) -> tuple[float, float]:
    """(slope, intercept) of log tau against log n over the finite positive values (nan when
    fewer than two)."""
    ns, taus = np.asarray(ns, dtype=float), np.asarray(taus, dtype=float)
    ok = np.isfinite(taus) & (taus > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(np.log(ns[ok]), np.log(taus[ok]), 1)
    return float(slope), float(intercept)


def mean_log(values):
    """Geometric mean over draws for every n, ignoring nan: values (R, N) -> (N,)."""
    logs = np.log(np.where(np.asarray(values, dtype=float) > 0, values, np.nan))
    with np.errstate(all="ignore"):
        counts = np.sum(np.isfinite(logs), axis=0)
        total = np.nansum(logs, axis=0)
        return np.where(counts > 0, np.exp(total / np.maximum(counts, 1)), np.nan)


def bootstrap_slope(ns, values, rng, n_boot: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the slope of mean_log(values[draws]) against n, resampling the R
    draws with replacement n_boot times; (nan, nan) with a single draw."""
    values = np.asarray(values, dtype=float)                 # (R, N)
    R = values.shape[0]
    if R < 2:
        return math.nan, math.nan
    picks = rng.integers(0, R, size=(n_boot, R))             # (n_boot, R)
    slopes = np.array([loglog_fit(ns, mean_log(values[idx]))[0] for idx in picks])
    slopes = slopes[np.isfinite(slopes)]
    if len(slopes) == 0:
        return math.nan, math.nan
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(slopes, [tail, 100.0 - tail])
    return float(lo), float(hi)


def over_draws(ns, values, rng, n_boot: int, level: float = 0.95) -> dict:
    """Everything the report says about one timescale measured on R draws at N sizes.

    values (R, N) -> mean and spread (standard deviation over draws, ddof = 1) per n, the slope
    of the geometric mean against n with its bootstrap interval, the slope of every single draw,
    and the local slopes between neighbouring n (where the power law bends)."""
    values = np.asarray(values, dtype=float)
    ns = [int(n) for n in ns]
    geo = mean_log(values)
    slope, intercept = loglog_fit(ns, geo)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a column of nan: nan, not a warning
        local = np.diff(np.log(geo)) / np.diff(np.log(ns))
        sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.full(len(ns), np.nan)
        mean = np.nanmean(values, axis=0)
    return {
        "ns": ns,
        "mean": {str(n): float(x) for n, x in zip(ns, mean)},
        "sd": {str(n): float(s) for n, s in zip(ns, sd)},
        "draws": {str(n): [float(x) for x in v] for n, v in zip(ns, values.T)},
        "slope": slope, "intercept": intercept,
        "slope_ci": list(bootstrap_slope(ns, values, rng, n_boot, level)), "ci_level": level,
        "slope_per_draw": [loglog_fit(ns, row)[0] for row in values],
        "local_slopes": [float(x) for x in local],
    }


def ci_contains(summary: dict, value: float) -> bool | None:
    """Whether the slope interval of an over_draws summary contains `value` (None: no interval)."""
    lo, hi = summary["slope_ci"]
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return bool(lo <= value <= hi)
