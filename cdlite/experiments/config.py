"""Run configuration: one frozen dataclass per component, composed into a `RunConfig`.

A recipe is a `RunConfig` with its own defaults. Any field can be overridden by name, e.g.
`--set teacher.steps=8000 --set data.n_train=32`, or from a TOML file with the same sections.
The resolved config is written into the run folder (config.toml), so a run can be repeated.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import sys
from dataclasses import dataclass, field, fields, replace

from ..diffusion.train import TeacherConfig
from ..distill.train import DistillConfig
from .. import fileio
from ..errors import CdliteError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class DataConfig:
    name: str = "gaussians"       # see cdlite.data.DATASETS
    n_train: int = 16             # n, the training-set size (small: memorization needs it)
    n_test: int = 2000            # held-out points (fresh true samples for toy data)
    K: int = 8                    # gaussians: components on a circle
    dim: int = 2                  # gaussians: data dimension d
    radius: float = 2.0           # gaussians: radius of the circle of means
    std: float = 0.3              # gaussians: std of each component
    noise: float = 0.05           # 2-D shapes: jitter
    classes: tuple = ()           # images: keep only these labels (empty = all)
    path: str = ""                # mnist / fashion-mnist / array: file to read
    labels_path: str = ""         # mnist / fashion-mnist: labels file (needed for classes)
    downsample: int = 1           # mnist / fashion-mnist: average-pool factor (2: 28x28 -> 14x14)
    key: str = ""                 # array: which array of an .npz


@dataclass(frozen=True)
class NetConfig:
    kind: str = "mlp"             # "mlp" or "rf" (random features, Bonnaire et al.)
    hidden: int = 128             # mlp: width H
    depth: int = 3                # mlp: hidden layers
    activation: str = "silu"
    emb: str = "sinusoidal"       # mlp: embedding of c_noise
    emb_dim: int = 32
    emb_mode: str = "concat"      # mlp: "concat" or "add"
    input_fourier: int = 32       # mlp: random Fourier frequencies of c_in x (0 = plain MLP)
    input_fourier_scale: float = 2.0  # their std s; ~2 in 2-D, much smaller in 64-D
    residual: bool = False
    layernorm: bool = False
    p: int = 1024                 # rf: number of random features
    train_first: bool = False     # rf: train W too


@dataclass(frozen=True)
class DiffusionConfig:
    sigma_min: float = 0.002      # EDM defaults, but ...
    sigma_max: float = 20.0       # ... ~10x the data scale is plenty for low-dimensional data
    rho: float = 7.0
    sigma_data: float = 0.0       # 0 = take it from the dataset
    heun_steps: int = 18          # teacher sampling: Heun with N steps, NFE = 2N - 1


@dataclass(frozen=True)
class EvalConfig:
    n_samples: int = 10000        # samples per model in the final evaluation
    n_curve: int = 1000           # samples per checkpoint on the training curves
    threshold: float = 1 / 3      # memorized when |x - a_(1)| / |x - a_(2)| < threshold
    n_boot: int = 1000            # bootstrap resamples for confidence intervals
    student_tau: float = 1.0      # intermediate level of 2-step consistency sampling
    gap_sigmas: tuple = (0.05, 0.2, 1.0)  # sigma values of the generalization gap
    gap_noise: int = 32           # noise draws per point for the generalization gap


@dataclass(frozen=True)
class RunConfig:
    recipe: str = "toy-gaussians"
    description: str = ""
    seed: int = 0
    device: str = "cpu"           # "cpu", "gpu" or "auto"
    run_ct: bool = False          # also train a consistency model without teacher (CT baseline)
    data: DataConfig = field(default_factory=DataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


SECTIONS = ("data", "net", "diffusion", "teacher", "distill", "eval")


FIXED = ("recipe", "description")  # a recipe's identity: choose another recipe instead


def valid_keys(cfg: RunConfig) -> list[str]:
    """Every dotted name that --set accepts."""
    keys = [f.name for f in fields(cfg) if f.name not in SECTIONS + FIXED]
    for s in SECTIONS:
        keys += [f"{s}.{f.name}" for f in fields(getattr(cfg, s))]
    return keys


def _coerce(name: str, text_or_value, current):
    """Convert a --set string (or a TOML value) to the type of the field's current value."""
    v = text_or_value
    kind = type(current)
    try:
        if kind is bool:
            if isinstance(v, bool):
                return v
            low = str(v).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                raise ValueError
            return int(float(v)) if isinstance(v, str) and "e" in v.lower() else int(v)
        if kind is float:
            if isinstance(v, bool):
                raise ValueError
            return float(v)
        if kind is tuple:
            if isinstance(v, str):
                v = v.strip()
                if v in ("", "()", "[]"):
                    return ()
                v = json.loads(v if v.startswith("[") else f"[{v}]")
            if not isinstance(v, (list, tuple)):
                raise ValueError
            # elements take the type of the default's elements (floats for gap_sigmas, ...)
            elem = type(current[0]) if current else (int if all(
                isinstance(x, int) and not isinstance(x, bool) for x in v) else float)
            return tuple(_coerce(name, x, elem(0)) for x in v)
        if isinstance(v, (list, tuple, dict)):
            raise ValueError
        return str(v)
    except (ValueError, TypeError, json.JSONDecodeError):
        what = "list of " + (type(current[0]).__name__ + "s" if current else "numbers") \
            if kind is tuple else kind.__name__
        raise CdliteError(f"{name}={v!r} is not a valid {what} "
                          f"(current value {current!r})") from None


def override(cfg: RunConfig, key: str, value) -> RunConfig:
    """cfg with the dotted field `key` set to `value` (a string from --set, or a typed value)."""
    parts = key.strip().split(".")
    if key in FIXED:
        raise CdliteError(f"{key!r} cannot be set: the recipe is the first argument of "
                          "`cdlite run RECIPE` (see `cdlite list`)")
    keys = valid_keys(cfg)
    if key not in keys:
        near = difflib.get_close_matches(key, keys, n=3)
        hint = f"did you mean {' or '.join(near)}? " if near else ""
        same = [k for k in keys if k.startswith(parts[0] + ".")] if len(parts) > 1 else []
        raise CdliteError(f"unknown config key {key!r}; {hint}valid keys"
                          + (f" in [{parts[0]}]" if same else "") + ": "
                          + ", ".join(same or keys))
    if len(parts) == 1:
        return replace(cfg, **{key: _coerce(key, value, getattr(cfg, key))})
    section = getattr(cfg, parts[0])
    new = replace(section, **{parts[1]: _coerce(key, value, getattr(section, parts[1]))})
    return replace(cfg, **{parts[0]: new})


def apply_sets(cfg: RunConfig, assignments) -> RunConfig:
    """Apply 'key=value' strings in order."""
    for a in assignments:
        if "=" not in a:
            raise CdliteError(f"--set expects key=value, got {a!r} (e.g. --set teacher.steps=8000)")
        k, v = a.split("=", 1)
        cfg = override(cfg, k.strip(), v.strip())
    return cfg


def to_dict(cfg: RunConfig) -> dict:
    """Nested plain dict (tuples as lists), ready for JSON or TOML."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return list(v) if isinstance(v, tuple) else v
    return plain(dataclasses.asdict(cfg))


def from_dict(base: RunConfig, d: dict, source: str = "config") -> RunConfig:
    """base updated with the (possibly partial) nested dict d, as read from TOML or JSON."""
    cfg = base
    for k, v in d.items():
        if k in FIXED:
            continue  # a saved config.toml names its recipe; the command line chose it already
        if isinstance(v, dict):
            for k2, v2 in v.items():
                cfg = override(cfg, f"{k}.{k2}", v2)
        elif k in SECTIONS:
            raise CdliteError(f"{source}: [{k}] must be a table of settings (e.g. [{k}] then "
                              f"lines like key = value), got {k} = {v!r}")
        else:
            cfg = override(cfg, k, v)
    return cfg


def load_toml(path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise CdliteError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CdliteError(f"config file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise CdliteError(f"cannot read config file {path}: {e.strerror}") from None


def to_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML: top-level keys, then one [section] per component."""
    return fileio.to_toml(to_dict(cfg))


# which DataConfig fields each dataset reads (the others must keep their defaults)
_DATA_FIELDS = {"gaussians": ("K", "dim", "radius", "std"), "two-moons": ("noise",),
                "rings": ("noise",), "swiss-roll": ("noise",), "checkerboard": ("noise",),
                "digits": ("classes",),
                "mnist": ("path", "labels_path", "downsample", "classes"),
                "fashion-mnist": ("path", "labels_path", "downsample", "classes"),
                "array": ("path", "key")}
_DATA_DEFAULTS = DataConfig()

_CHOICES = {
    "device": ("cpu", "gpu", "auto"),
    "net.kind": ("mlp", "rf"),
    "net.activation": ("silu", "relu", "tanh", "gelu"),
    "net.emb": ("sinusoidal", "fourier"),
    "net.emb_mode": ("concat", "add"),
    "teacher.lr_decay": ("constant", "cosine", "linear"),
    "distill.solver": ("heun", "euler"),
    "distill.distance": ("l2", "pseudo-huber"),
    "distill.init": ("teacher", "scratch"),
}
_POSITIVE = ("data.n_test", "data.downsample", "teacher.P_std", "net.hidden", "net.depth", "net.emb_dim", "net.p",
             "diffusion.heun_steps", "teacher.steps", "teacher.batch", "teacher.eval_every",
             "distill.steps", "distill.batch", "distill.eval_every", "eval.n_samples",
             "eval.n_curve", "eval.n_boot", "eval.gap_noise", "teacher.lr", "distill.lr",
             "diffusion.sigma_min", "diffusion.sigma_max", "eval.student_tau")


def _get(cfg, key):
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: RunConfig) -> RunConfig:
    """Check the values a run depends on before it starts, so a typo costs one line, not a
    traceback ten minutes in."""
    from ..data import DATASETS
    problems = []
    for key, allowed in _CHOICES.items():
        if _get(cfg, key) not in allowed:
            problems.append(f"{key}={_get(cfg, key)!r} (choose one of {', '.join(allowed)})")
    if cfg.data.name not in DATASETS:
        problems.append(f"data.name={cfg.data.name!r} (choose one of {', '.join(DATASETS)})")
    for key in _POSITIVE:
        if not _get(cfg, key) > 0:
            problems.append(f"{key}={_get(cfg, key)!r} (must be > 0)")
    if cfg.seed < 0:
        problems.append(f"seed={cfg.seed} (must be >= 0)")
    if cfg.diffusion.sigma_data < 0 or cfg.distill.huber_c < 0 or cfg.teacher.warmup < 0:
        problems.append("diffusion.sigma_data, distill.huber_c and teacher.warmup must be >= 0")
    if min(cfg.eval.n_samples, cfg.eval.n_curve) < 10:
        problems.append(f"eval.n_samples={cfg.eval.n_samples}, eval.n_curve={cfg.eval.n_curve} "
                        "(need at least 10 samples for the quality figures)")
    if not cfg.eval.gap_sigmas or min(cfg.eval.gap_sigmas) <= 0:
        problems.append(f"eval.gap_sigmas={cfg.eval.gap_sigmas} (one or more noise levels > 0)")
    used = _DATA_FIELDS.get(cfg.data.name, ())
    unused = [f.name for f in fields(DataConfig)  # set away from its default, but never read
              if f.name not in ("name", "n_train", "n_test", *used)
              and getattr(cfg.data, f.name) != getattr(_DATA_DEFAULTS, f.name)]
    if unused:
        problems.append(f"data.{', data.'.join(unused)} not used by dataset {cfg.data.name!r} "
                        f"(it reads: {', '.join(used) or 'nothing more'}); leave it out")
    if cfg.data.n_train < 2:
        problems.append(f"data.n_train={cfg.data.n_train} (need at least 2 training points)")
    d = cfg.diffusion
    if not d.sigma_min < d.sigma_max:
        problems.append(f"diffusion.sigma_min={d.sigma_min} must be below sigma_max={d.sigma_max}")
    if not cfg.eval.student_tau > d.sigma_min:
        problems.append(f"eval.student_tau={cfg.eval.student_tau} must exceed sigma_min")
    if cfg.distill.N < 2:
        problems.append(f"distill.N={cfg.distill.N} (the grid needs at least 2 points)")
    if not 0.0 <= cfg.distill.mu <= 1.0:
        problems.append(f"distill.mu={cfg.distill.mu} (an EMA rate in [0, 1])")
    if not 0.0 < cfg.eval.threshold <= 1.0:
        problems.append(f"eval.threshold={cfg.eval.threshold} (a ratio in (0, 1])")
    if cfg.net.emb_dim % 2 or (cfg.net.kind == "mlp" and cfg.net.input_fourier < 0):
        problems.append(f"net.emb_dim={cfg.net.emb_dim} must be even; input_fourier >= 0")
    if problems:
        raise CdliteError("invalid config value" + ("s" if len(problems) > 1 else "") + ": "
                          + "; ".join(problems))
    return cfg
