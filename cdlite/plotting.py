"""matplotlib, set up once for every figure cdlite draws.

The backend is Agg (files only, never a window), so figures are written the same way on a
laptop, a server and in CI. It must be chosen before pyplot is first imported, which is why
every figure module imports pyplot from here rather than directly:

    from ..plotting import plt
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

__all__ = ["plt"]
