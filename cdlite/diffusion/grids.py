"""Noise levels: the Karras sampling grid and the log-normal training distribution (EDM, eq. 5
and Table 1 of Karras et al. 2022)."""
from __future__ import annotations

import numpy as np

from ..backend import randn
from ..errors import CdliteError


def karras_sigmas(N: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                  xp=np, dtype=np.float64):
    """sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
    i = 0..N-1, then sigma_N = 0. Returns N + 1 decreasing values, ending at 0."""
    if N < 1:
        raise CdliteError(f"the grid needs N >= 1 steps, got N = {N}; pass a positive number")
    if not 0 < sigma_min < sigma_max:
        raise CdliteError(f"the grid needs 0 < sigma_min < sigma_max, got sigma_min = {sigma_min}, "
                          f"sigma_max = {sigma_max}")
    if N == 1:
        s = np.array([sigma_max], np.float64)
    else:
        i = np.arange(N, dtype=np.float64)
        lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
        s = (hi + i / (N - 1) * (lo - hi)) ** rho
    return xp.asarray(np.append(s, 0.0).astype(dtype))


def consistency_grid(N: int, sigma_min: float = 0.002, sigma_max: float = 80.0,
                     rho: float = 7.0, xp=np, dtype=np.float64):
    """The ascending grid t_1 = sigma_min < ... < t_N = sigma_max of consistency distillation and
    training (Song et al. 2023, section 5): the Karras grid read backwards, without its final 0."""
    return karras_sigmas(N, sigma_min, sigma_max, rho, xp, dtype)[:-1][::-1].copy()  # (N,)


def sample_training_sigmas(rng, B: int, P_mean: float = -1.2, P_std: float = 1.2, xp=np,
                           dtype=np.float32):
    """ln(sigma) ~ Normal(P_mean, P_std^2): where EDM spends its training effort. (B,)"""
    return xp.exp(P_mean + P_std * randn(rng, (B,), xp, dtype))
