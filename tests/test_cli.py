"""The command line, as a user meets it: help, list, errors, and a real --quick run folder."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from cdlite.experiments import schema
from cdlite_cli.main import main

from cli_helpers import TINY, invoke


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "toy"
    result = invoke("run", "toy-gaussians", "--quick", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.parametrize("cmd", [[], ["run"], ["list"], ["show"], ["sample"], ["evaluate"],
                                 ["sweep"]])
def test_help_everywhere(cmd):
    result = invoke(*cmd, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output
    if cmd and cmd != ["list"]:
        assert "Example" in result.output


def test_list_names_every_recipe():
    out = invoke("list").output
    for name in ("toy-gaussians", "two-moons", "digits", "rf-theory"):
        assert name in out


@pytest.mark.parametrize("args,message", [
    (["run", "nope"], "unknown recipe 'nope'"),
    (["run", "toy-gaussians", "--set", "teacher.stepz=3"], "did you mean teacher.steps"),
    (["run", "toy-gaussians", "--set", "teacher.steps=many"], "must be an integer"),
    (["run", "toy-gaussians", "--set", "distill.solver=rk4"], "choose one of heun, euler"),
    (["run", "toy-gaussians", "--set", "noequals"], "key=value"),
    (["run", "toy-gaussians", "--config", "/nonexistent/c.toml"], "does not exist"),
    (["show", "/nonexistent/run"], "not a run folder"),
    (["sample", "/nonexistent/t.npz", "--out", "x.npz"], "t.npz"),
    (["run", "toy-gaussians", "--set", 'eval.gap_sigmas=[1,"a"]'], "list of numbers"),
    (["run", "toy-gaussians", "--set", "recipe=digits"], "cannot be set"),
    (["run", "digits", "--set", "data.downsample=2"], "valid keys in [data]: data.name"),
    (["run", "toy-gaussians", "--set", "eval.n_samples=1"], "eval.n_samples=1 (must be >= 10)"),
    (["run", "rf-theory", "--seeds", "2"], "drop --seeds"),
    (["run", "rf-theory", "--quick", "--set", "d=0"], "d=0 (must be >= 1)"),
])
def test_bad_input_is_one_actionable_line(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.count("\n") <= 2


def test_out_of_range_flags_are_usage_errors():
    for args in (["run", "toy-gaussians", "--seed", "-1"], ["run", "toy-gaussians", "--seeds", 0],
                 ["sample", "x.npz", "-n", -5, "--out", "y.npz"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "not in the range" in result.output


def test_bare_command_shows_help():
    result = invoke()
    assert result.exit_code == 0 and "cdlite run toy-gaussians" in result.output


def test_seed_and_device_come_from_the_config_unless_flags_say_otherwise(tmp_path,
                                                                          monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text("seed = 7\n")
    assert "seed = 7" in invoke("run", "toy-gaussians", "--config", cfg, "--dry-run").output
    assert "seed = 5" in invoke("run", "toy-gaussians", "--set", "seed=5", "--dry-run").output
    assert "seed = 2" in invoke("run", "toy-gaussians", "--config", cfg, "--seed", 2,
                                "--dry-run").output
    monkeypatch.setenv("CDLITE_DEVICE", "auto")
    assert 'device = "auto"' in invoke("run", "toy-gaussians", "--dry-run").output
    assert 'device = "cpu"' in invoke("run", "toy-gaussians", "--device", "cpu",
                                      "--dry-run").output


def test_a_failed_start_leaves_no_folder(tmp_path, monkeypatch):
    import cdlite.backend as backend
    monkeypatch.setattr(backend, "_cupy_or_none", lambda: None)
    out = tmp_path / "run"
    result = invoke("run", "toy-gaussians", "--quick", "--device", "gpu", "--out", out)
    assert result.exit_code == 2 and "CuPy" in result.output
    result = invoke("run", "digits", "--quick", "--set", "data.n_train=5000", "--out", out)
    assert result.exit_code == 2 and "available" in result.output
    assert not out.exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = invoke("run", "toy-gaussians", "--quick", "--out", afile)
    assert result.exit_code == 2 and "is a file" in result.output


def test_damaged_npz_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04" + b"junk" * 20)
    result = invoke("evaluate", bad, "--train", bad)
    assert result.exit_code == 2 and "damaged" in result.output


def test_unreadable_config_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("teacher = [unclosed\n")
    result = invoke("run", "toy-gaussians", "--config", bad)
    assert result.exit_code == 2 and "not valid TOML" in result.output


def test_config_file_and_dry_run(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[teacher]\nsteps = 123\n[data]\nn_train = 9\n")
    result = invoke("run", "toy-gaussians", "--config", cfg, "--set", "distill.N=11", "--dry-run")
    assert result.exit_code == 0
    assert "steps = 123" in result.output and "n_train = 9" in result.output
    assert "N = 11" in result.output


def test_quick_run_writes_a_complete_run_folder(quick_run):
    out, printed = quick_run
    assert "f_mem" in printed and "memorized" in printed
    for name in ("config.toml", "metrics.json", "samples.npz", "report.md",
                 "checkpoints/teacher.npz", "checkpoints/student.npz"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "complete"
    for key in ("recipe", "seed", "n_train", "dim", "teacher", "teacher_fewstep", "student",
                "student_2step", "reference", "teacher_curve", "student_curve", "timings_s"):
        assert key in m, key
    for row in ("teacher", "teacher_fewstep", "student", "student_2step"):
        for key in ("steps", "nfe", "f_mem", "f_mem_ci", "coverage", "quality"):
            assert key in m[row], (row, key)
        assert 0 <= m[row]["f_mem_ci"][0] <= m[row]["f_mem"] <= m[row]["f_mem_ci"][1]
        assert {"loglik", "energy_distance"} <= set(m[row]["quality"])
    assert m["teacher_fewstep"]["nfe"] == m["student"]["nfe"] == 1
    assert m["student_2step"]["nfe"] == 2
    assert set(m["reference"]) == {"fresh_true", "empirical_optimum"}
    assert m["reference"]["empirical_optimum"]["f_mem"] == 1.0  # the perfect memorizer
    for curve in ("teacher_curve", "student_curve"):
        assert m[curve][0]["step"] == 0 and len(m[curve]) >= 2
        assert {"step", "f_mem", "gen_gap", "quality"} <= set(m[curve][-1])
    with np.load(out / "samples.npz", allow_pickle=False) as z:
        assert {"train", "test", "teacher", "teacher_fewstep", "student",
                "student_2step"} <= set(z.files)
        assert z["train"].shape == (m["n_train"], m["dim"])
        assert all(z[k].ndim == 2 and z[k].shape[1] == m["dim"] for k in z.files)
    for fig in m["figures"].values():
        assert (out / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "chance" in report and "coverage" in report and "CD student, 1 step" in report
    assert m["student_growth"]["statement"] in report  # the quick run's curve: too short
    assert "As the imitation error falls" in report


def test_show_sample_and_evaluate_on_the_run(quick_run, tmp_path):
    out, _ = quick_run
    shown = invoke("show", out)
    assert shown.exit_code == 0 and "teacher (Heun)" in shown.output
    s = invoke("sample", out / "checkpoints" / "student.npz", "-n", 50, "--out",
               tmp_path / "s.npz")
    assert s.exit_code == 0, s.output
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert z["samples"].shape == (50, 2)
    t = invoke("sample", out / "checkpoints" / "teacher.npz", "-n", 20, "--steps", 4, "--out",
               tmp_path / "t.npz")
    assert t.exit_code == 0 and "NFE 7" in t.output
    ev = invoke("evaluate", out / "samples.npz", "--key", "train", "--train", out / "samples.npz",
                "--json")
    assert ev.exit_code == 0, ev.output
    r = json.loads(ev.output)
    assert r["f_mem"] == 1.0 and r["f_mem_ci"] == [1.0, 1.0]  # training points themselves
    m = json.loads((out / "metrics.json").read_text())
    ev2 = invoke("evaluate", out / "samples.npz", "--key", "student", "--train",
                 out / "samples.npz", "--test", out / "samples.npz", "--json")
    r2 = json.loads(ev2.output)
    assert r2["f_mem"] == pytest.approx(m["student"]["f_mem"])
    assert "energy_distance" in r2["quality"]


def test_existing_run_folder_is_not_overwritten(quick_run):
    out, _ = quick_run
    before = (out / "metrics.json").read_bytes()
    result = invoke("run", "toy-gaussians", "--quick", "--out", out)
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "metrics.json").read_bytes() == before


def _without_timings(path):
    m = json.loads(path.read_text())
    m.pop("timings_s")
    return m


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    for name in ("a", "b"):
        assert invoke("run", "toy-gaussians", *TINY, "--seed", 3, "--out", tmp_path / name,
                      "-q").exit_code == 0
    assert _without_timings(tmp_path / "a" / "metrics.json") == \
        _without_timings(tmp_path / "b" / "metrics.json")


def test_several_seeds_are_summarised(tmp_path):
    result = invoke("run", "toy-gaussians", *TINY, "--seeds", 2, "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    again = invoke("run", "toy-gaussians", *TINY, "--seeds", 2, "--out", tmp_path, "-q")
    assert again.exit_code == 2 and "summary.json" in again.output  # not overwritten
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    assert set(summary["rows"]["teacher"]["f_mem"]) == {"mean", "std", "values"}
    assert "±" in result.output
    assert invoke("show", tmp_path).exit_code == 0
    assert "below its teacher's in" in (tmp_path / "report.md").read_text()


def test_ctrl_c_leaves_a_valid_partial_run_folder(tmp_path, monkeypatch):
    import cdlite.experiments.stages as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "distill", interrupted)
    result = CliRunner().invoke(main, ["run", "toy-gaussians", *TINY, "--out",
                                       str(tmp_path), "-q"])
    assert result.exit_code == 130
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["status"] == "partial" and m["interrupted_in"] == "distillation"
    assert schema.problems(m) == []  # what a partial run holds is in the schema too
    assert "teacher" in m and "student" not in m
    assert "PARTIAL RUN" in (tmp_path / "report.md").read_text()
    with np.load(tmp_path / "samples.npz", allow_pickle=False) as z:
        assert "teacher" in z.files
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert "partial" in invoke("show", tmp_path).output


@pytest.mark.parametrize("recipe", ["two-moons", "digits"])
def test_quick_run_of_every_other_recipe(recipe, tmp_path):
    result = invoke("run", recipe, "--quick", "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["status"] == "complete" and m["recipe"] == recipe
    assert {"student", "student_2step", "teacher_fewstep"} <= set(m)
    assert schema.problems(m) == []  # docs/metrics.md describes it, key by key
    if recipe == "digits":
        assert m["image_shape"] == [8, 8] and m["dim"] == 64
        assert "frechet_features" in m["student"]["quality"]
        assert m["feature_classifier_accuracy"] > 0.9


def test_quick_rf_theory_run(tmp_path):
    result = invoke("run", "rf-theory", "--quick", "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["recipe"] == "rf-theory" and m["status"] == "complete"
    assert m["stages_done"] == ["rf-theory"]
    assert schema.problems(m) == []
    assert m["tau_gen"]["ns"] == m["tau_mem"]["ns"] and len(m["tau_mem"]["ns"]) >= 3
    assert np.isfinite(m["tau_mem"]["slope"])
    assert (tmp_path / "report.md").is_file() and list((tmp_path / "figures").glob("*.png"))
    assert "slopes against n" in invoke("show", tmp_path).output
    bad = invoke("run", "rf-theory", "--quick", "--set", "pp=3", "--out", tmp_path / "x")
    assert bad.exit_code == 2 and "valid keys" in bad.output
    again = invoke("run", "rf-theory", "--config", tmp_path / "config.toml", "--dry-run")
    assert again.exit_code == 0 and "d = 8" in again.output  # the saved config reads back


def test_damaged_inputs_are_refused_with_their_names(quick_run, tmp_path):
    from cdlite.checkpoint import load_checkpoint, save_checkpoint
    out, _ = quick_run
    arrays, meta = load_checkpoint(out / "checkpoints" / "student.npz")
    arrays.pop("out.W")  # a checkpoint that no longer matches the network its header names
    save_checkpoint(tmp_path / "broken.npz", arrays, meta)
    result = invoke("sample", tmp_path / "broken.npz", "--out", tmp_path / "s.npz")
    assert result.exit_code == 2 and "out.W" in result.output
    text = tmp_path / "notes.npz"
    text.write_text("not an array")
    result = invoke("evaluate", text, "--train", out / "samples.npz")
    assert result.exit_code == 2 and "neither a .npy nor an .npz" in result.output
    result = invoke("evaluate", out / "samples.npz", "--train", out / "samples.npz")
    assert result.exit_code == 2 and "holds" in result.output  # several arrays, no --key
