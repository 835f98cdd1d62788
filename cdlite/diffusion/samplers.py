"""Samplers for the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022).

One protocol for all (k-diffusion style):

    x, nfe = sample_xxx(denoiser, x, sigmas, rng=None, callback=None)

`denoiser(x, sigma) -> D` is any function: a trained network (EDMDenoiser.bind(params)), a
closed form, or your own. `x` starts as sigmas[0] * noise; `sigmas` is a decreasing grid ending at
0 (e.g. karras_sigmas). `callback(i, x, sigma, D)` is called once per step (trajectory plots).
The number of network evaluations (NFE) is returned with the samples.

The single steps (`euler_step`, `heun_step`) are shared with consistency distillation, whose
teacher takes exactly one of them; there sigma is a (B, 1) column, one level per row.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..backend import array_module, randn
from ..config import Config, at_least, positive
from ..errors import CdliteError
from .grids import karras_sigmas


def slope(denoiser, x, sigma):
    """dx/dsigma = (x - D(x, sigma)) / sigma, and D itself (one network evaluation)."""
    D = denoiser(x, sigma)
    return (x - D) / sigma, D


def euler_step(x, d, sigma, sigma_next):
    """x + (sigma_next - sigma) d: Euler's step along the slope d."""
    return x + (sigma_next - sigma) * d


def heun_step(denoiser, x, d, sigma, sigma_next):
    """Algorithm 1 of Karras et al. (2022), lines 5-8: an Euler step, then the trapezoid rule with
    the slope at its end point (needs sigma_next > 0; one more network evaluation)."""
    x_euler = euler_step(x, d, sigma, sigma_next)
    d_next, _ = slope(denoiser, x_euler, sigma_next)
    return x + (sigma_next - sigma) * 0.5 * (d + d_next)


def sample_euler(denoiser, x, sigmas, rng=None, callback=None):
    """Euler's method on the probability-flow ODE: N steps, NFE = N."""
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d, D = slope(denoiser, x, s)
        if callback:
            callback(i, x, s, D)
        x = euler_step(x, d, s, s_next)
    return x, len(sigmas) - 1


def sample_heun(denoiser, x, sigmas, rng=None, callback=None, S_churn: float = 0.0,
                S_tmin: float = 0.0, S_tmax: float = float("inf"), S_noise: float = 1.0):
    """Heun's method on the probability-flow ODE, with EDM's optional stochastic churn
    (k-diffusion's `sample_heun`). NFE = 2N - 1: the last step, to sigma = 0, is an Euler step.

    S_churn = 0: Algorithm 1 (deterministic sampler) of Karras et al. (2022).
    S_churn > 0: Algorithm 2 (stochastic sampler): before each step, fresh noise raises the level
    from s to s_hat = s (1 + gamma), gamma = min(S_churn / N, sqrt(2) - 1) for s in
    [S_tmin, S_tmax] (0 elsewhere); the step then runs from s_hat. Needs `rng`.
    """
    if S_churn > 0 and rng is None:
        raise CdliteError(f"S_churn = {S_churn} adds fresh noise: pass a random generator rng "
                          "(cdlite.backend.make_rng(seed)), or S_churn=0")
    N = len(sigmas) - 1
    nfe = 0
    for i in range(N):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        gamma = min(S_churn / N, math.sqrt(2) - 1) if S_tmin <= s <= S_tmax else 0.0
        s_hat = s * (1 + gamma)
        if gamma > 0:  # Algorithm 2, lines 4-6: churn, fresh noise raises the level to s_hat
            eps = S_noise * randn(rng, x.shape, array_module(x), x.dtype)
            x = x + math.sqrt(s_hat ** 2 - s ** 2) * eps
        d, D = slope(denoiser, x, s_hat)
        if callback:
            callback(i, x, s_hat, D)
        x = heun_step(denoiser, x, d, s_hat, s_next) if s_next > 0 else \
            euler_step(x, d, s_hat, s_next)
        nfe += 2 if s_next > 0 else 1
    return x, nfe


# "stochastic" is the same loop with EDM's churn on (Algorithm 2); S_churn=... overrides 30
SAMPLERS = {"euler": sample_euler, "heun": sample_heun,
            "stochastic": functools.partial(sample_heun, S_churn=30.0)}


def generate(denoiser, m: int, d: int, sigmas, rng, sampler: str = "heun", xp=None,
             dtype=None, batch: int = 4096, **options):
    """Draw m samples: x = sigmas[0] * z, then run `sampler` (a name or a function with the
    sampler protocol, e.g. cdlite.distill.sample_consistency) in batches of at most `batch`.
    Extra keyword options go to the sampler. Returns (x (m, d), nfe per sample)."""
    xp = xp or np
    dtype = dtype or np.float32
    if callable(sampler):
        run = sampler
    elif sampler in SAMPLERS:
        run = SAMPLERS[sampler]
    else:
        raise CdliteError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
    if int(m) < 1 or len(sigmas) < 1:
        raise CdliteError(f"generate needs m >= 1 samples and a non-empty grid, got m = {m}, "
                          f"{len(sigmas)} levels")
    out, nfe = [], 0
    for start in range(0, m, batch):
        z = randn(rng, (min(batch, m - start), d), xp, dtype)
        x, nfe = run(denoiser, float(sigmas[0]) * z, sigmas, rng, **options)
        out.append(x)
    return xp.concatenate(out, axis=0), nfe


@dataclass(frozen=True)
class DiffusionConfig(Config):
    """The teacher's noise range (EDM, VE convention) and the sampler that draws its samples."""
    sigma_min: float = 0.002      # EDM defaults, but ...
    sigma_max: float = 20.0       # ... ~10x the data scale is plenty for low-dimensional data
    rho: float = 7.0              # curvature of the Karras grid
    sigma_data: float = 0.0       # 0 = take it from the dataset
    sampler: Literal[tuple(SAMPLERS)] = "heun"  # euler, heun (Alg. 1) or stochastic (Alg. 2)
    steps: int = 18               # N steps on the Karras grid (Heun: NFE = 2N - 1)
    S_churn: float = 30.0         # stochastic sampler only: EDM Algorithm 2's churn ...
    S_noise: float = 1.0          # ... and the scale of its fresh noise

    def check(self):
        yield from positive(self, "sigma_min", "rho")
        yield from at_least(self, 0, "sigma_data", "S_churn", "S_noise")
        yield from at_least(self, 1, "steps")
        if not self.sigma_max > self.sigma_min:
            yield f"sigma_max={self.sigma_max} (must be above sigma_min={self.sigma_min})"

    def grid(self, steps: int | None = None, xp=np):
        """The Karras grid of `steps` (default self.steps) steps, ending at 0."""
        return karras_sigmas(steps or self.steps, self.sigma_min, self.sigma_max, self.rho, xp)

    def describe(self) -> str:
        return f"{self.sampler}, {self.steps} steps"

    def sample(self, denoiser, m: int, d: int, rng, xp=None):
        """(x (m, d), nfe): the configured sampler on the configured grid."""
        options = ({"S_churn": self.S_churn, "S_noise": self.S_noise}
                   if self.sampler == "stochastic" else {})
        return generate(denoiser, m, d, self.grid(), rng, sampler=self.sampler, xp=xp, **options)
