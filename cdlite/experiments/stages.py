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
from ..metrics.memorization import memorization_fraction
from ..metrics.transfer import draw_latents, student_samples, teacher_samples, transfer_report
from ..nn.networks import make_network
from ..nn.optim import copy_params
from .config import RunConfig
from .curves import student_growth
from .evaluation import CURVE_BOOT, evaluate_samples
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
    """Consistency distillation of the teacher D (Song et al. 2023, Algorithm 2) for
    distill.steps steps; returns the student's evaluation weights, its curve (each point with
    the transfer per latent), the growth law of its f_mem, and the teacher's samples from the
    transfer latents."""
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
    teacher, samples = transfer_teacher(ctx, D)

    def with_transfer(step, f, point):  # the same latents as the teacher's, at every point
        one, two_step = transfer(ctx, f, teacher, CURVE_BOOT, step)
        return {**point, "transfer": one, "two_step": {**point["two_step"], "transfer": two_step}}

    curve = CurveRecorder(ctx, "student", model, curve_samplers, dc.steps, with_transfer)
    res = distill(D, model, params, ctx.train, dc, rng(cfg.seed, Train.DISTILL),
                  dif.sigma_min, dif.sigma_max, dif.rho, curve.on_eval, ctx.folder.progress,
                  curve.resume, curve.on_state)
    points = curve.resumed + res.history  # the student's curve, as the loop returned it
    return StageResult({"student_curve": points, "student_growth": student_growth(points),
                        "transfer_teacher": teacher.summary}, samples, weights=res.ema)


# --- transfer per latent (cdlite.metrics.transfer) ----------------------------------------------

@dataclass
class TransferTeacher:
    """The teacher sampled once from the fixed latents x_T: Phi_teacher, Heun down the CD grid
    (the map a perfect student equals), and its memorization verdicts per latent."""
    x_T: object             # (m, d) on the run's device
    phi: object             # (m, d) Phi_teacher(x_T)
    mem: dict               # memorization_fraction of phi (per-latent flags and points)
    summary: dict           # what metrics.json keeps about the teacher's side


def transfer_teacher(ctx: Context, D) -> tuple[TransferTeacher, dict]:
    """(the teacher from the transfer latents, the sample sets to keep): Heun on its full grid
    and on the CD grid, from eval.n_curve latents x_T = sigma_max z."""
    cfg, dif = ctx.cfg, ctx.cfg.diffusion
    x_T = draw_latents(cfg.eval.n_curve, ctx.ds.d, dif.sigma_max,
                       rng(cfg.seed, Eval.TRANSFER_LATENTS), xp=ctx.xp)
    t = teacher_samples(D, x_T, dif.grid(xp=ctx.xp), cfg.distill.N, dif.sigma_min, dif.rho)
    full, phi = to_numpy(t["teacher"]), to_numpy(t["teacher_cd_grid"])
    # the full-grid teacher against Phi_teacher: how much the CD grid alone changes
    grids = transfer_report(ctx.ds.train, full, phi, ctx.sigma_data, cfg.eval.threshold,
                            cfg.eval.n_boot, rng(cfg.seed, Eval.TRANSFER_TEACHER_METRICS))
    mem = memorization_fraction(phi, ctx.ds.train, cfg.eval.threshold, cfg.eval.n_boot,
                                rng(cfg.seed, Eval.TRANSFER_TEACHER_METRICS, 1))
    summary = {"n_latents": grids["n_latents"], "f_mem": grids["teacher_f_mem"],
               "f_mem_ci": grids["teacher_f_mem_ci"], "cd_grid_f_mem": mem["f_mem"],
               "cd_grid_f_mem_ci": mem["f_mem_ci"], "cd_grid_same_point": grids["transfer"],
               "cd_grid_error": grids["imitation_error"]}
    samples = {"transfer_latents": to_numpy(x_T), "transfer_teacher": full,
               "transfer_teacher_cd_grid": phi}
    return TransferTeacher(x_T, phi, mem, summary), samples


def transfer(ctx: Context, f, teacher: TransferTeacher, n_boot: int, step: int | None = None):
    """transfer_report of the 1-step and the 2-step student f from the teacher's latents,
    against Phi_teacher (at a curve point `step`; at the final evaluation None)."""
    cfg, dif = ctx.cfg, ctx.cfg.diffusion
    sub = () if step is None else (step,)
    s = student_samples(f, teacher.x_T, dif.sigma_max, cfg.eval.student_tau, dif.sigma_min,
                        rng(cfg.seed, Eval.TRANSFER_2STEP, *sub))
    r = rng(cfg.seed, Eval.TRANSFER_METRICS, *sub)
    return tuple(transfer_report(ctx.ds.train, teacher.phi, to_numpy(s[k]), ctx.sigma_data,
                                 cfg.eval.threshold, n_boot, r, teacher_mem=teacher.mem)
                 for k in ("student", "student_2step"))


def kept_transfer_teacher(ctx: Context) -> TransferTeacher:
    """The distillation stage's transfer teacher, from the samples it kept (its verdicts
    recomputed: they are a deterministic function of the samples)."""
    cfg, kept = ctx.cfg, ctx.folder.samples
    phi = kept["transfer_teacher_cd_grid"]
    mem = memorization_fraction(phi, ctx.ds.train, cfg.eval.threshold, cfg.eval.n_boot,
                                rng(cfg.seed, Eval.TRANSFER_TEACHER_METRICS, 1))
    return TransferTeacher(ctx.xp.asarray(kept["transfer_latents"]), phi, mem, {})


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
    # transfer per latent: the same latents as the teacher's, the same as on the curve
    rows["student"]["transfer"], rows["student_2step"]["transfer"] = \
        transfer(ctx, f, kept_transfer_teacher(ctx), cfg.eval.n_boot)
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
