"""Pieces shared by every training loop (teacher, CD, CT): input checks, the evaluation EMA, and
a loss that must stay finite. The loops themselves stay short and read like the algorithms."""
from __future__ import annotations

import math

from ..backend import array_module
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
        bad = int((~finite).sum())
        raise CdliteError(f"training data holds NaN or inf in {bad} of {train_x.shape[0]} "
                          "points; clean or drop them first")


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
