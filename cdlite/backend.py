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

import ctypes
import warnings

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
        from .settings import device as device_setting
        device = device_setting() or "cpu"
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


# --- the memory allocator, set once -----------------------------------------------------------

MALLOC_MODES = ("cdlite", "system")
MALLOC_SETTINGS = {  # glibc's mallopt parameter numbers (malloc.h) and the values cdlite sets
    "M_MMAP_THRESHOLD": (-3, 32 * 2 ** 20),   # blocks up to 32 MiB come from the heap ...
    "M_TRIM_THRESHOLD": (-1, 128 * 2 ** 20),  # ... which keeps up to 128 MiB of free memory
}
ALLOCATOR = {"mode": None, "applied": False}  # what set_allocator did (a test reads it)


def set_allocator(mode: str | None = None) -> bool:
    """Keep freed memory in the process for the next array of the same size (glibc only).

    Why it matters. A process sees virtual memory; the kernel gives it a physical page (4 KB)
    only when the page is first touched. That first touch is a page fault: the CPU stops, the
    kernel finds a free page, zeroes it and maps it, a microsecond or so each time. glibc's
    malloc serves blocks above a threshold (128 KB by default, adjusted as it goes) with a
    fresh mmap and gives them back to the kernel at free, and trims free memory at the top of
    the heap. So a fresh array of 256 KB, as made by every `x @ W` or `dy * s` of a training
    step at batch 256, is 64 new pages: 64 page faults, paid again at every step because the
    previous step's array went back to the kernel. At cdlite's sizes that was about a quarter
    of a teacher step (issue 18 measured it: 0.5 s of system time in 300 steps).

    What the setting changes. mallopt(M_MMAP_THRESHOLD, 32 MiB) serves every block below
    32 MiB from the heap, and mallopt(M_TRIM_THRESHOLD, 128 MiB) keeps up to 128 MiB of free
    heap in the process instead of returning it. The next step's arrays reuse the pages that
    the last step's freed: no faults, so the plain formulas cost what buffers reused by hand
    (`out=`) cost. Arrays above 32 MiB (a big data set, a distance table) still get their own
    mmap and go back to the system when freed, so peak memory stays bounded.

    It is set once, at `import cdlite` (cdlite/__init__.py), before large arrays are made,
    through ctypes. Only glibc (Linux) has these parameters: elsewhere (musl, macOS, Windows)
    this is a silent no-op that keeps the system's allocator. On the GPU, CuPy's memory pool
    already keeps freed device memory for reuse.

    mode: "cdlite" (set it) or "system" (leave the default, to measure the difference);
    None reads the environment variable CDLITE_MALLOC (default "cdlite"). Returns True when
    the setting was applied.
    """
    if mode is None:
        from .errors import CdliteError
        from .settings import malloc
        try:
            mode = malloc()
        except CdliteError as e:
            raise BackendError(str(e)) from None
    mode = str(mode).strip().lower()
    if mode not in MALLOC_MODES:
        raise BackendError(f"unknown allocator mode {mode!r} (from argument or CDLITE_MALLOC); "
                           f"use one of {MALLOC_MODES}, e.g. CDLITE_MALLOC=system to keep the "
                           "system's allocator")
    applied = False
    if mode == "cdlite":
        try:
            mallopt = ctypes.CDLL(None).mallopt  # AttributeError without it (macOS)
            # mallopt returns 1 on success; musl's exists but does nothing and returns 0
            applied = all([mallopt(param, value) == 1 for param, value
                           in MALLOC_SETTINGS.values()])
        except (OSError, AttributeError, TypeError):  # no C library reachable (e.g. Windows)
            applied = False
    ALLOCATOR.update(mode=mode, applied=applied)
    return applied


def set_allocator_at_import() -> None:
    """`set_allocator()` as `import cdlite` runs it: a bad CDLITE_MALLOC is one warning line
    (and the system's allocator), never a failed import."""
    try:
        set_allocator()
    except BackendError as e:
        warnings.warn(str(e), RuntimeWarning, stacklevel=2)
