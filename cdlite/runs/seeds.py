"""Several seeds of one config: a "seeds" folder (cdlite.json: recipe, seeds, config hash)
holding one run folder per seed, seed-<s>/, then summary.json and report.md, the mean and spread
over seeds. `cdlite run --resume OUT` continues an interrupted one: complete seeds are kept,
stopped ones resumed, missing ones run. With --force an earlier seeds folder is moved aside whole
and removed only once the new one is complete, so two sets of seeds never mix."""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from ..errors import CdliteError
from ..fileio import make_folder, write_json, write_text
from ..locking import FolderLock
from .folder import describe_state, read_json
from .identity import check_target, declare, read_mark, text_hash
from .recipe import Recipe
from .runner import config_toml, resume_run, run_recipe, saved_config


def run_seeds(recipe: Recipe, cfg, seeds, out, log=None, force: bool = False,
              progress: bool | None = None) -> dict:
    """Run cfg once per seed into out/seed-<s>/ and summarise mean and spread. The folder is a
    "seeds" folder (cdlite.json: recipe, seeds, config of the first seed): an interrupted one is
    continued by `cdlite run --resume OUT`; with force an earlier one is moved aside whole, and
    removed only once the new one is complete."""
    if recipe.summarize is None:
        raise CdliteError(f"recipe {recipe.name!r} has no summary over seeds; drop --seeds (use "
                          "--seed N for another draw)")
    out = Path(out() if callable(out) else out)
    seeds = [int(s) for s in seeds]
    text = config_toml(recipe, cfg)
    identity = {"recipe": recipe.name, "seeds": seeds, "config": text_hash(text)}
    with _seeds_folder(out, force) as (lock, replaced):
        declare(out, "seeds", **identity)
        write_text(out / "config.toml", text)
        summary = _seeds_into(recipe, cfg, seeds, out, log, progress)
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    return summary


@contextlib.contextmanager
def _seeds_folder(out: Path, force: bool):
    """Create and lock the seeds folder `out`; an earlier one is refused (resume it) or, with
    force, moved aside whole: two runs never mix in it."""
    found = check_target(out, "seeds")
    make_folder(out, "seeds")
    replaced = None
    with FolderLock.acquire(out, what="seeds") as lock:
        if found is not None:
            if not force:
                held = ("a complete --seeds run (summary.json); " if (out / "summary.json")
                        .is_file() else "an interrupted --seeds run; continue it with "
                        f"`cdlite run --resume {out}`, ")
                raise CdliteError(f"{out} already holds {held}choose another --out, or add "
                                  "--force to move it aside and start over")
            replaced = out.with_name(f"{out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}-"
                                     f"{os.getpid()}")
            os.rename(out, replaced)
            out.mkdir()
            with contextlib.suppress(OSError):
                os.remove(replaced / ".lock")  # (still held by `lock` until the block ends)
            with FolderLock.acquire(out, what="seeds") as new:
                yield new, replaced
                return
        yield lock, replaced


def _seeds_into(recipe: Recipe, cfg, seeds: list, out: Path, log, progress) -> dict:
    """Each seed's run (a complete one is kept, a stopped one resumed), then the summary."""
    runs = []
    for s in seeds:
        folder = out / f"seed-{s}"
        state = describe_state(folder)[0] if folder.is_dir() else "empty"
        if state == "complete":
            runs.append(read_json(folder / "metrics.json", "run's metrics.json"))
        elif state in ("partial", "killed", "failed"):
            log(f"resuming {folder}")
            resume_run(folder, lambda name: recipe, log, progress)
            runs.append(read_json(folder / "metrics.json", "run's metrics.json"))
        else:
            runs.append(run_recipe(recipe, replace(cfg, seed=s), folder, log, False, progress))
    summary = recipe.summarize(runs)
    write_json(out / "summary.json", summary)
    write_text(out / "report.md", f"# cdlite: {recipe.name} over seeds {seeds}\n\n"
               "Mean ± standard deviation over seeds; each seed's folder (seed-N/) has its "
               "own report and figures.\n\n```\n" + recipe.seed_table(summary) +
               "\n```\n\n" + summary.get("conclusion", "") + "\n")
    return summary


def resume_seeds(path: Path, get_recipe, log, progress) -> str:
    """Continue the --seeds folder `path`: the seeds not yet complete, then the summary."""
    mark = read_mark(path)
    if mark is None:
        raise CdliteError(f"{path} holds seeds of a cdlite older than its cdlite.json; rerun "
                          "it with `cdlite run RECIPE --seeds K --out NEW_FOLDER`")
    recipe, cfg = saved_config(path, get_recipe)
    if text_hash(config_toml(recipe, cfg)) != mark.get("config"):
        raise CdliteError(f"{path}/config.toml was edited after the seeds started; put it back, "
                          "or start again in another folder")
    with FolderLock.acquire(path, what="seeds"):
        summary = _seeds_into(recipe, cfg, [int(s) for s in mark["seeds"]], path, log, progress)
    return recipe.seed_table(summary)
