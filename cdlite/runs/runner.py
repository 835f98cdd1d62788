"""Running any recipe into a run folder: the config it resolves to, the folder's lifecycle
(lock, status, signals; cdlite.runs.folder), resume (several seeds: cdlite.runs.seeds).

The same code serves every recipe: cli/ calls these functions and never names a recipe.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import flatten, override, read_toml, to_dict, to_toml
from ..errors import CdliteError
from ..fileio import DISK_FAULTS
from ..sizes import check_config
from .recipe import Recipe
from .checkpoints import check_belongs
from .folder import RunFolder, StageLimit
from .identity import kind_of, read_mark, text_hash
from .signals import stop_on_signals

def load_toml(path) -> dict:
    """A config file (--config, a run's config.toml, a sweep spec), read with a size limit."""
    return read_toml(path)


def parse_sets(sets) -> list:
    """--set 'key=value' strings as (key, value) pairs."""
    pairs = []
    for a in sets:
        if "=" not in a:
            raise CdliteError(f"--set expects key=value, got {a!r} (e.g. --set teacher.steps=8000)")
        k, v = a.split("=", 1)
        pairs.append((k.strip(), v.strip()))
    return pairs


def resolve_config(recipe: Recipe, quick: bool = False, config_file=None, sets=(), seed=None,
                   device=None):
    """The config a `cdlite run` will use: the recipe's defaults (or their --quick variant),
    then the TOML file, then --set, then the --seed/--device flags when given. The device falls
    back on $CDLITE_DEVICE when neither the file, --set nor --device names one."""
    file_pairs = []
    if config_file is not None:
        file_dict = load_toml(config_file)
        named = file_dict.pop("recipe", recipe.name)
        if named != recipe.name:
            raise CdliteError(f"{config_file} is a config of recipe {named!r}, not "
                              f"{recipe.name!r}; run `cdlite run {named} --config {config_file}`")
        file_pairs = flatten(file_dict)
    pairs = file_pairs + parse_sets(sets)
    if any(k == "recipe" for k, _ in pairs):
        raise CdliteError("'recipe' cannot be set: the recipe is the first argument of "
                          "`cdlite run RECIPE` (see `cdlite list`)")
    if seed is not None:
        pairs.append(("seed", int(seed)))
    if device is None and not any(k == "device" for k, _ in pairs) and \
            os.environ.get("CDLITE_DEVICE"):
        device = os.environ["CDLITE_DEVICE"].strip().lower()
    if device is not None:
        pairs.append(("device", device))
    base = recipe.quick(recipe.defaults) if quick else recipe.defaults
    cfg = override(base, pairs)
    check_config(cfg)  # every size-like field, before anything is built
    return cfg


def config_toml(recipe: Recipe, cfg) -> str:
    """config.toml of a run: the recipe's name, then the resolved config."""
    return to_toml(cfg, header={"recipe": recipe.name})


def run_recipe(recipe: Recipe, cfg, out, log=None, force: bool = False,
               progress: bool | None = None) -> dict:
    """Run `recipe` with `cfg` into the folder `out` (a path, or a callable that makes the
    folder's path once the start has succeeded, e.g. default_out); returns its metrics.

    A failed start (no device, data that does not load) leaves no folder. Once the folder
    exists, every outcome is written down: complete, partial (SIGINT/SIGTERM; the
    KeyboardInterrupt is raised again) or failed (the error is raised again)."""
    log = log or (lambda *a: None)
    prepared = recipe.prepare(cfg)
    out = out() if callable(out) else out
    log(f"run folder: {out}")
    folder = RunFolder.create(out, recipe.name, config_toml(recipe, cfg), cfg.seed, force, log)
    folder.metrics.update(description=recipe.description, device=cfg.device)
    return drive(recipe, cfg, folder, prepared, log, progress)


def refuse_with_resume(**flags) -> None:
    """--resume continues a run with the config it saved: every other setting is refused."""
    given = [("" if k.isupper() else "--") + k.replace("_", "-") for k, v in flags.items() if v]
    if given:
        raise CdliteError(f"--resume continues a run with the config it saved; drop "
                          f"{', '.join(given)}")


def resume_run(path, get_recipe, log=None, progress: bool | None = None):
    """Continue the stopped run in `path` (partial, failed or killed) with the config it saved,
    or the stopped --seeds folder `path`; returns the summary for the terminal. Finished stages
    are kept; a training stage continues from its last saved state, so the result is the run
    that was never stopped, bit for bit (on the CPU). get_recipe(name) finds the recipe
    config.toml names (cdlite.catalog's: the runner is below the catalogue, so it is handed the
    lookup rather than importing it)."""
    log = log or (lambda *a: None)
    path = Path(path)
    if kind_of(path) == "sweep":
        raise CdliteError(f"{path} is a sweep folder: rerun the same `cdlite sweep ... --out "
                          f"{path}` command to continue it (finished cells are kept)")
    if kind_of(path) == "seeds":
        from .seeds import resume_seeds  # (seeds.py runs and resumes runs through this module)
        return resume_seeds(path, get_recipe, log, progress)
    recipe, cfg = saved_config(path, get_recipe)
    prepared = recipe.prepare(cfg)

    def same_run(folder):  # under the folder's lock, before anything is changed
        mark = read_mark(folder)
        text = config_toml(recipe, cfg)
        if mark is not None and mark.get("config") != text_hash(text):
            raise CdliteError(f"{folder}/config.toml was edited after the run started (config "
                              f"{text_hash(text)}, the run's is {mark.get('config')}); put it "
                              f"back, or start a new run from it: `cdlite run {recipe.name} "
                              f"--config {folder}/config.toml --out NEW_FOLDER`")
        check_belongs(folder, to_dict(cfg))
    folder = RunFolder.reopen(path, log, check=same_run)
    log(f"resuming {path} after: {', '.join(folder.metrics['stages_done']) or 'setup'}")
    return recipe.table(drive(recipe, cfg, folder, prepared, log, progress))


def saved_config(path: Path, get_recipe):
    """(recipe, config) of the run folder `path`, from its config.toml."""
    if not (path / "config.toml").is_file():
        raise CdliteError(f"{path} is not a run folder (no config.toml); nothing to resume")
    saved = load_toml(path / "config.toml")
    recipe = get_recipe(str(saved.pop("recipe", "")))
    cfg = override(recipe.defaults, flatten(saved))
    check_config(cfg)
    return recipe, cfg


def drive(recipe: Recipe, cfg, folder: RunFolder, prepared, log, progress) -> dict:
    """Run the recipe in its folder, and write down how it ended (see run_recipe)."""
    log = log or (lambda *a: None)
    folder.progress = progress

    def left_as_is() -> str:  # what a second signal leaves (nothing more is written)
        done = ", ".join(folder.metrics["stages_done"]) or "none"
        return (f"{folder.path} keeps the stages that finished ({done}) and says 'running'; "
                f"continue it with `cdlite run --resume {folder.path}`")
    with stop_on_signals(left_as_is):
        try:
            recipe.run(cfg, folder, prepared)
            if recipe.report is not None:
                with folder.stage("report"):
                    recipe.report(folder, cfg)
        except StageLimit:  # it computed what it was asked for (a sweep's shared teacher)
            folder.finish("partial")
            return folder.metrics
        except KeyboardInterrupt as e:
            log(f"interrupted during {folder.metrics.get('stage')!r}: saving what finished")
            _partial_report(recipe, folder, cfg, log)
            folder.finish("partial")
            e.folder = folder.path  # where to --resume
            raise
        except Exception as e:
            _partial_report(recipe, folder, cfg, log)
            try:
                folder.finish("failed", error=f"{type(e).__name__}: {e}")
                marked = "it is marked failed"
            except OSError:  # the disk that stopped the run refuses its last word too
                marked = ("its metrics.json could not be updated either (`cdlite show` calls "
                          "it stopped)")
            if isinstance(e, OSError) and e.errno in DISK_FAULTS:
                raise CdliteError(f"cannot write the run folder {folder.path}: {e.strerror}; "
                                  f"{marked}, with the stages that finished; free some space "
                                  f"(or make it writable), then `cdlite run --resume "
                                  f"{folder.path}`") from None
            raise
        try:
            folder.finish("complete")
        except OSError as e:
            if e.errno not in DISK_FAULTS:
                raise
            raise CdliteError(f"cannot write the run folder {folder.path}: {e.strerror}; its "
                              "results are computed but not all saved; free some space, then "
                              f"`cdlite run --resume {folder.path}`") from None
    return folder.metrics


def _partial_report(recipe: Recipe, folder: RunFolder, cfg, log) -> None:
    """report.md (and the figures) of what a stopped run holds; a failure here is reported
    but never hides the run's own outcome."""
    if recipe.report is None:
        return
    folder.stopped = True
    try:
        recipe.report(folder, cfg)
    except (Exception, KeyboardInterrupt) as e:  # the run's own outcome is the one to report
        log(f"report of the stopped run not written: {type(e).__name__}: {e}")


def default_out(recipe_name: str, quick: bool) -> Path:
    """runs/<recipe>[-quick], with -2, -3, ... appended rather than touch an earlier run. The
    folder is created here, atomically, so that two runs started at once never share one."""
    runs = Path("runs")
    if runs.exists() and not runs.is_dir():
        raise CdliteError("./runs exists but is not a folder; pass --out DIR")
    base = recipe_name + ("-quick" if quick else "")
    for k in range(1, 10_000):
        out = runs / (base if k == 1 else f"{base}-{k}")
        try:
            out.mkdir(parents=True)
            return out
        except FileExistsError:
            continue
        except OSError as e:
            raise CdliteError(f"cannot create {out}: {e.strerror}; pass --out DIR") from None
    raise CdliteError(f"runs/ holds 10,000 runs of {base}; pass --out DIR")
