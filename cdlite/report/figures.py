"""Figures of a run folder (docs/design.md §7): samples with the memorized ones marked, f_mem
curves, and histograms of the nearest-neighbour ratio of docs/design.md §5.

`make_figures` writes one PNG per figure and returns {figure name: file name}:
  samples  2-D data: one panel per model, samples coloured memorized (red) / not (blue), the
           training points as black crosses. Images: per model a row of (sample, nearest
           training image) pairs, memorized pairs framed in red.
  curves   f_mem over teacher training and over distillation, against the chance level, and
           below it the quality figure and the generalization gap of the same checkpoints.
  transfer the student's f_mem and transfer rate against its imitation error over distillation
           time (cdlite.report.transfer_plot).
  ratios   histograms of |x - a_(1)| / |x - a_(2)| for teacher, student and fresh samples.
Any sample set or metric that is missing (an interrupted run) only removes its panel.

Each figure has its module: sample_plots, curve_plots, frontier_plot, transfer_plot; the ratios
are here.
"""
from __future__ import annotations

import pathlib

import numpy as np

from ..errors import CdliteError
from ..fileio import save_figure
from ..metrics.memorization import MEM_THRESHOLD, nn_ratios
from ..plotting import plt
from .curve_plots import curves_figure
from .frontier_plot import frontier_figure
from .transfer_plot import transfer_figure
from .panels import BLUE, IMAGE_KEYS, RATIO_KEYS, RED, SCATTER_KEYS, title
from .sample_plots import image_pairs, scatter_panels

DPI = 110


def make_figures(fig_dir: pathlib.Path, metrics: dict, samples: dict, image_shape=None,
                 threshold: float = MEM_THRESHOLD) -> dict[str, str]:
    """Write the figures of a run into `fig_dir` (created); return {figure name: file name}.

    `samples` maps names ("train", "teacher", "student", ...) to (m, d) arrays in the model's
    data space; `metrics` is the run's metrics.json dict; `image_shape` (h, w) marks image data.
    """
    fig_dir = pathlib.Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    samples = {k: np.asarray(v, dtype=np.float64) for k, v in samples.items() if v is not None}
    # Nearest-neighbour ratios are the expensive part: compute them once, for the sets we draw.
    nn = {k: _neighbours(samples[k], samples.get("train"))
          for k in set(SCATTER_KEYS + IMAGE_KEYS + RATIO_KEYS) & set(samples)}
    written = {}
    scatter_or_images = scatter_panels if image_shape is None else image_pairs
    for name, draw in (("samples", scatter_or_images), ("curves", curves_figure),
                       ("frontier", frontier_figure), ("transfer", transfer_figure),
                       ("ratios", _ratios_figure)):
        fig = draw(metrics, samples, nn, image_shape, threshold)
        if fig is not None:           # None: nothing to show (e.g. no curves in the metrics)
            written[name] = save_figure(fig, fig_dir / f"{name}.png", DPI)
    return written


# ----------------------------------------------------------------------------- helpers

def _neighbours(x, train):
    """nn_ratios of x against train, or None when there is no usable training set."""
    if train is None or x.ndim != 2 or x.shape[0] == 0:
        return None
    try:
        return nn_ratios(x, train)
    except CdliteError:               # fewer than 2 distinct training points: no ratio test
        return None


# ----------------------------------------------------------------------------- ratios

def _ratios_figure(metrics, samples, nn, image_shape, threshold):
    keys = [k for k in RATIO_KEYS if nn.get(k) is not None]
    if not keys:
        return None
    bins = np.linspace(0.0, 1.0, 26)   # same bins for everyone, so the steps compare directly
    colours = {"teacher": RED, "student": BLUE, "fresh_true": "k"}
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, key in enumerate(keys):
        ratio = np.clip(nn[key]["ratio"], 0.0, 1.0)
        # Weights 1/m: the y axis is a fraction of samples, whatever each set's size. Earlier
        # lines drawn wider, so a step that coincides with a later one still shows at its edge.
        ax.hist(ratio, bins=bins, weights=np.full(ratio.size, 1.0 / ratio.size), lw=3.0 - 0.7 * i,
                histtype="step", color=colours[key], ls=":" if key == "fresh_true" else "-",
                label=title(metrics, key, nn[key], threshold))
    ax.axvline(threshold, c="0.4", ls="--", lw=1)
    ax.text(threshold, 0.97, f" threshold {threshold:.2g}\n <- memorized", fontsize=8,
            color="0.3", va="top", transform=ax.get_xaxis_transform())
    ax.set_xlim(0, 1)
    ax.set_xlabel("nearest-neighbour ratio |x - a(1)| / |x - a(2)|")
    ax.set_ylabel("fraction of samples")
    # Below the axes: the bars near 0 (copies) and near 1 (fresh data) would hide any legend.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    ax.grid(alpha=0.3)
    return fig
