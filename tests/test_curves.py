"""Reading curves: the growth law of f_mem over log time, the transfer trend, the teacher at the
student's quality (the frontier), and the pipeline settings built on them (log-spaced
evaluations with transfer per latent, a student of another size)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cdlite.experiments.curves import (frontier, student_growth, teacher_at_quality,
                                       transfer_sentence, transfer_trend)
from cdlite.experiments.schema import problems
from cdlite_cli.main import main

TINY = ["--quick", "--set", "teacher.steps=60", "--set", "eval.n_samples=100",
        "--set", "eval.n_curve=60", "--set", "eval.n_boot=50"]


def point(step, f, q=None, key="loglik"):
    return {"step": step, "f_mem": f, "f_mem_ci": [f - 0.01, f + 0.01],
            "quality": {} if q is None else {key: q}}


def test_the_growth_law_of_a_curve_and_a_curve_too_short_to_fit():
    steps = [0, 64, 128, 256, 512, 1024, 2048]
    rising = [{"step": t, "f_mem": 0.1 + 0.05 * np.log2(max(t, 1)), "n_samples": 100_000}
              for t in steps]
    g = student_growth(rising)
    assert g["slope"] == pytest.approx(0.05) and g["converged"] is False
    assert tuple(g["window"]) == (256, 2048) and g["over"] == "samples"
    assert "changes by +0.050 per doubling" in g["statement"]
    flat = [{**p, "f_mem": 0.4} for p in rising]
    assert student_growth(flat)["converged"] is True
    short = student_growth(rising[:3])   # steps 0, 64, 128: two points in the trailing decade
    assert short["converged"] is None and "not fitted" in short["statement"]


def _transfer_point(step, error, student, teacher=0.9):
    return {"step": step, "transfer": {"imitation_error": error, "student_f_mem": student,
                                       "teacher_f_mem": teacher, "transfer": student / teacher,
                                       "student_f_mem_ci": [student - 0.02, student + 0.02]}}


def test_the_transfer_sentence_answers_from_the_numbers():
    approaching = [_transfer_point(0, 1.0, 0.0), _transfer_point(64, 0.5, 0.2),
                   _transfer_point(128, 0.2, 0.5), _transfer_point(256, 0.1, 0.7)]
    t = transfer_trend(approaching)
    assert t["first"]["step"] == 64 and t["last"]["gap"] == pytest.approx(0.2)
    assert t["rank_correlation"] == pytest.approx(1.0)
    text = transfer_sentence(t)
    assert "? Yes: from step 64 to 256 the imitation error went from 0.5 to 0.1" in text
    stuck = [_transfer_point(s, e, 0.3) for s, e in ((64, 0.5), (128, 0.2), (256, 0.1))]
    assert "? No: the gap did not narrow by more than 0.04" in transfer_sentence(
        transfer_trend(stuck))
    assert "no answer" in transfer_sentence(transfer_trend(stuck[:1]))


def test_the_teacher_at_the_students_quality_is_read_after_its_low_point():
    # a blob that scores well at step 0, a dip, then training improves the score again
    curve = [point(0, 0.0, -3.0), point(100, 0.2, -6.0), point(200, 0.6, -4.0),
             point(300, 0.9, -2.0)]
    m = teacher_at_quality(curve, -3.0, "loglik")  # the blob's score, reached again later
    assert m["where"] == "crossing" and m["low_point_step"] == 100
    assert m["step"] == pytest.approx(250) and m["f_mem"] == pytest.approx(0.75)
    assert teacher_at_quality(curve, -1.0, "loglik")["where"] == "never as good"
    assert teacher_at_quality(curve, -7.0, "loglik")["where"] == "better at its low point"
    energy = [point(s, f, q, "energy_distance") for s, f, q in
              ((0, 0.0, 0.06), (100, 0.5, 0.30), (200, 0.9, 0.10))]
    e = teacher_at_quality(energy, 0.2, "energy_distance")  # lower is better
    assert e["where"] == "crossing" and e["f_mem"] == pytest.approx(0.7)


def test_the_frontier_verdict_and_the_blob_flag():
    curve = [point(0, 0.0, -3.0), point(100, 0.2, -6.0), point(300, 0.9, -2.0)]
    m = {"teacher_curve": curve, "teacher": point(300, 0.9, -2.0),
         "student": point(2000, 0.3, -2.5)}
    f = frontier(m)["loglik"]
    assert f["teacher"]["where"] == "crossing" and f["below_teacher"] is True
    assert f["weak"] is False  # the blob (-3.0) scores worse than the student (-2.5)
    m["student"] = point(2000, 0.3, -3.5)
    assert frontier(m)["loglik"]["weak"] is True  # the blob beats this student
    # worse than every checkpoint after the low point (-6.0, f_mem 0.2): less f_mem says
    # nothing (maybe only blurrier), more f_mem is worse on both counts
    m["student"] = point(2000, 0.1, -7.0)
    assert frontier(m)["loglik"]["below_teacher"] is None
    m["student"] = point(2000, 0.3, -7.0)
    assert frontier(m)["loglik"]["below_teacher"] is False


def run(tmp_path, *extra):
    result = CliRunner().invoke(main, ["run", "toy-gaussians", *TINY, *extra, "--out",
                                       str(tmp_path / "run"), "-q"])
    assert result.exit_code in (0, 2), result.output
    return result, (json.loads((tmp_path / "run" / "metrics.json").read_text())
                    if result.exit_code == 0 else None)


def test_a_log_scheduled_run_records_growth_and_transfer(tmp_path):
    _, m = run(tmp_path, "--set", "distill.steps=256", "--set", "distill.eval_schedule=log",
               "--set", "distill.lr_schedule=cosine")
    assert problems(m) == []  # the transfer records are declared in the schema
    curve = m["student_curve"]
    assert [p["step"] for p in curve] == [0, 64, 128, 256]
    for p in curve:
        assert p["n_samples"] == 60 and p["transfer"]["n_latents"] == 60
        assert p["two_step"]["transfer"]["teacher_f_mem"] == p["transfer"]["teacher_f_mem"]
    assert m["student"]["transfer"]["n_latents"] == 60 and m["transfer_teacher"]["n_latents"] == 60
    assert m["student_growth"]["window"] == [64, 256] and m["student_growth"]["over"] == "samples"
    report = (tmp_path / "run" / "report.md").read_text()
    assert m["student_growth"]["statement"] in report
    assert "converged when doubling the steps changes f_mem by less than" in report
    assert "As the imitation error falls, does the student's f_mem approach the teacher's?" \
        in report
    assert "transfer.png" in report and (tmp_path / "run" / "figures" / "transfer.png").is_file()
    bad = dict(m, student_curve=[{**curve[1], "transfer": {**curve[1]["transfer"],
                                                           "n_latents": "60"}}])
    assert any("transfer.n_latents" in p for p in problems(bad))


def test_a_budget_too_small_for_the_log_schedule_stops_before_the_run(tmp_path):
    result, _ = run(tmp_path, "--set", "distill.steps=100", "--set", "distill.eval_schedule=log")
    assert result.exit_code == 2 and not (tmp_path / "run").exists()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "distill.steps=100" in lines[0]
    assert "raise steps to at least 129 or set eval_schedule=linear" in lines[0]


def test_a_student_of_its_own_size(tmp_path):
    result, _ = run(tmp_path, "--set", "distill.student_width=32")
    assert result.exit_code == 2 and "distill.init=scratch" in result.output
    _, m = run(tmp_path, "--set", "distill.student_width=32", "--set", "distill.student_depth=2",
               "--set", "distill.init=scratch", "--set", "distill.steps=40")
    from cdlite.checkpoint import read_header
    head = read_header(tmp_path / "run" / "checkpoints" / "student.npz")
    assert (head["network"]["hidden"], head["network"]["depth"]) == (32, 2)
    assert m["status"] == "complete" and "student" in m
