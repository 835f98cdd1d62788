"""Figures of a run folder (docs/design.md §7.1): samples with the memorized ones marked, f_mem
curves, and histograms of the nearest-neighbour ratio of docs/design.md §5.1.

`make_figures` writes one PNG per figure and returns {figure name: file name}:
  samples  2-D data: one panel per model, samples coloured memorized (red) / not (blue), the
           training points as black crosses. Images: per model a row of (sample, nearest
           training image) pairs, memorized pairs framed in red.
  curves   f_mem over teacher training and over distillation, against the chance level, and
           below it the quality figure and the generalization gap of the same checkpoints.
  ratios   histograms of |x - a_(1)| / |x - a_(2)| for teacher, student and fresh samples.
Any sample set or metric that is missing (an interrupted run) only removes its panel.

Shapes: m samples (m, d), n training points (n, d); images are flattened, d = h * w.
"""
from __future__ import annotations

import pathlib

import numpy as np
import matplotlib

matplotlib.use("Agg")            # files only, never a window (runs on servers and in CI)
import matplotlib.pyplot as plt  # noqa: E402  (must come after the backend is chosen)

from cdlite.errors import CdliteError  # noqa: E402
from cdlite.fileio import save_figure  # noqa: E402
from cdlite.metrics.memorization import MEM_THRESHOLD, nn_ratios  # noqa: E402

DPI = 110
MAX_POINTS = 2000   # dots per 2-D panel: more only hides the training crosses
N_PAIRS = 8         # (sample, nearest training image) pairs per model in the image figure
RED, BLUE, GREY = "#d62728", "#1f77b4", "0.6"

# Display names of the sample sets (NFE and f_mem are added from metrics.json), and which sets
# each figure draws, in panel order.
LABELS = {"teacher": "teacher (Heun)", "teacher_fewstep": "teacher, 1-step Euler",
          "teacher_fewstep_2": "teacher, 2-step Euler", "student": "student, 1 step",
          "student_2step": "student, 2 steps", "ct": "CT baseline, 1 step",
          "fresh_true": "fresh / held-out data", "empirical_optimum": "perfect memorizer"}
SCATTER_KEYS = ("teacher", "teacher_fewstep", "student", "student_2step", "ct")
IMAGE_KEYS = ("teacher", "student", "student_2step", "fresh_true")
RATIO_KEYS = ("teacher", "student", "fresh_true")


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
    scatter_or_images = _scatter_panels if image_shape is None else _image_pairs
    from .frontier_plot import frontier_figure
    for name, draw in (("samples", scatter_or_images), ("curves", _curves_figure),
                       ("frontier", frontier_figure), ("ratios", _ratios_figure)):
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


def _entry(metrics: dict, key: str) -> dict:
    """The metrics of one sample set: top level for models, under "reference" otherwise."""
    entry = metrics.get(key) or (metrics.get("reference") or {}).get(key)
    return entry if isinstance(entry, dict) else {}


def _title(metrics: dict, key: str, nn, threshold: float) -> str:
    """'<label>  NFE 35  f_mem 0.95': f_mem from metrics.json, else from the samples shown."""
    entry = _entry(metrics, key)
    parts = [LABELS.get(key, key)]
    if entry.get("nfe") is not None:
        parts.append(f"NFE {entry['nfe']}")
    f_mem = entry.get("mem_frac")
    if f_mem is None and nn is not None:
        f_mem = float(np.mean(nn["ratio"] < threshold))
    if f_mem is not None:
        parts.append(f"f_mem {f_mem:.2f}")
    return "  ".join(parts)


# ----------------------------------------------------------------------------- figure 1: samples

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


def _scatter_panels(metrics, samples, nn, image_shape, threshold):
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
        ax.set_title(_title(metrics, key, r, threshold).replace("  ", "\n", 1),
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


def _image_pairs(metrics, samples, nn, shape, threshold):
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
        ax.set_title(_title(metrics, key, r, threshold), loc="left", fontsize=9,
                     fontweight="bold")
        ax.axis("off")
    fig.suptitle(f"Each pair: sample | nearest training image.  Red frame: ratio < "
                 f"{threshold:.2g} (memorized)", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- figure 2: curves

def _series(curve, key):
    """Column `key` of a list of checkpoint dicts, NaN where a checkpoint lacks it."""
    values = [c.get(key, (c.get("quality") or {}).get(key)) for c in curve]
    return np.array([np.nan if v is None else float(v) for v in values])


def _quality_key(curve):
    """'loglik' when the curve has it (mixtures), else 'energy', else the first quality key."""
    keys = [k for c in curve for k in (c.get("quality") or {})]
    return next((k for k in ("loglik", "energy") if k in keys), keys[0] if keys else None)


def _curves_figure(metrics, samples, nn, image_shape, threshold):
    curves = [(name, metrics.get(name)) for name in ("teacher_curve", "student_curve")]
    curves = [(n, c) for n, c in curves if c]
    if not curves:
        return None
    ref = _entry(metrics, "fresh_true")
    has_lower = any(_quality_key(c) or np.isfinite(_series(c, "gen_gap")).any()
                    for _, c in curves)
    fig, axes = plt.subplots(1 + has_lower, len(curves), figsize=(4.6 * len(curves),
                             3.0 * (1 + has_lower)), squeeze=False, sharex="col")
    for col, (name, curve) in enumerate(curves):
        step = _series(curve, "step")
        ax = axes[0, col]
        ax.plot(step, _series(curve, "mem_frac"), "o-", ms=3, c=RED, label="f_mem")
        if ref.get("mem_frac") is not None:   # without it, f_mem of a model means little
            ax.axhline(ref["mem_frac"], ls="--", c="k", lw=1, label="chance (fresh / held-out)")
        if _entry(metrics, "empirical_optimum").get("mem_frac") is not None:
            ax.axhline(_entry(metrics, "empirical_optimum")["mem_frac"], ls=":", c="k", lw=1,
                       label="perfect memorizer")
        ax.set_ylim(-0.03, 1.05)
        ax.set_ylabel("f_mem")
        ax.set_title("teacher training" if name == "teacher_curve" else "distillation",
                     fontsize=10)
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
        if has_lower:
            _quality_panel(axes[1, col], curve, step, ref)
        axes[-1, col].set_xlabel("teacher training step" if name == "teacher_curve"
                                 else "distillation step")
    fig.tight_layout()
    return fig


def _quality_panel(ax, curve, step, ref):
    """Quality on the left axis and the generalization gap on a twin right axis."""
    handles, top = [], ax
    qkey = _quality_key(curve)
    if qkey is not None:
        handles += ax.plot(step, _series(curve, qkey), "o-", ms=3, c=BLUE, label=qkey)
        ref_q = (ref.get("quality") or {}).get(qkey)
        if ref_q is not None:
            handles.append(ax.axhline(ref_q, ls="--", c=BLUE, lw=1,
                                      label=f"{qkey}, fresh / held-out"))
        ax.set_ylabel(qkey, color=BLUE)
    gap = _series(curve, "gen_gap")
    if np.isfinite(gap).any():        # different scale from the quality: its own axis
        twin = top = ax.twinx()
        handles += twin.plot(step, gap, "s-", ms=3, c="0.3", label="gen. gap (train - test loss)")
        twin.set_ylabel("generalization gap", color="0.3")
    if handles:                       # on the twin axis if any: it is drawn over `ax`
        top.legend(handles=handles, fontsize=8, loc="best")
    ax.grid(alpha=0.3)


# ----------------------------------------------------------------------------- figure 3: ratios

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
                label=_title(metrics, key, nn[key], threshold))
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
