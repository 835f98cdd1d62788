"""Consistency sampling, Algorithm 1 of Song et al. (2023), with the sampler protocol of
cdlite.diffusion.samplers: x, nfe = sample_consistency(f, x, sigmas, rng).

x starts as sigmas[0] * z with sigmas[0] = sigma_max; one step is x = f(x, sigma_max). Each further
level tau in sigmas[1:] re-noises, x + sqrt(tau^2 - sigma_min^2) z', and applies f again.
Lines of Algorithm 1, counted from the first statement after "Input": 1 x <- f(x_T, T), 2 for each
level, 3 sample z, 4 re-noise, 5 x <- f(x_hat, tau), 6 end for.
"""
from __future__ import annotations

import math

from ..backend import array_module, randn
from ..errors import CdliteError


def sample_consistency(f, x, sigmas, rng=None, callback=None, sigma_min: float = 0.002):
    """One-step (sigmas = [sigma_max]) or multistep (sigmas = [sigma_max, tau_1, ...]) sampling."""
    xp = array_module(x)
    taus = [float(s) for s in sigmas if float(s) > 0]  # a trailing 0 (a Karras grid) is ignored
    if not taus:
        raise CdliteError(f"consistency sampling needs at least one level > 0 (sigma_max first), "
                          f"got {list(sigmas)}")
    x = f(x, taus[0])  # line 1: one step from pure noise
    if callback:
        callback(0, x, taus[0], x)
    for i, tau in enumerate(taus[1:], 1):
        if tau <= sigma_min:
            raise CdliteError(f"intermediate level tau = {tau} must exceed sigma_min = {sigma_min}")
        z = randn(rng, x.shape, xp, x.dtype)
        x = x + math.sqrt(tau * tau - sigma_min * sigma_min) * z  # line 4: re-noise to tau
        x = f(x, tau)  # line 5
        if callback:
            callback(i, x, tau, x)
    return x, len(taus)
