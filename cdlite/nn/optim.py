"""The optimizer (Adam of Kingma & Ba 2015) and gradient clipping; learning-rate schedules
(cdlite.nn.schedules) and the EMA (cdlite.nn.ema) are importable from here too.

A network's parameters are a dict `params: dict[str, array]`; its gradients a dict with the same
keys, for the trainable entries only (fixed arrays, such as frozen random features, are never
touched). Updates happen in place: the arrays a network holds stay the same objects. Adam's state
is made on the first step and saved with `state_dict()`, so a resumed run continues bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import CdliteError
from .ema import copy_params, ema_rate_from_half_life, ema_update  # noqa: F401  (re-exported)
from .schedules import DECAYS, lr_schedule  # noqa: F401  (re-exported)


def _check_lr(lr) -> float:
    lr = float(lr)
    if not (lr >= 0.0 and math.isfinite(lr)):
        raise CdliteError(f"learning rate must be a finite number >= 0, got {lr}")
    return lr


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

    Gradients come as a dict {key: array}, the way a backward pass writes them (`dW = x.T @ dy`
    lands in grads["h1.W"]). The step runs on ONE vector: g gathers the dict (one concatenate),
    m and v are flat, so a step is a dozen array operations whatever the number of layers (per
    key, Python overhead would outweigh the arithmetic at the toy size); p -= update goes by key.
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
        self.t = 0            # number of steps taken
        self.layout = ()      # ((key, shape), ...): what the flat vectors m and v hold, in order
        self.m = self.v = None  # first and second (raw, uncentred) moments, flat (P,)
        self._saved = {}      # moments from load_state_dict, per key, until the next step

    def step(self, params: dict, grads: dict, lr: float | None = None) -> None:
        """One Adam step, in place, for every key of `grads`; `lr` overrides self.lr."""
        lr = self.lr if lr is None else _check_lr(lr)
        unknown = [k for k in grads if k not in params]
        if unknown:
            raise CdliteError(f"gradients for {unknown} have no matching parameter (parameters: "
                              f"{sorted(params)}); pass the gradients of the same network")
        if not grads:
            return
        xp = array_module(*grads.values())
        g = xp.concatenate([gk.ravel() for gk in grads.values()])  # (P,) all gradients
        layout = tuple((k, gk.shape) for k, gk in grads.items())
        if layout != self.layout or self.m.dtype != g.dtype or type(self.m) is not type(g):
            self._start(layout, g)
        self.t += 1
        b1, b2 = self.b1, self.b2
        bc1 = 1.0 - b1 ** self.t  # bias corrections: m and v start at 0, so early averages
        bc2 = 1.0 - b2 ** self.t  # are too small by exactly these factors
        self.m = b1 * self.m + (1.0 - b1) * g
        self.v = b2 * self.v + (1.0 - b2) * g ** 2
        # lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / bc1 and sqrt(v_hat) = sqrt(v / bc2)
        update = self.m / (xp.sqrt(self.v) * (1.0 / math.sqrt(bc2)) + self.eps) * (lr / bc1)
        for k, u in _split(update, layout).items():
            if self.weight_decay:
                params[k] *= 1.0 - lr * self.weight_decay
            params[k] -= u

    def _start(self, layout, g):
        """Flat moments for a new set of keys: zeros, or the values of a loaded state."""
        old, self.layout, self._saved = {**self._saved, **self.moments()}, layout, {}
        self.m, self.v = (array_module(g).concatenate([
            array_module(g).asarray(old.get(f"{w}.{k}", np.zeros(shape)), g.dtype).ravel()
            for k, shape in layout]) for w in ("m", "v"))

    def moments(self) -> dict:
        """{'m.<key>': array, 'v.<key>': array}: the moments per parameter."""
        if self.m is None:
            return {}
        return {f"{which}.{k}": a for which, vec in (("m", self.m), ("v", self.v))
                for k, a in _split(vec, self.layout).items()}

    def state_dict(self) -> dict:
        """{'adam.t': 0-d int64, 'adam.m.<key>': array, 'adam.v.<key>': array}, copies (a saved
        state does not change as training goes on)."""
        return {"adam.t": np.array(self.t, dtype=np.int64),
                **{"adam." + k: a.copy() for k, a in {**self._saved, **self.moments()}.items()}}

    def load_state_dict(self, d: dict) -> None:
        """Restore t and the moments; entries without the 'adam.' prefix are ignored, so all
        arrays of a checkpoint can be passed."""
        if "adam.t" not in d:
            raise CdliteError(
                f"no 'adam.t' in the optimizer state (names: {sorted(d)[:8]}...); "
                "was it saved by a different optimizer? Resume with the one that saved it")
        self.t = int(d["adam.t"])
        # copies: the updates never write into the caller's (checkpoint's) arrays
        self._saved = {k[len("adam."):]: array_module(v).array(v, copy=True) for k, v in d.items()
                       if k.startswith(("adam.m.", "adam.v."))}
        self.layout, self.m, self.v = (), None, None  # the next step makes the flat vectors


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
    # |g_k|^2 in float64 (exact squares, a pairwise sum), one sum per array on its device, and
    # one conversion to a Python float: one device sync
    total = math.sqrt(float(sum((g.astype("float64") ** 2).sum() for g in grads.values())))
    if math.isfinite(total) and total > max_norm:
        for g in grads.values():
            g *= max_norm / total
    return total


def _split(vec, layout) -> dict:
    """{key: the piece of the flat vector `vec` with that key's shape}, for ((key, shape), ...)."""
    pieces, start = {}, 0
    for key, shape in layout:
        size = math.prod(shape)
        pieces[key] = vec[start:start + size].reshape(shape)
        start += size
    return pieces
