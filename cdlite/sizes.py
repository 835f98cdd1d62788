"""Sizes counted before anything is built: how many cells a sweep has.

A sweep runs every combination of its grid's values once per seed, so its cell count is a
product, known from the axes' lengths alone. `check_grid` computes it with Python's exact
integers and refuses a large sweep before a single cell (a resolved config, a folder, a ledger
row) exists: a grid of 10^9 cells is one line at once instead of an hour of expanding configs
(about 4 ms each) and gigabytes of them.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Iterable

from .errors import CdliteError
from .npzio import check_budget

MAX_CELLS = 1000  # a sweep with more cells than this runs only with --yes
# bytes one cell holds while a sweep runs: its resolved config and Cell (2.3 KB measured with
# tracemalloc for toy-gaussians), its ledger row (0.3 KB) and its share of sweep.json, rounded up
CELL_BYTES = 4096


def _length(values) -> int:
    return int(values) if isinstance(values, int) else len(values)


def grid_cells(axes: Iterable[tuple[str, object]], seeds) -> int:
    """The number of cells of a sweep: the product of the axes' lengths times the number of
    seeds. `axes` holds (key, values) pairs, where values is a sequence or its length; `seeds`
    is a sequence of seeds or their number. Nothing is built."""
    return math.prod(_length(values) for _, values in axes) * _length(seeds)


def check_grid(axes, seeds, yes: bool = False, limit: int = MAX_CELLS,
               budget: int | None = None) -> int:
    """The cell count of a sweep, refused in one line when it is zero, when it exceeds `limit`
    without `yes`, or when its cells' bookkeeping alone would exceed the memory budget."""
    axes = [(key, _length(values)) for key, values in axes]
    n_seeds = _length(seeds)
    cells = grid_cells(axes, n_seeds)
    factors = " x ".join([f"{key} ({n:,} values)" for key, n in axes] +
                         [f"{n_seeds:,} seed{'s' if n_seeds != 1 else ''}"])
    if cells == 0:
        raise CdliteError(f"this sweep has no cells ({factors}); give every --grid key at "
                          "least one value and at least one seed")
    if cells > limit and not yes:
        raise CdliteError(f"this sweep has {factors} = {cells:,} cells, more than {limit:,}; "
                          "check --grid and --seeds, and add --yes to run them all")
    check_budget(cells * CELL_BYTES, f"keeping track of {cells:,} sweep cells", budget)
    return cells


# --- what a config's sizes cost ---------------------------------------------------------------

# The bytes each size-like config field costs at least, as a function of the config section that
# holds it: a lower bound of what a run allocates for it (f32 weights are kept in about 8 copies:
# parameters, gradients, two Adam moments, EMA, target, teacher, a spare), so that a hostile
# value is refused before anything is built. Every int and tuple field of every recipe's config
# is here or in NOT_SIZES (tests/test_sizes.py walks them all), so a new field cannot escape.
# (The configs live in cdlite.nn, .diffusion, .distill, .data and .experiments; this table keys
# them by "Class.field" so that their cost is declared in one place.)
_W = 8 * 4  # bytes per float32 weight in its 8 copies


def _width(c) -> int:
    return max(getattr(c, "hidden", 1), 1)


def _points(name: str):
    return lambda c: 16 * (getattr(c, name) or 0)  # n_test may be None: "the default"


FIELD_BYTES = {
    # networks: hidden x hidden layers, depth of them, embeddings, Fourier features
    "MLPConfig.hidden": lambda c: _W * c.hidden * c.hidden,
    "MLPConfig.depth": lambda c: _W * c.depth * _width(c) * _width(c),
    "MLPConfig.emb_dim": lambda c: _W * c.emb_dim * _width(c),
    "MLPConfig.input_fourier": lambda c: _W * c.input_fourier * _width(c),
    "RFConfig.p": lambda c: _W * c.p * (c.emb_dim + 2),
    "RFConfig.emb_dim": lambda c: _W * c.emb_dim * max(c.p, 1),
    # data: points of at least two float64 coordinates, mixture components, grid cells, classes
    **{f"{cls}.{n}": _points(n)
       for cls in ("Gaussians", "TwoMoons", "Rings", "SwissRoll", "Checkerboard", "Digits",
                   "MNIST", "FashionMNIST", "ArrayFile") for n in ("n_train", "n_test")},
    "Gaussians.K": lambda c: 8 * c.K * (c.d + 3),
    "Gaussians.d": lambda c: 8 * c.d * (c.n_train + c.n_test + c.K),
    "Rings.n_rings": lambda c: 64 * c.n_rings,
    "Checkerboard.n_cells": lambda c: 8 * c.n_cells * c.n_cells,
    "Digits.classes": lambda c: 64 * len(c.classes),
    "MNIST.classes": lambda c: 64 * len(c.classes),
    "FashionMNIST.classes": lambda c: 64 * len(c.classes),
    # sampling and training: noise grids (~6 float64 arrays while made), curve points (~1 KB of
    # metrics each), batches of activations, bootstrap draws
    "DiffusionConfig.steps": lambda c: 48 * c.steps,
    "TeacherConfig.steps": lambda c: 1024 * (c.steps // max(c.eval_every, 1) + 1),
    "TeacherConfig.batch": lambda c: 4 * 64 * c.batch,
    "DistillConfig.steps": lambda c: 1024 * (c.steps // max(c.eval_every, 1) + 1),
    "DistillConfig.batch": lambda c: 4 * 64 * c.batch,
    "DistillConfig.N": lambda c: 48 * c.N,
    "DistillPlan.student_width": lambda c: _W * c.student_width * c.student_width,
    "DistillPlan.student_depth": lambda c: _W * c.student_depth * max(c.student_width, 1) ** 2,
    "EvalConfig.n_samples": lambda c: 12 * 2 * c.n_samples,
    "EvalConfig.n_curve": lambda c: 12 * 2 * c.n_curve,
    "EvalConfig.n_boot": lambda c: 8 * c.n_boot,
    "EvalConfig.gap_noise": lambda c: 16 * c.gap_noise,
    "EvalConfig.gap_sigmas": lambda c: 1024 * len(c.gap_sigmas),
    # the random-feature theory: p x d features, n x p design matrices, p x p spectra
    "RFTheoryConfig.d": lambda c: 8 * c.d * max(c.p, 1),
    "RFTheoryConfig.p": lambda c: 8 * c.p * (c.d + c.p),
    "RFTheoryConfig.ns": lambda c: 8 * max(c.ns, default=0) * max(c.p, 1) * 2,
    "RFTheoryConfig.draws": lambda c: 1024 * c.draws * len(c.ns),
    "RFTheoryConfig.mc_per_feature": lambda c: 8 * c.mc_per_feature * max(c.p, 1),
    "RFTheoryConfig.n_taus": lambda c: 8 * c.n_taus * max(c.p, 1),
    "RFTheoryConfig.gap_fractions": lambda c: 1024 * len(c.gap_fractions),
    "RFTheoryConfig.bootstrap": lambda c: 8 * c.bootstrap * max(len(c.ns), 1),
    "RFTheoryConfig.size_ps": lambda c: 8 * 3 * max(c.size_ps, default=0) ** 2,
    "RFTheoryConfig.size_n_over_p": lambda c: 8 * int(max(c.size_n_over_p, default=0) *
                                                      max(c.size_ps, default=0) ** 2),
    "RFTheoryConfig.size_draws": lambda c: 1024 * c.size_draws * max(len(c.size_ps), 1),
    "RFTheoryConfig.gd_batch": lambda c: 8 * c.gd_batch * max(c.p, 1),
    "RFTheoryConfig.gd_steps": lambda c: 8 * c.gd_steps,
    "RFTheoryConfig.cd_ns": lambda c: 8 * max(c.cd_ns, default=0) * max(c.p, 1) * 2,
    "RFTheoryConfig.cd_draws": lambda c: 1024 * c.cd_draws * max(len(c.cd_ns), 1),
    "RFTheoryConfig.cd_levels": lambda c: 8 * c.cd_levels * max(c.p, 1),
    "RFTheoryConfig.cd_n_taus": lambda c: 8 * c.cd_n_taus * max(c.p, 1),
    "RFTheoryConfig.cd_gd_steps": lambda c: 8 * c.cd_gd_steps,
}
# int and tuple fields that are not sizes: seeds, schedules, divisors, ranges
NOT_SIZES = {"RunConfig.seed", "RFTheoryConfig.seed", "TeacherConfig.warmup",
             "TeacherConfig.eval_every", "DistillConfig.eval_every", "MNIST.downsample",
             "FashionMNIST.downsample", "ArrayFile.pixel_range"}


def config_costs(cfg, prefix: str = "") -> list[tuple[str, object, int, int]]:
    """(dotted key, value, bytes, blame) of every size-like field of a config, sections
    included. `blame` is what the field adds to its section's bytes (the section's bytes less
    those with the field at 1): the field a message names, since costs multiply (depth x
    hidden^2 is large because of either)."""
    def section_bytes(obj) -> int:
        return sum(int(cost(obj)) for name, cost in _costs(obj))
    out = []
    total = section_bytes(cfg)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out += config_costs(value, f"{prefix}{f.name}.")
            continue
        cost = _cost_of(cfg, f.name)
        if cost is None:
            continue
        smallest = copy.copy(cfg)
        object.__setattr__(smallest, f.name, () if isinstance(value, tuple) else 1)
        out.append((prefix + f.name, value, int(cost(cfg)), total - section_bytes(smallest)))
    return out


def _cost_of(obj, name: str):
    """The declared cost of field `name` of a config, or None: a field's cost is declared under
    the class that declares the field, and a subclass inherits it."""
    return next((FIELD_BYTES[k] for k in (f"{c.__name__}.{name}" for c in type(obj).__mro__)
                 if k in FIELD_BYTES), None)


def _costs(obj):
    return [(f.name, _cost_of(obj, f.name)) for f in dataclasses.fields(obj)
            if _cost_of(obj, f.name) is not None]


def check_config(cfg, budget: int | None = None) -> int:
    """Refuse, in one line naming the field to blame, a config whose size-like fields alone need
    more than the memory budget; returns their bytes. Only arithmetic on the values: nothing
    the config describes is built."""
    costs = config_costs(cfg)
    total = sum(nbytes for _, _, nbytes, _ in costs)
    key, value, _, _ = max(costs, key=lambda c: c[3], default=("", None, 0, 0))
    check_budget(total, f"this config (mostly {key}={value!r})" if key else "this config",
                 budget)
    return total


MAX_SAMPLER_STEPS = 100_000  # sampling steps `cdlite sample` takes (EDM needs 18 to a few hundred)


def check_sampler_steps(steps: int) -> None:
    """Refuse a number of sampling steps beyond any use (each one is a pass of the network over
    every sample: 1e8 steps would run for days, and their noise grid needs gigabytes)."""
    if not 1 <= steps <= MAX_SAMPLER_STEPS:
        raise CdliteError(f"--steps {steps:,}: give 1 to {MAX_SAMPLER_STEPS:,} sampling steps "
                          "(a teacher needs 18 to a few hundred, a student 1 to a few)")
