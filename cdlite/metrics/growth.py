"""Time on a log axis: how fast f_mem grows with training steps, and when it has converged
(docs/design.md §5; issue 20).

Distilled longer, a student's f_mem keeps rising by about the same amount each time the number
of steps doubles (0.4 at 10k steps, 0.6 at 80k, 0.7 at 200k on the toy recipe). A straight line
in the step fitted over the last few evaluations cannot see this: on any spacing fine enough, its
slope is small. So time is read on a log axis:

    f_mem(t) ~ a + b log2(t)      over the trailing decade, the points with t >= t_last / 10,

and b, the change of f_mem per doubling of the steps, is the growth law's one number. It does not
depend on the unit of time: multiplying every step by c adds log2(c) to log2(t), which moves a and
leaves b and the window unchanged.

The one convergence rule: a curve has converged when doubling the steps changes f_mem by less
than `tol` (|b| < tol), or when the interval of b contains 0 (the data cannot tell b from 0).

The interval of b is a percentile bootstrap (Efron 1979):
- over seeds, when several curves are given: resample the seeds with replacement, average their
  slopes (run-to-run variation, what a reader cares about);
- over samples, for one curve: each point's f_mem is a fraction of n samples, so its sampling
  distribution is Binomial(n, f_mem) / n, the distribution `memorization.bootstrap_ci` draws from
  (curve points keep f_mem and its interval, not the per-sample flags, so we draw the counts).
  This interval holds the seed fixed: it is narrower than the one over seeds.

A curve is a list of evaluation points {"step": int, "f_mem": float, "n_samples": int, ...}
(the points of metrics["student_curve"]); `key` names the value, `n_samples` may be given for
points that do not say it. P below is the number of points in the trailing decade, S of seeds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cdlite.backend import make_rng
from cdlite.errors import CdliteError
from cdlite.metrics._checks import check_fraction, check_positive_int

GROWTH_TOL = 0.01     # f_mem change per doubling below which a curve has converged: < 0.033
#                       over a decade (3.3 doublings), about the old plateau test's +-0.03


def log_spaced_steps(budget: int, first: int = 64, min_points: int = 3) -> list[int]:
    """Evaluation steps first, 2 first, 4 first, ... below `budget`, then `budget` itself.

    `first` is a power of 2: before a few dozen steps the model is still its initialization and
    evaluations there only cost time. Raises CdliteError when fewer than `min_points` steps result
    (the growth law needs at least 3 to fit a line and see whether it fits)."""
    budget, first = int(budget), check_positive_int(first, "first")
    if first & (first - 1):
        raise CdliteError(f"first = {first} is not a power of 2; pass one such as 32, 64 or 128")
    powers = [first << k for k in range(max(budget, 1).bit_length()) if first << k < budget]
    steps = sorted(set(powers + [budget])) if budget >= 1 else []
    if len(steps) < min_points:
        need = first << (min_points - 2)   # first, ..., first 2^(min_points-2), then the end
        raise CdliteError(
            f"a budget of {budget} steps gives {len(steps)} log-spaced evaluation step(s) "
            f"{steps}, fewer than {min_points}: raise the budget to at least {need + 1} or lower "
            f"the first evaluation step (now {first})")
    return steps


def trailing_decade(steps) -> np.ndarray:
    """Mask of the steps in the trailing decade: step >= last step / 10 (and step > 0)."""
    steps = np.asarray(steps, dtype=float)
    return (steps >= steps.max() / 10) & (steps > 0)


def slopes_per_doubling(log2_steps, values):
    """Least-squares slope b of values ~ a + b log2(t); values (P,) or (R, P) for R refits."""
    u = log2_steps - log2_steps.mean()                            # (P,)
    return (np.asarray(values) @ u) / (u @ u)                     # () or (R,)


@dataclass(frozen=True)
class Growth:
    """The growth law of one curve or of several seeds, and the convergence rule's verdict."""
    slope: float                     # f_mem change per doubling of the steps (mean over seeds)
    interval: tuple[float, float]    # its percentile bootstrap interval at `level`
    converged: bool                  # |slope| < tol, or the interval contains 0
    tol: float
    level: float
    over: str                        # "seeds" or "samples": what the bootstrap resampled
    n_curves: int
    window: tuple[int, int]          # first and last step of the trailing decade (seed 0)
    n_points: int                    # evaluation points in that window (seed 0)
    statement: str                   # one sentence a report prints verbatim

    def to_dict(self) -> dict:
        return asdict(self)


def _window(curve, key: str, n_samples):
    """(log2 steps (P,), f_mem (P,), n (P,) or None, steps (P,)) of a curve's trailing decade."""
    if not curve:
        raise CdliteError("an empty curve was given: the growth law needs evaluation points "
                          "{'step', f_mem}; evaluate at log_spaced_steps(budget)")
    try:
        steps = np.array([float(p["step"]) for p in curve])
        values = np.array([float(p[key]) for p in curve])
    except (KeyError, TypeError) as e:
        raise CdliteError(f"a curve point lacks {e}: each point needs 'step' and {key!r}; "
                          f"pass key= the name the points use") from None
    keep = trailing_decade(steps) & np.isfinite(values)
    if np.unique(steps[keep]).size < 3:
        raise CdliteError(
            f"the trailing decade (steps >= {steps.max() / 10:g}) holds {int(keep.sum())} "
            f"point(s) with steps {steps[keep].astype(int).tolist()}: the growth law needs 3; "
            f"evaluate at log-spaced steps (log_spaced_steps(budget))")
    n = None
    if n_samples is not None or all("n_samples" in p for p in curve):
        n = np.array([n_samples if n_samples is not None else p["n_samples"] for p in curve])
        n = n[keep].astype(np.int64)
    return np.log2(steps[keep]), values[keep], n, steps[keep]


def growth(curves, key: str = "f_mem", tol: float = GROWTH_TOL, level: float = 0.95,
           n_boot: int = 2000, n_samples: int | None = None, rng=None) -> Growth:
    """The slope of f_mem per doubling of the steps over the trailing decade, its bootstrap
    interval (over seeds for several curves, over samples for one: module docstring) and the
    convergence rule. `curves` is one curve (a list of points) or a list of curves, one per seed;
    `n_samples` is the number of samples behind each f_mem, for points that do not store it."""
    if curves and isinstance(curves[0], dict):
        curves = [curves]
    if not curves:
        raise CdliteError("no curves given: pass one curve (a list of points) or one per seed")
    tol = float(tol)
    if not tol > 0:
        raise CdliteError(f"tol = {tol}: the change of f_mem per doubling below which a curve "
                          f"has converged must be positive; {GROWTH_TOL} is the default")
    level = check_fraction(level, "level")
    n_boot = check_positive_int(n_boot, "n_boot")
    rng = make_rng(0) if rng is None else rng
    windows = [_window(c, key, n_samples) for c in curves]
    slopes = np.array([slopes_per_doubling(lt, f) for lt, f, _, _ in windows])   # (S,)

    if len(curves) > 1:                      # resample seeds: the mean slope of S drawn seeds
        over = "seeds"
        draws = slopes[rng.integers(0, slopes.size, (n_boot, slopes.size))].mean(axis=1)
    else:                                    # resample samples: Binomial(n, f) / n per point
        over = "samples"
        log2_t, f, n, _ = windows[0]
        if n is None:
            raise CdliteError(
                "one curve was given and its points do not store n_samples: the interval over "
                "samples needs the number of samples behind each f_mem; pass n_samples= (the "
                "evaluation's sample count) or several seeds' curves")
        if not ((f >= 0) & (f <= 1)).all():
            raise CdliteError(f"{key} values {f.tolist()} are not all fractions in [0, 1]: the "
                              f"interval over samples draws them as Binomial(n, f) / n")
        f_draws = rng.binomial(n, f, size=(n_boot, f.size)) / n   # (n_boot, P)
        draws = slopes_per_doubling(log2_t, f_draws)
    lo, hi = (float(q) for q in np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]))
    slope = float(slopes.mean())
    converged = bool(abs(slope) < tol or lo <= 0.0 <= hi)
    steps0 = windows[0][3]
    window = (int(steps0.min()), int(steps0.max()))
    resampled = f"{len(curves)} seeds' curves" if over == "seeds" else "the samples of one seed"
    statement = (
        f"f_mem changes by {slope:+.3f} per doubling of the steps over steps {window[0]:,}-"
        f"{window[1]:,} ({level:.0%} interval {lo:+.3f} to {hi:+.3f}, bootstrap over "
        f"{resampled}), so it has {'' if converged else 'not '}converged by the rule: converged "
        f"when doubling the steps changes f_mem by less than {tol:g} or the interval of that "
        f"change contains 0.")
    return Growth(slope=slope, interval=(lo, hi), converged=converged, tol=tol, level=level,
                  over=over, n_curves=len(curves), window=window, n_points=int(steps0.size),
                  statement=statement)
