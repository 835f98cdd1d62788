"""Benchmark of sweeps: the throughput of 1 and 2 local workers on independent cells, and what a
shared teacher saves (1 teacher x 4 distillations against 2 full single runs).

    python benchmarks/bench_sweep.py                    # toy-gaussians, about 3 minutes
    python benchmarks/bench_sweep.py --recipe digits    # digits (its teacher dominates), ~6 min

Run it on an otherwise idle machine: the times are wall-clock.
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import argparse
import os
import tempfile
import time
from pathlib import Path

from cdlite.catalog import get_recipe
from cdlite.sweeps.executors import LocalPool
from cdlite.runs.runner import run_recipe
from cdlite.sweeps.studies import finish
from cdlite.sweeps.sweep import SweepSpec, run_sweep

SMALL = (("teacher.steps", 1500), ("distill.steps", 750), ("eval.n_samples", 2000))


def timed_sweep(spec, out, workers):
    start = time.perf_counter()
    counts = run_sweep(spec, out, lambda: LocalPool(workers), on_done=finish)
    assert counts["done"] == len(list(Path(out, "cells").iterdir())), counts
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="toy-gaussians")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        # throughput: 4 cells with their own teachers (4 seeds), 1 worker then 2
        spec = SweepSpec(args.recipe, sets=SMALL, seeds=(0, 1, 2, 3))
        one = timed_sweep(spec, f"{tmp}/w1", 1)
        two = timed_sweep(spec, f"{tmp}/w2", 2)
        print(f"4 independent cells ({dict(SMALL)}): 1 worker {one:.1f} s, 2 workers "
              f"{two:.1f} s: throughput x{one / two:.2f}")
        # reuse: 1 teacher x 4 distillations (1 worker) against 2 full single runs
        recipe = get_recipe(args.recipe)
        start = time.perf_counter()
        for k in range(2):
            run_recipe(recipe, recipe.defaults, f"{tmp}/single{k}", progress=False)
        singles = time.perf_counter() - start
        lrs = ("5e-5", "1e-4", "2e-4", "4e-4")
        spec = SweepSpec(args.recipe, grid=(("distill.lr", lrs),))
        shared = timed_sweep(spec, f"{tmp}/reuse", 1)
        print(f"{args.recipe} defaults: 2 single runs {singles:.1f} s; 1 teacher x 4 "
              f"distillations (distill.lr = {', '.join(lrs)}, 1 worker) {shared:.1f} s: "
              f"{shared / singles:.2f} of the 2 runs, {shared / (2 * singles):.2f} of 4 runs")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
