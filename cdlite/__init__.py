"""cdlite: diffusion memorization and consistency distillation in plain NumPy/CuPy."""
__version__ = "0.1.0"
