"""The growth law of f_mem on a log time axis and the one convergence rule, with known answers."""
import numpy as np
import pytest

from cdlite.errors import CdliteError
from cdlite.metrics.growth import GROWTH_TOL, growth, log_spaced_steps, slopes_per_doubling


def curve(steps, values, n=None):
    return [{"step": int(t), "f_mem": float(v), **({"n_samples": n} if n else {})}
            for t, v in zip(steps, values)]


def binomial_curve(steps, p, n, rng):
    """f_mem as a fraction of n samples memorized with probability p(t)."""
    return curve(steps, rng.binomial(n, np.clip(p, 0, 1)) / n, n)


# --- log-spaced steps ---------------------------------------------------------------------------

def test_log_spaced_steps_are_powers_of_two_then_the_end():
    assert log_spaced_steps(150) == [64, 128, 150]
    assert log_spaced_steps(1024, first=128) == [128, 256, 512, 1024]   # the end once
    steps = log_spaced_steps(128_000)
    assert steps[0] == 64 and steps[-1] == 128_000 and steps == sorted(set(steps))
    assert all(t & (t - 1) == 0 for t in steps[:-1])


@pytest.mark.parametrize("budget", [128, 100, 0])
def test_too_small_budget_is_one_actionable_line(budget):
    with pytest.raises(CdliteError) as e:
        log_spaced_steps(budget)
    msg = str(e.value)
    assert "\n" not in msg and str(budget) in msg and "at least 129" in msg


def test_first_must_be_a_power_of_two():
    with pytest.raises(CdliteError, match="power of 2"):
        log_spaced_steps(10_000, first=100)


def test_trailing_decade_of_log_spaced_steps_always_holds_three_points():
    for budget in (129, 150, 1000, 1024, 5000, 128_000, 200_000):
        steps = log_spaced_steps(budget)
        assert sum(t >= budget / 10 for t in steps) >= 3


# --- the slope per doubling -----------------------------------------------------------------------

def test_slope_of_a_plus_b_log2_t_is_b_and_not_converged():
    steps = log_spaced_steps(200_000, first=1024)
    g = growth(curve(steps, 0.3 + 0.06 * (np.log2(steps) - 15)), n_samples=1000)
    assert g.slope == pytest.approx(0.06, abs=1e-12)
    assert not g.converged and g.interval[0] > 0
    assert g.window == (32_768, 200_000) and g.n_points == 4   # steps >= 20,000
    assert "not converged" in g.statement and f"{GROWTH_TOL:g}" in g.statement


def test_only_the_trailing_decade_is_fitted():
    """A curve flat after a fast rise: the early rise is outside the window."""
    steps = log_spaced_steps(128_000)
    values = np.where(np.asarray(steps) < 10_000, 0.05 * np.log2(steps), 0.7)
    g = growth(curve(steps, values, 500))
    assert g.slope == pytest.approx(0.0, abs=1e-12) and g.converged


def test_flat_noisy_curve_is_converged():
    rng = np.random.default_rng(0)
    steps = log_spaced_steps(128_000)
    g = growth(binomial_curve(steps, np.full(len(steps), 0.6), 500, rng))
    assert g.converged and g.interval[0] <= 0 <= g.interval[1]
    assert "so it has converged" in g.statement


def test_curve_linear_in_t_is_not_converged_though_a_linear_window_accepts_it():
    """f_mem = 0.4 + 0.3 t / T: the old test (a line in t over the last 5 evaluations, every
    T/100 steps, change within 0.03) accepts it; on the log axis it still grows."""
    T = 100_000
    uniform = np.arange(1, 101) * (T // 100)
    tail = uniform[-5:]
    change = np.polyfit(tail, 0.4 + 0.3 * tail / T, 1)[0] * (tail[-1] - tail[0])
    assert abs(change) <= 0.03                                     # the linear window accepts
    for first in (64, 1024, 4096):                              # fine and coarse log grids
        steps = np.asarray(log_spaced_steps(T, first=first))
        g = growth(curve(steps, 0.4 + 0.3 * steps / T, 500))
        assert not g.converged and g.slope > 0.05


def test_rule_is_invariant_to_the_unit_of_time():
    rng = np.random.default_rng(1)
    steps = np.asarray(log_spaced_steps(64_000))
    c = binomial_curve(steps, 0.2 + 0.03 * np.log2(steps), 400, rng)
    for scale in (3, 10, 1000):
        scaled = [{**p, "step": p["step"] * scale} for p in c]
        a, b = growth(c, rng=np.random.default_rng(5)), growth(scaled, rng=np.random.default_rng(5))
        assert a.slope == pytest.approx(b.slope, rel=1e-12)
        assert a.interval == pytest.approx(b.interval, rel=1e-9)
        assert a.converged == b.converged and a.n_points == b.n_points


def test_interval_over_samples_covers_the_true_slope_in_most_replicates():
    """200 synthetic single-seed curves with binomial noise: the 95% interval holds b = 0.04
    in about 95% of them (one seed's noise is exactly the binomial one here)."""
    rng = np.random.default_rng(2)
    steps = np.asarray(log_spaced_steps(128_000))
    p = 0.1 + 0.04 * np.log2(steps)
    hits = [growth(binomial_curve(steps, p, 300, rng), n_boot=500, rng=rng).interval
            for _ in range(200)]
    coverage = np.mean([lo <= 0.04 <= hi for lo, hi in hits])
    assert 0.85 <= coverage <= 1.0


def test_interval_over_seeds_covers_the_true_slope_in_most_replicates():
    """Seeds differ by an offset and a slope (sd 0.01) besides binomial noise: resampling 8
    seeds' slopes covers the mean slope 0.05 in most of 100 replicates."""
    rng = np.random.default_rng(3)
    steps = np.asarray(log_spaced_steps(128_000))

    def seeds(S=8):
        return [binomial_curve(steps, rng.normal(0, 0.05) + rng.normal(0.05, 0.01)
                               * (np.log2(steps) - 8), 500, rng) for _ in range(S)]
    results = [growth(seeds(), n_boot=500, rng=rng) for _ in range(100)]
    assert all(g.over == "seeds" and g.n_curves == 8 for g in results)
    coverage = np.mean([g.interval[0] <= 0.05 <= g.interval[1] for g in results])
    assert 0.75 <= coverage <= 1.0
    assert not any(g.converged for g in results)


def test_slopes_per_doubling_fits_many_rows_at_once():
    u = np.log2([1000.0, 2000, 4000, 8000])
    rows = np.array([1 + 0.5 * u, 3 - 0.2 * u])
    np.testing.assert_allclose(slopes_per_doubling(u, rows), [0.5, -0.2])


# --- bad input ----------------------------------------------------------------------------------

def test_one_curve_without_sample_counts_says_what_to_pass():
    steps = log_spaced_steps(10_000)
    with pytest.raises(CdliteError, match="n_samples="):
        growth(curve(steps, np.full(len(steps), 0.5)))


def test_too_few_points_in_the_trailing_decade():
    with pytest.raises(CdliteError, match="trailing decade"):
        growth(curve([100, 200, 300, 400, 5000], [0.1, 0.2, 0.3, 0.4, 0.5], 100))


def test_values_outside_0_1_are_refused_for_the_interval_over_samples():
    steps = log_spaced_steps(1000)
    with pytest.raises(CdliteError, match="fractions"):
        growth(curve(steps, [0.1, 0.2, 0.3, 0.4, 1.5], 100))


def test_points_missing_the_key_name_it():
    with pytest.raises(CdliteError, match="'f_mem'"):
        growth([{"step": 1, "mem_frac": 0.3}])
    steps = log_spaced_steps(1000)
    c = [{"step": t, "f_mem": 0.3, "n_samples": 100} for t in steps]
    assert growth(c, key="f_mem").converged


def test_result_is_json_ready():
    import json
    steps = log_spaced_steps(1000)
    g = growth(curve(steps, [0.1, 0.2, 0.3, 0.35, 0.4], 200))
    d = json.loads(json.dumps(g.to_dict()))
    assert set(d) >= {"slope", "interval", "converged", "statement", "tol", "over"}
