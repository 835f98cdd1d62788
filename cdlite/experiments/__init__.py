"""The science of one run: its config, the named configs, the random streams, the pipeline of
stages, the evaluation of samples and the reading of training curves (docs/design.md §7).

Beside it: cdlite.runs (the run folder's lifecycle, checkpoints, `sample` and `evaluate`),
cdlite.report (the run's tables and figures), cdlite.sweeps (grids of runs, studies) and
cdlite.catalog (the named recipes that bind them)."""
from .config import EvalConfig, RunConfig
