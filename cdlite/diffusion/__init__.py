"""cdlite.diffusion"""
