"""The catalogue of named recipes: what `cdlite run NAME`, `cdlite list` and the sweeps dispatch.

It sits above the science of a run (cdlite.experiments), its report (cdlite.report) and the
random-feature theory (cdlite.theory), and binds them into Recipe values that the run lifecycle
(cdlite.runs) serves without knowing any recipe by name. Keeping the dispatch here, at the top,
is what lets every import point down (docs/design.md §1): the pipeline never imports the report,
and the runner never imports a recipe.

The pipeline recipes differ only in their configs (cdlite.experiments.recipes).
"""
from __future__ import annotations

from .errors import CdliteError
from .experiments import pipeline
from .experiments.recipes import DIGITS, TOY_GAUSSIANS, TWO_MOONS, quick_pipeline
from .report import tables
from .runs.recipe import Recipe
from .theory import recipe as rf
from .theory.report import terminal_table


def pipeline_recipe(name: str, description: str, cfg) -> Recipe:
    """A recipe of the run pipeline with its run report."""
    return Recipe(name, description, cfg, quick_pipeline, pipeline.run_pipeline,
                  tables.summary_text, tables.write_run_report, pipeline.prepare,
                  tables.summarize_seeds, tables.seed_table, pipeline.share_key,
                  pipeline.SHARED_STAGES)


def rf_theory_run(cfg, folder, prepared) -> None:
    """rf-theory is one stage: its figures and report.md come with it."""
    with folder.stage("rf-theory"):
        folder.record(rf.run_rf_theory(cfg, folder.path, log=folder.log))


# the order is the order of `cdlite list`: the headline first, the theory last
RECIPES: dict[str, Recipe] = {r.name: r for r in (
    pipeline_recipe("toy-gaussians", "8 Gaussians in 2-D, n=16: a memorizing teacher and its "
                    "one-step CD student", TOY_GAUSSIANS),
    pipeline_recipe("two-moons", "two moons in 2-D, n=16: the same story on a curved support",
                    TWO_MOONS),
    pipeline_recipe("digits", "8x8 digits (d=64), n=32 images: memorization and distillation "
                    "of images", DIGITS),
    Recipe("rf-theory", "random-feature model of Bonnaire et al.: spectra, tau_gen and tau_mem "
           "against n with error bars, CD as a spectral filter", rf.RFTheoryConfig(), rf.quick,
           rf_theory_run, terminal_table),
)}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise CdliteError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)} "
                          f"(`cdlite list` describes them)")
    return RECIPES[name]
