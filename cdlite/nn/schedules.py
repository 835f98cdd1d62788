"""Learning-rate schedules: linear warm-up, then constant, cosine (Loshchilov & Hutter 2017) or
linear decay."""
from __future__ import annotations

import math

from ..errors import CdliteError

DECAYS = ("constant", "cosine", "linear")


def lr_schedule(step: int, base_lr: float, warmup_steps: int = 0, total_steps: int | None = None,
                decay: str = "constant", final_frac: float = 0.0) -> float:
    """Learning rate at `step` (counted from 0): linear warm-up, then constant, cosine
    (Loshchilov & Hutter 2017, SGDR, without restarts) or linear decay.

    - warm-up, step < warmup_steps: base_lr * (step + 1) / warmup_steps, so the first step
      already moves and the last warm-up step reaches base_lr;
    - then, with progress q going from 0 at step = warmup_steps to 1 at the last step of the run,
      step = total_steps - 1:
        constant: base_lr
        cosine:   base_lr * (final_frac + (1 - final_frac) * (1 + cos(pi q)) / 2)
        linear:   base_lr * (final_frac + (1 - final_frac) * (1 - q))
      Steps past the end keep final_frac * base_lr.
    """
    if decay not in DECAYS:
        raise CdliteError(f"unknown lr decay {decay!r}; use one of {DECAYS}")
    if step < 0 or warmup_steps < 0:
        raise CdliteError(f"step and warmup_steps must be >= 0, got {step} and {warmup_steps}")
    if not 0.0 <= final_frac <= 1.0:
        raise CdliteError(f"final_frac must be in [0, 1], got {final_frac}")
    if decay != "constant" and (total_steps is None or total_steps <= warmup_steps):
        raise CdliteError(
            f"decay {decay!r} needs total_steps > warmup_steps, got total_steps={total_steps},"
            f" warmup_steps={warmup_steps}; pass the run's number of steps")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if decay == "constant":
        return base_lr
    # max(1, ...): a run whose only post-warm-up step is the last one goes straight to q = 1
    q = min(1.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
    frac = 0.5 * (1.0 + math.cos(math.pi * q)) if decay == "cosine" else 1.0 - q
    return base_lr * (final_frac + (1.0 - final_frac) * frac)
