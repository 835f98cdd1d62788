"""cdlite.metrics: memorization, copy similarity, sample quality, generalization gap.

All metrics take NumPy or CuPy arrays of points (B, d) (images (B, h, w) are flattened) and
return plain Python numbers, lists or NumPy arrays, ready for JSON. The two reports are what a
run writes into metrics.json:

    memorization_report(samples, train)   f_mem with its bootstrap interval, coverage, ratios
    quality_report(samples, test)         energy distance, MMD, sliced W2, Frechet, precision/recall

The digits feature space (`digits_features`, cdlite.metrics.features) is imported lazily: it
trains a small classifier the first time it is asked for.
"""
from .copying import COPY_THRESHOLD, copy_similarity, max_cosine
from .distances import (energy_distance, frechet_distance, frechet_distance_gaussians,
                        median_bandwidth, mmd_rbf, precision_recall, sliced_wasserstein)
from .gap import generalization_gap
from .memorization import (MEM_THRESHOLD, bootstrap_ci, chance_level, coverage,
                           memorization_fraction, memorization_report, nn_ratios, ratio_histogram,
                           unique_points)
from .neighbors import kth_neighbor_distance, nearest_neighbors
from .quality import mean_loglik, quality_report


def digits_features(use_disk_cache: bool = True):
    """Feature map of the cached digits classifier; see cdlite.metrics.features."""
    from .features import digits_features as _digits_features
    return _digits_features(use_disk_cache)


def digits_classifier(use_disk_cache: bool = True):
    """The cached digits classifier (features, predict, accuracy); see cdlite.metrics.features."""
    from .features import digits_classifier as _digits_classifier
    return _digits_classifier(use_disk_cache)


__all__ = [
    "COPY_THRESHOLD",
    "MEM_THRESHOLD",
    "bootstrap_ci",
    "chance_level",
    "copy_similarity",
    "coverage",
    "digits_classifier",
    "digits_features",
    "energy_distance",
    "frechet_distance",
    "frechet_distance_gaussians",
    "generalization_gap",
    "kth_neighbor_distance",
    "max_cosine",
    "mean_loglik",
    "median_bandwidth",
    "memorization_fraction",
    "memorization_report",
    "mmd_rbf",
    "nearest_neighbors",
    "nn_ratios",
    "precision_recall",
    "quality_report",
    "ratio_histogram",
    "sliced_wasserstein",
    "unique_points",
]
