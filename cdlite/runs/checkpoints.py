"""A run's checkpoints: the models (checkpoints/teacher.npz, student.npz: what `cdlite sample`
reads) and their training state (teacher.state.npz, student.state.npz: what --resume reads).

A model checkpoint's header is validated field by field before it is trusted: its kind of
model, the network it names (a valid MLPConfig or RFConfig, within the memory budget), the noise
range and the sampler. The shapes of its weights are what the network named by the header says
they are (net.param_shapes(): nothing is allocated); they are compared with the array headers
in the file before any array is read.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..checkpoint import load_checkpoint, read_header, save_checkpoint
from ..config import ConfigError
from ..diffusion.samplers import SAMPLERS
from ..errors import CdliteError
from ..nn.loop import TrainState
from ..nn.networks import NETWORKS, make_network
from ..npzio import check_budget
from ..sizes import check_config

MODELS = ("teacher", "student")


# --- model checkpoints --------------------------------------------------------------------

def _number(meta, key, path, low=0.0, strict=True):
    v = meta.get(key)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and \
        (v > low if strict else v >= low)
    if not ok:
        raise CdliteError(f"{path}: its header has {key}={v!r}, which must be a finite number "
                          f"{'>' if strict else '>='} {low}; the file is damaged or not a cdlite "
                          "model")
    return float(v)


def _integer(meta, key, path, low: int):
    v = meta.get(key)
    if not (isinstance(v, int) and not isinstance(v, bool) and v >= low):
        raise CdliteError(f"{path}: its header has {key}={v!r}, which must be an integer >= "
                          f"{low}; the file is damaged or not a cdlite model")
    return v


def _one_of(v, allowed) -> bool:
    return isinstance(v, str) and v in allowed


def check_model_header(meta: dict, path) -> dict:
    """The header of a model checkpoint, each field checked; raises CdliteError naming the
    first bad one."""
    if not _one_of(meta.get("model"), MODELS):
        raise CdliteError(f"{path}: its header says model={meta.get('model')!r}; cdlite models "
                          f"are {' or '.join(MODELS)} (use checkpoints/teacher.npz or student.npz)")
    sigma_min = _number(meta, "sigma_min", path)
    sigma_max = _number(meta, "sigma_max", path, low=sigma_min)
    _number(meta, "sigma_data", path)
    _number(meta, "rho", path) if "rho" in meta else None
    if not _one_of(meta.get("sampler", "heun"), SAMPLERS):
        raise CdliteError(f"{path}: its header has sampler={meta.get('sampler')!r}; expected "
                          f"one of {', '.join(SAMPLERS)}")
    _integer(meta, "steps", path, 1) if "steps" in meta else None
    _integer(meta, "step", path, 0) if "step" in meta else None
    shape = meta.get("image_shape")
    if shape is not None and not (isinstance(shape, list) and len(shape) == 2 and
                                  all(isinstance(n, int) and n > 0 for n in shape)):
        raise CdliteError(f"{path}: its header has image_shape={shape!r}; expected null or "
                          "[height, width]")
    return {"sigma_min": sigma_min, "sigma_max": sigma_max}


def network_of(spec, path):
    """The network a header names (not yet initialised), refusing invalid or oversized ones."""
    if not isinstance(spec, dict) or not _one_of(spec.get("kind"), NETWORKS):
        raise CdliteError(f"{path}: its header names no valid network ({spec!r:.80}); the file "
                          "is damaged or not a cdlite model")
    options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items()
               if k != "d"}
    d = spec.get("d")
    if not (isinstance(d, int) and not isinstance(d, bool) and d >= 1):
        raise CdliteError(f"{path}: its header has network d={d!r}; expected an integer >= 1")
    try:
        cfg = NETWORKS[spec["kind"]][0](**options)
    except ConfigError as e:
        raise CdliteError(f"{path}: its header describes a network cdlite cannot build: "
                          + "; ".join(e.problems)) from None
    except TypeError as e:
        raise CdliteError(f"{path}: its header describes an unknown network setting ({e})") \
            from None
    check_config(cfg)  # depth 1e9 is refused before its layers are listed
    net = make_network(cfg, d)
    check_budget(4 * sum(math.prod(s) for s in net.param_shapes().values()),
                 f"the network of {path}")
    return net


def load_model(path):
    """(net, params, meta) of a model checkpoint: header checked, shapes compared, no NaN."""
    meta = read_header(path)
    check_model_header(meta, path)
    net = network_of(meta.get("network"), path)
    arrays, _ = load_checkpoint(path, expected=net.param_shapes())
    return net, arrays, meta


# --- training state, for --resume --------------------------------------------------------------

def state_path(folder, role: str) -> Path:
    return Path(folder) / "checkpoints" / f"{role}.state.npz"


def save_state(folder, role: str, state: TrainState, config: dict | None = None) -> None:
    """The loop's state after `state.step`, atomically (a kill leaves the previous one), with
    the config that made it (the run's identity, checked by check_belongs on resume)."""
    save_checkpoint(state_path(folder, role), state.arrays(),
                    {"model": role, "step": state.step, "rng": state.rng,
                     **({"config": config} if config is not None else {})})


def load_state(folder, role: str, net) -> TrainState | None:
    """The saved state of `role` in a run folder, or None when there is none."""
    path = state_path(folder, role)
    if not path.is_file():
        return None
    arrays, meta = load_checkpoint(path)
    step = _integer(meta, "step", path, 0)
    if meta.get("model") != role or not isinstance(meta.get("rng"), dict):
        raise CdliteError(f"{path} is not the {role}'s training state; the run folder is "
                          "damaged; start the run again with --force")
    state = TrainState.from_arrays(step, arrays, meta["rng"])
    shapes = net.param_shapes()
    if {k: v.shape for k, v in state.params.items()} != shapes:
        raise CdliteError(f"{path} was saved by another network than this run's config.toml "
                          "describes; the run folder is damaged; start again with --force")
    return state


# --- whose checkpoints are these? ---------------------------------------------------------------

def check_belongs(folder, config: dict) -> None:
    """Refuse, in one line naming both sides, a checkpoint or training state in FOLDER/checkpoints
    that another run wrote: its header's config (the part of the config that made the model)
    must agree with `config`, the run's resolved config as a dict (cdlite.config.to_dict)."""
    for path in sorted((Path(folder) / "checkpoints").glob("*.npz")):
        try:
            theirs = read_header(path).get("config")
        except CdliteError:
            continue  # a damaged file: its recorded hash fails, and its stage runs again
        if not isinstance(theirs, dict):
            continue  # written before checkpoints carried their config: the hashes still check
        key, a, b = _first_difference(theirs, config)
        if key is not None:
            raise CdliteError(f"{path} belongs to another run ({key} = {a!r} there, {b!r} in "
                              f"{Path(folder) / 'config.toml'}); move it out of the folder (its "
                              "stage then runs again), or start over with --force")


def _first_difference(theirs: dict, ours: dict, prefix: str = ""):
    """(dotted key, their value, our value) of the first key of `theirs` that `ours` does not
    share, or (None, None, None)."""
    for k, v in theirs.items():
        mine = ours.get(k) if isinstance(ours, dict) else None
        if isinstance(v, dict) and isinstance(mine, dict):
            found = _first_difference(v, mine, f"{prefix}{k}.")
            if found[0] is not None:
                return found
        elif v != mine:
            return f"{prefix}{k}", v, mine
    return None, None, None
