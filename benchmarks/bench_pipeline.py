"""Benchmark of the main job: wall time of `cdlite run toy-gaussians` (default and --quick) and
its headline figures over several seeds. Prints a table; the README quotes its output.

    python benchmarks/bench_pipeline.py              # 3 seeds of the default recipe + 1 quick
    python benchmarks/bench_pipeline.py --seeds 5 --recipe two-moons

Run it on an otherwise idle machine: the times are wall-clock.
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import argparse
import os
import platform
import tempfile
import time

from dataclasses import replace

from cdlite.catalog import get_recipe
from cdlite.runs.runner import run_recipe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="toy-gaussians")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    print(f"{args.recipe}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        recipe = get_recipe(args.recipe)
        t = time.perf_counter()
        run_recipe(recipe, recipe.quick(recipe.defaults), f"{tmp}/quick", progress=False)
        print(f"--quick: {time.perf_counter() - t:.1f} s wall")
        for seed in range(args.seeds):
            t = time.perf_counter()
            m = run_recipe(recipe, replace(recipe.defaults, seed=seed), f"{tmp}/s{seed}",
                           progress=False)
            rows.append((seed, time.perf_counter() - t, m))
    q = "loglik" if "loglik" in rows[0][2]["teacher"]["quality"] else "energy_distance"
    print(f"\n{'seed':>4} {'wall s':>7} {'teacher':>8} {'Euler1':>7} {'student':>8} {'2-step':>7} "
          f"{'chance':>7} {'stud/teach':>10}  {q} teacher/student/fresh   energy teacher/student")
    for seed, wall, m in rows:
        t, s = m["teacher"], m["student"]
        ref = m["reference"]["fresh_true"]
        print(f"{seed:>4} {wall:>7.1f} {t['f_mem']:>8.3f}"
              f" {m['teacher_fewstep']['f_mem']:>7.3f}"
              f" {s['f_mem']:>8.3f} {m['student_2step']['f_mem']:>7.3f}"
              f" {ref['f_mem']:>7.3f} {s['f_mem'] / max(t['f_mem'], 1e-9):>10.2f}"
              f"  {t['quality'][q]:.3f} / {s['quality'][q]:.3f} / {ref['quality'].get(q, 0):.3f}"
              f"   {t['quality']['energy_distance']:.4f} / {s['quality']['energy_distance']:.4f}")
    ok_t = all(m["teacher"]["f_mem"] >= 0.9 for _, _, m in rows)
    ok_s = all(m["student"]["f_mem"] <= 0.5 * m["teacher"]["f_mem"] for _, _, m in rows)
    print(f"\nteacher f_mem >= 0.9 in every seed: {ok_t}; student <= half the teacher's: {ok_s}")


if __name__ == "__main__":
    main()
