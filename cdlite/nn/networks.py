"""The raw networks F(x, c_noise) that the EDM and consistency wrappers turn into denoisers.

Two families with one interface (`init`, `forward(params, x, c_noise)`, `backward`):

  MLP       [x, Fourier(x)?] and an embedding of c_noise, concatenated or added, then hidden
            layers (plain or residual), then a zero-initialised linear output (B, d).
  RandomFeatureNet   Bonnaire et al. (2025): F = phi(W [x, e(c_noise)] / sqrt(I)) @ A / sqrt(p),
            W (I, p) fixed N(0, 1), readout A (p, d) trained from zero; optionally W trained too.

Shapes: B batch, d data dimension, H hidden width, E embedding width, p random features.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..backend import array_module
from .embeddings import FourierEmbedding, SinusoidalEmbedding
from .layers import Linear, Residual, Sequential, make_activation


@dataclass(frozen=True)
class MLPConfig:
    d: int = 2                     # data dimension
    hidden: int = 128              # width H of every hidden layer
    depth: int = 3                 # number of hidden layers
    activation: str = "silu"
    emb: str = "sinusoidal"        # embedding of c_noise: "sinusoidal" or "fourier"
    emb_dim: int = 32              # E
    emb_mode: str = "concat"       # "concat": [features, e(c_noise)]; "add": W1 f + We e(c_noise)
    input_fourier: int = 0         # number of random Fourier frequencies of x (0 = none)
    input_fourier_scale: float = 2.0  # their std s (frequencies 2 pi s N(0,1)); smaller in high d
    residual: bool = False         # hidden layers as pre-norm residual blocks
    layernorm: bool = False        # LayerNorm inside residual blocks

    kind = "mlp"


@dataclass(frozen=True)
class RFConfig:
    d: int = 2                     # data dimension
    p: int = 1024                  # number of random features
    activation: str = "tanh"       # phi, tanh as in Bonnaire et al.
    emb_dim: int = 16              # sinusoidal embedding of c_noise appended to x (0 = none)
    train_first: bool = False      # also train W (then it is an ordinary 2-layer network)

    kind = "rf"


def _embedding(kind: str, dim: int):
    if kind == "sinusoidal":
        return SinusoidalEmbedding("emb", dim)
    if kind == "fourier":
        return FourierEmbedding("emb", dim, scale=1.0)
    raise ValueError(f"unknown noise embedding {kind!r}; use 'sinusoidal' or 'fourier'")


class MLP:
    """F(x, c_noise): an MLP on input features and a noise-level embedding."""

    def __init__(self, cfg: MLPConfig):
        self.cfg = cfg
        d, H = cfg.d, cfg.hidden
        self.emb = _embedding(cfg.emb, cfg.emb_dim)
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
        else:
            raise ValueError(f"unknown emb_mode {cfg.emb_mode!r}; use 'concat' or 'add'")
        trunk = [make_activation(cfg.activation)]
        for i in range(1, cfg.depth):
            if cfg.residual:
                trunk.append(Residual(f"h{i}", H, cfg.activation, cfg.layernorm))
            else:
                trunk += [Linear(f"h{i}", H, H), make_activation(cfg.activation)]
        trunk.append(Linear("out", H, d, init="zero"))
        self.trunk = Sequential(trunk)
        parts = [self.emb, self.inp, self.trunk] + [m for m in (self.fourier, self.inp_emb) if m]
        self.trainable = [k for m in parts for k in m.trainable]

    def init(self, rng, dtype=np.float32) -> dict:
        p = {}
        for m in (self.emb, self.fourier, self.inp, self.inp_emb, self.trunk):
            if m is not None:
                p.update(m.init(rng, dtype))
        return p

    def forward(self, params, x, c_noise):
        xp = array_module(x)
        e, c_emb = self.emb.forward(params, c_noise)  # (B, E)
        feats, c_four = [x], None
        if self.fourier:
            fx, c_four = self.fourier.forward(params, x)  # (B, 2k)
            feats.append(fx)
        if self.inp_emb is None:
            h, c_in = self.inp.forward(params, xp.concatenate(feats + [e], axis=1))  # (B, H)
            c_in_emb = None
        else:
            h, c_in = self.inp.forward(params, xp.concatenate(feats, axis=1) if self.fourier else x)
            he, c_in_emb = self.inp_emb.forward(params, e)
            h += he
        F, c_trunk = self.trunk.forward(params, h)  # (B, d)
        return F, (c_four, c_in, c_in_emb, c_trunk, c_emb)

    def backward(self, params, dF, cache, need_dx: bool = True):
        c_four, c_in, c_in_emb, c_trunk, c_emb = cache
        d = self.cfg.d
        dh, grads = self.trunk.backward(params, dF, c_trunk)
        dfeat, g = self.inp.backward(params, dh, c_in, need_dx=need_dx)
        grads.update(g)
        if self.inp_emb is not None:
            _, g = self.inp_emb.backward(params, dh, c_in_emb, need_dx=False)
            grads.update(g)
        if not need_dx:
            return None, grads
        dx = dfeat[:, :d]
        if self.fourier:
            k2 = 2 * self.cfg.input_fourier
            dx = dx + self.fourier.backward(params, dfeat[:, d:d + k2], c_four)[0]
        return dx, grads  # gradient w.r.t. c_noise is never needed and not computed


class RandomFeatureNet:
    """F = phi(z W / sqrt(I)) @ A / sqrt(p), z = [x, e(c_noise)] (Bonnaire et al. 2025, eq. for s_A)."""

    def __init__(self, cfg: RFConfig):
        self.cfg = cfg
        self.emb = SinusoidalEmbedding("emb", cfg.emb_dim) if cfg.emb_dim else None
        self.d_in = cfg.d + cfg.emb_dim
        self.first = Linear("W", self.d_in, cfg.p, bias=False, init="normal",
                            trainable=cfg.train_first)
        self.act = make_activation(cfg.activation)
        self.readout = Linear("A", cfg.p, cfg.d, bias=False, init="zero")
        self.trainable = self.first.trainable + self.readout.trainable

    def init(self, rng, dtype=np.float32) -> dict:
        p = self.emb.init(rng, dtype) if self.emb else {}
        p.update(self.first.init(rng, dtype))
        p.update(self.readout.init(rng, dtype))
        return p

    def forward(self, params, x, c_noise):
        xp = array_module(x)
        z = x
        if self.emb:
            e, _ = self.emb.forward(params, c_noise)
            z = xp.concatenate([x, e], axis=1)  # (B, I)
        pre, c_first = self.first.forward(params, z)  # (B, p)
        pre *= 1.0 / math.sqrt(self.d_in)
        phi, c_act = self.act.forward(params, pre)  # (B, p)
        F, c_read = self.readout.forward(params, phi)  # (B, d)
        F *= 1.0 / math.sqrt(self.cfg.p)
        return F, (c_first, c_act, c_read)

    def backward(self, params, dF, cache, need_dx: bool = True):
        c_first, c_act, c_read = cache
        dphi, grads = self.readout.backward(params, dF * (1.0 / math.sqrt(self.cfg.p)), c_read,
                                            need_dx=need_dx or self.cfg.train_first)
        if not (need_dx or self.cfg.train_first):
            return None, grads
        dpre, _ = self.act.backward(params, dphi, c_act)
        dz, g = self.first.backward(params, dpre * (1.0 / math.sqrt(self.d_in)), c_first,
                                    need_dx=need_dx)
        grads.update(g)
        return (dz[:, :self.cfg.d] if need_dx else None), grads


NETWORKS = {"mlp": (MLPConfig, MLP), "rf": (RFConfig, RandomFeatureNet)}


def build_network(kind: str, **options):
    """Network from its kind ('mlp' or 'rf') and config fields; the inverse of `network_spec`."""
    if kind not in NETWORKS:
        raise ValueError(f"unknown network kind {kind!r}; use one of {sorted(NETWORKS)}")
    cfg_cls, net_cls = NETWORKS[kind]
    return net_cls(cfg_cls(**options))


def network_spec(net) -> dict:
    """JSON-able description of a network, enough to rebuild it with `build_network(**spec)`."""
    return {"kind": net.cfg.kind, **asdict(net.cfg)}
