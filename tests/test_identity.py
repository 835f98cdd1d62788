"""Folders that know what they are (cdlite.json) and resume that checks what it finds: no
command writes into a folder of another kind or one holding a user's files, --force moves only
cdlite's own folders aside, and resume refuses another run's checkpoints, an edited config.toml,
and reruns a stage whose files are gone."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from cdlite.runs.identity import check_target, kind_of
from cdlite_cli.main import main

from cli_helpers import TINY, invoke, metrics


def without_timings(folder):
    m = metrics(folder)
    m.pop("timings_s")
    return m


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("done") / "run"
    assert invoke("run", "toy-gaussians", *TINY, "--out", out, "-q").exit_code == 0
    return out


def stopped_run(out, monkeypatch, seed=0):
    """A run stopped (Ctrl-C) during distillation: data, teacher and its evaluation done."""
    import cdlite.experiments.stages as pipeline

    def stop(*a, **k):
        raise KeyboardInterrupt
    with monkeypatch.context() as m:
        m.setattr(pipeline, "distill", stop)
        result = CliRunner().invoke(main, ["run", "toy-gaussians", *TINY, "--seed", str(seed),
                                           "--out", str(out), "-q"])
    assert result.exit_code == 130
    assert metrics(out)["status"] == "partial"
    return out


def test_every_folder_declares_its_kind_and_identity(done, tmp_path):
    mark = json.loads((done / "cdlite.json").read_text())
    assert mark["kind"] == "run" and mark["recipe"] == "toy-gaussians" and mark["seed"] == 0
    assert len(mark["config"]) == 16
    files = metrics(done)["files"]
    assert {"samples.npz", "checkpoints/teacher.npz", "checkpoints/student.npz"} <= set(files)
    assert files["checkpoints/teacher.npz"]["stage"] == "teacher"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert kind_of(done) == "run" and kind_of(tmp_path / "mine") == "foreign"
    assert kind_of(tmp_path / "nothing") is None


def test_no_command_writes_into_a_users_folder_or_one_of_another_kind(done, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    for args in (["run", "toy-gaussians", *TINY, "--out", mine, "-q", "--force"],
                 ["run", "toy-gaussians", *TINY, "--seeds", 2, "--out", mine, "-q", "--force"],
                 ["sweep", "toy-gaussians", "--quick", "--grid", "distill.steps=20",
                  "--out", mine]):
        result = invoke(*args)
        assert result.exit_code == 2 and "did not write" in result.output, result.output
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # nothing moved aside
    before = (done / "report.md").read_bytes()
    result = invoke("sweep", "toy-gaussians", "--quick", "--grid", "distill.steps=20",
                    "--out", done)
    assert result.exit_code == 2 and "is a run folder" in result.output
    assert (done / "report.md").read_bytes() == before and not (done / "sweep.json").exists()
    with pytest.raises(Exception, match="is a run folder"):
        check_target(done, "seeds")


def test_sample_never_writes_into_a_run_folder_whatever_the_flags(done, tmp_path):
    teacher = done / "checkpoints" / "teacher.npz"
    before = teacher.read_bytes()
    for out in (teacher, done / "samples.npz", done / "new.npz"):
        result = invoke("sample", done / "checkpoints" / "student.npz", "-n", 5, "--out", out,
                        "--force")
        assert result.exit_code == 2 and "inside the run folder" in result.output
    assert teacher.read_bytes() == before and not (done / "new.npz").exists()


def test_resume_refuses_another_runs_checkpoints_naming_both_sides(tmp_path, monkeypatch):
    zero = stopped_run(tmp_path / "zero", monkeypatch, seed=0)
    one = stopped_run(tmp_path / "one", monkeypatch, seed=1)
    for name in ("teacher.npz", "teacher.state.npz"):
        shutil.copy(one / "checkpoints" / name, zero / "checkpoints" / name)
    result = invoke("run", "--resume", zero, "-q")
    assert result.exit_code == 2 and "belongs to another run" in result.output
    assert "seed = 1 there, 0 in" in result.output
    assert metrics(zero)["status"] == "partial"  # left as it was


def test_resume_refuses_an_edited_config(tmp_path, monkeypatch):
    out = stopped_run(tmp_path / "run", monkeypatch)
    toml = (out / "config.toml").read_text()
    (out / "config.toml").write_text(toml.replace("seed = 0", "seed = 4"))
    result = invoke("run", "--resume", out, "-q")
    assert result.exit_code == 2 and "config.toml was edited" in result.output


def test_a_missing_file_reruns_its_stage_and_the_run_is_the_uninterrupted_one(
        tmp_path, monkeypatch, done):
    out = stopped_run(tmp_path / "run", monkeypatch)
    (out / "samples.npz").unlink()
    result = invoke("run", "--resume", out)
    assert result.exit_code == 0, result.output
    assert "samples.npz is missing: the stages from data run again" in result.output
    assert without_timings(out) == without_timings(done)
    with np.load(out / "samples.npz") as a, np.load(done / "samples.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_a_changed_checkpoint_reruns_its_stage(tmp_path, monkeypatch, done):
    out = stopped_run(tmp_path / "run", monkeypatch)
    ck = out / "checkpoints" / "teacher.npz"
    ck.write_bytes(ck.read_bytes()[:-10] + b"0123456789")
    result = invoke("run", "--resume", out)
    assert result.exit_code == 0 and "teacher.npz has" not in result.output
    assert "teacher.npz was changed after it was written" in result.output
    assert without_timings(out) == without_timings(done)


def test_an_interrupted_seeds_folder_is_resumed_and_force_never_mixes_two(tmp_path,
                                                                         monkeypatch):
    import cdlite.experiments.stages as pipeline
    out = tmp_path / "seeds"
    real, calls = pipeline.distill, []

    def second_stops(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)
    with monkeypatch.context() as m:
        m.setattr(pipeline, "distill", second_stops)
        result = CliRunner().invoke(main, ["run", "toy-gaussians", *TINY, "--seeds", "3",
                                           "--out", str(out), "-q"])
    assert result.exit_code == 130 and not (out / "summary.json").exists()
    seed0 = (out / "seed-0" / "metrics.json").read_bytes()
    again = invoke("run", "toy-gaussians", *TINY, "--seeds", 3, "--out", out, "-q")
    assert again.exit_code == 2 and f"cdlite run --resume {out}" in again.output
    resumed = invoke("run", "--resume", out, "-q")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "summary.json").read_text())["seeds"] == [0, 1, 2]
    assert (out / "seed-0" / "metrics.json").read_bytes() == seed0  # kept, not redone
    with monkeypatch.context() as m:  # --force, then Ctrl-C in the new run's first seed
        m.setattr(pipeline, "distill", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        result = CliRunner().invoke(main, ["run", "toy-gaussians", *TINY, "--seed", "5",
                                           "--seeds", "2", "--out", str(out), "-q", "--force"])
    assert result.exit_code == 130
    assert sorted(p.name for p in out.iterdir()) == ["cdlite.json", "config.toml", "seed-5"]
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("seeds.old-")]
    assert len(aside) == 1 and (aside[0] / "summary.json").is_file()  # the old one, whole
    assert (aside[0] / "seed-0" / "metrics.json").read_bytes() == seed0


def test_resume_of_a_sweep_folder_says_how_to_continue_it(tmp_path):
    from cdlite.runs.identity import declare
    (tmp_path / "s").mkdir()
    declare(tmp_path / "s", "sweep", recipe="toy-gaussians", spec="x")
    result = invoke("run", "--resume", tmp_path / "s")
    assert result.exit_code == 2 and "rerun the same `cdlite sweep" in result.output
