"""Library functions behind `cdlite sample` and `cdlite evaluate`: sampling a run's checkpoint,
evaluating any samples file. The CLI stays thin."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..backend import get_xp, make_rng, to_numpy
from ..data.images import load_array
from ..errors import CdliteError
from ..fileio import atomic_file, json_safe
from .. import npzio
from ..npzio import check_budget
from ..sizes import check_sampler_steps
from .checkpoints import load_model
from .identity import MARK, kind_of


def sample_checkpoint(path, n: int, seed: int = 0, steps: int | None = None,
                      device: str | None = None):
    """Samples (n, d) from a run's checkpoint: a teacher with Heun (`steps` steps, default the
    run's), a student with consistency sampling (1 step, or `steps` levels)."""
    from ..diffusion import EDMDenoiser, generate, karras_sigmas
    from ..distill import ConsistencyFunction, sample_consistency
    if n < 1:
        raise CdliteError(f"-n must be at least 1, got {n}")
    if seed < 0:
        raise CdliteError(f"--seed {seed}: give a whole number >= 0")
    if steps is not None:
        check_sampler_steps(steps)
    net, params, meta = load_model(path)
    xp = get_xp(device)
    params = {k: xp.asarray(v) for k, v in params.items()}
    d = net.d
    check_budget(3 * 4 * n * d, f"{n} samples of dimension {d}")  # samples, slope, update
    rng = make_rng(seed)
    if meta["model"] == "teacher":
        N = steps or meta.get("steps", 18)
        check_budget(48 * N, f"a grid of {N} steps")  # ~6 float64 arrays while it is made
        grid = karras_sigmas(N, meta["sigma_min"], meta["sigma_max"], meta.get("rho", 7.0))
        x, nfe = generate(EDMDenoiser(net, meta["sigma_data"]).bind(params), n, d, grid, rng,
                          xp=xp, sampler=meta.get("sampler", "heun"))
    else:
        k = steps or 1
        check_budget(8 * k, f"{k} sampling levels")
        taus = [meta["sigma_max"]] + list(np.geomspace(1.0, 0.1, k - 1)) if k > 1 else \
            [meta["sigma_max"]]
        f = ConsistencyFunction(net, meta["sigma_data"], meta["sigma_min"]).bind(params)
        x, nfe = generate(f, n, d, taus, rng, sampler=sample_consistency, xp=xp,
                          sigma_min=meta["sigma_min"])
    x = to_numpy(x)
    bad = int((~np.isfinite(x).all(axis=1)).sum())
    if bad:
        raise CdliteError(f"{bad} of {n} samples from {path} are NaN or inf: the model is broken "
                          "(its weights are finite, so it diverges on sampling); use an earlier "
                          "checkpoint or retrain; nothing was written")
    return x, nfe, meta


def sample_to_file(checkpoint, n: int, out, seed: int = 0, steps=None, device=None,
                   force: bool = False) -> str:
    """`cdlite sample`: n samples of a checkpoint into the .npz file `out`; returns the line
    the terminal shows."""
    check_output(out, inputs=[checkpoint], force=force)
    x, nfe, meta = sample_checkpoint(checkpoint, n, seed, steps, device)
    write_samples_file(out, x)
    step, planned = meta.get("step"), meta.get("steps_planned")
    when = ""
    if step is not None:
        stopped = planned and step < planned
        when = f" at step {step}" + (f" of {planned} (an interrupted run)" if stopped else "")
    return (f"{x.shape[0]} samples of dimension {x.shape[1]} from the {meta['model']}{when} "
            f"(NFE {nfe}) -> {out}")


def evaluation_text(r: dict, as_json: bool = False) -> str:
    """What `cdlite evaluate` prints: one JSON object, or a few lines for a person."""
    if as_json:
        return json.dumps(json_safe(r))
    lo, hi = r["f_mem_ci"]
    lines = [f"f_mem {r['f_mem']:.3f}  95% CI [{lo:.3f}, {hi:.3f}]  coverage "
             f"{r['coverage']:.3f}  ({r['n_samples']} samples, {r['n_train']} training points)"]
    lines += [f"  {k:<20} {v:.4g}" if isinstance(v, float) else f"  {k:<20} {v}"
              for k, v in r.get("quality", {}).items()]
    return "\n".join(lines)


def check_output(out, inputs, force: bool = False) -> None:
    """Refuse an output path that is one of the inputs (always), or that exists (unless
    force), before any work is done: finished results are never replaced by accident."""
    out = Path(out)
    for src in inputs:
        if out.exists() and Path(src).exists() and out.resolve() == Path(src).resolve():
            raise CdliteError(f"--out {out} is the input file {src}; writing there would destroy "
                              "it; choose another --out")
    for parent in list(out.absolute().parents)[:2]:  # RUN/samples.npz, RUN/checkpoints/x.npz
        kind = kind_of(parent) if (parent / MARK).is_file() or \
            (parent / "metrics.json").is_file() else None
        if kind in ("run", "seeds", "sweep"):
            raise CdliteError(f"--out {out} is inside the {kind} folder {parent}, whose files "
                              "only its own run writes (--force does not change that); choose "
                              "another --out")
    if out.exists() and not force:
        inside = (out.parent / "metrics.json").is_file()
        what = "a file of a run folder" if inside else "an existing file"
        raise CdliteError(f"--out {out} is {what}; choose another --out, or add --force to "
                          "replace it")
    if out.exists() and out.is_dir():
        raise CdliteError(f"--out {out} is a folder; give a file name such as samples.npz")


def write_samples_file(out, x) -> None:
    """samples.npz with one array, 'samples', written atomically."""
    try:
        with atomic_file(out) as fh:
            np.savez(fh, samples=x)
    except OSError as e:
        raise CdliteError(f"cannot write {out}: {e.strerror}; choose another --out") from None


def evaluate_files(samples_path, train_path, test_path=None, key=None, threshold=1 / 3,
                   n_boot=1000, seed=0) -> dict:
    """Memorization (and quality, with a test set) of any samples file against a training file."""
    from ..metrics import memorization_report
    from ..metrics.scores import quality_scores
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
        out["quality"] = quality_scores(x, test, rng=rng)
    return out


def _flat(a, path):
    return a.reshape(a.shape[0], -1) if a.ndim == 3 else a


def _default_key(path, preferred):
    """For a run's samples.npz (several arrays), pick `preferred` ('train'/'test')."""
    try:
        return preferred if preferred in npzio.inspect(path) else None
    except CdliteError:
        return None  # load_array will report the problem with the file
