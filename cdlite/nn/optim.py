"""The optimizer (Adam of Kingma & Ba 2015) and gradient clipping. Learning-rate
schedules live in cdlite.nn.schedules, the exponential moving average (EMA) of parameters in
cdlite.nn.ema; both are importable from here too, as before.

Conventions of cdlite: a network's parameters are a flat dict `params: dict[str, array]`; the
gradients are a dict with the same keys, but only for the trainable entries (fixed buffers, such
as frozen random features, have no gradient and are never touched by an optimizer). Every update
below happens in place, so the arrays a network holds stay the same objects during training.

Optimizer state (momentum buffers, Adam moments) is created lazily on the first step, with the
shape, dtype and device of its parameter, and is saved and restored with `state_dict()` /
`load_state_dict()` so that a resumed run continues bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import CdliteError
from .ema import copy_params, ema_rate_from_half_life, ema_update  # noqa: F401  (re-exported)
from .schedules import DECAYS, lr_schedule  # noqa: F401  (re-exported)
from .workspace import FlatDict, flat_views



# --- shared pieces ---------------------------------------------------------------------------

def _buffer(store: dict, key: str, p):
    """The state array `store[key]` of parameter `p`: zeros on first use; moved to p's device
    and dtype if it came from a checkpoint (checkpoints hold NumPy arrays)."""
    buf = store.get(key)
    if buf is None:
        buf = store[key] = array_module(p).zeros_like(p)
    elif type(buf) is not type(p) or buf.dtype != p.dtype:
        buf = store[key] = array_module(p).asarray(buf, dtype=p.dtype)
    return buf


def _check_step_args(params: dict, grads: dict, lr, default_lr: float) -> float:
    unknown = [k for k in grads if k not in params]
    if unknown:
        raise CdliteError(
            f"gradients for {unknown} have no matching parameter (parameters: {sorted(params)}); "
            "pass the gradient dict returned by the same network's backward")
    return default_lr if lr is None else _check_lr(lr)


def _check_lr(lr) -> float:
    lr = float(lr)
    if not (lr >= 0.0 and math.isfinite(lr)):
        raise CdliteError(f"learning rate must be a finite number >= 0, got {lr}")
    return lr


def _save_state(prefix: str, store: dict) -> dict:
    # copies, so that a saved state does not change when training goes on
    return {prefix + k: v.copy() for k, v in store.items()}


def _load_state(prefix: str, d: dict) -> dict:
    # copies, so that the in-place updates never write into the caller's (checkpoint's) arrays
    return {k[len(prefix):]: array_module(v).array(v, copy=True)
            for k, v in d.items() if k.startswith(prefix)}


# --- Adam ------------------------------------------------------------------------------------

class Adam:
    """Adam, Algorithm 1 of Kingma & Ba (2015), with bias correction:

        m <- b1 m + (1 - b1) g             v <- b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1^t)             v_hat = v / (1 - b2^t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    `weight_decay` is decoupled as in AdamW (Loshchilov & Hutter 2019): p <- p (1 - lr wd)
    before the Adam step, instead of an L2 term in g that the 1/sqrt(v_hat) scaling would
    distort. The step count t is shared by all keys: every step is expected to update the same
    trainable keys (those of the network's gradient dict).

    The moments of all keys live in one flat vector each (`m[key]`, `v[key]` are views into
    them), so a step is a dozen operations on one array, whatever the number of layers; the
    gradients come as one flat vector too (cdlite.nn.workspace.FlatDict) or are gathered into
    one. `_step_per_key` is the same step written key by key: the plain version, used for
    parameters of mixed dtypes, and the reference the tests compare with (same bits).
    """

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise CdliteError(f"Adam betas must be in [0, 1), got {betas}; (0.9, 0.999) is usual")
        if not eps > 0.0:
            raise CdliteError(f"Adam eps must be > 0, got {eps}; 1e-8 is usual")
        if weight_decay < 0.0:
            raise CdliteError(f"weight_decay must be >= 0, got {weight_decay}")
        self.lr = _check_lr(lr)
        self.b1, self.b2 = float(b1), float(b2)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.t = 0          # number of steps taken
        self.m: dict = {}   # first moments, one per trainable key, made on first use
        self.v: dict = {}   # second (raw, uncentred) moments
        self._flat = None   # (layout, m, v, g, u, tmp): the flat vectors m[key], v[key] view

    def step(self, params: dict, grads: dict, lr: float | None = None) -> None:
        """One Adam step, in place, for every key of `grads`; `lr` overrides self.lr."""
        lr = _check_step_args(params, grads, lr, self.lr)
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t  # bias corrections: m and v start at 0, so early averages
        bc2 = 1.0 - self.b2 ** self.t  # are too small by exactly these factors
        flat = self._flat_vectors(params, grads)
        if flat is None:
            return self._step_per_key(params, grads, lr, bc1, bc2)
        (_, m, v, g, u, tmp), xp = flat, array_module(flat[1])
        b1, b2 = self.b1, self.b2
        if isinstance(grads, FlatDict) and grads.intact():
            g = grads.flat                         # (P,) already one vector
        else:
            xp.concatenate([grads[k].ravel() for k in self.u_views], out=g)  # (P,)
        m *= b1
        m += xp.multiply(g, 1.0 - b1, out=tmp)     # m <- b1 m + (1 - b1) g
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v *= b2
        v += tmp                                   # v <- b2 v + (1 - b2) g^2
        # lr * m_hat / (sqrt(v_hat) + eps), in u
        xp.sqrt(v, out=u)
        u *= 1.0 / math.sqrt(bc2)                  # sqrt(v_hat)
        u += self.eps
        xp.divide(m, u, out=u)                     # m / (sqrt(v_hat) + eps)
        u *= lr / bc1                              # lr * m_hat / (sqrt(v_hat) + eps)
        for k, u_k in self.u_views.items():
            p = params[k]
            if self.weight_decay:
                p *= 1.0 - lr * self.weight_decay
            p -= u_k

    def _step_per_key(self, params, grads, lr, bc1, bc2):
        """The same step, one key at a time (the plain version and the tests' reference)."""
        b1, b2, eps = self.b1, self.b2, self.eps
        for k, g in grads.items():
            p = params[k]
            xp = array_module(p)
            m = _buffer(self.m, k, p)
            v = _buffer(self.v, k, p)
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            if self.weight_decay:
                p *= 1.0 - lr * self.weight_decay
            # p -= lr * m_hat / (sqrt(v_hat) + eps), computed in one temporary `u`
            u = xp.sqrt(v)
            u *= 1.0 / math.sqrt(bc2)   # sqrt(v_hat)
            u += eps
            xp.divide(m, u, out=u)      # m / (sqrt(v_hat) + eps)
            u *= lr / bc1               # lr * m_hat / (sqrt(v_hat) + eps)
            p -= u

    def _flat_vectors(self, params, grads):
        """(layout, m, v, g, u, tmp) for the keys of `grads`, made (moving the moments there)
        when the keys, shapes, dtype or device change; None when the parameters and gradients
        do not share one dtype and device (then the step goes key by key)."""
        layout = (grads.layout() if isinstance(grads, FlatDict) and grads.intact()
                  else tuple((k, g.shape) for k, g in grads.items()))
        first = params[layout[0][0]] if layout else None
        if first is None or any(type(params[k]) is not type(first) or params[k].dtype !=
                                first.dtype or grads[k].dtype != first.dtype for k, _ in layout):
            return None
        flat = self._flat
        if flat is not None and flat[0] == layout and flat[1].dtype == first.dtype \
                and type(flat[1]) is type(first):
            return flat
        xp = array_module(first)
        size = sum(math.prod(shape) for _, shape in layout)
        m, v, g, u, tmp = (xp.zeros(size, dtype=first.dtype) for _ in range(5))
        for store, vec in ((self.m, m), (self.v, v)):
            views = flat_views(vec, layout)
            for k, view in views.items():
                if k in store:  # moments of earlier steps or of a checkpoint: keep them
                    view[...] = xp.asarray(store[k], dtype=first.dtype)
            store.update(views)
        self.u_views = flat_views(u, layout)
        self._flat = (layout, m, v, g, u, tmp)
        return self._flat

    def state_dict(self) -> dict:
        """{'adam.t': 0-d int64, 'adam.m.<key>': array, 'adam.v.<key>': array}."""
        return {"adam.t": np.array(self.t, dtype=np.int64),
                **_save_state("adam.m.", self.m), **_save_state("adam.v.", self.v)}

    def load_state_dict(self, d: dict) -> None:
        """Restore t and the moments; entries without the 'adam.' prefix are ignored, so all
        arrays of a checkpoint can be passed."""
        if "adam.t" not in d:
            raise CdliteError(
                f"no 'adam.t' in the optimizer state (names: {sorted(d)[:8]}...); "
                "was it saved by a different optimizer? Resume with the one that saved it")
        self.t = int(d["adam.t"])
        self.m = _load_state("adam.m.", d)
        self.v = _load_state("adam.v.", d)
        self._flat = None  # the next step moves them into flat vectors


# --- gradient clipping -----------------------------------------------------------------------

def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Global-norm gradient clipping (Pascanu, Mikolov & Bengio 2013).

    The norm is taken over all arrays together, sqrt(sum_k |g_k|^2), so clipping rescales every
    gradient by the same factor and keeps the update's direction. Above `max_norm` the arrays are
    scaled in place to norm max_norm; below it they are untouched. Returns the norm before
    clipping (a float; inf or nan if a gradient is, and then nothing is scaled).
    """
    if not max_norm > 0.0:
        raise CdliteError(f"max_norm must be > 0, got {max_norm}")
    # |g_k|^2 per array, in float64 (exact squares, a pairwise sum), through one reused array
    scratch = None
    sums = []
    for g in grads.values():
        if scratch is None:
            scratch = array_module(g).empty(max(a.size for a in grads.values()), "float64")
        g64 = scratch[:g.size].reshape(g.shape)
        g64[...] = g
        g64 *= g64
        sums.append(g64.sum())  # one sum per array on its device
    total = math.sqrt(float(sum(sums)))  # one conversion to a Python float: one device sync
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / total
        if isinstance(grads, FlatDict) and grads.intact():
            grads.flat *= scale  # every array at once: they are views of one vector
        else:
            for g in grads.values():
                g *= scale
    return total
