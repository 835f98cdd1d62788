"""Error bars of the rf-theory recipe: log-log slopes over draws and their bootstrap intervals,
checked on data with a known slope."""
import cdlite  # noqa: F401  (sets the BLAS thread default before NumPy loads)

import math

import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.theory.stats import (bootstrap_slope, ci_contains, loglog_fit, mean_log,
                                 over_draws)

NS = [48, 64, 128, 256, 512]


def noisy_power_law(slope, R, noise, seed=0):
    """R draws of 3 n^slope, each draw scaled by its own factor exp(noise * N(0, 1)) and each
    value by another: (R, N)."""
    rng = make_rng(seed)
    ns = np.asarray(NS, dtype=float)
    per_draw = np.exp(noise * rng.standard_normal((R, 1)))
    return 3.0 * ns ** slope * per_draw * np.exp(noise * rng.standard_normal((R, len(NS))))


def test_loglog_fit_recovers_a_power_law_and_skips_missing_values():
    taus = 7.0 * np.asarray(NS, dtype=float) ** 1.3
    slope, intercept = loglog_fit(NS, taus)
    assert slope == pytest.approx(1.3, abs=1e-12) and math.exp(intercept) == pytest.approx(7.0)
    taus[2] = np.nan
    assert loglog_fit(NS, taus)[0] == pytest.approx(1.3, abs=1e-12)
    assert math.isnan(loglog_fit(NS, [np.nan, np.nan, 1.0, np.nan, -1.0])[0])


def test_mean_log_is_the_geometric_mean_per_n_ignoring_nan():
    v = np.array([[1.0, 4.0, np.nan], [4.0, 9.0, np.nan]])
    out = mean_log(v)
    assert out[:2] == pytest.approx([2.0, 6.0]) and math.isnan(out[2])


def test_bootstrap_interval_covers_the_true_slope_and_shrinks_with_draws():
    rng = make_rng(1)
    few = noisy_power_law(1.0, 5, 0.05)
    many = noisy_power_law(1.0, 40, 0.05, seed=2)
    lo5, hi5 = bootstrap_slope(NS, few, rng, 2000)
    lo40, hi40 = bootstrap_slope(NS, many, rng, 2000)
    assert lo5 < 1.0 < hi5 and lo40 < 1.0 < hi40
    assert hi40 - lo40 < hi5 - lo5
    # exact data: every resample gives the same slope
    exact = np.tile(np.asarray(NS, dtype=float) ** 0.5, (4, 1))
    assert bootstrap_slope(NS, exact, rng, 200) == pytest.approx((0.5, 0.5))
    assert all(math.isnan(x) for x in bootstrap_slope(NS, exact[:1], rng, 200))


def test_bootstrap_interval_excludes_a_wrong_slope():
    v = noisy_power_law(0.8, 5, 0.02, seed=3)
    s = over_draws(NS, v, make_rng(4), 2000)
    assert ci_contains(s, 0.8) is True and ci_contains(s, 1.0) is False


def test_over_draws_summary():
    v = noisy_power_law(1.0, 3, 0.1)
    v[1, 0] = np.nan                      # a value that was not reached in one draw
    s = over_draws(NS, v, make_rng(0), 300)
    assert s["ns"] == NS and set(s["mean"]) == {str(n) for n in NS}
    assert s["mean"]["48"] == pytest.approx(np.nanmean(v[:, 0]))
    assert s["sd"]["64"] == pytest.approx(np.std(v[:, 1], ddof=1))
    assert len(s["slope_per_draw"]) == 3 and len(s["local_slopes"]) == len(NS) - 1
    assert s["slope_ci"][0] <= s["slope"] <= s["slope_ci"][1]
    one = over_draws(NS, v[:1], make_rng(0), 300)
    assert math.isnan(one["sd"]["48"]) and ci_contains(one, 1.0) is None
