"""Input checks shared by the metrics: point sets as (B, d) arrays, finite, non-empty.

Every metric takes NumPy or CuPy arrays of points. Images may come as (B, 8, 8): trailing axes
are flattened, because the metrics work in the flat data space the models are trained in.
Mistakes a user can fix raise `CdliteError` with the value and what to do.
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import array_module
from cdlite.errors import CdliteError


def as_points(x, name: str, xp=None, min_points: int = 1):
    """Return `x` as a (B, d) floating array on `xp` (default: its own module); check it."""
    xp = array_module(x) if xp is None else xp
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    x = xp.asarray(x)
    if x.ndim == 1:
        raise CdliteError(
            f"{name} has shape {tuple(x.shape)}: expected a batch of points (B, d); "
            f"for a single point pass {name}[None, :], for 1-D data pass {name}[:, None]")
    if x.ndim == 0:
        raise CdliteError(f"{name} is a scalar: expected a batch of points of shape (B, d)")
    if x.ndim > 2:  # images (B, H, W) or (B, C, H, W): compare them as flat vectors
        x = x.reshape(x.shape[0], -1)
    if x.shape[0] < min_points or x.shape[1] == 0:
        raise CdliteError(
            f"{name} has shape {tuple(x.shape)}: need at least {min_points} point(s) "
            f"of dimension >= 1")
    if x.dtype.kind not in "fc":
        x = x.astype(xp.float64)  # integer pixels, booleans: metrics need real numbers
    elif x.dtype.kind == "c":
        raise CdliteError(f"{name} is complex ({x.dtype}); pass real-valued points")
    elif x.dtype.itemsize < 4:
        x = x.astype(xp.float32)  # float16 has too few digits for distances
    if not bool(xp.isfinite(x).all()):
        bad = int((~xp.isfinite(x)).any(axis=1).sum())
        raise CdliteError(
            f"{name} contains NaN or inf in {bad} of {x.shape[0]} points; a sampler that diverged "
            f"produces these: lower the step size / number of steps, or drop those points first")
    return x


def as_pair(x, a, name_x: str, name_a: str, min_x: int = 1, min_a: int = 1):
    """Check two point sets of the same dimension; both end up on one backend (CuPy wins)."""
    xp = array_module(x, a)
    x = as_points(x, name_x, xp, min_x)
    a = as_points(a, name_a, xp, min_a)
    if x.shape[1] != a.shape[1]:
        raise CdliteError(
            f"{name_x} has dimension {x.shape[1]} but {name_a} has dimension {a.shape[1]}: "
            f"compare points of the same data space (flatten images the same way, same scaling)")
    return xp, x, a


def check_fraction(value, name: str, low: float = 0.0, high: float = 1.0):
    value = float(value)
    if not (low < value < high):
        raise CdliteError(f"{name} = {value} is out of range; choose a value in ({low}, {high})")
    return value


def check_positive_int(value, name: str):
    if int(value) != value or int(value) < 1:
        raise CdliteError(f"{name} = {value!r}; it must be a positive integer")
    return int(value)


def subsample(x, max_points: int | None, rng: np.random.Generator):
    """At most `max_points` rows of x, drawn without replacement by `rng` (all rows if fewer)."""
    if max_points is None or x.shape[0] <= max_points:
        return x
    xp = array_module(x)
    keep = np.sort(rng.choice(x.shape[0], size=int(max_points), replace=False))
    return x[xp.asarray(keep)]
