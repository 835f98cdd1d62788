"""Pieces shared by every training loop (teacher, CD, CT): input checks, the evaluation EMA, a
finite loss, and the state a stopped loop continues from, so the loops read like the algorithms."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..backend import array_module
from ..checkpoint import restore_rng, rng_state
from ..errors import CdliteError
from .optim import copy_params, ema_rate_from_half_life


def check_training_data(train_x, d: int) -> None:
    """The training set must be a finite (n, d) float array matching the network's d."""
    if getattr(train_x, "ndim", 0) != 2 or train_x.shape[0] < 1:
        raise CdliteError(f"training data must be an (n, d) array with n >= 1, got shape "
                          f"{getattr(train_x, 'shape', None)}")
    if train_x.shape[1] != d:
        raise CdliteError(f"training data has dimension {train_x.shape[1]} but the network was "
                          f"built for d = {d}; build it with d={train_x.shape[1]}")
    finite = array_module(train_x).isfinite(train_x).all(axis=1)  # (n,)
    if not bool(finite.all()):
        raise CdliteError(f"training data holds NaN or inf in {int((~finite).sum())} of "
                          f"{train_x.shape[0]} points; clean or drop them first")


def evaluation_ema(params: dict, half_life: float):
    """(ema, rate): a separate EMA of params for evaluation, or params itself when half_life 0."""
    if half_life > 0:
        return copy_params(params), ema_rate_from_half_life(half_life)
    return params, 0.0


def check_loss(loss: float, step: int, lr: float, what: str) -> None:
    """Stop at the first non-finite loss instead of training on NaN weights."""
    if not math.isfinite(loss):
        raise CdliteError(f"{what} diverged at step {step}: loss = {loss}; lower the learning "
                          f"rate (now {lr:g}) or keep gradient clipping on")


# --- continuing a stopped loop ----------------------------------------------------------------

@dataclass
class TrainState:
    """All a training loop needs to continue exactly where it stopped: the step it reached and,
    as they were after that step, the weights, the evaluation EMA, the CD/CT target, the
    optimizer's state and the random generator's. Continuing from it repeats, bit for bit, the
    run that was never stopped (same float32 operations on the same numbers). The loops hand
    it over with their live arrays: save (or copy) it at once."""
    step: int
    params: dict                  # theta
    ema: dict | None = None       # the evaluation EMA; None when it is params itself
    target: dict | None = None    # theta_minus of CD/CT; None for the teacher
    optimizer: dict = field(default_factory=dict)  # Adam.state_dict()
    rng: dict = field(default_factory=dict)        # checkpoint.rng_state(rng)

    def arrays(self) -> dict:
        """Every array under one flat name: params.*, ema.*, target.*, and the optimizer's."""
        out = {f"params.{k}": v for k, v in self.params.items()}
        for prefix, part in (("ema.", self.ema), ("target.", self.target)):
            out.update({prefix + k: v for k, v in (part or {}).items()})
        return {**out, **self.optimizer}

    @classmethod
    def from_arrays(cls, step: int, arrays: dict, rng: dict) -> TrainState:
        def part(prefix):
            got = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            return got or None
        optimizer = {k: v for k, v in arrays.items()
                     if not k.startswith(("params.", "ema.", "target."))}
        return cls(step, part("params.") or {}, part("ema."), part("target."), optimizer, rng)


def restore(state: TrainState, params: dict, ema: dict, target: dict | None, opt, rng) -> int:
    """Put `state` into a fresh loop's arrays (in place, on their device and dtype), optimizer
    and random generator; returns the step to continue after."""
    def fill(dst, src, what):
        if src is None or dst is None:
            return
        if src.keys() != dst.keys():
            raise CdliteError(f"the saved {what} has arrays {sorted(src)[:6]}..., the network "
                              f"{sorted(dst)[:6]}...; it was saved by another network config")
        for k, v in src.items():
            dst[k][...] = array_module(dst[k]).asarray(v, dtype=dst[k].dtype)
    fill(params, state.params, "weights")
    if ema is not params:
        fill(ema, state.ema, "EMA")
    fill(target, state.target, "target")
    opt.load_state_dict(state.optimizer)
    rng.bit_generator.state = restore_rng(state.rng).bit_generator.state  # (checked first)
    return state.step


def evaluation_hook(result, on_eval, on_state, opt, rng, target=None):
    """The `evaluate(step)` of a training loop: record on_eval(step, eval weights) in
    result.history, then (after step 0) hand the loop's state to on_state for a checkpoint."""
    def evaluate(step):
        ema = result.ema
        if on_eval is not None:
            result.history.append({"step": step, **on_eval(step, ema)})
        if on_state is not None and step > 0:
            on_state(TrainState(step, result.params, None if ema is result.params else ema,
                                target, opt.state_dict(), rng_state(rng)))
    return evaluate
