"""Reused arrays for the hot loops: the `out=` buffers of a training step or a sampler.

A training step calls the same network on arrays of the same shapes thousands of times. Each
fresh intermediate array of a few hundred KB is a trip to the memory allocator and, on Linux,
often a run of page faults on fresh memory: on main, a third of a teacher step at batch 256 was
spent there (benchmarks/bench_steps.py). A Workspace hands out the same arrays call after call:

    y = xp.matmul(x, W, out=buffer(ws, self, "y", (B, O), x))   # (B, O)

With ws = None, `buffer` returns None and NumPy (or CuPy) allocates as usual, so the same line
is the plain path. Arrays from a workspace are overwritten at its next use: a workspace belongs
to ONE caller that runs one forward (and its backward) at a time. In cdlite these callers are the
loss functions (the forward/backward pair of a training step never leaves them) and the functions
made by `bind` (sampling, CD's teacher and target), each with its own workspace.

Gradients are never workspace arrays: `new_grads` makes them fresh at every backward, as views
into one flat vector (`FlatDict.flat`), so that clipping and Adam work on a single array.
"""
from __future__ import annotations

import math

from ..backend import array_module


class Workspace:
    """Arrays kept from one call to the next, one per (owner, role): an owner (a layer) asks
    for its buffer "y" of a shape; the same array comes back until the shape, dtype or device
    changes. `grads` holds the FlatDict that the current backward fills (see `new_grads`).

    forward_only=True promises that no backward will follow (sampling, CD's teacher and
    target): a layer may then drop what only a backward needs, e.g. SiLU writes its output
    over its sigmoid instead of keeping both."""

    def __init__(self, forward_only: bool = False):
        self.arrays: dict = {}
        self.grads = None
        self.forward_only = forward_only

    def get(self, owner, role: str, shape, like, dtype=None):
        dtype = like.dtype if dtype is None else dtype
        key = (owner, role)
        a = self.arrays.get(key)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype or type(a) is not type(like):
            a = self.arrays[key] = array_module(like).empty(shape, dtype=dtype)
        return a


def buffer(ws, owner, role: str, shape, like, dtype=None):
    """Where `owner` writes its result `role`: ws's reused array, or None without a workspace
    (an `out=None` argument makes NumPy allocate a fresh array)."""
    return None if ws is None else ws.get(owner, role, shape, like, dtype)


def ws_arg(ws) -> dict:
    """{'ws': ws} for a call into a network, or {} so that a network written without workspace
    support (any object with forward/backward, e.g. a course exercise's) is called as before."""
    return {} if ws is None else {"ws": ws}


def takes_workspace(net) -> bool:
    """True for networks whose forward/backward accept `ws` (cdlite's MLP and random features)."""
    return bool(getattr(net, "takes_workspace", False))


# --- dicts of arrays that are views into one flat vector ----------------------------------------

class FlatDict(dict):
    """A dict {key: array} whose arrays are views into one flat vector `flat`, in the order of
    `views` (gradients from `new_grads`, parameter copies from cdlite.nn.ema.copy_params).
    Clipping, Adam and the EMA work on `flat` directly (one operation instead of one per
    array) while the arrays are still those views; `intact()` checks that. A copy or a pickle
    is a plain dict (its arrays no longer share one vector)."""

    def __init__(self, flat, views: dict):
        super().__init__(views)
        self.flat = flat
        self.views = views

    def layout(self):
        """((key, shape), ...): what the flat vector holds, in order."""
        return tuple((k, v.shape) for k, v in self.views.items())

    def intact(self) -> bool:
        """True while every key still maps to its view of `flat` (nobody replaced an array)."""
        return len(self) == len(self.views) and all(
            dict.get(self, k) is v for k, v in self.views.items())

    def __reduce__(self):
        return dict, (dict(self),)


def same_flat_layout(a, b) -> bool:
    """Both FlatDicts, intact, with the same keys, shapes, dtype and device: then an elementwise
    operation on a.flat and b.flat is the same operation on every pair of arrays."""
    return (isinstance(a, FlatDict) and isinstance(b, FlatDict) and a.intact() and b.intact()
            and a.layout() == b.layout() and a.flat.dtype == b.flat.dtype
            and type(a.flat) is type(b.flat))


def flat_views(flat, layout) -> dict:
    """{key: view of `flat` with that key's shape}, for a layout ((key, shape), ...)."""
    views, start = {}, 0
    for key, shape in layout:
        size = math.prod(shape)
        views[key] = flat[start:start + size].reshape(shape)
        start += size
    return views


def new_grads(ws, params: dict, keys):
    """The gradient dict a backward fills: with a workspace, a fresh FlatDict for `keys` (set
    as ws.grads, where the layers find their views); without one, an empty dict (each layer
    returns its own arrays)."""
    if ws is None:
        return {}
    first = params[keys[0]] if keys else None
    if first is None or any(params[k].dtype != first.dtype for k in keys):
        ws.grads = None                       # mixed dtypes: no flat vector, plain arrays
        return {}
    layout = tuple((k, params[k].shape) for k in keys)
    flat = array_module(first).empty(sum(math.prod(s) for _, s in layout), dtype=first.dtype)
    ws.grads = FlatDict(flat, flat_views(flat, layout))
    return ws.grads


def grad_buffer(ws, key: str):
    """The view of the current flat gradient that parameter `key`'s gradient goes into, or None
    (then the layer allocates it)."""
    if ws is None or ws.grads is None:
        return None
    return ws.grads.views.get(key)
