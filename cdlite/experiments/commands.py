"""Library functions behind the `cdlite` commands that are not the pipeline itself: resolving a
recipe's config, sampling a checkpoint, evaluating any samples file. The CLI stays thin."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..backend import get_xp, make_rng, to_numpy
from ..data.images import load_array
from ..errors import CdliteError
from .config import apply_sets, from_dict, load_toml, validate
from .recipes import THEORY_RECIPES, get_recipe


def resolve_config(recipe: str, quick: bool = False, config_file=None, sets=(), seed=None,
                   device=None):
    """The config a `cdlite run` will use: recipe defaults, then the TOML file, then --set,
    then --seed/--device. Works for the random-feature recipe too (its own dataclass)."""
    if recipe in THEORY_RECIPES:
        from ..theory.recipe import RFTheoryConfig
        cfg = RFTheoryConfig.quick() if quick else RFTheoryConfig()
        cfg = _apply_flat(cfg, load_toml(config_file) if config_file else {}, sets)
        return cfg
    cfg = get_recipe(recipe, quick)
    if config_file:
        cfg = from_dict(cfg, load_toml(config_file))
    cfg = apply_sets(cfg, sets)
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=int(seed))
    if device is not None:
        cfg = dataclasses.replace(cfg, device=device)
    return validate(cfg)


def _apply_flat(cfg, file_dict: dict, sets):
    """--set / TOML for a flat dataclass config (the theory recipe)."""
    from .config import _coerce
    names = [f.name for f in dataclasses.fields(cfg)]
    pairs = list(file_dict.items())
    for a in sets:
        if "=" not in a:
            raise CdliteError(f"--set expects key=value, got {a!r}")
        k, v = a.split("=", 1)
        pairs.append((k.strip(), v.strip()))
    for k, v in pairs:
        if k not in names:
            raise CdliteError(f"unknown config key {k!r}; valid keys: {', '.join(names)}")
        cfg = dataclasses.replace(cfg, **{k: _coerce(k, v, getattr(cfg, k))})
    return cfg


def sample_checkpoint(path, n: int, seed: int = 0, steps: int | None = None,
                      device: str = "cpu"):
    """Samples (n, d) from a run's checkpoint: a teacher with Heun (`steps` steps, default the
    run's), a student with consistency sampling (1 step, or `steps` levels)."""
    from ..diffusion import EDMDenoiser, generate, karras_sigmas
    from ..distill import ConsistencyFunction, sample_consistency
    from .runfolder import load_model
    if n < 1:
        raise CdliteError(f"-n must be at least 1, got {n}")
    net, params, meta = load_model(path)
    xp = get_xp(device)
    params = {k: xp.asarray(v) for k, v in params.items()}
    d = net.cfg.d
    rng = make_rng(seed)
    if meta["model"] == "teacher":
        N = steps or meta.get("heun_steps", 18)
        grid = karras_sigmas(N, meta["sigma_min"], meta["sigma_max"], meta.get("rho", 7.0))
        x, nfe = generate(EDMDenoiser(net, meta["sigma_data"]).bind(params), n, d, grid, rng,
                          xp=xp)
    else:
        k = steps or 1
        taus = [meta["sigma_max"]] + list(np.geomspace(1.0, 0.1, k - 1)) if k > 1 else \
            [meta["sigma_max"]]
        f = ConsistencyFunction(net, meta["sigma_data"], meta["sigma_min"]).bind(params)
        x, nfe = generate(f, n, d, taus, rng, sampler=sample_consistency, xp=xp,
                          sigma_min=meta["sigma_min"])
    return to_numpy(x), nfe, meta


def evaluate_files(samples_path, train_path, test_path=None, key=None, threshold=1 / 3,
                   n_boot=1000, seed=0) -> dict:
    """Memorization (and quality, with a test set) of any samples file against a training file."""
    from ..metrics import memorization_report, quality_report
    x = _flat(load_array(samples_path, key), samples_path)
    # --key names the array in SAMPLES; a training file with several arrays (a run's
    # samples.npz) gives its "train" array
    train = _flat(load_array(train_path, _default_key(train_path, "train")), train_path)
    if x.shape[1] != train.shape[1]:
        raise CdliteError(f"samples in {samples_path} have dimension {x.shape[1]} but the "
                          f"training points in {train_path} have {train.shape[1]}")
    rng = make_rng(seed)
    mem = memorization_report(x, train, threshold, n_boot, rng)
    out = {k: v for k, v in mem.items() if k not in ("ratio", "d1")}
    if test_path is not None:
        test = _flat(load_array(test_path, _default_key(test_path, "test")), test_path)
        if test.shape[1] != x.shape[1]:
            raise CdliteError(f"test points in {test_path} have dimension {test.shape[1]}, "
                              f"samples have {x.shape[1]}")
        out["quality"] = quality_report(x, test, rng=rng)
    return out


def _flat(a, path):
    return a.reshape(a.shape[0], -1) if a.ndim == 3 else a


def _has_key(path, key) -> bool:
    if not str(path).endswith(".npz"):
        return False
    with np.load(path, allow_pickle=False) as z:
        return key in z.files


def _default_key(path, preferred):
    """For a run's samples.npz (several arrays), pick `preferred` ('train'/'test')."""
    try:
        return preferred if _has_key(path, preferred) else None
    except Exception:
        return None  # load_array will report the problem with the file


def default_out(recipe: str, quick: bool) -> Path:
    """runs/<recipe>[-quick], with -2, -3, ... appended rather than overwrite an earlier run."""
    base = Path("runs") / (recipe + ("-quick" if quick else ""))
    out, k = base, 2
    while out.exists() and any(out.iterdir()):
        out, k = base.with_name(f"{base.name}-{k}"), k + 1
    return out
