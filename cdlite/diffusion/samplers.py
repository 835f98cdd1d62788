"""Samplers for the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022).

One protocol for all (k-diffusion style):

    x, nfe = sample_xxx(denoiser, x, sigmas, rng=None, callback=None)

`denoiser(x, sigma) -> D` is any function: a trained network (EDMDenoiser.bind(params)), a
closed form, or your own. `x` starts as sigmas[0] * noise; `sigmas` is a decreasing grid ending at
0 (e.g. karras_sigmas). `callback(i, x, sigma, D)` is called once per step (trajectory plots).
The number of network evaluations (NFE) is returned with the samples.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module, randn


def _d(x, D, sigma):
    return (x - D) / sigma  # dx/dsigma of the ODE


def sample_euler(denoiser, x, sigmas, rng=None, callback=None):
    """Euler's method on the probability-flow ODE: N steps, NFE = N."""
    nfe = 0
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        D = denoiser(x, s)
        nfe += 1
        if callback:
            callback(i, x, s, D)
        x = x + (s_next - s) * _d(x, D, s)
    return x, nfe


def sample_heun(denoiser, x, sigmas, rng=None, callback=None):
    """Algorithm 1 (deterministic sampler) of Karras et al. (2022): an Euler step, then the
    trapezoid correction, except on the last step to sigma = 0. NFE = 2N - 1."""
    nfe = 0
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        D = denoiser(x, s)
        nfe += 1
        if callback:
            callback(i, x, s, D)
        d = _d(x, D, s)
        x_next = x + (s_next - s) * d  # Euler step (line 5)
        if s_next > 0:  # second-order correction (lines 7-8)
            D_next = denoiser(x_next, s_next)
            nfe += 1
            x_next = x + (s_next - s) * 0.5 * (d + _d(x_next, D_next, s_next))
        x = x_next
    return x, nfe


def sample_edm_stochastic(denoiser, x, sigmas, rng, callback=None, S_churn: float = 30.0,
                          S_tmin: float = 0.0, S_tmax: float = float("inf"),
                          S_noise: float = 1.0):
    """Algorithm 2 (stochastic sampler) of Karras et al. (2022): before each Heun step, add noise
    to raise sigma to s_hat = s (1 + gamma), gamma = min(S_churn / N, sqrt(2) - 1) inside
    [S_tmin, S_tmax]. NFE = 2N - 1."""
    xp = array_module(x)
    N = len(sigmas) - 1
    nfe = 0
    for i in range(N):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        gamma = min(S_churn / N, math.sqrt(2) - 1) if S_tmin <= s <= S_tmax else 0.0
        s_hat = s * (1 + gamma)
        if gamma > 0:  # lines 5-6: churn
            eps = S_noise * randn(rng, x.shape, xp, x.dtype)
            x = x + math.sqrt(s_hat ** 2 - s ** 2) * eps
        D = denoiser(x, s_hat)
        nfe += 1
        if callback:
            callback(i, x, s_hat, D)
        d = _d(x, D, s_hat)
        x_next = x + (s_next - s_hat) * d
        if s_next > 0:
            D_next = denoiser(x_next, s_next)
            nfe += 1
            x_next = x + (s_next - s_hat) * 0.5 * (d + _d(x_next, D_next, s_next))
        x = x_next
    return x, nfe


SAMPLERS = {"euler": sample_euler, "heun": sample_heun, "stochastic": sample_edm_stochastic}


def generate(denoiser, m: int, d: int, sigmas, rng, sampler: str = "heun", xp=None,
             dtype=None, batch: int = 4096, **options):
    """Draw m samples: x = sigmas[0] * z, then run `sampler` (a name or a function with the
    sampler protocol) in batches. Returns (x (m, d), nfe per sample)."""
    xp = xp or np
    dtype = dtype or np.float32
    if callable(sampler):
        run = sampler  # e.g. cdlite.distill.sample_consistency
    elif sampler in SAMPLERS:
        run = SAMPLERS[sampler]
    else:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
    out, nfe = [], 0
    for start in range(0, m, batch):
        z = randn(rng, (min(batch, m - start), d), xp, dtype)
        x, nfe = run(denoiser, float(sigmas[0]) * z, sigmas, rng, **options)
        out.append(x)
    return xp.concatenate(out, axis=0), nfe
