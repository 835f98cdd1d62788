"""What the figures of a run share: colours, the display names of the sample sets, and the
title of a panel ("<label>  NFE 35  f_mem 0.95")."""
from __future__ import annotations

import numpy as np

MAX_POINTS = 2000   # dots per 2-D panel: more only hides the training crosses
N_PAIRS = 8         # (sample, nearest training image) pairs per model in the image figure
RED, BLUE, GREY = "#d62728", "#1f77b4", "0.6"

# Display names of the sample sets (NFE and f_mem are added from metrics.json), and which sets
# each figure draws, in panel order.
LABELS = {"teacher": "teacher (Heun)", "teacher_fewstep": "teacher, 1-step Euler",
          "teacher_fewstep_2": "teacher, 2-step Euler", "student": "student, 1 step",
          "student_2step": "student, 2 steps", "ct": "CT baseline, 1 step",
          "fresh_true": "fresh / held-out data", "empirical_optimum": "perfect memorizer"}
SCATTER_KEYS = ("teacher", "teacher_fewstep", "student", "student_2step", "ct")
IMAGE_KEYS = ("teacher", "student", "student_2step", "fresh_true")
RATIO_KEYS = ("teacher", "student", "fresh_true")


def entry(metrics: dict, key: str) -> dict:
    """The metrics of one sample set: top level for models, under "reference" otherwise."""
    found = metrics.get(key) or (metrics.get("reference") or {}).get(key)
    return found if isinstance(found, dict) else {}


def title(metrics: dict, key: str, nn, threshold: float) -> str:
    """'<label>  NFE 35  f_mem 0.95': f_mem from metrics.json, else from the samples shown."""
    row = entry(metrics, key)
    parts = [LABELS.get(key, key)]
    if row.get("nfe") is not None:
        parts.append(f"NFE {row['nfe']}")
    f_mem = row.get("f_mem")
    if f_mem is None and nn is not None:
        f_mem = float(np.mean(nn["ratio"] < threshold))
    if f_mem is not None:
        parts.append(f"f_mem {f_mem:.2f}")
    return "  ".join(parts)
