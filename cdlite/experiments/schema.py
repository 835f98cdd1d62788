"""What metrics.json and sweep.csv hold: their one definition (docs/metrics.md is written from
it by cdlite.experiments.metrics_doc, and a test keeps the two equal).

A record is a list of fields: (key, type, when it is there, meaning). `problems(metrics)`
checks a run's metrics.json against it: every key it holds is declared here with the right
type, and a complete run holds every key its recipe always writes. Quality scores come from the
registry (cdlite.metrics.scores), so a new score needs no edit here.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..metrics.scores import SCORES

NUMBER, INT, TEXT, FLAG = "number", "integer", "text", "true/false"
INTERVAL = "[low, high]"  # a 95% bootstrap interval
ALWAYS, OPTIONAL = "always", "optional"


@dataclass(frozen=True)
class Field:
    key: str
    kind: object       # NUMBER, INT, TEXT, FLAG, INTERVAL, "list", "object", a Record or [Record]
    when: str          # ALWAYS (in every complete run of the recipe) or what makes it appear
    meaning: str


@dataclass(frozen=True)
class Record:
    name: str
    fields: tuple
    open_keys: str = ""   # what other keys may appear (e.g. the registry's scores), or "" none


QUALITY = Record("quality", (
    Field("n_samples", INT, ALWAYS, "samples compared"),
    Field("n_test", INT, ALWAYS, "held-out points they are compared with"),
    Field("subsample", INT, ALWAYS, "at most this many points of each set for the O(m n) scores"),
    Field("mmd2_rbf", NUMBER, ALWAYS, "unbiased squared MMD, Gaussian kernel"),
    Field("mmd_bandwidth", NUMBER, ALWAYS, "its bandwidth (median distance)"),
    Field("frechet", NUMBER, ALWAYS, "Frechet distance of means and covariances, data space"),
    Field("loglik_ref", NUMBER, "mixture data", "mean log-likelihood of the held-out points"),
), open_keys="every score of the registry that applies to the data (cdlite.metrics.scores)")

RATE_CI = "list"  # [low, high], or null when the rate is over no latents
TRANSFER = Record("transfer", (
    Field("n_latents", INT, ALWAYS, "latents x_T shared by teacher and student (eval.n_curve)"),
    Field("teacher_f_mem", NUMBER, ALWAYS, "f_mem of Phi_teacher (Heun down the CD grid) on "
          "them"),
    Field("teacher_f_mem_ci", INTERVAL, ALWAYS, "its 95% interval"),
    Field("student_f_mem", NUMBER, ALWAYS, "f_mem of the student on the same latents"),
    Field("student_f_mem_ci", INTERVAL, ALWAYS, "its 95% interval"),
    Field("n_teacher_memorized", INT, ALWAYS, "latents whose teacher sample is memorized"),
    Field("transfer", NUMBER, ALWAYS, "P(student memorizes the same point | teacher "
          "memorized); null over no latents"),
    Field("transfer_ci", RATE_CI, ALWAYS, "its 95% interval (or null)"),
    Field("n_transferred", INT, ALWAYS, "latents where both memorized the same point"),
    Field("n_other_point", INT, ALWAYS, "latents where both memorized, different points"),
    Field("mem_if_not", NUMBER, ALWAYS, "P(student memorizes | teacher did not)"),
    Field("mem_if_not_ci", RATE_CI, ALWAYS, "its 95% interval (or null)"),
    Field("n_mem_if_not", INT, ALWAYS, "latents where only the student memorized"),
    Field("imitation_error", NUMBER, ALWAYS, "E |f_student(x_T) - Phi_teacher(x_T)|^2 / "
          "(d sigma_data^2)"),
    Field("imitation_error_if_teacher_memorized", NUMBER, ALWAYS, "the same over the latents "
          "the teacher memorized (null: none)"),
    Field("imitation_error_if_not", NUMBER, ALWAYS, "... and over the others"),
))

ROW = Record("row", (
    Field("f_mem", NUMBER, ALWAYS, "fraction of samples with |x - a_(1)| / |x - a_(2)| below "
          "threshold"),
    Field("f_mem_ci", INTERVAL, ALWAYS, "its 95% bootstrap interval"),
    Field("coverage", NUMBER, ALWAYS, "fraction of training points nearest to a memorized sample"),
    Field("threshold", NUMBER, ALWAYS, "the ratio threshold (1/3)"),
    Field("n_samples", INT, ALWAYS, "samples evaluated"),
    Field("n_train", INT, ALWAYS, "training points"),
    Field("n_distinct_train", INT, ALWAYS, "distinct training points"),
    Field("d1_median", NUMBER, ALWAYS, "median distance to the nearest training point"),
    Field("d1_mean", NUMBER, ALWAYS, "mean distance to the nearest training point"),
    Field("ratio_median", NUMBER, ALWAYS, "median nearest-neighbour ratio"),
    Field("ratio_hist", "object", ALWAYS, "histogram of the ratio: edges, counts"),
    Field("copy_mean", NUMBER, "images", "mean over samples of the largest cosine similarity "
          "to a training image, in classifier features"),
    Field("copy_max", NUMBER, "images", "its largest value"),
    Field("copy_p95", NUMBER, "images", "its 95th percentile"),
    Field("copy_frac_above", NUMBER, "images", "fraction of samples above copy_threshold"),
    Field("copy_threshold", NUMBER, "images", "the similarity that counts as a copy (0.95)"),
    Field("steps", INT, "models", "training steps of the model"),
    Field("nfe", INT, "models", "network evaluations per sample"),
    Field("sampler", TEXT, "teacher rows", "how the teacher was sampled"),
    Field("source", TEXT, "fresh_true", "fresh true samples, or held-out data (images)"),
    Field("quality", QUALITY, ALWAYS, "quality scores against held-out data"),
    Field("transfer", TRANSFER, "student rows", "transfer per latent against Phi_teacher, "
          "eval.n_curve latents (cdlite.metrics.transfer)"),
))

STEP_POINT = Record("two_step", (
    Field("f_mem", NUMBER, ALWAYS, "f_mem of the 2-step student at this step"),
    Field("f_mem_ci", INTERVAL, ALWAYS, "its 95% interval"),
    Field("n_samples", INT, ALWAYS, "samples behind f_mem (eval.n_curve)"),
    Field("coverage", NUMBER, ALWAYS, "coverage"),
    Field("quality", Record("quality", (), open_keys="the registry's on_curve scores"),
          ALWAYS, "quality scores"),
    Field("transfer", TRANSFER, "student_curve", "transfer per latent against Phi_teacher "
          "(cdlite.metrics.transfer)"),
))
CURVE_POINT = Record("curve point", (
    Field("step", INT, ALWAYS, "training step"),
    *STEP_POINT.fields,
    Field("gen_gap", NUMBER, ALWAYS, "generalization gap: test - train denoising loss"),
    Field("gen_gap_per_sigma", "list", ALWAYS, "the gap at each eval.gap_sigmas"),
    Field("two_step", STEP_POINT, "student_curve", "the 2-step student at the same step"),
))

GROWTH = Record("growth", (
    Field("slope", NUMBER, "fitted", "f_mem change per doubling of the steps, trailing decade"),
    Field("interval", INTERVAL, "fitted", "its 95% bootstrap interval (over samples)"),
    Field("converged", FLAG, ALWAYS, "the one rule: |slope| < tol or the interval holds 0 "
          "(null: too few points to fit)"),
    Field("tol", NUMBER, "fitted", "the rule's tolerance per doubling"),
    Field("level", NUMBER, "fitted", "the interval's level"),
    Field("over", TEXT, "fitted", "what the bootstrap resampled: samples or seeds"),
    Field("n_curves", INT, "fitted", "curves fitted"),
    Field("window", "list", "fitted", "first and last step of the trailing decade"),
    Field("n_points", INT, "fitted", "evaluation points in it"),
    Field("statement", TEXT, ALWAYS, "the rule and its verdict in one sentence"),
))
TRANSFER_TEACHER = Record("transfer_teacher", (
    Field("n_latents", INT, ALWAYS, "latents x_T = sigma_max z (eval.n_curve)"),
    Field("f_mem", NUMBER, ALWAYS, "f_mem of the teacher, Heun on its full grid, from them"),
    Field("f_mem_ci", INTERVAL, ALWAYS, "its 95% interval"),
    Field("cd_grid_f_mem", NUMBER, ALWAYS, "f_mem of Phi_teacher, Heun down the CD grid"),
    Field("cd_grid_f_mem_ci", INTERVAL, ALWAYS, "its 95% interval"),
    Field("cd_grid_same_point", NUMBER, ALWAYS, "P(Phi_teacher memorizes the same point | "
          "the full-grid teacher did)"),
    Field("cd_grid_error", NUMBER, ALWAYS, "mean |Phi_teacher - full grid|^2 / "
          "(d sigma_data^2)"),
))

REFERENCE = Record("reference", (
    Field("fresh_true", ROW, ALWAYS, "chance level: fresh true samples or held-out data"),
    Field("empirical_optimum", ROW, ALWAYS, "the perfect memorizer")))

COMMON = (
    Field("recipe", TEXT, ALWAYS, "the recipe's name"),
    Field("seed", INT, ALWAYS, "the run's seed"),
    Field("status", TEXT, ALWAYS, "running, complete, partial or failed"),
    Field("stage", TEXT, ALWAYS, "the stage running, or the last one"),
    Field("stages_done", "list", ALWAYS, "stages finished, in order"),
    Field("timings_s", "object", ALWAYS, "seconds per stage"),
    Field("description", TEXT, ALWAYS, "the recipe's one line"),
    Field("device", TEXT, ALWAYS, "cpu, gpu or auto"),
    Field("interrupted_in", TEXT, "partial or failed runs", "the stage that was stopped"),
    Field("error", TEXT, "failed runs", "the error"),
    Field("files", "object", "runs with stages that wrote files", "path -> {bytes, sha256, "
          "stage}: what each finished stage left, checked on resume (cdlite.runs.folder)"),
)
MODELS = ("teacher", "teacher_fewstep", "teacher_fewstep_2", "student", "student_2step")
PIPELINE = Record("metrics.json of toy-gaussians, two-moons, digits", COMMON + (
    Field("feature_classifier_accuracy", NUMBER, "images", "held-out accuracy of the classifier "
          "whose features the image scores use"),
    Field("n_train", INT, ALWAYS, "training points"),
    Field("dim", INT, ALWAYS, "data dimension d"),
    Field("dataset", TEXT, ALWAYS, "the dataset's name"),
    Field("sigma_data", NUMBER, ALWAYS, "the data scale EDM's preconditioning uses"),
    Field("image_shape", "list", "images (null otherwise)", "[height, width]"),
    Field("reference", REFERENCE, ALWAYS, "the reference rows"),
    Field("teacher_curve", [CURVE_POINT], ALWAYS, "the teacher over training time"),
    *(Field(m, ROW, ALWAYS, f"the {m.replace('_', ' ')} row") for m in MODELS),
    Field("ct", ROW, "run_ct", "consistency training without teacher"),
    Field("student_curve", [CURVE_POINT], ALWAYS, "the student over distillation time"),
    Field("student_growth", GROWTH, ALWAYS, "the growth law of the student's f_mem over "
          "distillation time (cdlite.metrics.growth)"),
    Field("transfer_teacher", TRANSFER_TEACHER, ALWAYS, "the teacher sampled once from the "
          "transfer latents"),
    Field("frontier", "object", ALWAYS, "memorization at matched quality, per student and "
          "score (cdlite.experiments.curves.frontier)"),
    Field("figures", "object", ALWAYS, "figure name -> file in figures/"),
))
RF_THEORY = Record("metrics.json of rf-theory", COMMON + tuple(
    Field(k, kind, ALWAYS, meaning) for k, kind, meaning in (
        ("time_unit", TEXT, "what tau measures"), ("step_size_rule", TEXT, "GD step size"),
        ("paper_time", TEXT, "tau of Bonnaire et al."), ("setting", "object", "d, p, t, ns"),
        ("ge_constants", "object", "closed-form constants"),
        ("ge_constants_mc", "object", "the same by Monte Carlo"),
        ("tau_spike", NUMBER, "time of the spike modes"),
        *((k, "object", "mean, sd and log-log slope over draws") for k in (
            "tau_gen", "tau_mem", "clock_gen", "clock_mem", "gap_inf", "score_error_min")),
        ("tau_mem_by_fraction", "object", "tau_mem per gap fraction"),
        ("gap_share_top_n", "object", "gap share of the top modes per n"),
        ("spectrum", "object", "spectra per n"), ("gd_check", "object", "simulated GD check"),
        ("finite_size", "object", "the finite-size check"),
        ("mc_check", "object", "the Monte-Carlo check"), ("cd", "object", "CD over time"))))
RECORDS = {"rf-theory": RF_THEORY}  # every other recipe is the pipeline

# --- sweep.csv: one row per finished cell (cdlite.sweeps.table.row) ----------------------------

SWEEP_MODELS = ("teacher", "teacher_fewstep", "student", "student_2step")
SWEEP_CSV = (  # (column, type, meaning); <model>, <score> and <grid key> are expanded
    ("folder", TEXT, "the cell's run folder, inside the sweep folder"),
    ("<grid key>", TEXT, "the cell's value of each grid key, as given"),
    ("seed", INT, "the cell's seed"),
    ("n_train", INT, "training points"),
    ("chance", NUMBER, "f_mem of fresh true samples (held-out data for images)"),
    ("<model>_f_mem", NUMBER, f"f_mem of each of {', '.join(SWEEP_MODELS)}"),
    ("<model>_coverage", NUMBER, "its coverage"),
    ("<model>_<score>", NUMBER, "each frontier score of the run (cdlite.metrics.scores)"),
    ("teacher_steps_to_f_mem_0.5", NUMBER, "first teacher step where f_mem reaches 0.5"),
    ("teacher_steps_to_f_mem_0.9", NUMBER, "... and 0.9 (empty: never)"),
    ("distill_steps", INT, "distillation steps run"),
    ("student_growth", NUMBER, "f_mem change per doubling of the steps, trailing decade"),
    ("student_converged", FLAG, "the one rule (cdlite.metrics.growth) on this cell's curve"),
    ("phi_teacher_f_mem", NUMBER, "f_mem of Phi_teacher (CD grid) on the transfer latents"),
    ("student_transfer", NUMBER, "P(student memorizes the same point | teacher memorized)"),
    ("student_imitation_error", NUMBER, "E |f_student - Phi_teacher|^2 / (d sigma_data^2)"),
    ("teacher_f_mem_at_student_<score>", NUMBER, "the teacher's f_mem at the student's score"),
    ("student_below_teacher_<score>", FLAG, "the student lies below the teacher's curve"),
    ("weak_<score>", FLAG, "the score rates the untrained teacher as well as the student"),
    ("seconds", NUMBER, "the cell's compute time"),
)


def sweep_columns(grid_keys, scores) -> list[str]:
    """The columns of one sweep.csv row, in order, for a grid and the run's frontier scores. A
    run of patterns with one placeholder expands together: model by model (f_mem, coverage,
    scores), then score by score (the teacher's f_mem there, below, weak)."""
    patterns = [c for c, _, _ in SWEEP_CSV]
    out, i = [], 0
    while i < len(patterns):
        tag = "<model>" if patterns[i].startswith("<model>") else \
            "<score>" if "<score>" in patterns[i] else None
        j = i + 1
        while tag and j < len(patterns) and patterns[j].startswith("<model>") == \
                (tag == "<model>") and tag in patterns[j]:
            j += 1
        group = patterns[i:j]
        if patterns[i] == "<grid key>":
            out += list(grid_keys)
        elif tag == "<model>":
            out += [c.replace("<model>", m).replace("<score>", s) for m in SWEEP_MODELS
                    for c in group for s in (scores if "<score>" in c else [""])]
        elif tag == "<score>":
            out += [c.replace("<score>", s) for s in scores for c in group]
        else:
            out += group
        i = j
    return out


# --- checking a metrics.json ------------------------------------------------------------------

def problems(metrics: dict) -> list[str]:
    """What in a run's metrics.json disagrees with its schema (empty when nothing does)."""
    record = RECORDS.get(metrics.get("recipe"), PIPELINE)
    return list(_check(metrics, record, "metrics", metrics.get("status") == "complete"))


def _check(value, kind, where: str, complete: bool):
    if isinstance(kind, Record):
        yield from _check_record(value, kind, where, complete)
    elif isinstance(kind, list):
        if not isinstance(value, list):
            yield f"{where}: {type(value).__name__}, expected a list"
            return
        for i, v in enumerate(value):
            yield from _check(v, kind[0], f"{where}[{i}]", complete)
    elif not _fits(value, kind):
        yield f"{where}: {value!r:.60} is not a {kind}"


def _check_record(value, record: Record, where: str, complete: bool):
    if not isinstance(value, dict):
        yield f"{where}: {type(value).__name__}, expected an object"
        return
    declared = {f.key: f for f in record.fields}
    for k, v in value.items():
        if k in declared:
            yield from _check(v, declared[k].kind, f"{where}.{k}", complete)
        elif record.open_keys and k in SCORES:  # a registered score
            yield from _check(v, NUMBER, f"{where}.{k}", complete)
        else:
            yield f"{where}.{k}: not in the schema (cdlite/experiments/schema.py)"
    if complete:  # a complete run holds everything its recipe always writes
        yield from (f"{where}.{f.key}: missing" for f in record.fields
                    if f.when == ALWAYS and f.key not in value)


def _fits(v, kind) -> bool:
    number = isinstance(v, (int, float)) and not isinstance(v, bool)
    return {NUMBER: number or v is None,  # a value that was not finite is written as null
            INT: isinstance(v, int) and not isinstance(v, bool),
            TEXT: isinstance(v, str), FLAG: isinstance(v, bool) or v is None,
            INTERVAL: isinstance(v, list) and len(v) == 2
            and all(_fits(x, NUMBER) for x in v),
            "list": isinstance(v, list) or v is None, "object": isinstance(v, dict)}[kind]
