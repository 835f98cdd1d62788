"""Float64 central-difference gradient checks, used by the tests and handy in a course.

For a function with output y, take a fixed random R and the scalar L = sum(y * R); then the
upstream gradient is dy = R, and every analytic gradient dL/dtheta can be compared with
(L(theta + h) - L(theta - h)) / 2h on a few random entries.
"""
from __future__ import annotations

import numpy as np


def rel_error(a, b) -> float:
    """|a - b| / (|a| + |b|) over whole vectors: a relative error that stays sane where single
    entries are (almost) zero, e.g. gradients through a ReLU."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / den) if den > 1e-12 else 0.0


def numeric_grad(loss_fn, arr, idx, h: float = 1e-6) -> float:
    """Central difference of loss_fn() w.r.t. arr[idx], restoring arr afterwards."""
    old = arr[idx]
    arr[idx] = old + h
    lp = loss_fn()
    arr[idx] = old - h
    lm = loss_fn()
    arr[idx] = old
    return (lp - lm) / (2 * h)


def check_grads(loss_fn, analytic: dict, arrays: dict, rng, n_entries: int = 12,
                h: float = 1e-6, tol: float = 1e-5) -> dict:
    """Compare analytic gradients with central differences on `n_entries` random entries each.

    loss_fn(): scalar loss, reading the arrays in `arrays` (mutated in place and restored).
    analytic: name -> gradient array, same names as `arrays`.
    Returns name -> relative error; raises AssertionError naming the worst array if any > tol.
    """
    errors = {}
    for name, arr in arrays.items():
        if arr.dtype != np.float64:
            raise TypeError(f"gradient checks need float64 arrays; {name!r} is {arr.dtype}")
        flat_n = arr.size
        picks = rng.choice(flat_n, size=min(n_entries, flat_n), replace=False)
        num, ana = [], []
        for k in picks:
            idx = np.unravel_index(k, arr.shape)
            num.append(numeric_grad(loss_fn, arr, idx, h))
            ana.append(analytic[name][idx])
        errors[name] = rel_error(ana, num)
    worst = max(errors, key=errors.get) if errors else None
    if worst is not None and errors[worst] > tol:
        raise AssertionError(f"gradient check failed for {worst!r}: relative error "
                             f"{errors[worst]:.2e} > {tol:.0e} (all: "
                             + ", ".join(f"{k}={v:.1e}" for k, v in errors.items()) + ")")
    return errors
