"""Noise-level and input embeddings: sinusoidal (Vaswani et al. 2017) and random Fourier features
(Tancik et al. 2020).

Both map an input of shape (B, I) to features (B, E) with E = 2 * (number of frequencies), as
[cos(2 pi x Om), sin(2 pi x Om)]. They differ only in the frequency matrix Om (I, E/2), stored as
the parameter "<name>.freqs" (B is the batch size everywhere in cdlite):
  - sinusoidal: fixed geometric frequencies, the transformer position code, for scalar c_noise;
  - Fourier: fixed random frequencies ~ N(0, scale^2). On the input x they let an MLP represent
    sharp functions (the "spectral bias" of plain MLPs keeps them smooth, so they do not memorize).
The frequencies live in `params` as a fixed array (no gradient), so checkpoints carry them.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import CdliteError


class _CosSin:
    """Shared forward/backward of [cos(2 pi x Om), sin(2 pi x Om)], frequencies Om (I, E/2)."""

    trainable: list = []

    def __init__(self, name: str, d_in: int, dim: int):
        if dim % 2:
            raise CdliteError(f"embedding dimension must be even, got {dim}")
        self.name, self.d_in, self.dim = name, d_in, dim
        self.freqs = name + ".freqs"
        self.shapes = {self.freqs: (d_in, dim // 2)}

    def init(self, rng, dtype=np.float32):
        return {self.freqs: self.frequencies(rng).astype(dtype)}

    def forward(self, params, x):
        """[cos(2 pi x Om), sin(2 pi x Om)] (B, E)."""
        xp = array_module(x)
        if x.ndim == 1:
            x = x[:, None]  # scalar c_noise per row -> (B, 1)
        z = 2 * math.pi * (x @ params[self.freqs])  # (B, E/2)
        c, s = xp.cos(z), xp.sin(z)
        return xp.concatenate([c, s], axis=1), (x, c, s)  # (B, E)

    def backward(self, params, dy, cache, need_dx=True):
        if not need_dx:
            return None, {}
        x, c, s = cache
        k = self.dim // 2
        dz = dy[:, k:] * c - dy[:, :k] * s  # d cos = -sin dz, d sin = cos dz
        return (2 * math.pi) * (dz @ params[self.freqs].T), {}  # (B, I)


class SinusoidalEmbedding(_CosSin):
    """Transformer-style code of a scalar: frequencies geometric from 1 down to 1/max_period."""

    def __init__(self, name: str, dim: int, max_period: float = 10000.0, d_in: int = 1):
        super().__init__(name, d_in, dim)
        self.max_period = max_period

    def frequencies(self, rng):
        k = self.dim // 2
        f = np.exp(-math.log(self.max_period) * np.arange(k) / k) / (2 * math.pi)
        return np.tile(f, (self.d_in, 1))  # (I, E/2)


class FourierEmbedding(_CosSin):
    """Random Fourier features: Om ~ N(0, scale^2), fixed after initialisation."""

    def __init__(self, name: str, dim: int, scale: float = 1.0, d_in: int = 1):
        super().__init__(name, d_in, dim)
        self.scale = scale

    def frequencies(self, rng):
        return self.scale * rng.standard_normal((self.d_in, self.dim // 2))
