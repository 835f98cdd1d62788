"""The run folder (DESIGN.md section 7): config.toml, metrics.json, samples.npz, checkpoints/,
figures/, report.md. Every file is written atomically (temporary file, then rename), so an
interrupted run never leaves a half-written file in place of a good one."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint
from ..errors import CdliteError
from ..fileio import atomic_file

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
    with atomic_file(path) as fh:
        np.savez_compressed(fh, **{k: np.asarray(v, np.float32) for k, v in samples.items()})


def load_model(path):
    """(net, params, meta) of a model checkpoint written by the pipeline (meta['model'] says
    which); the arrays are checked, by name and shape, against the network the header names."""
    from ..backend import make_rng
    from ..nn.networks import build_network
    _, meta = load_checkpoint(path)
    for key in ("model", "network", "sigma_data", "sigma_min", "sigma_max"):
        if key not in meta:
            raise CdliteError(f"{path} is a checkpoint but not a cdlite model (its header has no "
                              f"{key!r}); use a checkpoints/teacher.npz or student.npz of a run")
    try:
        net = build_network(**meta["network"])
    except (TypeError, ValueError) as e:
        raise CdliteError(f"{path}: its header describes a network cdlite cannot build ({e})") \
            from None
    shapes = {k: v.shape for k, v in net.init(make_rng(0)).items()}
    arrays, _ = load_checkpoint(path, expected=shapes)
    return net, arrays, meta
