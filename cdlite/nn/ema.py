"""The exponential moving average (EMA) of parameters: Polyak averaging, and the target network
theta_minus of consistency distillation (Song et al. 2023)."""
from __future__ import annotations

from ..errors import CdliteError


def ema_update(ema_params: dict, params: dict, rate: float) -> None:
    """Exponential moving average of the weights (Polyak averaging; the target network
    theta_minus <- mu theta_minus + (1 - mu) theta of Song et al. 2023), in place.

    Written as ema += (1 - rate) (param - ema), which equals rate*ema + (1-rate)*param but
    leaves a fixed array (param == ema) exactly unchanged. Every key is updated, fixed ones too.
    """
    if not 0.0 <= rate <= 1.0:
        raise CdliteError(f"EMA rate must be in [0, 1], got {rate}; e.g. 0.999, or "
                          "ema_rate_from_half_life(half_life_steps)")
    if ema_params.keys() != params.keys():
        only_ema = sorted(ema_params.keys() - params.keys())
        only_params = sorted(params.keys() - ema_params.keys())
        raise CdliteError(f"EMA and parameters have different keys: only in EMA {only_ema}, only "
                          f"in params {only_params}; make the EMA with copy_params(params)")
    for k, p in params.items():
        if rate == 0.0:  # mu = 0: an exact copy (e + (p - e) can differ from p in the last bit)
            ema_params[k][...] = p
        else:
            ema_params[k] += (1.0 - rate) * (p - ema_params[k])


def ema_rate_from_half_life(half_life_steps: float) -> float:
    """The EMA rate whose weight on old values halves every `half_life_steps` updates:
    rate ** half_life = 1/2, so rate = 0.5 ** (1 / half_life). A half-life of 0 gives rate 0
    (the EMA is the current parameters)."""
    if not half_life_steps >= 0.0:
        raise CdliteError(f"EMA half-life must be >= 0 steps, got {half_life_steps}")
    if half_life_steps == 0:
        return 0.0
    return 0.5 ** (1.0 / half_life_steps)


def copy_params(params: dict) -> dict:
    """A deep copy of a parameter dict (new arrays, same device and dtype), e.g. to start an EMA."""
    return {k: v.copy() for k, v in params.items()}
