"""Evaluation of a set of samples: memorization (with chance level and coverage) and quality.

These are the rows of the run's summary table and the points of its training curves.
"""
from __future__ import annotations

from ..backend import array_module, to_numpy
from ..metrics import generalization_gap, memorization_report
from ..metrics.scores import curve_keys, quality_scores

CURVE_BOOT = 200  # bootstrap resamples of the intervals at a curve point (many points, cheap)

# per-sample lists are kept in samples.npz (and recomputed for figures), not in metrics.json
_LIST_KEYS = ("ratio", "d1")

def once_per_array(features):
    """The feature map, computed once per array within one evaluation: the memorization
    figures (copy similarity) and the quality figures (Frechet distance) both ask for the
    samples' features. Arrays are recognised by identity and kept alive while the map is."""
    seen = {}

    def cached(a):
        if id(a) not in seen:
            seen[id(a)] = (a, features(a))  # holding `a` keeps its id from being reused
        return seen[id(a)][1]
    return cached


def evaluate_samples(x, ds, cfg, rng, features=None, nfe=None, steps=None,
                     quality_points: int = 2000) -> dict:
    """Memorization and quality figures of samples x (m, d) for the summary table."""
    x = to_numpy(x)
    features = once_per_array(features) if features is not None else None
    mem = memorization_report(x, ds.train, cfg.eval.threshold, cfg.eval.n_boot, rng,
                              features=features)
    row = {k: v for k, v in mem.items() if k not in _LIST_KEYS}
    if steps is not None:
        row["steps"] = steps
    if nfe is not None:
        row["nfe"] = nfe
    row["quality"] = quality_scores(x, ds.test, mixture=ds.mixture, features=features, rng=rng,
                                    max_points=quality_points)
    return row

def curve_point(x, ds, cfg, rng, denoise=None, features=None) -> dict:
    """One point of a training curve: f_mem, coverage, a few quality figures (with `features`,
    images: the Frechet distance in that feature space too), generalization gap."""
    mem = memorization_report(to_numpy(x), ds.train, cfg.eval.threshold, CURVE_BOOT, rng)
    q = quality_scores(to_numpy(x), ds.test, mixture=ds.mixture, rng=rng, features=features,
                       max_points=min(cfg.eval.n_curve, 1000))
    keep = curve_keys()  # the registry's on_curve scores (cdlite.metrics.scores)
    point = {"f_mem": mem["f_mem"], "f_mem_ci": mem["f_mem_ci"], "n_samples": mem["n_samples"],
             "coverage": mem["coverage"], "quality": {k: q[k] for k in keep if k in q}}
    if denoise is not None:
        # the denoiser lives on the samples' device: so must the points it is given
        xp = array_module(x)
        test = xp.asarray(ds.test[: max(ds.n, 256)])  # held out, of comparable size: cheap
        gap = generalization_gap(denoise, xp.asarray(ds.train), test, cfg.eval.gap_sigmas, rng,
                                 n_noise=cfg.eval.gap_noise)
        point["gen_gap"] = gap["mean_gap"]
        point["gen_gap_per_sigma"] = gap["gap"]
    return point
