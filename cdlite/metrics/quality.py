"""Sample quality: log-likelihood under a known density and distances to a held-out test set.

`quality_report` gathers the figures of docs/design.md §5.5 into one JSON-ready dict that the
run pipeline drops into metrics.json. It is called many times per run (at checkpoints), so the
O(m n) figures (energy distance, MMD, precision/recall) use random subsets of at most
`max_points` points of each set; the O(m) ones (sliced Wasserstein, Frechet) use all points.
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import make_rng, to_numpy
from cdlite.errors import CdliteError
from cdlite.metrics._checks import as_pair, as_points, subsample
from cdlite.metrics.distances import (energy_and_mmd, frechet_distance, precision_recall,
                                      sliced_wasserstein)


def mean_loglik(samples, mixture) -> float:
    """Mean log-likelihood (1/m) sum_i log p(x_i) of samples under a known density.

    `mixture` is anything with `log_density(x) -> (m,)`, e.g. cdlite.data.gaussians's
    GaussianMixture (exact density of the data). Compare with the same figure for fresh true
    samples: a model that collapses onto the modes can score *above* it.
    """
    x = as_points(samples, "samples")
    if not hasattr(mixture, "log_density"):
        raise CdliteError(f"mixture of type {type(mixture).__name__} has no log_density(x); "
                          f"pass a GaussianMixture (cdlite.data.gaussians) or None")
    logp = np.asarray(to_numpy(mixture.log_density(x)), dtype=np.float64).ravel()  # (m,)
    if logp.shape[0] != x.shape[0]:
        raise CdliteError(f"mixture.log_density returned {logp.shape[0]} values for "
                          f"{x.shape[0]} samples; it must return one per sample")
    return float(logp.mean())


def quality_report(samples, test, mixture=None, features=None, rng=None,
                   max_points: int = 2000, k: int = 3):
    """Quality figures of `samples` against a held-out `test` set, as plain floats.

    Keys always present:
      n_samples, n_test, subsample (= max_points),
      energy_distance      unbiased energy distance (subsets of <= max_points per set),
      mmd2_rbf, mmd_bandwidth  unbiased squared MMD, Gaussian kernel, median-distance bandwidth
                           (same subsets),
      sliced_wasserstein   SW2 with 128 random directions (all points),
      frechet              Frechet distance of means and covariances in the data space (all),
      precision, recall    k-NN precision/recall, k = 3 (same subsets).
    With `mixture` (has log_density): loglik (samples) and loglik_ref (the test set, which for
    a mixture should be fresh true samples). With `features` (callable (B, d) -> (B, f), e.g.
    `digits_features()`): frechet_features, the Frechet distance in that feature space ("FID").
    rng: numpy Generator for the subsets and directions (default seed 0: same figures for the
    same inputs).
    """
    _, x, y = as_pair(samples, test, "samples", "test", min_x=k + 1, min_a=k + 1)
    rng = make_rng(0) if rng is None else rng
    xs, ys = subsample(x, max_points, rng), subsample(y, max_points, rng)
    energy, mmd2, h = energy_and_mmd(xs, ys, rng=rng)  # one pass over the pairs for both
    precision, recall = precision_recall(xs, ys, k=k)
    out = {"n_samples": int(x.shape[0]), "n_test": int(y.shape[0]), "subsample": int(max_points),
           "energy_distance": energy, "mmd2_rbf": mmd2, "mmd_bandwidth": h,
           "sliced_wasserstein": sliced_wasserstein(x, y, rng=rng),
           "frechet": frechet_distance(x, y), "precision": precision, "recall": recall}
    if mixture is not None:
        out["loglik"] = mean_loglik(x, mixture)
        out["loglik_ref"] = mean_loglik(y, mixture)
    if features is not None:
        out["frechet_features"] = frechet_distance(features(x), features(y))
    return out
