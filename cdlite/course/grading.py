"""The grader's tools: call the student's function safely, read what it returned, compare it with
a reference and say in one line which quantity is wrong.

A check is a function `check(student)` that returns quietly when the student's code is right and
raises `Fail(hint)` when it is not. The hint names the quantity, where, the student's value and
the expected one, e.g. "d/dx of SiLU at x = -2: yours 0.1192, expected -0.09085", and, when the
answer matches a known mistake, what that mistake is.

References are cdlite's own implementation and exact answers; gradients are compared with float64
central differences of the reference function, (L(a + h) - L(a - h)) / 2h.
"""
from __future__ import annotations

import copy
import math
import traceback
from collections.abc import Callable

import numpy as np

from ..backend import make_rng
from ..nn.gradcheck import numeric_grad as central_difference

RTOL, ATOL = 1e-5, 1e-9  # loose enough for a student who computes in float32, tight for mistakes


class Fail(Exception):
    """A failed check; the message is the one-line hint shown to the student."""


def one_line(text: str, limit: int = 240) -> str:
    """Collapse whitespace and cut long messages: hints are one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def fmt(v) -> str:
    """A number as a student reads it: 4 significant digits."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    return f"{float(v):.4g}"


def fmt_pair(a, b) -> tuple[str, str]:
    """a and b with just enough digits that they print differently (up to 12)."""
    for digits in (4, 6, 8, 12):
        sa, sb = f"{float(a):.{digits}g}", f"{float(b):.{digits}g}"
        if sa != sb:
            return sa, sb
    return sa, sb


class Student:
    """The student's module, seen through the grader: calls with copied inputs, errors as hints."""

    def __init__(self, module, path: str, seed: int = 0):
        self.module, self.path, self.seed = module, str(path), int(seed)

    def rng(self, tag: int):
        """The random generator of one randomized check: seeded by the run's seed (printed with
        the report, so a failure can be replayed with --seed) and the check's own tag."""
        return make_rng([self.seed, int(tag)])

    def function(self, name: str) -> Callable:
        fn = getattr(self.module, name, None)
        if fn is None or not callable(fn):
            raise Fail(f"your file has no function `{name}`: keep the name and signature from "
                       f"the template")
        return fn

    def __call__(self, name: str, *args, **kwargs):
        """name(*args, **kwargs) on copies of the inputs (a function that changes its inputs in
        place must not change the grader's reference data)."""
        fn = self.function(name)
        args = [_copy(a) for a in args]
        kwargs = {k: _copy(v) for k, v in kwargs.items()}
        try:
            return fn(*args, **kwargs)
        except Fail:
            raise
        except NotImplementedError:
            raise Fail(f"`{name}` is not written yet: replace the line `raise "
                       f"NotImplementedError(...)` with your code") from None
        except SystemExit:
            raise Fail(f"`{name}` called exit(): return a value instead") from None
        except Exception as e:  # noqa: BLE001  (any error in the student's code becomes a hint)
            raise Fail(f"`{name}` raised {type(e).__name__}: {one_line(e, 160)}"
                       f"{self.where(traceback.extract_tb(e.__traceback__))}") from None

    def where(self, frames) -> str:
        """' (your line 12: `return dy * s`)' for the last frame in the student's file."""
        mine = [f for f in frames if f.filename == self.path]
        if not mine:
            return ""
        f = mine[-1]
        return f" (your line {f.lineno}: `{one_line(f.line or '', 80)}`)"


def _copy(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, dict):
        return {k: _copy(v) for k, v in a.items()}
    if callable(a):
        return a
    return copy.deepcopy(a)


# ---- reading what the student returned ------------------------------------------------------

def as_array(value, what: str, shape: tuple, why: str = "",
             nonfinite: str = "overflow or a division by zero?") -> np.ndarray:
    """The student's value as a float64 array of the expected shape, or a Fail that says why not.

    what: how the hint names the value ("silu_forward(x)"); why: what the shape should match;
    nonfinite: what the hint suggests when the value holds inf or nan.
    """
    if value is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    if isinstance(value, (tuple, list)) and len(value) and not _is_number(value[0]):
        raise Fail(f"{what} is a {type(value).__name__} of {len(value)} items, expected one "
                   f"array of shape {shape}")
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Fail(f"{what} is a {type(value).__name__}, not an array of numbers") from None
    if a.shape != tuple(shape):
        raise Fail(f"{what} has shape {a.shape}, expected {tuple(shape)}"
                   + (f" ({why})" if why else ""))
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f" at index {list(idx)}" if a.ndim else ""
        raise Fail(f"{what} has {a[idx]}{at}: {nonfinite}")
    return a


def as_scalar(value, what: str) -> float:
    """The student's value as one finite float."""
    if value is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Fail(f"{what} is a {type(value).__name__}, not a number") from None
    if a.size != 1:
        raise Fail(f"{what} has shape {a.shape}, expected one number (a scalar): average over "
                   f"the batch?")
    v = float(a.reshape(()))
    if not math.isfinite(v):
        raise Fail(f"{what} is {v}: overflow or a division by zero?")
    return v


def unpack(value, what: str, names: tuple) -> tuple:
    """A tuple of len(names) values, e.g. (dx, dW, db), or a Fail naming what came back."""
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = (f"{len(value)} values" if isinstance(value, (tuple, list))
               else f"a {type(value).__name__}")
        raise Fail(f"{what} should return {len(names)} values ({', '.join(names)}); yours "
                   f"returned {got}")
    return tuple(value)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.number))


# ---- comparing ------------------------------------------------------------------------------

def close(yours, expected, rtol: float = RTOL, atol: float = ATOL) -> np.ndarray:
    """Entry-wise |yours - expected| <= atol + rtol (|expected| + mean |expected|): relative,
    but an entry near zero is measured against the array's typical size."""
    yours, expected = np.asarray(yours, np.float64), np.asarray(expected, np.float64)
    scale = np.abs(expected) + np.abs(expected).mean() if expected.size else 0.0
    return np.abs(yours - expected) <= atol + rtol * scale


def compare(yours, expected, describe: Callable, mistakes=(), rtol: float = RTOL,
            atol: float = ATOL):
    """Fail on the largest error unless yours is close to expected everywhere.

    describe(index) names the entry, e.g. "d/dx of SiLU at x = -2". mistakes: (value, what it
    means) pairs, the answers known mistakes give; a match adds "yours is ..." to the hint.
    """
    yours, expected = np.asarray(yours, np.float64), np.asarray(expected, np.float64)
    ok = close(yours, expected, rtol, atol)
    if ok.all():
        return
    # The worst entry, measured in units of its tolerance: the first wrong one can be the least
    # wrong (0.7038 against 0.7047 reads like round-off when elsewhere the error is 10x larger).
    scale = np.abs(expected) + np.abs(expected).mean()
    worst = np.unravel_index(int(np.argmax(np.abs(yours - expected) / (atol + rtol * scale))),
                             yours.shape)
    a, b = fmt_pair(yours[worst], expected[worst])
    hint = f"{describe(tuple(int(i) for i in worst))}: yours {a}, expected {b}"
    for value, meaning in mistakes:
        value = np.asarray(value, np.float64)
        if value.shape == yours.shape and close(yours, value, rtol, atol).all():
            hint += f" ({meaning})"
            break
    raise Fail(hint)


def index_name(name: str) -> Callable:
    """describe() for an array called `name`: index (2, 1) -> 'name[2, 1]'."""
    return lambda idx: f"{name}[{', '.join(map(str, idx))}]" if idx else name


# ---- float64 central differences ------------------------------------------------------------

def numeric_grad(loss: Callable[[], float], arr: np.ndarray, entries=None,
                 h: float = 1e-6) -> np.ndarray:
    """dloss/darr by central differences in float64, at `entries` (flat indices; default all),
    NaN elsewhere. `arr` is changed in place and restored; loss() must read it."""
    if arr.dtype != np.float64:
        raise TypeError(f"central differences need float64, got {arr.dtype}")
    g = np.full(arr.shape, np.nan)
    flat = range(arr.size) if entries is None else entries
    for k in flat:  # one entry at a time, with the library's own central difference
        idx = np.unravel_index(int(k), arr.shape)
        g[idx] = central_difference(loss, arr, idx, h)
    return g


def compare_at(yours, expected, entries, describe: Callable, mistakes=(), rtol: float = 1e-5,
               atol: float = 1e-8):
    """compare() restricted to the flat `entries` where `expected` was computed (the numeric
    gradient of a large array is taken at a few random entries only)."""
    idx = [np.unravel_index(int(k), np.shape(expected)) for k in entries]
    pick = (lambda a: np.array([np.asarray(a)[i] for i in idx]))
    compare(pick(yours), pick(expected), lambda j: describe(tuple(int(v) for v in idx[j[0]])),
            [(pick(v), m) for v, m in mistakes if np.shape(v) == np.shape(expected)],
            rtol, atol)


# ---- randomized checks ------------------------------------------------------------------------

def randomized(tag: int) -> Callable:
    """Make check(student, rng) a check(student) on fresh random inputs: rng is seeded by the
    run's seed and `tag`, and a failure names the seed, so that no special case of the inputs a
    template mentions can pass, and any failure can be replayed."""
    def wrap(fn: Callable) -> Callable:
        def check(student):
            try:
                fn(student, student.rng(tag))
            except Fail as f:
                raise Fail(f"{f} [random inputs, seed {student.seed}]") from None
        check.__doc__, check.randomized = fn.__doc__, True
        return check
    return wrap


def log_uniform(rng, low: float, high: float, size=None):
    """Draws spread evenly in log scale between low and high (tiny and huge values alike)."""
    return np.exp(rng.uniform(np.log(low), np.log(high), size))
