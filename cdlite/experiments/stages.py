"""The stages of the run pipeline (cdlite.experiments.pipeline runs them in order).

Each stage is a function of the run's Context (and of what earlier stages returned) and
returns a StageResult: the entries it adds to metrics.json, the sample sets it adds to
samples.npz and, for a training stage, the evaluation weights it trained. A stage never writes
metrics into the folder itself; only the training stages touch the folder, to checkpoint their
weights while they run (cdlite.experiments.training).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..backend import to_numpy
from ..data import Dataset
from ..diffusion import EDMDenoiser, EmpiricalOptimalDenoiser, generate, train_teacher
from ..distill import ConsistencyFunction, consistency_train, distill, sample_consistency
from ..nn.networks import make_network
from ..nn.optim import copy_params
from .config import RunConfig
from .curves import levelled_off, scores_of_point
from .evaluation import evaluate_samples
from .streams import Eval, Train, rng
from .training import CurveRecorder

@dataclass(frozen=True)
class StageResult:
    """What one stage hands back to the pipeline."""
    metrics: dict                                  # entries of metrics.json
    samples: dict = field(default_factory=dict)    # sample sets (m, d) for samples.npz
    weights: dict | None = None                    # a training stage's evaluation weights


@dataclass
class Prepared:
    """What is checked before a run folder exists: the device works and the data loads."""
    xp: object
    ds: Dataset


@dataclass
class Context:
    """What every stage reads: the config, the data (on the run's device) and the networks."""
    cfg: RunConfig
    ds: Dataset
    xp: object
    train: object           # the training set on the device (n, d)
    sigma_data: float
    net: object             # the teacher's network
    student_net: object     # the student's (and CT's): the teacher's, unless resized
    features: object        # digits: the classifier's feature map, else None
    feature_accuracy: float | None  # that classifier's held-out accuracy
    folder: object          # the run folder: checkpoints and progress bars only

    def row(self, x, nfe, steps, stream: Eval) -> dict:
        """One row of the summary table: memorization and quality of the samples x."""
        return evaluate_samples(x, self.ds, self.cfg, rng(self.cfg.seed, stream), self.features,
                                nfe, steps)

    def init_params(self, stream: Train, net=None) -> dict:
        weights = (net or self.net).init(rng(self.cfg.seed, stream))
        return {k: self.xp.asarray(v) for k, v in weights.items()}


def make_context(cfg: RunConfig, folder, prepared: Prepared) -> Context:
    ds, xp = prepared.ds, prepared.xp
    features, accuracy = None, None
    if ds.name == "digits":  # images are compared in a small classifier's feature space
        from ..metrics import digits_classifier
        clf = digits_classifier()

        def features(x):  # model samples: far-out values are bad samples, not raw pixels
            return clf.features(x, check_scale=False)
        accuracy = clf.accuracy
    net = make_network(cfg.net, ds.d)
    student_net = net if cfg.student_net() == cfg.net else make_network(cfg.student_net(), ds.d)
    return Context(cfg, ds, xp, xp.asarray(ds.train), cfg.sigma_data(ds), net, student_net,
                   features, accuracy, folder)


# --- the stages ---------------------------------------------------------------------------------

def data_stage(ctx: Context) -> StageResult:
    """The data, and the chance level: f_mem of fresh true samples (toy data) or of held-out
    data (images) against the training set."""
    ds, ev = ctx.ds, ctx.cfg.eval
    # f_mem of a model means little alone: at n = 16, fresh samples of the true distribution
    # already land near a training point now and then. Images have no generator: held-out data
    # plays its part.
    fresh = (ds.sample_true(ev.n_samples, rng(ctx.cfg.seed, Train.FRESH))
             if ds.sample_true is not None else ds.test)
    row = ctx.row(fresh, None, None, Eval.FRESH_METRICS)
    row["source"] = ("fresh samples of the true distribution" if ds.sample_true is not None
                     else "held-out data")
    metrics = {} if ctx.feature_accuracy is None else \
        {"feature_classifier_accuracy": ctx.feature_accuracy}
    metrics.update({"n_train": ds.n, "dim": ds.d, "dataset": ds.name,
                    "sigma_data": ctx.sigma_data,
                    "image_shape": list(ds.image_shape) if ds.image_shape else None,
                    "reference": {"fresh_true": row}})
    return StageResult(metrics, {"train": ds.train, "test": ds.test, "fresh_true": fresh})


def teacher_stage(ctx: Context) -> StageResult:
    """EDM training of the teacher (its EMA weights returned), with its curve over time; a
    resumed run continues from the last saved training state."""
    cfg = ctx.cfg
    model = EDMDenoiser(ctx.net, ctx.sigma_data)  # D_theta, weights not yet bound

    def sample(D, r):
        return cfg.diffusion.sample(D, cfg.eval.n_curve, ctx.ds.d, r, xp=ctx.xp)

    curve = CurveRecorder(ctx, "teacher", model, [(None, sample, Eval.TEACHER_CURVE_SAMPLES,
                                                   Eval.TEACHER_CURVE_METRICS)], cfg.teacher.steps)
    res = train_teacher(model, ctx.init_params(Train.TEACHER_INIT), ctx.train, cfg.teacher,
                        rng(cfg.seed, Train.TEACHER), curve.on_eval, ctx.folder.progress,
                        curve.resume, curve.on_state)
    # the curve comes back from the loop: the points of earlier sessions, then its history
    return StageResult({"teacher_curve": curve.resumed + res.history}, weights=res.ema)


def teacher_evaluation_stage(ctx: Context, D) -> StageResult:
    """The teacher's samples with its own sampler, and with 1 and 2 Euler steps: the student's
    number of network evaluations (NFE), so that "fewer steps" is told apart from CD."""
    cfg, d, xp = ctx.cfg, ctx.ds.d, ctx.xp
    dif, n = cfg.diffusion, cfg.eval.n_samples
    x, nfe = dif.sample(D, n, d, rng(cfg.seed, Eval.TEACHER_SAMPLES), xp=xp)
    rows = {"teacher": {**ctx.row(x, nfe, cfg.teacher.steps, Eval.TEACHER_METRICS),
                        "sampler": dif.describe()}}
    samples = {"teacher": to_numpy(x)}
    # the fair control of docs/design.md §4: the teacher with the student's NFE (1 and 2 Euler
    # steps), so that a drop in f_mem can be told apart from "fewer steps"
    for name, k, stream in (("teacher_fewstep", 1, Eval.FEWSTEP_1_METRICS),
                            ("teacher_fewstep_2", 2, Eval.FEWSTEP_2_METRICS)):
        x, nfe = generate(D, n, d, dif.grid(k), rng(cfg.seed, Eval.FEWSTEP_SAMPLES, k),
                          sampler="euler", xp=xp)
        samples[name] = to_numpy(x)
        rows[name] = {**ctx.row(x, nfe, cfg.teacher.steps, stream),
                      "sampler": f"euler, {k} step{'s' if k > 1 else ''}"}
    return StageResult(rows, samples)


def distillation_stage(ctx: Context, D, teacher_params) -> StageResult:
    """Consistency distillation of the teacher D (Song et al. 2023, Algorithm 2), for
    distill.steps steps or, with distill.plateau, until f_mem and quality level off; returns
    the student's evaluation weights, its curve, whether it levelled off, and the plateau."""
    cfg = ctx.cfg
    dif, dc = cfg.diffusion, cfg.distill
    model = ConsistencyFunction(ctx.student_net, ctx.sigma_data, dif.sigma_min)
    # the student starts from the teacher's weights (Song et al.) unless asked to start from
    # scratch; a copy, because the loop trains its weights in place
    params = (copy_params(teacher_params) if dc.init == "teacher"
              else ctx.init_params(Train.STUDENT_INIT, ctx.student_net))
    two = [dif.sigma_max, cfg.eval.student_tau]
    curve_samplers = [  # the 1-step student, and the 2-step one nested as "two_step"
        (None, lambda f, r: one_step(ctx, f, cfg.eval.n_curve, r), Eval.STUDENT_CURVE_SAMPLES,
         Eval.STUDENT_CURVE_METRICS),
        ("two_step", lambda f, r: consistency_samples(ctx, f, cfg.eval.n_curve, two, r),
         Eval.STUDENT_2STEP_CURVE_SAMPLES, Eval.STUDENT_2STEP_CURVE_METRICS)]
    curve = CurveRecorder(ctx, "student", model, curve_samplers, dc.steps)
    # with distill.plateau, steps is a budget: the loop asks after each evaluation whether the
    # curve so far has levelled off
    stop = (lambda step: levelled_off_of(curve.points, dc)["reached"]) if dc.plateau else None
    res = distill(D, model, params, ctx.train, dc, rng(cfg.seed, Train.DISTILL),
                  dif.sigma_min, dif.sigma_max, dif.rho, curve.on_eval, ctx.folder.progress,
                  curve.resume, curve.on_state, stop=stop)
    points = curve.resumed + res.history  # the student's curve, as the loop returned it
    found = levelled_off_of(points, dc)
    second_half = found.pop("second_half")
    found.update(budget=dc.steps, stopped_early=points[-1]["step"] < dc.steps, asked=dc.plateau)
    return StageResult({"student_curve": points, "student_levelled_off": second_half,
                        "distill_plateau": found}, weights=res.ema)


def levelled_off_of(points: list, dc) -> dict:
    """The one rule (cdlite.experiments.curves.levelled_off) on a student curve, judged on
    f_mem and on the run's first quality score (read off the curve's own points)."""
    return levelled_off(points, dc.plateau_window, dc.plateau_tol, dc.plateau_quality_tol,
                   scores_of_point(points[-1])[0])


def student_evaluation_stage(ctx: Context, params) -> StageResult:
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
    return StageResult(rows, samples)


def ct_stage(ctx: Context) -> StageResult:
    """Consistency training from scratch, no teacher (Algorithm 3): the baseline of CD."""
    cfg = ctx.cfg
    dif = cfg.diffusion
    model = ConsistencyFunction(ctx.student_net, ctx.sigma_data, dif.sigma_min)
    # the student's network and the distillation settings: CT differs from CD only in the
    # missing teacher step, so any difference in f_mem is the teacher's
    res = consistency_train(model, ctx.init_params(Train.CT_INIT, ctx.student_net),
                            ctx.train, cfg.distill,
                            rng(cfg.seed, Train.CT), dif.sigma_min, dif.sigma_max, dif.rho,
                            show_progress=ctx.folder.progress)
    x, nfe = one_step(ctx, model.bind(res.ema), cfg.eval.n_samples,
                      rng(cfg.seed, Eval.CT_SAMPLES))
    return StageResult({"ct": ctx.row(x, nfe, cfg.distill.steps, Eval.CT_METRICS)},
                       {"ct": to_numpy(x)})


def references_stage(ctx: Context) -> StageResult:
    """The empirical optimum of the training set sampled like the teacher: f_mem = 1 by
    construction, the scale every model is read against."""
    cfg = ctx.cfg
    # the same sampler and grid as the teacher, so the two differ only in the denoiser
    x, nfe = cfg.diffusion.sample(EmpiricalOptimalDenoiser(ctx.train), cfg.eval.n_samples,
                                  ctx.ds.d, rng(cfg.seed, Eval.OPTIMUM_SAMPLES), xp=ctx.xp)
    return StageResult({"reference": {"empirical_optimum": ctx.row(x, nfe, None,
                                                                   Eval.OPTIMUM_METRICS)}},
                       {"empirical_optimum": to_numpy(x)})


# --- sampling pieces the stages share -----------------------------------------------------------

def consistency_samples(ctx: Context, f, m: int, levels: list, r):
    """(x, nfe): consistency sampling of m points through the noise levels `levels`."""
    return generate(f, m, ctx.ds.d, levels, r, sampler=sample_consistency, xp=ctx.xp,
                    sigma_min=ctx.cfg.diffusion.sigma_min)


def one_step(ctx: Context, f, m: int, r):
    """(x, nfe): the one-step consistency sample x = f(sigma_max z, sigma_max)."""
    return consistency_samples(ctx, f, m, [ctx.cfg.diffusion.sigma_max], r)
