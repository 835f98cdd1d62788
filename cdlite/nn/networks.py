"""The raw networks F(x, c_noise) that the EDM and consistency wrappers turn into denoisers.

Two families with one interface (`init`, `forward(params, x, c_noise)`, `backward`), each built
from its config (the architecture) and the data dimension d (which the data decides):

  MLP       [x, Fourier(x)?] and an embedding of c_noise, concatenated or added, then hidden
            layers (plain or residual), then a zero-initialised linear output (B, d).
  RandomFeatureNet   Bonnaire et al. (2025): F = phi(z W / sqrt(I)) @ A / sqrt(p),
            z = [x, e(c_noise)], W (I, p) fixed N(0, 1), readout A (p, d) trained from zero;
            optionally W trained too.

Orientation. Every Linear computes x @ W, so the random-feature parameters are stored as the
transposes of the paper's (and of cdlite.theory.model's): here "W.W" is (I, p) = W_paper^T and
"A.W" is (p, d) = A_paper^T. The model is the same: phi(W_paper z) = phi(z W_paper^T).

Shapes: B batch, d data dimension, H hidden width, E embedding width, p random features.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from ..backend import array_module
from ..config import Config, at_least
from ..errors import CdliteError
from .embeddings import FourierEmbedding, SinusoidalEmbedding
from .layers import ACTIVATIONS, Linear, Residual, Sequential, make_activation


Activation = Literal[tuple(ACTIVATIONS)]
Embedding = Literal["sinusoidal", "fourier"]


@dataclass(frozen=True)
class MLPConfig(Config):
    """The MLP's architecture (the data dimension d is not part of it: it comes from the data)."""
    kind: Literal["mlp"] = "mlp"
    hidden: int = 128              # width H of every hidden layer
    depth: int = 3                 # number of hidden layers
    activation: Activation = "silu"
    emb: Embedding = "sinusoidal"  # embedding of c_noise
    emb_dim: int = 32              # E
    emb_mode: Literal["concat", "add"] = "concat"  # [features, e(c_noise)] or W1 f + We e(c_noise)
    input_fourier: int = 0         # number of random Fourier frequencies of x (0 = none)
    input_fourier_scale: float = 2.0  # their std s (frequencies 2 pi s N(0,1)); smaller in high d
    residual: bool = False         # hidden layers as pre-norm residual blocks
    layernorm: bool = False        # LayerNorm inside residual blocks

    def check(self):
        yield from at_least(self, 1, "hidden", "depth", "emb_dim")
        yield from at_least(self, 0, "input_fourier")
        if self.emb_dim % 2:
            yield f"emb_dim={self.emb_dim} (must be even: cos and sin pairs)"
        if not self.input_fourier_scale > 0:
            yield f"input_fourier_scale={self.input_fourier_scale} (must be > 0)"


@dataclass(frozen=True)
class RFConfig(Config):
    """The random-feature network's architecture (d comes from the data)."""
    kind: Literal["rf"] = "rf"
    p: int = 1024                  # number of random features
    activation: Activation = "tanh"  # phi, tanh as in Bonnaire et al.
    emb_dim: int = 16              # sinusoidal embedding of c_noise appended to x (0 = none)
    train_first: bool = False      # also train W (then it is an ordinary 2-layer network)

    def check(self):
        yield from at_least(self, 1, "p")
        if self.emb_dim < 0 or self.emb_dim % 2:
            yield f"emb_dim={self.emb_dim} (must be even and >= 0; 0 = none)"


EMBEDDINGS = {"sinusoidal": lambda dim: SinusoidalEmbedding("emb", dim),
              "fourier": lambda dim: FourierEmbedding("emb", dim, scale=1.0)}


class Network:
    """What both networks share: their parameters are those of their `parts`, in this order."""

    def init(self, rng, dtype=np.float32) -> dict:
        return {k: v for m in self.parts for k, v in m.init(rng, dtype).items()}

    def param_shapes(self) -> dict:
        """{name: shape} of init(...), read off the layers: nothing is allocated."""
        return {k: shape for m in self.parts for k, shape in m.shapes.items()}


class MLP(Network):
    """F(x, c_noise): an MLP on input features and a noise-level embedding."""

    def __init__(self, cfg: MLPConfig, d: int):
        self.cfg, self.d = cfg, int(d)
        H = cfg.hidden
        self.emb = EMBEDDINGS[cfg.emb](cfg.emb_dim)
        self.fourier = (FourierEmbedding("xfourier", 2 * cfg.input_fourier,
                                         scale=cfg.input_fourier_scale, d_in=d)
                        if cfg.input_fourier else None)
        d_feat = d + (2 * cfg.input_fourier if self.fourier else 0)
        if cfg.emb_mode == "concat":
            self.inp = Linear("in", d_feat + cfg.emb_dim, H)
            self.inp_emb = None
        elif cfg.emb_mode == "add":
            self.inp = Linear("in", d_feat, H)
            self.inp_emb = Linear("in_emb", cfg.emb_dim, H, bias=False)
        trunk = [make_activation(cfg.activation)]
        for i in range(1, cfg.depth):
            if cfg.residual:
                trunk.append(Residual(f"h{i}", H, cfg.activation, cfg.layernorm))
            else:
                trunk += [Linear(f"h{i}", H, H), make_activation(cfg.activation)]
        trunk.append(Linear("out", H, d, init="zero"))
        self.trunk = Sequential(trunk)
        self.parts = [m for m in (self.emb, self.fourier, self.inp, self.inp_emb, self.trunk) if m]
        self.trainable = [k for m in self.parts for k in m.trainable]

    def forward(self, params, x, c_noise):
        xp = array_module(x)
        # (the caches are named cache_*: c_in, c_noise, ... are EDM's coefficients, not caches)
        e, _ = self.emb.forward(params, c_noise)  # e(c_noise) (B, E)
        four, cache_four = (self.fourier.forward(params, x) if self.fourier  # (B, 2k)
                            else (x[:, :0], None))  # no Fourier features: an empty (B, 0) block
        if self.inp_emb is None:  # emb_mode "concat"
            inp = xp.concatenate([x, four, e], axis=1)  # [x, Fourier(x), e(c_noise)] (B, I)
            h, cache_inp = self.inp.forward(params, inp)  # (B, H)
            cache_inp_emb = None
        else:  # emb_mode "add": h = [x, Fourier(x)] W1 + e(c_noise) We
            h, cache_inp = self.inp.forward(params, xp.concatenate([x, four], axis=1))
            he, cache_inp_emb = self.inp_emb.forward(params, e)
            h = h + he
        F, cache_trunk = self.trunk.forward(params, h)  # (B, d)
        return F, (cache_four, cache_inp, cache_inp_emb, cache_trunk)

    def backward(self, params, dF, cache, need_dx: bool = True):
        cache_four, cache_inp, cache_inp_emb, cache_trunk = cache
        d = self.d
        dh, grads = self.trunk.backward(params, dF, cache_trunk)
        dinp, g = self.inp.backward(params, dh, cache_inp, need_dx)
        grads.update(g)
        if self.inp_emb is not None:
            _, g = self.inp_emb.backward(params, dh, cache_inp_emb, False)
            grads.update(g)
        if not need_dx:
            return None, grads
        dx = dinp[:, :d]  # the columns of x in [x, Fourier(x), e(c_noise)]
        if self.fourier:
            dfour = dinp[:, d:d + 2 * self.cfg.input_fourier]
            dx = dx + self.fourier.backward(params, dfour, cache_four)[0]
        return dx, grads  # gradient w.r.t. c_noise is never needed and not computed


class RandomFeatureNet(Network):
    """F = phi(z W / sqrt(I)) @ A / sqrt(p), z = [x, e(c_noise)] (Bonnaire et al. 2025, eq. for
    s_A; W and A stored transposed, see the module docstring)."""

    def __init__(self, cfg: RFConfig, d: int):
        self.cfg, self.d = cfg, int(d)
        self.emb = SinusoidalEmbedding("emb", cfg.emb_dim) if cfg.emb_dim else None
        self.d_in = self.d + cfg.emb_dim
        self.first = Linear("W", self.d_in, cfg.p, bias=False, init="normal",
                            trainable=cfg.train_first)  # (I, p)
        self.act = make_activation(cfg.activation)
        self.readout = Linear("A", cfg.p, self.d, bias=False, init="zero")  # (p, d)
        self.trainable = self.first.trainable + self.readout.trainable
        self.parts = [m for m in (self.emb, self.first, self.readout) if m]

    def forward(self, params, x, c_noise):
        z = x
        if self.emb:
            e, _ = self.emb.forward(params, c_noise)
            z = array_module(x).concatenate([x, e], axis=1)  # z = [x, e(c_noise)] (B, I)
        pre, cache_first = self.first.forward(params, z)  # (B, p)
        phi, cache_act = self.act.forward(params, pre * (1.0 / math.sqrt(self.d_in)))  # (B, p)
        F, cache_read = self.readout.forward(params, phi)  # (B, d)
        return F * (1.0 / math.sqrt(self.cfg.p)), (cache_first, cache_act, cache_read)

    def backward(self, params, dF, cache, need_dx: bool = True):
        cache_first, cache_act, cache_read = cache
        need_dphi = need_dx or self.cfg.train_first
        dphi, grads = self.readout.backward(params, dF * (1.0 / math.sqrt(self.cfg.p)),
                                            cache_read, need_dphi)
        if not need_dphi:
            return None, grads
        dpre, _ = self.act.backward(params, dphi, cache_act)
        dz, g = self.first.backward(params, dpre * (1.0 / math.sqrt(self.d_in)), cache_first,
                                    need_dx)
        grads.update(g)
        return (dz[:, :self.d] if need_dx else None), grads


NETWORKS = {"mlp": (MLPConfig, MLP), "rf": (RFConfig, RandomFeatureNet)}


def make_network(cfg, d: int):
    """The network of a config (MLPConfig or RFConfig) for data of dimension d."""
    return NETWORKS[cfg.kind][1](cfg, d)


def build_network(kind: str, d: int, **options):
    """Network from its kind ('mlp' or 'rf'), d and config fields; the inverse of
    `network_spec`."""
    if kind not in NETWORKS:
        raise CdliteError(f"unknown network kind {kind!r}; use one of {sorted(NETWORKS)}")
    return make_network(NETWORKS[kind][0](kind=kind, **options), d)


def network_spec(net) -> dict:
    """JSON-able description of a network, enough to rebuild it with `build_network(**spec)`."""
    return {"d": net.d, **asdict(net.cfg)}
