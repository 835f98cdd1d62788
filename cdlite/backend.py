"""Array backend: NumPy on the CPU, CuPy on a GPU.

The rule of the house: only entry points (the CLI, a recipe, an example) choose a backend with
`get_xp(device)`. Every math function takes its array module from its inputs with
`xp = array_module(x)`, so the same line of code runs on NumPy and on CuPy.

Random numbers never come from a global state. A seeded `numpy.random.Generator` is passed in,
and `randn` / `rand` draw on the host and move the result to the device of `like`: a CPU run and
a GPU run with the same seed see exactly the same noise (the price is one host->device copy per
draw, small next to the network evaluations it feeds).
"""
from __future__ import annotations

import os

import numpy as np

DEVICES = ("cpu", "gpu", "auto")
GPU_INSTALL_HINT = (
    "install CuPy for your CUDA version, e.g. `pip install 'cdlite[gpu]'` (CUDA 12) or "
    "`pip install cupy-cuda11x` (CUDA 11); see the README, section 'GPU'"
)


class BackendError(RuntimeError):
    """Raised when the requested device cannot be used; the message says what to do."""


def _cupy_or_none():
    try:
        import cupy  # noqa: F401  (optional dependency)
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cupy = _cupy_or_none()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def get_xp(device: str | None = None):
    """Return the array module for `device` ('cpu', 'gpu' or 'auto').

    `None` reads the environment variable CDLITE_DEVICE and falls back to 'cpu'.
    'auto' picks CuPy when a CUDA device is usable, NumPy otherwise.
    """
    if device is None:
        device = os.environ.get("CDLITE_DEVICE", "cpu")
    device = str(device).strip().lower()
    if device not in DEVICES:
        raise BackendError(
            f"unknown device {device!r} (from argument or CDLITE_DEVICE); use one of {DEVICES}")
    if device == "cpu":
        return np
    if device == "auto":
        return _cupy_or_none() if gpu_available() else np
    cupy = _cupy_or_none()
    if cupy is None:
        raise BackendError("device 'gpu' was requested but CuPy is not installed: "
                           + GPU_INSTALL_HINT)
    if not gpu_available():
        raise BackendError("device 'gpu' was requested but CuPy sees no usable CUDA device; "
                           "check `nvidia-smi`, or run with --device cpu")
    return cupy


def array_module(*arrays):
    """The array module (numpy or cupy) of the given arrays; numpy for plain Python objects."""
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            import cupy
            return cupy
    return np


def to_numpy(a) -> np.ndarray:
    """Copy an array (NumPy or CuPy) to a host NumPy array; NumPy input is returned as is."""
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


# --- random numbers: a seeded host generator, results moved to the device -----------------------

def make_rng(seed: int) -> np.random.Generator:
    """The one kind of random generator cdlite passes around (PCG64, seeded)."""
    return np.random.default_rng(seed)


def randn(rng: np.random.Generator, shape, xp=np, dtype=np.float32):
    """Standard normal draws of `shape`, made on the host by `rng` and moved to `xp`."""
    return xp.asarray(rng.standard_normal(shape).astype(dtype, copy=False))


def rand(rng: np.random.Generator, shape, xp=np, dtype=np.float32):
    """Uniform [0, 1) draws of `shape`, made on the host by `rng` and moved to `xp`."""
    return xp.asarray(rng.random(shape).astype(dtype, copy=False))


def randint(rng: np.random.Generator, low: int, high: int, size, xp=np):
    """Integers in [low, high), drawn on the host and moved to `xp`."""
    return xp.asarray(rng.integers(low, high, size=size))
