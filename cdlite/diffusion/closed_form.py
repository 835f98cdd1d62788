"""Closed-form denoisers: references every trained model is compared against.

The empirical optimum of a training set {a_1..a_n} (the minimiser of the denoising loss over all
functions, for the empirical distribution):

    D*(y, sigma) = sum_i w_i(y) a_i,   w = softmax_i(-|y - a_i|^2 / (2 sigma^2)).

Its probability-flow ODE can only end on training points: it is the perfect memorizer.
The exact Gaussian-mixture denoiser lives with the mixture (cdlite.data.gaussians).
"""
from __future__ import annotations

from ..backend import array_module, to_numpy


class EmpiricalOptimalDenoiser:
    """D*(y, sigma) for training points `train` (n, d), blocked over the training set.

    The softmax is accumulated block by block with a running maximum (the "online softmax"), so
    memory is O(B * block) whatever n is, and nothing overflows for tiny sigma. Squared distances
    are computed in float64 from |y|^2 - 2 y.a + |a|^2, clipped at 0.
    """

    def __init__(self, train, block: int = 4096):
        self.train, self.block = train, int(block)
        self._cache = {}  # array module name -> (a (n, d) float64, |a|^2 (n,)) on that device

    def _points(self, xp):
        if xp.__name__ not in self._cache:
            a = xp.asarray(to_numpy(self.train) if xp.__name__ == "numpy" else self.train,
                           dtype=xp.float64)
            self._cache[xp.__name__] = (a, (a * a).sum(axis=1))
        return self._cache[xp.__name__]

    def __call__(self, y, sigma):
        xp = array_module(y)
        a_all, a2_all = self._points(xp)
        y64 = y.astype(xp.float64)
        s = xp.asarray(sigma, dtype=xp.float64).reshape(-1, 1)  # (1,1) or (B,1)
        y2 = (y64 * y64).sum(axis=1, keepdims=True)  # (B, 1)
        m = xp.full((y.shape[0], 1), -xp.inf)  # running max of the logits
        z = xp.zeros((y.shape[0], 1))  # running sum of exp(logit - m)
        acc = xp.zeros_like(y64)  # running sum of exp(logit - m) * a_i
        for start in range(0, a_all.shape[0], self.block):
            a = a_all[start:start + self.block]
            d2 = xp.maximum(y2 - 2.0 * y64 @ a.T + a2_all[start:start + self.block], 0.0)
            logits = -d2 / (2.0 * s * s)  # (B, block)
            m_new = xp.maximum(m, logits.max(axis=1, keepdims=True))
            scale = xp.exp(m - m_new)  # rescale what was accumulated under the old maximum
            w = xp.exp(logits - m_new)  # (B, block)
            z = z * scale + w.sum(axis=1, keepdims=True)
            acc = acc * scale + w @ a
            m = m_new
        return (acc / z).astype(y.dtype)  # (B, d)


def gaussian_mixture_denoiser(mixture):
    """The exact posterior mean E[x | y] of a Gaussian mixture, as a sampler-ready function."""
    return lambda y, sigma: mixture.denoise(y, sigma)
