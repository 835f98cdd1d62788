"""The registry of quality scores: one row per score serves the whole house.

The evaluation computes the scores that apply to a run's data and keeps the `on_curve` ones at
every curve point; the report's summary table has a column per score; the curves figure, the
memorization-quality frontier (cdlite.experiments.curves), its figures and sweep.csv judge the
`frontier` scores, each in its own direction. So a new score is one function plus one row:

    def mean_norm(x, test, mixture, features, rng) -> float:   # x (m, d), test (n, d)
        return float(np.linalg.norm(x, axis=1).mean())
    register(Score("mean_norm", -1, "mean distance to the origin", "|x|", "all",
                   compute=mean_norm))

The built-in scores are computed together by cdlite.metrics.quality.quality_report, which
shares its random subsets between them (compute=None); a registered score with a `compute`
function is evaluated after them, on the same samples.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .quality import quality_report

DATA_KINDS = ("all", "mixture", "features")


@dataclass(frozen=True)
class Score:
    """One quality score, as every reader of metrics.json needs to know it."""
    key: str                  # its key in a row's "quality" dict, in curves and in sweep.csv
    direction: int            # +1: higher is better; -1: lower is better
    label: str                # for people: figure axes and report sentences
    column: str               # its short title in the summary table
    data: str                 # which data has it: "all"; "mixture" (a known density);
    #                           "features" (images: a classifier's feature space)
    on_curve: bool = True     # measured at every curve point, not only on the final rows
    frontier: bool = False    # judged on the memorization-quality frontier (and in sweep.csv)
    compute: Callable | None = None  # (x, test, mixture, features, rng) -> float;
    #                                  None: quality_report computes it


SCORES: dict[str, Score] = {}


def register(score: Score) -> Score:
    """Add a score (or replace the one with its key); returns it."""
    if score.direction not in (+1, -1) or score.data not in DATA_KINDS:
        raise ValueError(f"score {score.key!r}: direction must be +1 or -1 and data one of "
                         f"{DATA_KINDS}")
    SCORES[score.key] = score
    return score


for _score in (
        Score("loglik", +1, "log-likelihood under the true density", "loglik", "mixture",
              frontier=True),
        Score("energy_distance", -1, "energy distance to held-out data", "energy", "all",
              frontier=True),
        Score("sliced_wasserstein", -1, "sliced Wasserstein-2 distance to held-out data", "SW2",
              "all"),
        Score("frechet_features", -1, "Frechet distance in classifier features", "FD(feat)",
              "features", frontier=True),
        Score("precision", +1, "k-NN precision", "prec", "all"),
        Score("recall", +1, "k-NN recall", "rec", "all")):
    register(_score)


def applies(score: Score, mixture, features) -> bool:
    """Does the score exist for this data (a known density? a feature space?)?"""
    return {"all": True, "mixture": mixture is not None,
            "features": features is not None}[score.data]


def quality_scores(x, test, mixture=None, features=None, rng=None,
                   max_points: int = 2000) -> dict:
    """Every score that applies to the data, for samples x against held-out `test`: the
    quality_report figures, then each registered score with its own function."""
    out = quality_report(x, test, mixture=mixture, features=features, rng=rng,
                         max_points=max_points)
    for s in SCORES.values():
        if s.compute is not None and applies(s, mixture, features):
            out[s.key] = float(s.compute(x, test, mixture=mixture, features=features, rng=rng))
    return out


def curve_keys() -> list[str]:
    """The scores a curve point keeps, in registry order."""
    return [s.key for s in SCORES.values() if s.on_curve]


def frontier_keys(have) -> list[str]:
    """The frontier's scores among the keys `have` (a row's quality), in registry order. A
    score on a feature space replaces the data-space ones: images are judged in a classifier's
    features, not in pixels."""
    keys = [s.key for s in SCORES.values() if s.frontier and s.key in have]
    return [k for k in keys if SCORES[k].data == "features"] or keys


def table_columns() -> list[tuple[str, str]]:
    """(key, column title) of every score, in registry order: the summary table's columns."""
    return [(s.key, s.column) for s in SCORES.values()]
