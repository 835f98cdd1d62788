"""figures/samples.png (cdlite.report.figures): 2-D data as one scatter panel per model, the
memorized samples red, the training points black crosses; images as rows of (sample, nearest
training image) pairs, the memorized pairs framed in red.

Shapes: m samples (m, d), n training points (n, d); images are flattened, d = h * w.
"""
from __future__ import annotations

import numpy as np

from ..errors import CdliteError
from ..plotting import plt
from .panels import BLUE, GREY, IMAGE_KEYS, MAX_POINTS, N_PAIRS, RED, SCATTER_KEYS, title

def _strip(x):
    """1-D points as 2-D ones for the scatter panels: the value across, a fixed pseudo-random
    height in [0, 1] (a strip plot), so that piles of samples stay visible."""
    height = np.random.default_rng(0).uniform(0.0, 1.0, len(x))
    return np.column_stack([x[:, 0], height])


def _training_points(ax, train, d: int) -> None:
    """Black crosses (in 1-D: vertical lines, the height there means nothing)."""
    if d == 1:
        for t in train[:, 0]:
            ax.axvline(t, color="k", lw=0.8)
    else:
        ax.scatter(train[:, 0], train[:, 1], marker="x", c="k", s=40, lw=1.2)


def _limits(pts, train):
    """(low, high) corners: all training points plus the central 99% of the samples, so that
    one stray sample of a badly trained student cannot shrink everything else to a dot."""
    lows = [np.quantile(p, 0.005, axis=0) for p in pts]
    highs = [np.quantile(p, 0.995, axis=0) for p in pts]
    if train is not None:
        lows.append(train[:, :2].min(axis=0))
        highs.append(train[:, :2].max(axis=0))
    lo, hi = np.min(lows, axis=0), np.max(highs, axis=0)
    pad = 0.08 * (hi - lo).max() + 1e-9
    return lo - pad, hi + pad


def scatter_panels(metrics, samples, nn, image_shape, threshold):
    """One panel per model, same limits everywhere so the panels compare at a glance."""
    keys = [k for k in SCATTER_KEYS if k in samples]
    train = samples.get("train")
    if not keys and train is None:
        return None
    d = next(iter(samples.values())).shape[1]
    if d == 1:  # a strip plot: every set gets a second, meaningless coordinate
        samples = {k: _strip(v) for k, v in samples.items()}
        train = samples.get("train")
    lo, hi = _limits([samples[k][:MAX_POINTS, :2] for k in keys], train)

    n_panels = len(keys) + (train is not None)
    fig, axes = plt.subplots(1, n_panels, figsize=(2.9 * n_panels, 3.4), squeeze=False)
    axes = list(axes[0])
    if train is not None:             # first panel: the training set (and held-out data, grey)
        ax = axes.pop(0)
        ref = samples.get("fresh_true", samples.get("test"))
        if ref is not None:
            ax.scatter(ref[:MAX_POINTS, 0], ref[:MAX_POINTS, 1], s=3, c=GREY, lw=0)
        _training_points(ax, train, d)
        ax.set_title(f"training data (n = {train.shape[0]})", fontsize=10)
    for ax, key in zip(axes, keys):
        x = samples[key][:MAX_POINTS]                            # (m, d), m <= MAX_POINTS
        r = nn.get(key)               # None: no ratio test possible, draw all as not memorized
        mem = np.zeros(len(x), bool) if r is None else r["ratio"][:MAX_POINTS] < threshold
        # Crosses first and large: memorized dots sit right on them and must stay visible.
        if train is not None:
            _training_points(ax, train, d)
        ax.scatter(x[~mem, 0], x[~mem, 1], s=4, c=BLUE, lw=0, alpha=0.6)
        ax.scatter(x[mem, 0], x[mem, 1], s=9, c=RED, lw=0, alpha=0.8)
        ax.set_title(title(metrics, key, r, threshold).replace("  ", "\n", 1),
                     fontsize=10)
    for ax in fig.axes:
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal" if d > 1 else "auto", adjustable="box")
        ax.tick_params(labelsize=8)
        if d == 1:
            ax.set_yticks([])
    handles = [plt.Line2D([], [], ls="", marker="x", color="k", label="training point"),
               plt.Line2D([], [], ls="", marker="o", ms=5, color=RED,
                          label=f"memorized (ratio < {threshold:.2g})"),
               plt.Line2D([], [], ls="", marker="o", ms=5, color=BLUE, label="not memorized")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, -0.04))
    extra = {1: " (1-D: the value across, a random height; training points as lines)",
             2: ""}.get(d, f" (first 2 of d = {d} coordinates)")
    fig.suptitle(f"Samples{extra}", fontsize=11)
    fig.tight_layout()
    return fig


def _pair_strip(x, neighbours, h: int, w: int, gap: int):
    """One image (h, W) of pairs side by side: sample | nearest training image, gap, ...

    Drawing a whole row as a single image keeps the figure to one axes per model (dozens of
    tiny axes cost seconds to lay out). NaN fills the gaps, drawn white by the colormap.
    """
    pair_w = 2 * w + 1                                           # 1 px between the two images
    strip = np.full((h, len(x) * (pair_w + gap) - gap), np.nan)  # (h, W)
    for j, (sample, neighbour) in enumerate(zip(x, neighbours)):
        x0 = j * (pair_w + gap)
        strip[:, x0:x0 + w] = sample.reshape(h, w)
        strip[:, x0 + w + 1:x0 + pair_w] = neighbour.reshape(h, w)
    return strip


def image_pairs(metrics, samples, nn, shape, threshold):
    """Per model one row of (sample | nearest training image) pairs; memorized pairs in red."""
    train = samples.get("train")
    keys = [k for k in IMAGE_KEYS if k in samples and nn.get(k) is not None]
    if not keys:
        return None
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or shape[0] * shape[1] != train.shape[1]:
        raise CdliteError(f"image_shape {shape} does not describe one grey image of the "
                          f"d = {train.shape[1]} pixels of the samples; pass (height, width)")
    h, w = shape
    n_pairs = min(N_PAIRS, min(samples[k].shape[0] for k in keys))
    gap = max(2, w // 2)
    inch = 0.6 / w                                               # one image is 0.6 in wide
    strip_w = n_pairs * (2 * w + 1 + gap) - gap
    fig, axes = plt.subplots(len(keys), 1, squeeze=False,
                             figsize=(inch * strip_w + 0.3, (inch * h + 0.55) * len(keys)))
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    for ax, key in zip(axes[:, 0], keys):
        r = nn[key]                   # the first samples: an unbiased look, not the worst cases
        pairs = _pair_strip(samples[key][:n_pairs], train[r["idx1"][:n_pairs]], h, w, gap)
        ax.imshow(pairs, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
        for j, ratio in enumerate(r["ratio"][:n_pairs]):
            x0 = j * (2 * w + 1 + gap) - 0.5                     # left edge, pixel coordinates
            if ratio < threshold:
                ax.add_patch(plt.Rectangle((x0 - 0.5, -1), 2 * w + 2, h + 1, fill=False,
                                           ec=RED, lw=2.5, clip_on=False))
            # Under the sample: its ratio, the number the test looks at.
            ax.text(x0, h + 0.3, f"r = {ratio:.2f}", fontsize=7, va="top", clip_on=False)
        ax.set_title(title(metrics, key, r, threshold), loc="left", fontsize=9,
                     fontweight="bold")
        ax.axis("off")
    fig.suptitle(f"Each pair: sample | nearest training image.  Red frame: ratio < "
                 f"{threshold:.2g} (memorized)", fontsize=10)
    fig.tight_layout()
    return fig
