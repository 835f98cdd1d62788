"""Reading curves: the plateau test, the teacher at the student's quality (the frontier), and the
pipeline settings built on them (distillation to a plateau, a student of another size)."""
import json

import pytest
from click.testing import CliRunner

from cdlite.experiments.curves import frontier, teacher_at_quality
from cdlite.experiments.curves import levelled_off as plateau
from cdlite_cli.main import main

TINY = ["--quick", "--set", "teacher.steps=60", "--set", "eval.n_samples=100",
        "--set", "eval.n_curve=60", "--set", "eval.n_boot=50"]


def point(step, f, q=None, key="loglik"):
    return {"step": step, "f_mem": f, "f_mem_ci": [f - 0.01, f + 0.01],
            "quality": {} if q is None else {key: q}}


def test_a_flat_curve_is_a_plateau_and_a_rising_one_is_not():
    flat = [point(100 * i, 0.30 + 0.004 * (-1) ** i, -2.5) for i in range(8)]
    assert plateau(flat, 5, 0.03, 0.05, "loglik")["reached"]
    rising = [point(100 * i, 0.05 * i, -2.5) for i in range(8)]
    p = plateau(rising, 5, 0.03, 0.05, "loglik")
    assert not p["reached"] and p["mem_change"] == pytest.approx(0.2)  # 4 steps x 0.05
    improving = [point(100 * i, 0.3, -4.0 + 0.3 * i) for i in range(8)]
    assert not plateau(improving, 5, 0.03, 0.05, "loglik")["reached"]
    assert not plateau(flat[:4], 5, 0.03, 0.05, "loglik")["reached"]  # too short to tell


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


def test_distillation_stops_at_its_plateau(tmp_path):
    _, m = run(tmp_path, "--set", "distill.steps=600", "--set", "distill.eval_every=50",
               "--set", "distill.plateau=true", "--set", "distill.plateau_window=3",
               "--set", "distill.plateau_tol=1", "--set", "distill.plateau_quality_tol=100")
    p = m["distill_plateau"]
    assert p["reached"] and p["stopped_early"] and p["step"] == 100
    assert m["student_curve"][-1]["step"] == 100 and "two_step" in m["student_curve"][-1]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "reached its plateau at step 100 of the 600 budgeted" in report
    assert "frontier.png" in report and "Memorization at matched quality" in report


def test_a_student_of_its_own_size(tmp_path):
    result, _ = run(tmp_path, "--set", "distill.student_width=32")
    assert result.exit_code == 2 and "distill.init=scratch" in result.output
    _, m = run(tmp_path, "--set", "distill.student_width=32", "--set", "distill.student_depth=2",
               "--set", "distill.init=scratch", "--set", "distill.steps=40")
    from cdlite.checkpoint import read_header
    head = read_header(tmp_path / "run" / "checkpoints" / "student.npz")
    assert (head["network"]["hidden"], head["network"]["depth"]) == (32, 2)
    assert m["status"] == "complete" and "student" in m
