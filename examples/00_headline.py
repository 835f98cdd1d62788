"""The headline run of cdlite in one file, top to bottom: data -> teacher -> CD -> f_mem table.

A teacher (EDM, Karras et al. 2022) is trained on n = 16 points of a 2-D Gaussian mixture until
it memorizes them; consistency distillation (CD, Song et al. 2023, Algorithm 2) turns it into a
one-step student; the table says which fraction of each model's samples lands on a training
point (f_mem, docs/design.md §5.1), beside the chance level and the few-step teacher control.

This is `cdlite run toy-gaussians` written out as plain calls into the library, with nothing of
the run machinery (no run folder, curves, figures or resume). It draws every random number from
the same named streams as the recipe (cdlite/experiments/streams.py), so it prints the recipe's
numbers: `--quick` those of `cdlite run toy-gaussians --quick` (seconds), without it those of
the full recipe (about 15 s of training, then the evaluation of 10,000 samples per row).

    python examples/00_headline.py [--quick] [--seed 0] [--out DIR]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import json
import pathlib

from cdlite.data import Gaussians
from cdlite.diffusion import (EDMDenoiser, EmpiricalOptimalDenoiser, TeacherConfig, generate,
                              karras_sigmas, train_teacher)
from cdlite.distill import ConsistencyFunction, DistillConfig, distill, sample_consistency
from cdlite.experiments.streams import Eval, Train, rng
from cdlite.metrics import memorization_report
from cdlite.nn import MLPConfig, copy_params, make_network

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true",
                    help="the --quick recipe: short training, 500 samples per row")
parser.add_argument("--seed", type=int, default=0, help="the run's one seed")
parser.add_argument("--out", default=None,
                    help="also write the table's numbers to DIR/00_headline.json")
args = parser.parse_args()
seed = args.seed

# --- the config: the toy-gaussians recipe (cdlite/experiments/recipes.py) -------------------------
# --quick shortens training and evaluation exactly as `quick_pipeline` does.
quick = args.quick
teacher_steps = 400 if quick else 4000    # Adam steps of the teacher
cd_steps = 150 if quick else 2000         # Adam steps of the student
heun_steps = 10 if quick else 18          # the teacher's sampler: Heun, NFE = 2 N - 1
n_samples = 500 if quick else 10_000      # samples per row of the table
n_boot = 200 if quick else 1000           # bootstrap resamples of each f_mem interval
threshold = 1 / 3                         # memorized when |x - a_(1)| / |x - a_(2)| < 1/3
sigma_min, sigma_max, rho = 0.002, 20.0, 7.0  # noise range: ~10x the data scale is enough in 2-D
student_tau = 1.0                         # the intermediate level of 2-step consistency sampling

# --- 1. data (docs/design.md §3.6: a mixture, so the density is known exactly) --------------------
# 8 Gaussians (std 0.3) on a circle of radius 2; 16 training points, 2,000 held-out points.
ds = Gaussians(n_train=16).build(seed)
train, d = ds.train, ds.d  # (n, d) float32
sigma_data = ds.sigma_data  # the data scale of EDM's preconditioning

# --- 2. the teacher: EDM training (docs/design.md §3) ---------------------------------------------
# An MLP 3x128 on [c_in y, 32 random Fourier features of c_in y, an embedding of c_noise]: the
# Fourier features let it put a sharp peak on each isolated training point (docs/design.md §3.7).
net = make_network(MLPConfig(hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0), d)
teacher = EDMDenoiser(net, sigma_data)  # D = c_skip y + c_out F(c_in y, c_noise)
init = net.init(rng(seed, Train.TEACHER_INIT))
t_cfg = TeacherConfig(steps=teacher_steps, lr=2e-3)  # batch 256, warm-up 100, clip 1, no EMA
teacher_params = train_teacher(teacher, init, train, t_cfg, rng(seed, Train.TEACHER)).ema
D = teacher.bind(teacher_params)  # the frozen teacher: (y, sigma) -> denoised y

# --- 3. consistency distillation (docs/design.md §4.2) --------------------------------------------
# The student has the teacher's network and starts from its weights. Each CD step takes one Heun
# step of the teacher's ODE between neighbours of an N = 18 grid and pulls f(x_{n+1}, t_{n+1})
# towards the EMA target's f(x_hat_n, t_n); mu = 0.95 is the target's EMA rate.
student = ConsistencyFunction(net, sigma_data, sigma_min)  # f(x, sigma_min) = x exactly
d_cfg = DistillConfig(steps=cd_steps, lr=2e-4, N=18, mu=0.95)
student_params = distill(D, student, copy_params(teacher_params), train, d_cfg,
                         rng(seed, Train.DISTILL), sigma_min, sigma_max, rho).ema
f = student.bind(student_params)  # the student: (x, sigma) -> its estimate of the ODE's end

# --- 4. samples of every model (docs/design.md §3.5, §4.4, §4.5) ----------------------------------
# Each sample set has its own stream, as in the recipe: adding a row never changes another.
heun_grid = karras_sigmas(heun_steps, sigma_min, sigma_max, rho)  # (heun_steps + 1,), ends at 0


def teacher_samples(denoiser, grid, sampler, stream):
    """(x (n_samples, d), NFE): the probability-flow ODE from sigma_max z down to 0."""
    return generate(denoiser, n_samples, d, grid, stream, sampler=sampler)


def student_samples(levels, stream):
    """(x, NFE): consistency sampling, one network evaluation per noise level."""
    return generate(f, n_samples, d, levels, stream, sampler=sample_consistency,
                    sigma_min=sigma_min)


fresh = ds.sample_true(n_samples, rng(seed, Train.FRESH))  # the chance level's samples
rows = [  # (name, samples, NFE, the stream of the metric's bootstrap)
    ("teacher (Heun)", *teacher_samples(D, heun_grid, "heun", rng(seed, Eval.TEACHER_SAMPLES)),
     Eval.TEACHER_METRICS),
    # the NFE-matched control: the teacher with as many evaluations as the student
    ("teacher, 1-step Euler", *teacher_samples(D, karras_sigmas(1, sigma_min, sigma_max, rho),
                                               "euler", rng(seed, Eval.FEWSTEP_SAMPLES, 1)),
     Eval.FEWSTEP_1_METRICS),
    ("teacher, 2-step Euler", *teacher_samples(D, karras_sigmas(2, sigma_min, sigma_max, rho),
                                               "euler", rng(seed, Eval.FEWSTEP_SAMPLES, 2)),
     Eval.FEWSTEP_2_METRICS),
    (f"CD student, 1 step ({cd_steps:,} CD steps)",
     *student_samples([sigma_max], rng(seed, Eval.STUDENT_SAMPLES)), Eval.STUDENT_METRICS),
    (f"CD student, 2 steps ({cd_steps:,} CD steps)",
     *student_samples([sigma_max, student_tau], rng(seed, Eval.STUDENT_2STEP_SAMPLES)),
     Eval.STUDENT_2STEP_METRICS),
    ("fresh true samples", fresh, None, Eval.FRESH_METRICS),
    # the closed-form optimum of the training set, sampled like the teacher: f_mem = 1
    ("empirical optimum (perfect memorizer)",
     *teacher_samples(EmpiricalOptimalDenoiser(train), heun_grid, "heun",
                      rng(seed, Eval.OPTIMUM_SAMPLES)), Eval.OPTIMUM_METRICS),
]

# --- 5. the f_mem table (docs/design.md §5) -------------------------------------------------------
# f_mem: the fraction of samples whose nearest training point is more than 3 times closer than
# the second nearest, with a bootstrap 95% interval. chance: f_mem of fresh true samples (isolated
# training points catch some of them too). coverage: the fraction of training points that are
# the nearest neighbour of some memorized sample (collapse onto a few points has low coverage).
table = {name: {**memorization_report(x, train, threshold, n_boot, rng(seed, metric_stream)),
                "nfe": nfe} for name, x, nfe, metric_stream in rows}
chance = table["fresh true samples"]["f_mem"]

header = f"{'model':<40} {'NFE':>4}  {'f_mem [95% CI]':<22} {'chance':>6} {'coverage':>8}"
print(f"toy-gaussians{' --quick' if quick else ''}, seed {seed}: n = {len(train)} training "
      f"points in {d}-D; teacher {teacher_steps:,} steps, CD {cd_steps:,} steps, "
      f"{n_samples:,} samples per row\n")
print(header + "\n" + "-" * len(header))
for name, r in table.items():
    lo, hi = r["f_mem_ci"]
    nfe = "-" if r["nfe"] is None else str(r["nfe"])
    f_mem = f"{r['f_mem']:.3f} [{lo:.3f}, {hi:.3f}]"
    print(f"{name:<40} {nfe:>4}  {f_mem:<22} {chance:>6.3f} {r['coverage']:>8.3f}")

teacher_f = table["teacher (Heun)"]["f_mem"]
student_f = table[f"CD student, 1 step ({cd_steps:,} CD steps)"]["f_mem"]
print(f"\nThe teacher puts {teacher_f:.0%} of its samples on a training point, the one-step "
      f"student {student_f:.0%} (chance: {chance:.0%}). The student's f_mem keeps growing with "
      "the CD steps (docs/design.md §8): this is a reading at one budget.")

if args.out:  # the numbers of the table (tests/test_examples.py compares them with the recipe's)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keep = ("f_mem", "f_mem_ci", "coverage", "nfe")
    (out / "00_headline.json").write_text(json.dumps(
        {name: {k: r[k] for k in keep} for name, r in table.items()}, indent=1))
    print(f"\nwrote {out / '00_headline.json'}")
