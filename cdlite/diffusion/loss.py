"""The EDM denoising loss (Karras et al. 2022, eq. 2 and Table 1):

    L = E_{sigma, x, n} [ lambda(sigma) * |D(x + sigma n, sigma) - x|^2 ],
    lambda(sigma) = (sigma^2 + sd^2) / (sigma * sd)^2,

averaged here over the batch and over the d coordinates (so a learning rate carries over between
dimensions). lambda * c_out^2 = 1: the network's effective target has unit weight at every sigma.
"""
from __future__ import annotations

from ..backend import array_module, randn
from .grids import sample_training_sigmas
from .precond import sigma_column


def denoising_loss(denoiser, params, x, sigma, noise):
    """Weighted loss and its parameter gradients for given noise levels (B,) and noise (B, d)."""
    s = sigma_column(sigma, x)  # (B, 1)
    y = x + s * noise  # (B, d)
    D, cache = denoiser.forward(params, y, s[:, 0])
    lam = (s * s + denoiser.sigma_data ** 2) / (s * denoiser.sigma_data) ** 2  # (B, 1)
    err = D - x  # (B, d)
    loss = float((lam * err * err).mean())
    dD = (2.0 / err.size) * lam * err  # dL/dD
    return loss, denoiser.backward(params, dD, cache)


def edm_loss(denoiser, params, x, rng, P_mean: float = -1.2, P_std: float = 1.2):
    """One Monte-Carlo estimate of the EDM loss: ln(sigma) ~ N(P_mean, P_std^2), n ~ N(0, I)."""
    xp = array_module(x)
    sigma = sample_training_sigmas(rng, x.shape[0], P_mean, P_std, xp, x.dtype)
    noise = randn(rng, x.shape, xp, x.dtype)
    return denoising_loss(denoiser, params, x, sigma, noise)
