"""The run folder (DESIGN.md section 7): config.toml, metrics.json, samples.npz, checkpoints/,
figures/, report.md. Every file is written atomically (temporary file, then rename), so an
interrupted run never leaves a half-written file in place of a good one."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import CdliteError


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_safe(v):
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return _json_safe(v.tolist())
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None  # JSON has no NaN/inf
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(_json_safe(obj), indent=2) + "\n")


def read_metrics(run_dir) -> dict:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise CdliteError(f"{run_dir} is not a run folder: no metrics.json in it "
                          f"(make one with `cdlite run RECIPE --out {run_dir}`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CdliteError(f"{path} is not valid JSON ({e}); was the run interrupted while "
                          "writing it?") from None


def write_samples(path: Path, samples: dict) -> None:
    """samples.npz: plain float32 arrays (m, d), written atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".samples.", suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **{k: np.asarray(v, np.float32) for k, v in samples.items()})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(path: Path, params: dict, meta: dict) -> None:
    """A model checkpoint: its evaluation weights and what is needed to rebuild and sample it."""
    save_checkpoint(path, params, meta)


def load_model(path):
    """(params, meta) of a model checkpoint written by save_model (meta['model'] says which)."""
    arrays, meta = load_checkpoint(path)
    for key in ("model", "network", "sigma_data", "sigma_min", "sigma_max"):
        if key not in meta:
            raise CdliteError(f"{path} is a checkpoint but not a cdlite model (its header has no "
                              f"{key!r}); use a checkpoints/teacher.npz or student.npz of a run")
    return arrays, meta
