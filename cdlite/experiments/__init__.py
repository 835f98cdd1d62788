"""Named recipes, the run pipeline, the run folder and its report."""
from .config import RunConfig
from .pipeline import run_recipe, run_seeds
from .recipes import RECIPES, get_recipe, quick
