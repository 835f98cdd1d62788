"""Classic 2-D toy distributions for diffusion demos, each scaled to about unit standard deviation.

Every sampler has the signature `sampler(m, rng, ..., noise=...) -> (m, 2) float64` and draws
all its randomness from the generator `rng` it is given. The scale is fixed by constants (never
estimated from the sample itself), so a training set and a fresh test set share one coordinate
system. `noise` is the standard deviation of Gaussian jitter added to each coordinate, in these
output units. With noise = 0 the per-coordinate RMS standard deviation sqrt(trace(Cov)/2) is 1
exactly for two_moons, rings and checkerboard (even n_cells), and about 1 for swiss_roll.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import CdliteError

# two moons (as in scikit-learn's make_moons): mean (1/2, 1/4); Var x = 3/4, Var y = 9/16 - 1/pi.
_MOONS_CENTER = np.array([0.5, 0.25])
_MOONS_SCALE = math.sqrt((0.75 + 0.5625 - 1 / math.pi) / 2)
# swiss roll (t cos t, t sin t), t in [1.5 pi, 4.5 pi]: mean and RMS std by Monte Carlo (2e6 draws).
_ROLL_CENTER = np.array([2.0, 0.21])
_ROLL_SCALE = 6.79


def _check(name, m, noise):
    if int(m) != m or m < 0:
        raise CdliteError(f"{name}: the number of points m must be a non-negative integer, got {m}")
    if noise < 0:
        raise CdliteError(f"{name}: noise is a standard deviation and must be >= 0, got {noise}")


def _jitter(x, rng, noise):
    """Add N(0, noise^2) to every coordinate (skipped at noise = 0 so rng is not advanced)."""
    return x + noise * rng.standard_normal(x.shape) if noise > 0 else x


def two_moons(m: int, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """Two interleaving half circles (scikit-learn's `make_moons`), centred and scaled.

    Upper moon (cos t, sin t), lower moon (1 - cos t, 1/2 - sin t), t ~ Uniform[0, pi], each
    point on either moon with probability 1/2. Returns (m, 2) float64.
    """
    _check("two_moons", m, noise)
    t = rng.uniform(0.0, np.pi, size=m)  # (m,)
    upper = rng.random(m) < 0.5  # (m,)
    x = np.where(upper, np.cos(t), 1.0 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = (np.stack([x, y], axis=1) - _MOONS_CENTER) / _MOONS_SCALE  # (m, 2)
    return _jitter(pts, rng, noise)


def rings(m: int, rng: np.random.Generator, n_rings: int = 3, noise: float = 0.05) -> np.ndarray:
    """Concentric circles with radii proportional to 1, 2, ..., n_rings, uniform along their length.

    A point lands on ring i with probability proportional to its radius (so the density along
    every ring is the same), at a uniform angle. Radii are scaled so that E[r^2] / 2 = 1.
    Returns (m, 2) float64.
    """
    _check("rings", m, noise)
    if n_rings < 1:
        raise CdliteError(f"rings: n_rings must be >= 1, got {n_rings}")
    i = np.arange(1, n_rings + 1, dtype=np.float64)  # (R,)
    c = math.sqrt(2 * i.sum() / (i**3).sum())  # E[r^2] = c^2 sum i^3 / sum i  ->  set to 2
    ring = rng.choice(n_rings, size=m, p=i / i.sum())  # (m,)
    r = c * i[ring]
    angle = rng.uniform(0.0, 2 * np.pi, size=m)
    pts = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)  # (m, 2)
    return _jitter(pts, rng, noise)


def swiss_roll(m: int, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """A 2-D spiral (t cos t, t sin t), t = 1.5 pi (1 + 2u), u ~ Uniform[0, 1] (as make_swiss_roll).

    Centred and divided by a fixed scale; the arm length grows with t, so the outer turns hold
    more points per unit angle. Returns (m, 2) float64.
    """
    _check("swiss_roll", m, noise)
    t = 1.5 * np.pi * (1.0 + 2.0 * rng.random(m))  # (m,)
    pts = (np.stack([t * np.cos(t), t * np.sin(t)], axis=1) - _ROLL_CENTER) / _ROLL_SCALE
    return _jitter(pts, rng, noise)


def checkerboard(m: int, rng: np.random.Generator, n_cells: int = 4,
                 noise: float = 0.0) -> np.ndarray:
    """Uniform on the dark squares of an n_cells x n_cells board spanning [-sqrt 3, sqrt 3]^2.

    The square cell (i, j) is dark when i + j is even. With n_cells even each coordinate is
    uniform on [-sqrt 3, sqrt 3], whose standard deviation is exactly 1. Returns (m, 2) float64.
    """
    _check("checkerboard", m, noise)
    if n_cells < 2:
        raise CdliteError(f"checkerboard: n_cells must be >= 2, got {n_cells}")
    ij = np.indices((n_cells, n_cells)).reshape(2, -1).T  # (n_cells^2, 2) cell corners
    dark = ij[ij.sum(axis=1) % 2 == 0]  # (C, 2)
    cell = dark[rng.integers(len(dark), size=m)]  # (m, 2)
    unit = (cell + rng.random((m, 2))) / n_cells  # (m, 2) in [0, 1]^2
    pts = math.sqrt(3.0) * (2.0 * unit - 1.0)
    return _jitter(pts, rng, noise)


SHAPES = {
    "two-moons": two_moons,
    "rings": rings,
    "swiss-roll": swiss_roll,
    "checkerboard": checkerboard,
}
