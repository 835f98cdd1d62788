"""The consistency function (Song, Dhariwal, Chen & Sutskever 2023, section 3 and appendix C):

    f(x, sigma) = c_skip'(sigma) x + c_out'(sigma) F(c_in(sigma) x, c_noise(sigma)),
    c_skip' = sd^2 / ((sigma - sigma_min)^2 + sd^2),
    c_out'  = sd (sigma - sigma_min) / sqrt(sd^2 + sigma^2),

with EDM's c_in and c_noise, so that a student can start from a teacher's weights. At
sigma = sigma_min, c_skip' = 1 and c_out' = 0: f(x, sigma_min) = x exactly (the boundary condition),
whatever the weights. Shapes: B batch, d data dimension; sigma a scalar or a (B,) array.
"""
from __future__ import annotations

from ..backend import array_module
from ..diffusion.precond import edm_input_coeffs, sigma_column


def consistency_coeffs(sigma, sigma_data: float, sigma_min: float):
    """(c_skip', c_out') of the consistency parametrization."""
    xp = array_module(sigma)
    ds = sigma - sigma_min
    c_skip = sigma_data ** 2 / (ds * ds + sigma_data ** 2)
    c_out = sigma_data * ds / xp.sqrt(sigma_data ** 2 + sigma * sigma)
    return c_skip, c_out


class ConsistencyFunction:
    """f_theta(x, sigma) for a network `net` (MLP or RandomFeatureNet) and its params."""

    def __init__(self, net, sigma_data: float, sigma_min: float):
        self.net, self.sigma_data, self.sigma_min = net, float(sigma_data), float(sigma_min)

    def forward(self, params, x, sigma):
        s = sigma_column(sigma, x)  # (B, 1)
        c_skip, c_out = consistency_coeffs(s, self.sigma_data, self.sigma_min)
        c_in, c_noise = edm_input_coeffs(s, self.sigma_data)  # EDM's, as for the teacher
        F, cache = self.net.forward(params, c_in * x, c_noise[:, 0])  # (B, d)
        return c_skip * x + c_out * F, (cache, c_out)

    def backward(self, params, df, cache):
        """Parameter gradients of a loss, given dL/df (no gradient w.r.t. x)."""
        net_cache, c_out = cache
        _, grads = self.net.backward(params, df * c_out, net_cache, need_dx=False)
        return grads

    def bind(self, params):
        """The plain function x, sigma -> f(x, sigma) that sample_consistency takes."""
        return lambda x, sigma: self.forward(params, x, sigma)[0]
