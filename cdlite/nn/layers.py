"""Layers with hand-written forward and backward passes, side by side (micrograd style).

Every layer has the same two methods:

    y, cache  = layer.forward(params, x)
    dx, grads = layer.backward(params, dy, cache, need_dx=True)

`params` is the network's flat dict of named arrays ({"h1.W": ..., "h1.b": ...}); a layer knows
its names by its `name` prefix. Keeping the arrays outside the layers lets a teacher, a student
and an EMA share one network structure. Each line is the formula and every result is a fresh
array: the allocator keeps freed memory for the next step (see cdlite.backend).

Shapes: B batch, I input features, O output features.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import CdliteError


class Linear:
    """y = x @ W + b, W of shape (I, O) initialised N(0, scale^2 / I) (LeCun) or to zero."""

    def __init__(self, name: str, d_in: int, d_out: int, bias: bool = True,
                 init: str = "lecun", trainable: bool = True):
        if init not in ("lecun", "he", "zero", "normal"):
            raise ValueError(f"unknown init {init!r}")
        self.name, self.d_in, self.d_out, self.bias, self.init_kind = name, d_in, d_out, bias, init
        self.W, self.b = name + ".W", name + ".b"
        self.trainable = [self.W] + ([self.b] if bias else []) if trainable else []
        self.shapes = {self.W: (d_in, d_out), **({self.b: (d_out,)} if bias else {})}

    def init(self, rng, dtype=np.float32) -> dict:
        # LeCun keeps the pre-activation variance ~1 for unit-variance inputs; He doubles it for
        # ReLU; a zero output layer makes a fresh denoiser start as D = c_skip * y (EDM practice).
        std = {"lecun": 1.0 / math.sqrt(self.d_in), "he": math.sqrt(2.0 / self.d_in),
               "normal": 1.0, "zero": 0.0}[self.init_kind]
        p = {self.W: (std * rng.standard_normal((self.d_in, self.d_out))).astype(dtype)}
        if self.bias:
            p[self.b] = np.zeros(self.d_out, dtype)
        return p

    def forward(self, params, x):
        y = x @ params[self.W]  # (B, O)
        return (y + params[self.b] if self.bias else y), x

    def backward(self, params, dy, x, need_dx: bool = True):
        grads = {}
        if self.trainable:
            grads[self.W] = x.T @ dy  # dW (I, O)
        if self.trainable and self.bias:
            grads[self.b] = dy.sum(axis=0)  # db (O,)
        dx = dy @ params[self.W].T if need_dx else None  # (B, I)
        return dx, grads


# ---- activations: no parameters ------------------------------------------------------------

class _Activation:
    trainable: list = []
    shapes: dict = {}

    def init(self, rng, dtype=np.float32):
        return {}


class SiLU(_Activation):
    """SiLU(x) = x * s, s = sigmoid(x) (Elfwing et al. 2018); derivative s * (1 + x * (1 - s)).
    The sigmoid is computed once, in forward, and backward reuses it."""

    def forward(self, params, x):
        s = 1.0 / (1.0 + array_module(x).exp(-x))  # sigmoid (B, I)
        return x * s, (x, s)

    def backward(self, params, dy, cache, need_dx=True):
        x, s = cache
        return dy * s * (1.0 + x * (1.0 - s)), {}


class ReLU(_Activation):
    """ReLU(x) = max(x, 0); derivative 1[x > 0]."""

    def forward(self, params, x):
        mask = x > 0
        return x * mask, mask

    def backward(self, params, dy, mask, need_dx=True):
        return dy * mask, {}


class Tanh(_Activation):
    """tanh(x); derivative 1 - tanh(x)^2."""

    def forward(self, params, x):
        y = array_module(x).tanh(x)
        return y, y

    def backward(self, params, dy, y, need_dx=True):
        return dy * (1.0 - y * y), {}


class GELU(_Activation):
    """GELU, tanh approximation (Hendrycks & Gimpel 2016):
    0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2 / pi)."""
    K = math.sqrt(2.0 / math.pi)

    def forward(self, params, x):
        t = array_module(x).tanh(self.K * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1.0 + t), (x, t)

    def backward(self, params, dy, cache, need_dx=True):
        x, t = cache
        du = self.K * (1.0 + 3 * 0.044715 * x * x)  # d(inner)/dx
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du), {}


ACTIVATIONS = {"silu": SiLU, "relu": ReLU, "tanh": Tanh, "gelu": GELU}


def make_activation(kind: str):
    if kind not in ACTIVATIONS:
        raise CdliteError(f"unknown activation {kind!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[kind]()


class LayerNorm:
    """LayerNorm over the last axis (Ba et al. 2016):
    y = gamma * (x - mean) / sqrt(var + eps) + beta."""

    def __init__(self, name: str, dim: int, eps: float = 1e-5):
        self.name, self.dim, self.eps = name, dim, eps
        self.g, self.b = name + ".gamma", name + ".beta"
        self.trainable = [self.g, self.b]
        self.shapes = {self.g: (dim,), self.b: (dim,)}

    def init(self, rng, dtype=np.float32):
        return {self.g: np.ones(self.dim, dtype), self.b: np.zeros(self.dim, dtype)}

    def forward(self, params, x):
        xc = x - x.mean(axis=-1, keepdims=True)
        rstd = 1.0 / array_module(x).sqrt((xc * xc).mean(axis=-1, keepdims=True) + self.eps)
        xhat = xc * rstd  # (B, I); rstd (B, 1)
        return xhat * params[self.g] + params[self.b], (xhat, rstd)

    def backward(self, params, dy, cache, need_dx=True):
        xhat, rstd = cache
        grads = {self.g: (dy * xhat).sum(axis=0), self.b: dy.sum(axis=0)}
        dxhat = dy * params[self.g]
        # d/dx of normalisation: remove the mean of dxhat and its component along xhat.
        dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                     - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
        return dx, grads


class Sequential:
    """Layers applied in order; backward runs them in reverse."""

    def __init__(self, layers):
        self.layers = list(layers)
        self.trainable = [k for layer in self.layers for k in layer.trainable]
        self.shapes = {k: v for layer in self.layers for k, v in layer.shapes.items()}

    def init(self, rng, dtype=np.float32):
        return {k: v for layer in self.layers for k, v in layer.init(rng, dtype).items()}

    def forward(self, params, x):
        caches = []
        for layer in self.layers:
            x, c = layer.forward(params, x)
            caches.append(c)
        return x, caches

    def backward(self, params, dy, cache, need_dx=True):
        grads = {}
        for i in range(len(self.layers) - 1, -1, -1):
            dy, g = self.layers[i].backward(params, dy, cache[i], need_dx or i > 0)
            grads.update(g)
        return dy, grads


class Residual:
    """Residual block y = x + Linear(act(LayerNorm?(x))) (He et al. 2016, pre-norm form)."""

    def __init__(self, name: str, dim: int, activation: str = "silu", layernorm: bool = True):
        layers = [LayerNorm(name + ".ln", dim)] if layernorm else []
        layers += [make_activation(activation), Linear(name + ".fc", dim, dim)]
        self.name, self.branch = name, Sequential(layers)
        self.trainable, self.shapes = self.branch.trainable, self.branch.shapes

    def init(self, rng, dtype=np.float32):
        return self.branch.init(rng, dtype)

    def forward(self, params, x):
        h, cache = self.branch.forward(params, x)
        return x + h, cache

    def backward(self, params, dy, cache, need_dx=True):
        dh, grads = self.branch.backward(params, dy, cache)
        return dy + dh, grads  # the skip path passes dy straight through
