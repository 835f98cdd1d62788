"""Named recipes, the run pipeline, the run folder and its report."""
from .config import EvalConfig, RunConfig
from .recipes import RECIPES, Recipe, get_recipe
from .runner import resolve_config, run_recipe, run_seeds
