"""Layers with hand-written forward and backward passes, side by side (micrograd style).

Every layer has the same two methods:

    y, cache  = layer.forward(params, x, ws=None)
    dx, grads = layer.backward(params, dy, cache, need_dx=True, ws=None)

`params` is the network's flat dict of named arrays (e.g. {"h0.W": ..., "h0.b": ...}); a layer
knows its own names through its `name` prefix. Layers without parameters ignore `params` and
return an empty `grads`. Keeping the arrays outside the layer objects is what lets a teacher, a
student and an EMA share one network structure with different weight dicts.

`ws` (cdlite.nn.workspace) is optional: with it, results go into arrays reused from one call to
the next (`out=` buffers; a training step then allocates almost nothing); without it, every
result is a fresh array. Both run the same float operations in the same order, so they give the
same bits; the tests check that, and check the in-place formulas against the plain ones kept in
`*_reference` functions beside them.

Shapes: B batch, I input features, O output features.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import CdliteError
from .workspace import buffer, grad_buffer


class Linear:
    """y = x @ W + b, W of shape (I, O) initialised N(0, scale^2 / I) (LeCun) or to zero."""

    def __init__(self, name: str, d_in: int, d_out: int, bias: bool = True,
                 init: str = "lecun", trainable: bool = True):
        if init not in ("lecun", "he", "zero", "normal"):
            raise ValueError(f"unknown init {init!r}")
        self.name, self.d_in, self.d_out, self.bias, self.init_kind = name, d_in, d_out, bias, init
        self.W, self.b = name + ".W", name + ".b"
        self.trainable = [self.W] + ([self.b] if bias else []) if trainable else []

    def init(self, rng, dtype=np.float32) -> dict:
        # LeCun keeps the pre-activation variance ~1 for unit-variance inputs; He doubles it for
        # ReLU; a zero output layer makes a fresh denoiser start as D = c_skip * y (EDM practice).
        std = {"lecun": 1.0 / math.sqrt(self.d_in), "he": math.sqrt(2.0 / self.d_in),
               "normal": 1.0, "zero": 0.0}[self.init_kind]
        p = {self.W: (std * rng.standard_normal((self.d_in, self.d_out))).astype(dtype)}
        if self.bias:
            p[self.b] = np.zeros(self.d_out, dtype)
        return p

    def forward(self, params, x, ws=None):
        xp = array_module(x)
        y = xp.matmul(x, params[self.W], out=buffer(ws, self, "y", (x.shape[0], self.d_out), x))
        if self.bias:  # y = x @ W + b  (B, O)
            y += params[self.b]
        return y, x

    def backward(self, params, dy, cache, need_dx: bool = True, ws=None):
        x = cache
        xp = array_module(dy)
        grads = {}
        if self.W in self.trainable:
            grads[self.W] = xp.matmul(x.T, dy, out=grad_buffer(ws, self.W))  # x.T @ dy (I, O)
            if self.bias:
                grads[self.b] = dy.sum(axis=0, out=grad_buffer(ws, self.b))  # (O,)
        if not need_dx:
            return None, grads
        return xp.matmul(dy, params[self.W].T, out=buffer(ws, self, "dx", x.shape, dy)), grads


# ---- activations: no parameters ------------------------------------------------------------

def sigmoid(x, out=None):
    """s = 1 / (1 + exp(-x)), its four steps written into one array `out` (None: a new one)."""
    xp = array_module(x)
    s = xp.negative(x, out=out)
    xp.exp(s, out=s)
    s += 1.0
    return xp.divide(1.0, s, out=s)


class SiLU:
    """SiLU(x) = x * sigmoid(x) (Elfwing et al. 2018); derivative s * (1 + x * (1 - s)).

    The sigmoid s is computed once, in forward, and backward reuses it."""
    trainable: list = []

    def init(self, rng, dtype=np.float32):
        return {}

    def forward(self, params, x, ws=None):
        xp = array_module(x)
        s = sigmoid(x, out=buffer(ws, self, "s", x.shape, x))  # (B, I)
        if ws is not None and ws.forward_only:
            return xp.multiply(x, s, out=s), None  # no backward follows: y replaces s
        return xp.multiply(x, s, out=buffer(ws, self, "y", x.shape, x)), (x, s)

    def backward(self, params, dy, cache, need_dx=True, ws=None):
        x, s = cache
        xp = array_module(dy)
        # dy * s * (1 + x * (1 - s)) in two arrays instead of five temporaries
        q = xp.subtract(1.0, s, out=buffer(ws, self, "q", s.shape, s))  # 1 - s
        q *= x
        q += 1.0                                                           # 1 + x (1 - s)
        dx = xp.multiply(dy, s, out=buffer(ws, self, "dx", s.shape, s))   # dy * s
        dx *= q
        return dx, {}

    @staticmethod
    def backward_reference(dy, x, s):
        """The plain formula that `backward` computes in place (the tests compare the two)."""
        return dy * s * (1.0 + x * (1.0 - s))


class ReLU:
    """ReLU(x) = max(x, 0); derivative 1[x > 0]."""
    trainable: list = []

    def init(self, rng, dtype=np.float32):
        return {}

    def forward(self, params, x, ws=None):
        xp = array_module(x)
        mask = xp.greater(x, 0, out=buffer(ws, self, "mask", x.shape, x, dtype=bool))
        return xp.multiply(x, mask, out=buffer(ws, self, "y", x.shape, x)), mask

    def backward(self, params, dy, cache, need_dx=True, ws=None):
        return array_module(dy).multiply(dy, cache, out=buffer(ws, self, "dx", dy.shape, dy)), {}


class Tanh:
    """tanh(x); derivative 1 - tanh(x)^2."""
    trainable: list = []

    def init(self, rng, dtype=np.float32):
        return {}

    def forward(self, params, x, ws=None):
        y = array_module(x).tanh(x, out=buffer(ws, self, "y", x.shape, x))
        return y, y

    def backward(self, params, dy, cache, need_dx=True, ws=None):
        y = cache
        xp = array_module(dy)
        dx = xp.multiply(y, y, out=buffer(ws, self, "dx", y.shape, y))
        xp.subtract(1.0, dx, out=dx)  # 1 - y^2
        dx *= dy
        return dx, {}

    @staticmethod
    def backward_reference(dy, y):
        """The plain formula that `backward` computes in place."""
        return dy * (1.0 - y * y)


class GELU:
    """GELU, tanh approximation (Hendrycks & Gimpel 2016):
    0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2 / pi)."""
    trainable: list = []
    K = math.sqrt(2.0 / math.pi)

    def init(self, rng, dtype=np.float32):
        return {}

    # (no workspace path: GELU is not in cdlite's hot loops; `ws` is accepted and ignored)
    def forward(self, params, x, ws=None):
        xp = array_module(x)
        t = xp.tanh(self.K * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1.0 + t), (x, t)

    def backward(self, params, dy, cache, need_dx=True, ws=None):
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

    def init(self, rng, dtype=np.float32):
        return {self.g: np.ones(self.dim, dtype), self.b: np.zeros(self.dim, dtype)}

    def forward(self, params, x, ws=None):  # (fresh arrays but for the gradients)
        xp = array_module(x)
        mu = x.mean(axis=-1, keepdims=True)  # (B, 1)
        xc = x - mu
        rstd = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + self.eps)  # (B, 1)
        xhat = xc * rstd  # (B, I)
        return xhat * params[self.g] + params[self.b], (xhat, rstd)

    def backward(self, params, dy, cache, need_dx=True, ws=None):
        xhat, rstd = cache
        grads = {self.g: (dy * xhat).sum(axis=0, out=grad_buffer(ws, self.g)),
                 self.b: dy.sum(axis=0, out=grad_buffer(ws, self.b))}
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

    def init(self, rng, dtype=np.float32):
        p = {}
        for layer in self.layers:
            p.update(layer.init(rng, dtype))
        return p

    def forward(self, params, x, ws=None):
        caches = []
        for layer in self.layers:
            x, c = layer.forward(params, x, ws)
            caches.append(c)
        return x, caches

    def backward(self, params, dy, cache, need_dx=True, ws=None):
        grads = {}
        for i in range(len(self.layers) - 1, -1, -1):
            dy, g = self.layers[i].backward(params, dy, cache[i], need_dx or i > 0, ws)
            grads.update(g)
        return dy, grads


class Residual:
    """Residual block y = x + Linear(act(LayerNorm?(x))) (He et al. 2016, pre-norm form)."""

    def __init__(self, name: str, dim: int, activation: str = "silu", layernorm: bool = True):
        layers = [LayerNorm(name + ".ln", dim)] if layernorm else []
        layers += [make_activation(activation), Linear(name + ".fc", dim, dim)]
        self.name, self.branch = name, Sequential(layers)
        self.trainable = self.branch.trainable

    def init(self, rng, dtype=np.float32):
        return self.branch.init(rng, dtype)

    def forward(self, params, x, ws=None):
        h, cache = self.branch.forward(params, x, ws)
        return array_module(x).add(x, h, out=buffer(ws, self, "y", x.shape, x)), cache

    def backward(self, params, dy, cache, need_dx=True, ws=None):
        dh, grads = self.branch.backward(params, dy, cache, ws=ws)
        # the skip path passes dy straight through: dx = dy + dh
        return array_module(dy).add(dy, dh, out=buffer(ws, self, "dx", dy.shape, dy)), grads
