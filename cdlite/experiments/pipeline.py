"""The run pipeline, one named stage after another (docs/design.md §7.1):

    data                fresh true samples (or held-out data): the chance level
    teacher             EDM training, with f_mem over training time (the teacher curve)
    teacher evaluation  Heun samples, and Euler with the student's NFE (the fair control)
    distillation        consistency distillation, with f_mem over distillation time
    student evaluation  1-step and 2-step consistency sampling
    consistency training  (run_ct only) the no-teacher baseline
    references          the empirical optimum, the perfect memorizer

Each stage is a function that takes values and returns values (rows of the summary table,
sample sets, weights); `run_pipeline` records what each returns in the run folder as the stage
ends. Every random number comes from a named stream (cdlite.experiments.streams), so the same
config and seed give the same metrics.json on the CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import get_xp, to_numpy
from ..checkpoint import save_checkpoint
from ..config import to_dict
from ..data import Dataset
from ..diffusion import EDMDenoiser, EmpiricalOptimalDenoiser, generate, train_teacher
from ..distill import ConsistencyFunction, consistency_train, distill, sample_consistency
from ..errors import CdliteError
from ..nn.networks import make_network, network_spec
from ..nn.optim import copy_params
from ..npzio import check_budget
from .config import RunConfig
from .curves import plateau, scores_of
from .evaluation import curve_point, evaluate_samples, levelled_off
from .models import load_model, load_state, param_shapes, save_state
from .runfolder import RunFolder
from .streams import Eval, Train, rng


# The stages runs can share when their configs differ only in these sections (a sweep over
# distillation settings trains one teacher for all its cells), and the sections themselves.
SHARED_STAGES = ("data", "teacher", "teacher evaluation")
AFTER_TEACHER = ("distill", "run_ct")


def share_key(cfg: RunConfig) -> str:
    """Runs with the same key compute the same SHARED_STAGES: the config without the sections
    that act only after the teacher."""
    import hashlib
    import json
    teacher_part = {k: v for k, v in to_dict(cfg).items() if k not in AFTER_TEACHER}
    return hashlib.sha1(json.dumps(teacher_part, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Prepared:
    """What is checked before a run folder exists: the device works and the data loads."""
    xp: object
    ds: Dataset


def prepare(cfg: RunConfig) -> Prepared:
    """Everything that can fail at the start, done before anything is written: the device, the
    memory the run will need (estimated before anything is allocated), the data and its scale."""
    xp = get_xp(cfg.device)
    generated_d = getattr(cfg.data, "d", 2 if hasattr(cfg.data, "noise") else None)
    if generated_d is not None:  # toy data is drawn, not read: its size is known now
        points = cfg.data.n_train + (cfg.data.n_test or 10_000) + cfg.eval.n_samples
        check_budget(8 * points * generated_d, f"the data ({points} points of dimension "
                     f"{generated_d})")
    check_budget(run_memory(cfg, generated_d or 1), "this run")
    ds = cfg.data.build(cfg.seed)
    check_budget(run_memory(cfg, ds.d), "this run")
    check_scale(ds)
    return Prepared(xp=xp, ds=ds)


def run_memory(cfg: RunConfig, d: int) -> int:
    """A generous estimate of the bytes a run holds at once: the weights and their copies
    (parameters, gradients, two Adam moments, EMA, target, teacher), the activations a
    training step keeps for backward, and the sample sets of the evaluation."""
    net = make_network(cfg.net, d)
    params = sum(math.prod(s) for s in param_shapes(net).values())
    width = cfg.net.p if cfg.net.kind == "rf" else cfg.net.hidden
    depth = getattr(cfg.net, "depth", 1) + 2
    batch = max(cfg.teacher.batch, cfg.distill.batch)
    samples = 12 * (cfg.eval.n_samples + cfg.eval.n_curve) * d
    grids = cfg.diffusion.steps + cfg.distill.N  # karras_sigmas: ~6 float64 arrays while made
    return 4 * (8 * params + 8 * batch * width * depth + samples) + 48 * grids


def check_scale(ds: Dataset) -> None:
    """Data whose scale EDM's preconditioning cannot handle in float32 gets its own message."""
    biggest = float(np.abs(ds.train).max())
    if not (1e-6 <= ds.sigma_data <= 1e6) or biggest > 1e8:
        raise CdliteError(
            f"dataset {ds.name!r}: its scale is sigma_data = {ds.sigma_data:.3g} (largest value "
            f"{biggest:.3g}); EDM's preconditioning (c_in = 1 / sqrt(sigma^2 + sigma_data^2)) "
            "and the squared distances of the metrics work in float32, which holds this only "
            "for scales between 1e-6 and 1e6: rescale the data (divide by its standard "
            "deviation), or give data.pixel_range / data.sigma_data")


@dataclass
class Context:
    """What every stage reads: the config, the data (on the run's device) and the network."""
    cfg: RunConfig
    ds: Dataset
    xp: object
    train: object           # the training set on the device (n, d)
    sigma_data: float
    net: object             # the teacher's network
    student_net: object     # the student's (and CT's): the teacher's, unless resized
    features: object        # digits: the classifier's feature map, else None
    folder: RunFolder

    def row(self, x, nfe, steps, stream: Eval) -> dict:
        """One row of the summary table: memorization and quality of the samples x."""
        return evaluate_samples(x, self.ds, self.cfg, rng(self.cfg.seed, stream), self.features,
                                nfe, steps)

    def init_params(self, stream: Train, net=None) -> dict:
        weights = (net or self.net).init(rng(self.cfg.seed, stream))
        return {k: self.xp.asarray(v) for k, v in weights.items()}



def make_context(cfg: RunConfig, folder: RunFolder, prepared: Prepared) -> Context:
    ds, xp = prepared.ds, prepared.xp
    features = None
    if ds.name == "digits":
        from ..metrics import digits_classifier
        clf = digits_classifier()

        def features(x):  # model samples: far-out values are bad samples, not raw pixels
            return clf.features(x, check_scale=False)
        folder.record({"feature_classifier_accuracy": clf.accuracy})
    net = make_network(cfg.net, ds.d)
    student_net = net if cfg.student_net() == cfg.net else make_network(cfg.student_net(), ds.d)
    return Context(cfg, ds, xp, xp.asarray(ds.train), cfg.diffusion.sigma_data or ds.sigma_data,
                   net, student_net, features, folder)


def run_pipeline(cfg: RunConfig, folder: RunFolder, prepared: Prepared) -> None:
    """Run every stage of `cfg` into `folder`, recording each stage's results as it ends. In a
    resumed run the stages that finished are skipped; their weights are read back from disk."""
    ctx = make_context(cfg, folder, prepared)
    folder.run_stage("data", data_stage, ctx)
    teacher = folder.run_stage("teacher", teacher_stage, ctx)
    if teacher is None:  # finished in an earlier session: its final weights are on disk
        teacher = trained_weights(ctx, "teacher")
    D = EDMDenoiser(ctx.net, ctx.sigma_data).bind(teacher)
    folder.run_stage("teacher evaluation", teacher_evaluation_stage, ctx, D)
    student = folder.run_stage("distillation", distillation_stage, ctx, D, teacher)
    if student is None:
        student = trained_weights(ctx, "student")
    folder.run_stage("student evaluation", student_evaluation_stage, ctx, student)
    if cfg.run_ct:
        folder.run_stage("consistency training", ct_stage, ctx)
    folder.run_stage("references", references_stage, ctx)


# --- the stages ---------------------------------------------------------------------------------

def data_stage(ctx: Context) -> tuple[dict, dict]:
    """The data, and the chance level: f_mem of fresh true samples (toy data) or of held-out
    data (images) against the training set."""
    ds, ev = ctx.ds, ctx.cfg.eval
    fresh = (ds.sample_true(ev.n_samples, rng(ctx.cfg.seed, Train.FRESH))
             if ds.sample_true is not None else ds.test)
    row = ctx.row(fresh, None, None, Eval.FRESH_METRICS)
    row["source"] = ("fresh samples of the true distribution" if ds.sample_true is not None
                     else "held-out data")
    metrics = {"n_train": ds.n, "dim": ds.d, "dataset": ds.name, "sigma_data": ctx.sigma_data,
               "image_shape": list(ds.image_shape) if ds.image_shape else None,
               "reference": {"fresh_true": row}}
    return metrics, {"train": ds.train, "test": ds.test, "fresh_true": fresh}, None


def teacher_stage(ctx: Context) -> tuple:
    """EDM training of the teacher (its EMA weights returned), with its curve over time; a
    resumed run continues from the last saved training state."""
    cfg = ctx.cfg
    teacher = EDMDenoiser(ctx.net, ctx.sigma_data)

    def sample(D, r):
        return cfg.diffusion.sample(D, cfg.eval.n_curve, ctx.ds.d, r, xp=ctx.xp)

    resume, on_eval, on_state = training_hooks(
        ctx, "teacher", teacher, [(None, sample, Eval.TEACHER_CURVE_SAMPLES,
                                   Eval.TEACHER_CURVE_METRICS)], cfg.teacher.steps)
    res = train_teacher(teacher, ctx.init_params(Train.TEACHER_INIT), ctx.train, cfg.teacher,
                        rng(cfg.seed, Train.TEACHER), on_eval, ctx.folder.progress, resume,
                        on_state)
    return {}, {}, res.ema


def teacher_evaluation_stage(ctx: Context, D) -> tuple[dict, dict]:
    """The teacher's samples with its own sampler, and with 1 and 2 Euler steps: the student's
    number of network evaluations (NFE), so that "fewer steps" is told apart from CD."""
    cfg, d, xp = ctx.cfg, ctx.ds.d, ctx.xp
    dif, n = cfg.diffusion, cfg.eval.n_samples
    x, nfe = dif.sample(D, n, d, rng(cfg.seed, Eval.TEACHER_SAMPLES), xp=xp)
    rows = {"teacher": {**ctx.row(x, nfe, cfg.teacher.steps, Eval.TEACHER_METRICS),
                        "sampler": dif.describe()}}
    samples = {"teacher": to_numpy(x)}
    for name, k, stream in (("teacher_fewstep", 1, Eval.FEWSTEP_1_METRICS),
                            ("teacher_fewstep_2", 2, Eval.FEWSTEP_2_METRICS)):
        x, nfe = generate(D, n, d, dif.grid(k), rng(cfg.seed, Eval.FEWSTEP_SAMPLES, k),
                          sampler="euler", xp=xp)
        samples[name] = to_numpy(x)
        rows[name] = {**ctx.row(x, nfe, cfg.teacher.steps, stream),
                      "sampler": f"euler, {k} step{'s' if k > 1 else ''}"}
    return rows, samples, None


def distillation_stage(ctx: Context, D, teacher_params) -> tuple:
    """Consistency distillation of the teacher D (Song et al. 2023, Algorithm 2), for
    distill.steps steps or, with distill.plateau, until f_mem and quality level off; returns
    the student's evaluation weights, whether its f_mem levelled off, and the plateau."""
    cfg = ctx.cfg
    dif, dc = cfg.diffusion, cfg.distill
    student = ConsistencyFunction(ctx.student_net, ctx.sigma_data, dif.sigma_min)
    params = (copy_params(teacher_params) if dc.init == "teacher"
              else ctx.init_params(Train.STUDENT_INIT, ctx.student_net))
    two = [dif.sigma_max, cfg.eval.student_tau]
    curve_samplers = [  # the 1-step student, and the 2-step one nested as "two_step"
        (None, lambda f, r: one_step(ctx, f, cfg.eval.n_curve, r), Eval.STUDENT_CURVE_SAMPLES,
         Eval.STUDENT_CURVE_METRICS),
        ("two_step", lambda f, r: consistency_samples(ctx, f, cfg.eval.n_curve, two, r),
         Eval.STUDENT_2STEP_CURVE_SAMPLES, Eval.STUDENT_2STEP_CURVE_METRICS)]
    resume, on_eval, on_state = training_hooks(ctx, "student", student, curve_samplers,
                                               dc.steps)
    curve = ctx.folder.metrics["student_curve"]

    def plateau_of_curve(step=None):
        return plateau(curve, dc.plateau_window, dc.plateau_tol, dc.plateau_quality_tol,
                       scores_of(ctx.folder.metrics)[0])  # the run's first quality score
    res = distill(D, student, params, ctx.train, dc, rng(cfg.seed, Train.DISTILL),
                  dif.sigma_min, dif.sigma_max, dif.rho, on_eval, ctx.folder.progress, resume,
                  on_state, stop=(lambda step: plateau_of_curve()["reached"]) if dc.plateau
                  else None)
    found = {**plateau_of_curve(), "budget": dc.steps, "stopped_early": curve[-1]["step"]
             < dc.steps, "asked": dc.plateau}
    return {"student_levelled_off": levelled_off(curve), "distill_plateau": found}, {}, res.ema


def student_evaluation_stage(ctx: Context, params) -> tuple[dict, dict]:
    """The student with 1 step (x = f(sigma_max z, sigma_max)) and with 2 (re-noised to
    eval.student_tau), Algorithm 1 of Song et al. (2023)."""
    cfg = ctx.cfg
    f = ConsistencyFunction(ctx.student_net, ctx.sigma_data,
                            cfg.diffusion.sigma_min).bind(params)
    rows, samples = {}, {}
    for name, levels, s_samples, s_metrics in (
            ("student", [cfg.diffusion.sigma_max], Eval.STUDENT_SAMPLES, Eval.STUDENT_METRICS),
            ("student_2step", [cfg.diffusion.sigma_max, cfg.eval.student_tau],
             Eval.STUDENT_2STEP_SAMPLES, Eval.STUDENT_2STEP_METRICS)):
        x, nfe = consistency_samples(ctx, f, cfg.eval.n_samples, levels, rng(cfg.seed, s_samples))
        samples[name] = to_numpy(x)
        rows[name] = ctx.row(x, nfe, cfg.distill.steps, s_metrics)
    return rows, samples, None


def ct_stage(ctx: Context) -> tuple[dict, dict]:
    """Consistency training from scratch, no teacher (Algorithm 3): the baseline of CD."""
    cfg = ctx.cfg
    dif = cfg.diffusion
    student = ConsistencyFunction(ctx.student_net, ctx.sigma_data, dif.sigma_min)
    res = consistency_train(student, ctx.init_params(Train.CT_INIT, ctx.student_net),
                            ctx.train, cfg.distill,
                            rng(cfg.seed, Train.CT), dif.sigma_min, dif.sigma_max, dif.rho,
                            show_progress=ctx.folder.progress)
    x, nfe = one_step(ctx, student.bind(res.ema), cfg.eval.n_samples,
                      rng(cfg.seed, Eval.CT_SAMPLES))
    return ({"ct": ctx.row(x, nfe, cfg.distill.steps, Eval.CT_METRICS)},
            {"ct": to_numpy(x)}, None)


def references_stage(ctx: Context) -> tuple[dict, dict]:
    """The empirical optimum of the training set sampled like the teacher: f_mem = 1 by
    construction, the scale every model is read against."""
    cfg = ctx.cfg
    x, nfe = cfg.diffusion.sample(EmpiricalOptimalDenoiser(ctx.train), cfg.eval.n_samples,
                                  ctx.ds.d, rng(cfg.seed, Eval.OPTIMUM_SAMPLES), xp=ctx.xp)
    return ({"reference": {"empirical_optimum": ctx.row(x, nfe, None, Eval.OPTIMUM_METRICS)}},
            {"empirical_optimum": to_numpy(x)}, None)


# --- pieces the stages share ------------------------------------------------------------------

def consistency_samples(ctx: Context, f, m: int, levels: list, r):
    """(x, nfe): consistency sampling of m points through the noise levels `levels`."""
    return generate(f, m, ctx.ds.d, levels, r, sampler=sample_consistency, xp=ctx.xp,
                    sigma_min=ctx.cfg.diffusion.sigma_min)


def one_step(ctx: Context, f, m: int, r):
    return consistency_samples(ctx, f, m, [ctx.cfg.diffusion.sigma_max], r)


def model_meta(ctx: Context, role: str) -> dict:
    """The checkpoint header: all that `cdlite sample` needs to rebuild and sample the model."""
    dif = ctx.cfg.diffusion
    net = ctx.net if role == "teacher" else ctx.student_net
    config = to_dict(ctx.cfg)
    if role == "teacher":  # what made the teacher: distillation settings play no part
        config = {k: v for k, v in config.items() if k not in AFTER_TEACHER}
    return {"model": role, "network": network_spec(net), "sigma_data": ctx.sigma_data,
            "sigma_min": dif.sigma_min, "sigma_max": dif.sigma_max, "rho": dif.rho,
            "sampler": dif.sampler, "steps": dif.steps,
            "image_shape": list(ctx.ds.image_shape) if ctx.ds.image_shape else None,
            "config": config}


def training_hooks(ctx: Context, role: str, model, samplers: list, steps_planned: int):
    """(resume, on_eval, on_state) of the training loop of `role` ("teacher" or "student").

    on_eval samples with the current evaluation weights (each of `samplers`: (name, sample,
    sample stream, metric stream); the first gives the curve point itself, the others are
    nested under their name), checkpoints the weights (the model file that `cdlite sample`
    reads) and appends the point to metrics[role + "_curve"], saved as it grows; on_state saves
    the loop's full state for --resume; resume is the state saved by an earlier session of this
    run (or None), and the curve is cut back to the step it continues from."""
    folder, seed = ctx.folder, ctx.cfg.seed
    resume = load_state(folder.path, role, ctx.net if role == "teacher" else ctx.student_net)
    step0 = resume.step if resume is not None else -1
    curve = [p for p in folder.metrics.get(f"{role}_curve", []) if p["step"] <= step0]
    folder.metrics[f"{role}_curve"] = curve
    meta = model_meta(ctx, role)

    def on_eval(step, params):
        point = None
        for name, sample, sample_stream, metric_stream in samplers:
            x, _ = sample(model.bind(params), rng(seed, sample_stream, step))
            if point is None:
                save_checkpoint(folder.path / "checkpoints" / f"{role}.npz", params,
                           {**meta, "step": step, "steps_planned": steps_planned})
            p = curve_point(x, ctx.ds, ctx.cfg, rng(seed, metric_stream, step),
                            denoise=model.bind(params) if point is None else None,
                            features=ctx.features)
            point = p if point is None else {**point, name: p}
        curve.append({"step": step, **point})
        folder.save(samples=False)
        return point

    def on_state(state):
        save_state(folder.path, role, state)
    return resume, on_eval, on_state


def trained_weights(ctx: Context, role: str) -> dict:
    """The final evaluation weights of a training stage that finished earlier, from its model
    checkpoint, on the run's device."""
    _, params, _ = load_model(ctx.folder.path / "checkpoints" / f"{role}.npz")
    return {k: ctx.xp.asarray(v) for k, v in params.items()}
