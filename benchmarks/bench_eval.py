"""Where an evaluation row of the pipeline spends its time: sampling the models, the exact
nearest-neighbour search behind f_mem, and the quality figures; and a point of a training curve.

For the toy-gaussians and digits recipes (their networks, data and evaluation settings; the
weights are the untrained initial ones, which cost exactly what trained ones cost):

  sample (teacher, Heun)   10,000 points (digits: 2,000), the recipe's Heun sampler, batches of 4096
  sample (student, 1 step) the same number with one consistency step
  f_mem (NN search)        memorization_report against the training set (bootstrap included)
  quality                  quality_report against the held-out set (energy, MMD, SW2, Frechet,
                           precision/recall; the log-likelihood (mixture); FD(features) (digits))
  curve point              cdlite.experiments.evaluation.curve_point on n_curve samples, with the
                           generalization gap
  transfer (per point)     cdlite.metrics.transfer.transfer_report for the 1- and 2-step students
                           against one teacher, n_curve latents, the teacher's verdicts reused
                           (what each evaluation point adds; issue 20: at most 10% of a curve point)
  transfer: students       student_samples from the n_curve latents (1 and 2 steps): per point,
                           unless the curve's own student samples are these
  transfer: teacher        teacher_samples from the n_curve latents (full grid and CD grid): once
                           per run, the teacher does not change while the student trains

Median of --repeats runs each (the first run of each also warms up). Not a timed test.

    python benchmarks/bench_eval.py
    python benchmarks/bench_eval.py --recipe digits --repeats 5
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import argparse
import os
import time

import numpy as np

from cdlite.backend import make_rng
from cdlite.diffusion import EDMDenoiser, generate
from cdlite.distill import ConsistencyFunction, sample_consistency
from cdlite.experiments.evaluation import curve_point
from cdlite.catalog import get_recipe
from cdlite.metrics import memorization_fraction, memorization_report, quality_report
from cdlite.metrics.transfer import (draw_latents, student_samples, teacher_samples,
                                     transfer_report)
from cdlite.nn.networks import make_network


CURVE_POINT = "curve point (n_curve samples, gap)"
TRANSFER_POINT = "transfer (per point, n_curve latents, 2 students)"


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times[1:]))


def bench(recipe_name: str, repeats: int) -> dict:
    cfg = get_recipe(recipe_name).defaults
    ds = cfg.data.build(cfg.seed)
    net = make_network(cfg.net, ds.d)
    params = net.init(make_rng(0))
    sd, dif, m = ds.sigma_data, cfg.diffusion, cfg.eval.n_samples
    D = EDMDenoiser(net, sd).bind(params)
    f = ConsistencyFunction(net, sd, dif.sigma_min).bind(params)
    features = None
    if ds.name == "digits":
        from cdlite.metrics import digits_features
        features = digits_features()
    x = ds.test[make_rng(1).integers(0, len(ds.test), m)] + np.float32(0.01)  # stand-in samples
    rng = make_rng(2)
    n_curve = cfg.eval.n_curve
    x_T = draw_latents(n_curve, ds.d, dif.sigma_max, make_rng(4))
    teacher = x[:n_curve]                                       # stand-ins, as above
    students = [teacher + np.float32(0.05) * x_T / dif.sigma_max, teacher[::-1].copy()]
    teacher_mem = memorization_fraction(teacher, ds.train, cfg.eval.threshold,
                                        n_boot=cfg.eval.n_boot)

    def transfer_point():
        for student in students:
            transfer_report(ds.train, teacher, student, sd, cfg.eval.threshold,
                            n_boot=cfg.eval.n_boot, rng=rng, teacher_mem=teacher_mem)
    return {
        f"sample {m} (teacher, {dif.describe()})":
            timed(lambda: dif.sample(D, m, ds.d, rng), repeats),
        f"sample {m} (student, 1 step)":
            timed(lambda: generate(f, m, ds.d, [dif.sigma_max], rng, sampler=sample_consistency,
                                   sigma_min=dif.sigma_min), repeats),
        "f_mem (NN search, bootstrap)":
            timed(lambda: memorization_report(x, ds.train, n_boot=cfg.eval.n_boot, rng=rng,
                                              features=features), repeats),
        "quality figures": timed(lambda: quality_report(x, ds.test, mixture=ds.mixture,
                                                        features=features, rng=rng), repeats),
        CURVE_POINT:
            timed(lambda: curve_point(x[:cfg.eval.n_curve], ds, cfg, make_rng(3), denoise=D),
                  repeats),
        TRANSFER_POINT: timed(transfer_point, repeats),
        f"transfer: students from {n_curve} latents (1, 2 steps)":
            timed(lambda: student_samples(f, x_T, dif.sigma_max, cfg.eval.student_tau,
                                          dif.sigma_min, rng), repeats),
        f"transfer: teacher from {n_curve} latents, once per run":
            timed(lambda: teacher_samples(D, x_T, dif.grid(), cfg.distill.N, dif.sigma_min,
                                          dif.rho), repeats),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", nargs="+", default=["toy-gaussians", "digits"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    out = {}
    for name in args.recipe:
        out[name] = bench(name, args.repeats)
        print(f"\n{name}: seconds (median of {args.repeats})")
        for what, s in out[name].items():
            print(f"  {what:<52} {s:7.3f}")
        ratio = out[name][TRANSFER_POINT] / out[name][CURVE_POINT]
        print(f"  transfer per point / curve point: {ratio:.1%} (target <= 10%)")
    return out


if __name__ == "__main__":
    main()
