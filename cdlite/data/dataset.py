"""Datasets as the rest of cdlite sees them: a training set, a held-out set, and the data scale.

`make_dataset(name, n_train, ...)` is the one entry point. Whatever the source, the model's data
space is flat float32 vectors (n, d); images are flattened row by row and `to_images` undoes it.

- Toy data ("gaussians" and the 2-D shapes) comes from a generator: the training set and the
  test set are independent fresh draws, and `sample_true(m, rng)` gives more.
- Images ("digits", "mnist", "fashion-mnist") come from a fixed pool. Pixels are mapped linearly
  to [-1, 1] (digits: p / 8 - 1 for p in 0..16; MNIST: p / 127.5 - 1 for p in 0..255) and
  sigma_data = 0.5, the EDM convention for images in [-1, 1]. One seeded permutation of the pool
  gives the training set (its first n_train entries) and the test set (its last n_test entries),
  so for a fixed seed the training sets are nested as n_train grows and never meet the test set.
- "array" reads the user's .npy/.npz; values are used as they are unless `pixel_range=(lo, hi)`
  asks for the same [-1, 1] mapping as images.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..backend import make_rng
from ..errors import CdliteError
from .gaussians import GaussianMixture, circle_mixture
from .images import filter_classes, load_array, load_digits, load_idx_images
from .shapes import SHAPES

DEFAULT_N_TEST = 10_000  # held-out size when not given (capped by what an image pool has left)
IMAGE_SIGMA_DATA = 0.5  # EDM's sigma_data for images scaled to [-1, 1]

OPTIONS = {  # name -> the keyword options make_dataset accepts for it
    "gaussians": ("K", "d", "radius", "std", "mixture"),
    "two-moons": ("noise",),
    "rings": ("n_rings", "noise"),
    "swiss-roll": ("noise",),
    "checkerboard": ("n_cells", "noise"),
    "digits": ("classes",),
    "mnist": ("path", "labels_path", "downsample", "classes"),
    "fashion-mnist": ("path", "labels_path", "downsample", "classes"),
    "array": ("path", "key", "pixel_range", "sigma_data"),
}
DATASETS = tuple(OPTIONS)


@dataclass(frozen=True)
class Dataset:
    """A training set, a held-out set and what the model needs to know about the data.

    train (n, d) and test (m, d) are read-only float32 NumPy arrays in the model's data space.
    """

    name: str
    train: np.ndarray  # (n, d) float32
    test: np.ndarray  # (m, d) float32, disjoint from train
    image_shape: tuple | None  # (h, w) for images, None for vectors
    sigma_data: float  # data scale used by EDM preconditioning
    mixture: GaussianMixture | None = None  # exact density, for "gaussians"
    sample_true: Callable | None = None  # (m, rng) -> (m, d) float32 fresh true samples
    train_labels: np.ndarray | None = None  # (n,) int64 when the source has labels
    test_labels: np.ndarray | None = None  # (m,) int64
    info: dict = field(default_factory=dict)  # how it was made: seed, options, scaling

    def __post_init__(self):
        for part in ("train", "test"):
            a = getattr(self, part)
            if a.ndim != 2 or a.dtype != np.float32:
                raise CdliteError(f"Dataset.{part} must be a float32 (n, d) array, "
                                  f"got {a.dtype} {a.shape}")
            a.setflags(write=False)  # a dataset is shared by every stage of a run: no edits
        if self.train.shape[1] != self.test.shape[1]:
            raise CdliteError(f"train and test dimensions differ: {self.train.shape} vs "
                              f"{self.test.shape}")

    @property
    def n(self) -> int:
        return self.train.shape[0]

    @property
    def d(self) -> int:
        return self.train.shape[1]

    def to_images(self, x):
        """Reshape flat vectors (B, d) to images (B, h, w); NumPy or CuPy, values unchanged."""
        if self.image_shape is None:
            raise CdliteError(f"dataset {self.name!r} holds vectors, not images")
        return x.reshape(x.shape[0], *self.image_shape)


# --- the entry point ------------------------------------------------------------------------------

def make_dataset(name: str, n_train: int, n_test: int | None = None, seed: int = 0,
                 **options) -> Dataset:
    """Build dataset `name` with n_train training points and n_test held-out points.

    Names and their options are listed in OPTIONS; n_test defaults to 10,000 (capped by what is
    left of an image pool). The same name, sizes, seed and options always give the same arrays.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in OPTIONS:
        raise CdliteError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    unknown = sorted(set(options) - set(OPTIONS[key]))
    if unknown:
        raise CdliteError(f"dataset {key!r} does not take option(s) {unknown}; its options are "
                          f"{list(OPTIONS[key]) or 'none'}")
    if int(n_train) != n_train or n_train < 2:
        raise CdliteError(f"n_train must be an integer >= 2, got {n_train}")
    if n_test is not None and (int(n_test) != n_test or n_test < 1):
        raise CdliteError(f"n_test must be an integer >= 1, got {n_test}")
    n_train, n_test = int(n_train), None if n_test is None else int(n_test)
    info = {"name": key, "seed": seed, "options": {k: _plain(v) for k, v in options.items()}}

    if key == "gaussians":
        mixture = options.get("mixture")
        if mixture is None:
            mixture = circle_mixture(K=options.get("K", 8), radius=options.get("radius", 2.0),
                                     std=options.get("std", 0.3), d=options.get("d", 2))
        return _from_generator(key, mixture.sample, n_train, n_test, seed, info,
                               sigma_data=mixture.data_std(), mixture=mixture)
    if key in SHAPES:
        def sample(m, rng):
            return SHAPES[key](m, rng, **options)

        # The scale of the distribution itself, not of this (maybe tiny) training set: a fixed
        # Monte Carlo estimate, the same for every seed and n_train.
        sigma_data = _rms_std(sample(100_000, make_rng(12345)))
        return _from_generator(key, sample, n_train, n_test, seed, info, sigma_data=sigma_data)

    if key == "digits":
        images, labels = load_digits()
        images, labels = filter_classes(images, labels, options.get("classes"), source="digits")
        info["scaling"] = "pixel p in 0..16 -> p / 8 - 1 in [-1, 1]"
        return _from_pool(key, images, labels, n_train, n_test, seed, info, pixel_range=(0, 16))
    if key in ("mnist", "fashion-mnist"):
        if options.get("path") is None:
            raise CdliteError(f"dataset {key!r} needs path=... to an IDX images file (e.g. "
                              f"train-images-idx3-ubyte.gz), and labels_path=... for classes")
        images, labels = load_idx_images(options["path"], options.get("labels_path"),
                                         downsample=options.get("downsample", 1),
                                         classes=options.get("classes"))
        info["scaling"] = "pixel p in 0..255 -> p / 127.5 - 1 in [-1, 1]"
        return _from_pool(key, images, labels, n_train, n_test, seed, info, pixel_range=(0, 255))
    # key == "array"
    if options.get("path") is None:
        raise CdliteError("dataset 'array' needs path=... to a .npy or .npz file")
    data = load_array(options["path"], options.get("key"))
    return _from_pool(key, data, None, n_train, n_test, seed, info,
                      pixel_range=options.get("pixel_range"), sigma_data=options.get("sigma_data"))


# --- builders -------------------------------------------------------------------------------------

def _from_generator(name, sample, n_train, n_test, seed, info, sigma_data, mixture=None):
    """Train and test as independent draws: one seed, two child streams (numpy SeedSequence)."""
    n_test = DEFAULT_N_TEST if n_test is None else n_test
    rng_train, rng_test = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    def sample_true(m, rng):
        return sample(m, rng).astype(np.float32)

    train, test = sample_true(n_train, rng_train), sample_true(n_test, rng_test)
    for part, a in (("train", train), ("test", test)):
        _check_finite(a, f"{name} {part} samples")
    info.update(n_train=n_train, n_test=n_test, source="generator")
    return Dataset(name, train, test, None, float(sigma_data), mixture, sample_true, info=info)


def _from_pool(name, data, labels, n_train, n_test, seed, info, pixel_range=None,
               sigma_data=None):
    """Split a fixed pool (N, d) or (N, h, w): train = perm[:n_train], test = perm[N - n_test:]."""
    if data.ndim not in (2, 3) or data.shape[0] == 0 or int(np.prod(data.shape[1:])) == 0:
        raise CdliteError(f"{name}: no data to use (array of shape {data.shape}); expected "
                          f"(n, d) vectors or (n, h, w) images with n >= 2")
    _check_finite(data, name)
    N = data.shape[0]
    image_shape = tuple(data.shape[1:]) if data.ndim == 3 else None
    if n_train >= N:
        raise CdliteError(f"{name}: n_train = {n_train} but only {N} points are available, and "
                          f"at least 1 must stay held out; use n_train <= {N - 1}")
    n_test = min(DEFAULT_N_TEST, N - n_train) if n_test is None else n_test
    if n_train + n_test > N:
        raise CdliteError(f"{name}: n_train + n_test = {n_train + n_test} but only {N} points "
                          f"are available; lower n_test to at most {N - n_train}")
    x = data.reshape(N, -1).astype(np.float32)  # (N, d)
    if pixel_range is not None:
        lo, hi = (float(v) for v in pixel_range)
        if not hi > lo:
            raise CdliteError(f"{name}: pixel_range must be (low, high) with high > low, "
                              f"got {pixel_range}")
        x = (2.0 * (x - lo) / (hi - lo) - 1.0).astype(np.float32)  # [lo, hi] -> [-1, 1]
        sigma_data = IMAGE_SIGMA_DATA if sigma_data is None else sigma_data
    perm = make_rng(seed).permutation(N)
    train_idx, test_idx = perm[:n_train], perm[N - n_test:]
    if sigma_data is None:  # no known scale: estimate it from the training set only
        sigma_data = _rms_std(x[train_idx])
        if not sigma_data > 0:
            raise CdliteError(f"{name}: the training points are all identical (std 0); "
                              f"pass sigma_data=... or use more varied data")
    info.update(n_train=n_train, n_test=n_test, pool_size=N, source="pool",
                sigma_data_measured=_rms_std(x[train_idx]))
    pick = (lambda idx: None) if labels is None else (lambda idx: labels[idx].astype(np.int64))
    return Dataset(name, x[train_idx], x[test_idx], image_shape, float(sigma_data),
                   train_labels=pick(train_idx), test_labels=pick(test_idx), info=info)


# --- small helpers --------------------------------------------------------------------------------

def _rms_std(x) -> float:
    """sqrt(mean over coordinates of the per-coordinate variance) = sqrt(trace(Cov) / d)."""
    return float(math.sqrt(np.mean(np.var(x.astype(np.float64), axis=0))))


def _check_finite(a, what):
    bad = ~np.isfinite(a)
    if bad.any():
        first = np.argwhere(bad)[0].tolist()
        raise CdliteError(f"{what}: {int(bad.sum())} value(s) are NaN or inf (first at index "
                          f"{first}); clean the data first")


def _plain(v):
    """Option values as JSON-friendly objects, for the record of how a dataset was made."""
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(u) for u in v]
    return str(v) if hasattr(v, "__fspath__") else repr(v)
