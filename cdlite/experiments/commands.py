"""Library functions behind the `cdlite` commands that are not the pipeline itself: resolving a
recipe's config, sampling a checkpoint, evaluating any samples file. The CLI stays thin."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..backend import get_xp, make_rng, to_numpy
from ..data.images import load_array
from ..errors import CdliteError
from .config import apply_sets, from_dict, load_toml, validate
from .recipes import THEORY_RECIPES, get_recipe


def resolve_config(recipe: str, quick: bool = False, config_file=None, sets=(), seed=None,
                   device=None):
    """The config a `cdlite run` will use: recipe defaults, then the TOML file, then --set, then
    the --seed/--device flags (when given). The device falls back on CDLITE_DEVICE when neither
    the file, --set nor --device names one. Works for the random-feature recipe too (its own
    dataclass; returned as (cfg, seed) since its seed is not part of its config)."""
    file_dict = load_toml(config_file) if config_file else {}
    if recipe in THEORY_RECIPES:
        from ..theory.recipe import RFTheoryConfig
        file_seed = file_dict.pop("seed", 0)
        if device not in (None, "cpu"):
            raise CdliteError("rf-theory runs on NumPy only (its eigendecompositions are on the "
                              "host); drop --device")
        cfg = RFTheoryConfig.quick() if quick else RFTheoryConfig()
        cfg = _apply_flat(cfg, file_dict, sets)
        cfg.check()
        return cfg, int(seed if seed is not None else file_seed)
    cfg = get_recipe(recipe, quick)
    cfg = apply_sets(from_dict(cfg, file_dict, str(config_file)), sets)
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=int(seed))
    named = "device" in file_dict or any(a.strip().startswith("device=") for a in sets)
    if device is None and not named and os.environ.get("CDLITE_DEVICE"):
        device = os.environ["CDLITE_DEVICE"].strip().lower()
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
                      device: str | None = None):
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
    d = net.d
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
    if not Path("runs").is_dir() and Path("runs").exists():
        raise CdliteError("./runs exists but is not a folder; pass --out DIR")
    base = Path("runs") / (recipe + ("-quick" if quick else ""))
    out, k = base, 2
    while out.exists() and any(out.iterdir()):
        out, k = base.with_name(f"{base.name}-{k}"), k + 1
    return out


def prepare_out(out: Path, force: bool) -> Path:
    """Check that `out` can hold a new run: a folder we can write, not an earlier run (unless
    force). Nothing is created here; the run creates the folder once its data has loaded."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CdliteError(f"--out {out} is a file; give a folder for the run")
    taken = [f for f in ("metrics.json", "summary.json") if (out / f).exists()]
    if taken and not force:
        raise CdliteError(f"{out} already holds a run ({taken[0]}); choose another --out or add "
                          "--force to overwrite it")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise CdliteError(f"cannot create the run folder {out}: {parent} is not a writable "
                          "folder; choose another --out")
    return out
