"""Datasets as the rest of cdlite sees them: a training set, a held-out set, and the data scale.

Each dataset is a config class (`DATASETS[name]`: its options, declared once, checked once) whose
`build(seed)` makes the Dataset; `make_dataset(name, n_train, ...)` is the short way to call it.
Whatever the source, the model's data space is flat float32 vectors (n, d); images are flattened
row by row and `to_images` undoes it.

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
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Literal, Union

import numpy as np

from ..backend import make_rng
from ..config import Config, at_least, positive
from ..errors import CdliteError
from .gaussians import GaussianMixture, circle_mixture
from .images import filter_classes, load_array, load_digits, load_idx_images
from .shapes import SHAPES

DEFAULT_N_TEST = 10_000  # held-out size when not given (capped by what an image pool has left)
IMAGE_SIGMA_DATA = 0.5  # EDM's sigma_data for images scaled to [-1, 1]


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


# --- the datasets and their options: one config class each --------------------------------------

@dataclass(frozen=True)
class DataConfig(Config):
    """What every dataset has: a name, n_train training points and n_test held-out points."""
    name: str = ""                # each dataset's tag (data.name in a run config)
    n_train: int = 16             # n, the training-set size (small: memorization needs it)
    n_test: int = 2000            # held-out points (fresh true samples for toy data); 0 = all
    #                               that an image pool has left, at most 10,000

    def check(self):
        yield from at_least(self, 2, "n_train")
        yield from at_least(self, 0, "n_test")

    def build(self, seed: int) -> Dataset:
        raise NotImplementedError


@dataclass(frozen=True)
class Gaussians(DataConfig):
    """K isotropic Gaussians with means on a circle, with exact density, score and denoiser."""
    name: Literal["gaussians"] = "gaussians"
    K: int = 8                    # number of components
    d: int = 2                    # data dimension (the circle lies in the first two)
    radius: float = 2.0           # radius of the circle of means
    std: float = 0.3              # standard deviation of each component

    def check(self):
        yield from super().check()
        yield from at_least(self, 1, "K", "d")
        yield from positive(self, "radius", "std")

    def build(self, seed: int, mixture=None) -> Dataset:
        mixture = mixture or circle_mixture(K=self.K, radius=self.radius, std=self.std, d=self.d)
        return _from_generator(self, mixture.sample, seed, sigma_data=mixture.data_std(),
                               mixture=mixture)


@dataclass(frozen=True)
class Shape2D(DataConfig):
    """A 2-D shape of cdlite.data.shapes, drawn fresh for train and test."""
    noise: float = 0.05           # std of the Gaussian jitter of every coordinate

    def check(self):
        yield from super().check()
        yield from at_least(self, 0, "noise")

    def build(self, seed: int) -> Dataset:
        options = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name not in ("name", "n_train", "n_test")}

        def sample(m, rng):
            return SHAPES[self.name](m, rng, **options)

        # The scale of the distribution itself, not of this (maybe tiny) training set: a fixed
        # Monte Carlo estimate, the same for every seed and n_train.
        sigma_data = _rms_std(sample(100_000, make_rng(12345)))
        return _from_generator(self, sample, seed, sigma_data=sigma_data)


@dataclass(frozen=True)
class TwoMoons(Shape2D):
    name: Literal["two-moons"] = "two-moons"


@dataclass(frozen=True)
class Rings(Shape2D):
    name: Literal["rings"] = "rings"
    n_rings: int = 3              # concentric rings


@dataclass(frozen=True)
class SwissRoll(Shape2D):
    name: Literal["swiss-roll"] = "swiss-roll"


@dataclass(frozen=True)
class Checkerboard(Shape2D):
    name: Literal["checkerboard"] = "checkerboard"
    n_cells: int = 4              # cells per side


@dataclass(frozen=True)
class Digits(DataConfig):
    """The 8x8 digits shipped with cdlite (1,797 images), pixels mapped to [-1, 1]."""
    name: Literal["digits"] = "digits"
    n_test: int = 500
    classes: tuple[int, ...] = ()  # keep only these labels (empty = all)

    def build(self, seed: int) -> Dataset:
        images, labels = load_digits()
        images, labels = filter_classes(images, labels, self.classes or None, source="digits")
        scaling = "pixel p in 0..16 -> p / 8 - 1 in [-1, 1]"
        return _from_pool(self, images, labels, seed, scaling, pixel_range=(0, 16))


@dataclass(frozen=True)
class MNIST(DataConfig):
    """MNIST-format IDX files from disk (nothing is downloaded), pixels mapped to [-1, 1]."""
    name: Literal["mnist"] = "mnist"
    path: str = ""                # the IDX images file, e.g. train-images-idx3-ubyte.gz
    labels_path: str = ""         # the IDX labels file (needed for classes)
    downsample: int = 1           # average-pool factor (2: 28x28 -> 14x14)
    classes: tuple[int, ...] = ()  # keep only these labels (empty = all)

    def check(self):
        yield from super().check()
        yield from at_least(self, 1, "downsample")
        if not self.path:
            yield (f"path='' (dataset {self.name!r} needs path=... to an IDX images file, e.g. "
                   "train-images-idx3-ubyte.gz, and labels_path=... for classes)")

    def build(self, seed: int) -> Dataset:
        images, labels = load_idx_images(self.path, self.labels_path or None,
                                         downsample=self.downsample,
                                         classes=self.classes or None)
        scaling = "pixel p in 0..255 -> p / 127.5 - 1 in [-1, 1]"
        return _from_pool(self, images, labels, seed, scaling, pixel_range=(0, 255))


@dataclass(frozen=True)
class FashionMNIST(MNIST):
    name: Literal["fashion-mnist"] = "fashion-mnist"


@dataclass(frozen=True)
class ArrayFile(DataConfig):
    """Your own .npy/.npz of (n, d) vectors or (n, h, w) images, used as they are unless
    pixel_range asks for the [-1, 1] mapping of images."""
    name: Literal["array"] = "array"
    path: str = ""                # the .npy or .npz file
    key: str = ""                 # which array of an .npz (may be left out if it holds one)
    pixel_range: tuple[float, ...] = ()  # (low, high) of the pixels, mapped to [-1, 1]
    # (the data scale is measured on the training set; the run's one setting that overrides it
    # is diffusion.sigma_data)

    def check(self):
        yield from super().check()
        if not self.path:
            yield "path='' (dataset 'array' needs path=... to a .npy or .npz file)"
        if self.pixel_range and len(self.pixel_range) != 2:
            yield f"pixel_range={list(self.pixel_range)} (give (low, high), or () for none)"

    def build(self, seed: int) -> Dataset:
        data = load_array(self.path, self.key or None)
        return _from_pool(self, data, None, seed, None, pixel_range=self.pixel_range or None)


DATASETS = {cls.name: cls for cls in (Gaussians, TwoMoons, Rings, SwissRoll, Checkerboard,
                                      Digits, MNIST, FashionMNIST, ArrayFile)}
AnyData = Union[tuple(DATASETS.values())]  # the `data` section of a run config


def make_dataset(name: str, n_train: int, n_test: int | None = None, seed: int = 0,
                 **options) -> Dataset:
    """Build dataset `name` with n_train training points and n_test held-out points.

    The options are the fields of its config class (DATASETS[name]); n_test defaults to 10,000
    (capped by what is left of an image pool). `mixture=` (gaussians) replaces the circle by any
    GaussianMixture. The same name, sizes, seed and options always give the same arrays.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise CdliteError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    cls = DATASETS[key]
    mixture = options.pop("mixture", None) if key == "gaussians" else None
    allowed = [f.name for f in fields(cls) if f.name not in ("name", "n_train", "n_test")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise CdliteError(f"dataset {key!r} does not take option(s) {unknown}; its options are "
                          f"{allowed or 'none'}")
    if isinstance(n_train, bool) or int(n_train) != n_train or n_train < 2:
        raise CdliteError(f"n_train must be an integer >= 2, got {n_train}")
    if n_test is not None and (isinstance(n_test, bool) or int(n_test) != n_test or n_test < 1):
        raise CdliteError(f"n_test must be an integer >= 1, got {n_test}")
    plain = {k: (os.fspath(v) if hasattr(v, "__fspath__") else
                 tuple(v) if isinstance(v, list) else v) for k, v in options.items()}
    cfg = cls(n_train=int(n_train), n_test=0 if n_test is None else int(n_test), **plain)
    return cfg.build(seed, mixture=mixture) if mixture is not None else cfg.build(seed)


# --- builders -------------------------------------------------------------------------------------

def _info(cfg: DataConfig, seed: int) -> dict:
    """How the dataset was made: its config and seed (plain values, for metrics.json)."""
    return {"seed": seed, **{f.name: getattr(cfg, f.name) for f in fields(cfg)}}


def _from_generator(cfg: DataConfig, sample, seed: int, sigma_data: float, mixture=None):
    """Train and test as independent draws: one seed, two child streams (numpy SeedSequence)."""
    n_train, n_test = cfg.n_train, cfg.n_test or DEFAULT_N_TEST
    rng_train, rng_test = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    def sample_true(m, rng):
        return sample(m, rng).astype(np.float32)

    train, test = sample_true(n_train, rng_train), sample_true(n_test, rng_test)
    for part, a in (("train", train), ("test", test)):
        _check_finite(a, f"{cfg.name} {part} samples")
    info = {**_info(cfg, seed), "n_test": n_test, "source": "generator"}
    return Dataset(cfg.name, train, test, None, float(sigma_data), mixture, sample_true,
                   info=info)


def _from_pool(cfg: DataConfig, data, labels, seed: int, scaling: str | None, pixel_range=None):
    """Split a fixed pool (N, d) or (N, h, w): train = perm[:n_train], test = perm[N - n_test:]."""
    name, n_train = cfg.name, cfg.n_train
    if data.ndim not in (2, 3) or data.shape[0] == 0 or int(np.prod(data.shape[1:])) == 0:
        raise CdliteError(f"{name}: no data to use (array of shape {data.shape}); expected "
                          f"(n, d) vectors or (n, h, w) images with n >= 2")
    _check_finite(data, name)
    N = data.shape[0]
    image_shape = tuple(data.shape[1:]) if data.ndim == 3 else None
    if n_train >= N:
        raise CdliteError(f"{name}: n_train = {n_train} but only {N} points are available, and "
                          f"at least 1 must stay held out; use n_train <= {N - 1}")
    n_test = cfg.n_test or min(DEFAULT_N_TEST, N - n_train)
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
        sigma_data = IMAGE_SIGMA_DATA
    else:
        sigma_data = None
    perm = make_rng(seed).permutation(N)
    train_idx, test_idx = perm[:n_train], perm[N - n_test:]
    if sigma_data is None:  # no known scale: estimate it from the training set only
        sigma_data = _rms_std(x[train_idx])
        if not sigma_data > 0:
            raise CdliteError(f"{name}: the training points are all identical (std 0); "
                              "use more varied data")
    info = {**_info(cfg, seed), "n_test": n_test, "pool_size": N, "source": "pool",
            "sigma_data_measured": _rms_std(x[train_idx])}
    if scaling:
        info["scaling"] = scaling
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

