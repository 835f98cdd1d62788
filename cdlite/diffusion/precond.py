"""EDM preconditioning (Karras et al. 2022, Table 1 and section 5): the denoiser D built from a raw
network F,

    D(y, sigma) = c_skip(sigma) * y + c_out(sigma) * F(c_in(sigma) * y, c_noise(sigma)),

with c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma * sd / sqrt(sigma^2 + sd^2),
c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4, sd = sigma_data.
The network's input and its training target both have unit variance at every noise level.

Shapes: B batch, d data dimension; sigma is a scalar or a (B,) array.
"""
from __future__ import annotations

from ..backend import array_module
from ..errors import CdliteError


def sigma_column(sigma, y):
    """sigma as a (B, 1) array on y's device and dtype, from a scalar or a (B,) array."""
    if y.ndim != 2:
        raise CdliteError(f"expected a batch of points of shape (B, d), got shape {y.shape}; "
                          "for one point use x[None, :]")
    xp = array_module(y)
    s = xp.asarray(sigma, dtype=y.dtype)
    if s.ndim == 0:
        s = xp.full((y.shape[0], 1), s, dtype=y.dtype)
    return s.reshape(-1, 1)  # (B, 1)


def edm_input_coeffs(sigma, sigma_data: float):
    """(c_in, c_noise) alone: what the network's input needs (the consistency function has its
    own c_skip and c_out), the same numbers as edm_coeffs gives."""
    xp = array_module(sigma)
    return 1.0 / xp.sqrt(sigma * sigma + sigma_data ** 2), xp.log(sigma) / 4.0


def edm_coeffs(sigma, sigma_data: float):
    """(c_skip, c_out, c_in, c_noise) of EDM for an array of noise levels."""
    xp = array_module(sigma)
    s2 = sigma * sigma + sigma_data ** 2
    c_skip = sigma_data ** 2 / s2
    c_out = sigma * sigma_data / xp.sqrt(s2)
    c_in = 1.0 / xp.sqrt(s2)
    c_noise = xp.log(sigma) / 4.0
    return c_skip, c_out, c_in, c_noise


class EDMDenoiser:
    """D_theta(y, sigma) for a network `net` (an MLP or a RandomFeatureNet) and its `params`."""

    def __init__(self, net, sigma_data: float):
        self.net, self.sigma_data = net, float(sigma_data)

    def forward(self, params, y, sigma):
        s = sigma_column(sigma, y)  # (B, 1)
        c_skip, c_out, c_in, c_noise = edm_coeffs(s, self.sigma_data)
        F, cache = self.net.forward(params, c_in * y, c_noise[:, 0])  # (B, d)
        D = c_skip * y + c_out * F  # (B, d)
        return D, (cache, c_out)

    def backward(self, params, dD, cache):
        """Gradients of a loss w.r.t. the parameters, given dL/dD (no gradient w.r.t. y)."""
        net_cache, c_out = cache
        _, grads = self.net.backward(params, dD * c_out, net_cache, need_dx=False)
        return grads

    def bind(self, params):
        """The plain function y, sigma -> D(y, sigma) that the samplers take."""
        return lambda y, sigma: self.forward(params, y, sigma)[0]
