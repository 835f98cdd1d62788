"""The run pipeline: data -> teacher -> teacher evaluation (full Heun and the NFE-matched Euler
control) -> consistency distillation -> student evaluation (1 and 2 steps) -> optional CT
baseline -> reference rows -> run folder and report.

Each stage is a few lines calling the library; the random streams are derived from the seed per
stage, so the same config and seed give the same metrics.json on the CPU.
"""
from __future__ import annotations

import time
from pathlib import Path


from ..backend import get_xp, make_rng, to_numpy
from ..data import make_dataset
from ..errors import CdliteError
from ..diffusion import EDMDenoiser, EmpiricalOptimalDenoiser, generate, karras_sigmas, \
    train_teacher
from ..distill import ConsistencyFunction, consistency_train, distill, sample_consistency
from ..nn.networks import build_network, network_spec
from ..nn.optim import copy_params
from .config import _DATA_FIELDS, RunConfig, to_dict, to_toml, validate
from .evaluation import curve_point, eval_rng, evaluate_samples, levelled_off
from ..fileio import write_json, write_text
from ..checkpoint import save_checkpoint
from .runfolder import write_samples

def load_data(cfg: RunConfig):
    d = cfg.data
    rename = {"dim": "d"}  # DataConfig.dim is make_dataset's d
    options = {rename.get(f, f): getattr(d, f) for f in _DATA_FIELDS.get(d.name, ())
               if getattr(d, f) not in ("", ())}
    return make_dataset(d.name, d.n_train, d.n_test, seed=cfg.seed, **options)


def build_net(cfg: RunConfig, d: int):
    n = cfg.net
    if n.kind == "rf":
        return build_network("rf", d=d, p=n.p, activation=n.activation, emb_dim=n.emb_dim,
                             train_first=n.train_first)
    return build_network("mlp", d=d, hidden=n.hidden, depth=n.depth, activation=n.activation,
                         emb=n.emb, emb_dim=n.emb_dim, emb_mode=n.emb_mode,
                         input_fourier=n.input_fourier,
                         input_fourier_scale=n.input_fourier_scale, residual=n.residual,
                         layernorm=n.layernorm)


class Run:
    """What a run has produced so far; written out whole at the end or on interruption."""

    def __init__(self, cfg: RunConfig, out: Path, log):
        self.cfg, self.out, self.log = cfg, Path(out), log
        self.samples: dict = {}
        self.metrics: dict = {"recipe": cfg.recipe, "seed": cfg.seed, "status": "running",
                              "device": cfg.device, "timings_s": {}}
        self.stage = "setup"
        self._t = time.perf_counter()

    def begin(self, stage: str):
        self.stage = stage
        self._t = time.perf_counter()
        self.log(f"[{stage}]")

    def end(self):
        self.metrics["timings_s"][self.stage] = round(time.perf_counter() - self._t, 3)


def run_recipe(cfg: RunConfig, out_dir, quiet: bool = False, log=None) -> dict:
    """Run the whole pipeline of `cfg` into the folder out_dir; returns the metrics dict.

    On Ctrl-C the folder is still written, complete up to the interrupted stage, with
    metrics["status"] = "partial"; then KeyboardInterrupt is raised again.
    """
    log = log or ((lambda *a: None) if quiet else print)
    validate(cfg)
    t0 = time.perf_counter()
    get_xp(cfg.device)  # before anything is written: a missing GPU or bad data leaves no
    ds = load_data(cfg)  # half-made run folder behind
    out = Path(out_dir)
    try:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CdliteError(f"cannot create the run folder {out}: {e.strerror}") from None
    write_text(out / "config.toml", to_toml(cfg))
    run = Run(cfg, out, log)
    try:
        _stages(run, cfg, ds, show_progress=False if quiet else None)
        run.metrics["status"] = "complete"
    except KeyboardInterrupt:
        run.metrics["status"] = "partial"
        run.metrics["interrupted_in"] = run.stage
        log(f"interrupted during {run.stage!r}: writing a partial run folder to {out}")
        _finish(run, t0)
        raise
    _finish(run, t0)
    return run.metrics


def _finish(run: Run, t0: float):
    from .figures import make_figures
    from .report import write_report
    m, out = run.metrics, run.out
    m["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
    write_samples(out / "samples.npz", run.samples)
    write_json(out / "metrics.json", m)
    try:  # figures are the last thing written: a second Ctrl-C or a plotting error costs
        # only the figures, never the metrics and samples already on disk
        m["figures"] = make_figures(out / "figures", m, run.samples, m.get("image_shape"),
                                    run.cfg.eval.threshold)
    except (KeyboardInterrupt, CdliteError) as e:
        m["figures"] = {}
        run.log(f"figures skipped: {e!r}")
    write_json(out / "metrics.json", m)
    write_report(out, m, run.cfg)


def _stages(run: Run, cfg: RunConfig, ds, show_progress):
    xp = get_xp(cfg.device)
    m, S, seed = run.metrics, run.samples, cfg.seed
    dif, ev = cfg.diffusion, cfg.eval
    heun_grid = karras_sigmas(dif.heun_steps, dif.sigma_min, dif.sigma_max, dif.rho)

    # --- data ------------------------------------------------------------------------------
    run.begin("data")
    sigma_data = dif.sigma_data or ds.sigma_data
    train = xp.asarray(ds.train)
    m.update(n_train=ds.n, dim=ds.d, dataset=ds.name, sigma_data=sigma_data,
             image_shape=list(ds.image_shape) if ds.image_shape else None)
    S["train"], S["test"] = ds.train, ds.test
    features = None
    if ds.name == "digits":
        from ..metrics import digits_classifier
        clf = digits_classifier()
        features = clf.features
        m["feature_classifier_accuracy"] = clf.accuracy

    def row(x, nfe, steps, stream):  # one row of the summary table
        return evaluate_samples(x, ds, cfg, eval_rng(seed, stream), features, nfe, steps)

    # chance level: fresh true samples (toy data) or held-out data (images)
    fresh = (ds.sample_true(ev.n_samples, make_rng([seed, 7])) if ds.sample_true is not None
             else ds.test)
    S["fresh_true"] = fresh
    m["reference"] = {"fresh_true": row(fresh, None, None, 1)}
    m["reference"]["fresh_true"]["source"] = ("fresh samples of the true distribution"
                                              if ds.sample_true is not None else "held-out data")
    run.end()

    # --- teacher: EDM training, curve of memorization over training time --------------------
    run.begin("teacher")
    net = build_net(cfg, ds.d)
    params = {k: xp.asarray(v) for k, v in net.init(make_rng([seed, 1])).items()}
    teacher = EDMDenoiser(net, sigma_data)
    model_meta = {"network": network_spec(net), "sigma_data": sigma_data,
                  "sigma_min": dif.sigma_min, "sigma_max": dif.sigma_max, "rho": dif.rho,
                  "heun_steps": dif.heun_steps, "image_shape": m["image_shape"],
                  "config": to_dict(cfg)}

    def curve_callback(role, model, sample, stream, steps_planned):
        """The training loop's on_eval for `role`: sample with the current weights, checkpoint
        them, and append a point to m[role + "_curve"] (kept as it grows, so an interrupted run
        still has its curve)."""
        curve = m[f"{role}_curve"] = []

        def on_eval(step, p):
            x, _ = sample(model.bind(p), eval_rng(seed, stream, step))
            # the evaluation weights and all that `cdlite sample` needs to rebuild the model
            save_checkpoint(run.out / "checkpoints" / f"{role}.npz", p,
                       {**model_meta, "model": role, "step": step, "steps_planned": steps_planned})
            point = curve_point(x, ds, cfg, eval_rng(seed, stream + 1, step),
                                denoise=model.bind(p))
            curve.append({"step": step, **point})
            return point
        return on_eval

    teacher_eval = curve_callback(
        "teacher", teacher, lambda D, r: generate(D, ev.n_curve, ds.d, heun_grid, r, xp=xp),
        2, cfg.teacher.steps)
    res = train_teacher(teacher, params, train, cfg.teacher, make_rng([seed, 2]), teacher_eval,
                        show_progress)
    teacher_params = res.ema
    run.end()

    # --- teacher evaluation: full Heun, and Euler with 1 and 2 steps (NFE-matched control) --
    run.begin("teacher evaluation")
    D = teacher.bind(teacher_params)
    x, nfe = generate(D, ev.n_samples, ds.d, heun_grid, eval_rng(seed, 4), xp=xp)
    S["teacher"], m["teacher"] = to_numpy(x), row(x, nfe, cfg.teacher.steps, 5)
    m["teacher"]["sampler"] = f"heun, {dif.heun_steps} steps"
    for name, k in (("teacher_fewstep", 1), ("teacher_fewstep_2", 2)):
        grid = karras_sigmas(k, dif.sigma_min, dif.sigma_max, dif.rho)
        x, nfe = generate(D, ev.n_samples, ds.d, grid, eval_rng(seed, 6, k), sampler="euler",
                          xp=xp)
        S[name], m[name] = to_numpy(x), row(x, nfe, cfg.teacher.steps, 7 + k)
        m[name]["sampler"] = f"euler, {k} step{'s' if k > 1 else ''}"
    run.end()

    # --- consistency distillation ------------------------------------------------------------
    run.begin("distillation")
    student = ConsistencyFunction(net, sigma_data, dif.sigma_min)
    one_step = [dif.sigma_max]
    two_step = [dif.sigma_max, ev.student_tau]
    sp = (copy_params(teacher_params) if cfg.distill.init == "teacher" else
          {k: xp.asarray(v) for k, v in net.init(make_rng([seed, 3])).items()})

    student_eval = curve_callback(
        "student", student, lambda f, r: generate(f, ev.n_curve, ds.d, one_step, r,
                                                  sampler=sample_consistency, xp=xp,
                                                  sigma_min=dif.sigma_min),
        10, cfg.distill.steps)

    dres = distill(D, student, sp, train, cfg.distill, make_rng([seed, 4]), dif.sigma_min,
                   dif.sigma_max, dif.rho, student_eval, show_progress)
    m["student_levelled_off"] = levelled_off(dres.history)
    run.end()

    run.begin("student evaluation")
    f = student.bind(dres.ema)
    for name, grid, stream in (("student", one_step, 12), ("student_2step", two_step, 13)):
        x, nfe = generate(f, ev.n_samples, ds.d, grid, eval_rng(seed, stream),
                          sampler=sample_consistency, xp=xp,
                          sigma_min=dif.sigma_min)
        S[name], m[name] = to_numpy(x), row(x, nfe, cfg.distill.steps, stream + 10)
    run.end()

    # --- optional consistency training (no teacher) ------------------------------------------
    if cfg.run_ct:
        run.begin("consistency training")
        cp = {k: xp.asarray(v) for k, v in net.init(make_rng([seed, 5])).items()}
        cres = consistency_train(student, cp, train, cfg.distill, make_rng([seed, 6]),
                                 dif.sigma_min, dif.sigma_max, dif.rho,
                                 show_progress=show_progress)
        x, nfe = generate(student.bind(cres.ema), ev.n_samples, ds.d, one_step,
                          eval_rng(seed, 30), sampler=sample_consistency, xp=xp,
                          sigma_min=dif.sigma_min)
        S["ct"], m["ct"] = to_numpy(x), row(x, nfe, cfg.distill.steps, 31)
        run.end()

    # --- the perfect memorizer, for scale -----------------------------------------------------
    run.begin("references")
    x, nfe = generate(EmpiricalOptimalDenoiser(train), ev.n_samples, ds.d, heun_grid,
                      eval_rng(seed, 40), xp=xp)
    S["empirical_optimum"] = to_numpy(x)
    m["reference"]["empirical_optimum"] = row(x, nfe, None, 41)
    run.end()


def run_seeds(cfg: RunConfig, seeds, out_dir, quiet: bool = False, log=None) -> dict:
    """Run cfg once per seed into out_dir/seed-<s>/ and summarise mean and spread."""
    from dataclasses import replace

    from .report import summarize_seeds, write_seed_summary
    runs = []
    for s in seeds:
        runs.append(run_recipe(replace(cfg, seed=int(s)), Path(out_dir) / f"seed-{s}", quiet,
                               log))
    summary = summarize_seeds(runs)
    write_json(Path(out_dir) / "summary.json", summary)
    write_seed_summary(Path(out_dir), summary, cfg)
    return summary
