"""The one protocol every recipe follows, as the runner (cdlite.runs.runner) serves it.

A recipe is a config (a frozen dataclass with `seed` and `device` among its fields) plus what to
do with it:

    prepare(cfg) -> anything     what can fail at the start (the device, the data): done before a
                                 run folder exists, so a failed start leaves nothing behind
    run(cfg, folder, prepared)   compute, recording results in `folder` stage by stage
    report(folder, cfg)          figures and report.md from what the folder holds (also called
                                 for a partial or failed run), or None when `run` writes them
    table(metrics) -> str        what the terminal shows at the end of a run and in `cdlite show`

The runner receives a Recipe as a value and never imports one: the named recipes are assembled
above it, in cdlite.catalog, so every import still points down (docs/design.md §1).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """One named experiment (see the module docstring for the protocol)."""
    name: str
    description: str
    defaults: Any                                  # the full recipe's config
    quick: Callable[[Any], Any]                    # config -> its --quick variant
    run: Callable[[Any, Any, Any], None]           # (cfg, folder, prepared)
    table: Callable[[dict], str]                   # metrics -> terminal summary
    report: Callable[[Any, Any], None] | None = None   # (folder, cfg) -> figures, report.md
    prepare: Callable[[Any], Any] = lambda cfg: None
    summarize: Callable[[list], dict] | None = None    # metrics of several seeds -> summary
    seed_table: Callable[[dict], str] | None = None    # that summary -> terminal table
    share_key: Callable[[Any], str] | None = None      # runs with one key share their first...
    shared_stages: tuple = ()                          # ...stages (a sweep trains one teacher)
