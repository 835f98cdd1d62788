"""How numbers are written for people: one mean ± sd formatter for every table and sentence."""
from __future__ import annotations

import math

import numpy as np


def mean_sd(values) -> tuple[float, float]:
    """(mean, population sd) of the finite values, (nan, nan) when there are none."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    return (float(v.mean()), float(v.std())) if len(v) else (math.nan, math.nan)


def plus_minus(mean: float, sd: float, digits: int = 3, missing: str = "-") -> str:
    """'0.512 ± 0.031', or `missing` when there is no mean."""
    if mean is None or math.isnan(mean):
        return missing
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
