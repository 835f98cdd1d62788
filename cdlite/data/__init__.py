"""cdlite.data: toy distributions with exact densities, 2-D shapes, small images, train/test splits.

The public names below are the whole interface the other packages use; `make_dataset` is the
usual entry point.
"""
from .dataset import (DATASETS, IMAGE_SIGMA_DATA, AnyData, ArrayFile, Checkerboard, DataConfig,
                      Dataset, Digits, FashionMNIST, Gaussians, MNIST, Rings, SwissRoll, TwoMoons,
                      make_dataset)
from .gaussians import GaussianMixture, circle_mixture, random_mixture
from .images import avg_pool, load_array, load_digits, load_idx_images, read_idx
from .shapes import SHAPES, checkerboard, rings, swiss_roll, two_moons

__all__ = [
    "AnyData",
    "ArrayFile",
    "Checkerboard",
    "DataConfig",
    "Digits",
    "FashionMNIST",
    "Gaussians",
    "MNIST",
    "Rings",
    "SwissRoll",
    "TwoMoons",
    "DATASETS",
    "IMAGE_SIGMA_DATA",
    "SHAPES",
    "Dataset",
    "GaussianMixture",
    "avg_pool",
    "checkerboard",
    "circle_mixture",
    "load_array",
    "load_digits",
    "load_idx_images",
    "make_dataset",
    "random_mixture",
    "read_idx",
    "rings",
    "swiss_roll",
    "two_moons",
]
