"""One line for every fault, and bounds on every size: hostile sizes refused before anything is
allocated, a full or read-only disk, bad settings, damaged metrics shown without a traceback."""
import dataclasses
import errno
import json
import os
import subprocess
import sys
import time
import typing

import pytest
from click.testing import CliRunner

from cdlite.catalog import RECIPES
from cdlite.config import _hints, _is_section, _variants
from cdlite.sizes import FIELD_BYTES, NOT_SIZES, check_config
from cdlite_cli.main import main

TINY = ["--quick", "--set", "teacher.steps=40", "--set", "distill.steps=20",
        "--set", "eval.n_samples=100", "--set", "eval.n_curve=50", "--set", "eval.n_boot=50"]


def invoke(*args, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output, result.output
    return result


def one_error_line(result):
    lines = [s for s in result.output.splitlines() if s.startswith("Error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("done") / "run"
    assert invoke("run", "toy-gaussians", *TINY, "--out", out, "-q").exit_code == 0
    return out


def _size_fields():
    """Every int and tuple field of every recipe's config, all variants, each as the set of names
    its cost may be declared under: Class.field for its class and every class it inherits from
    (cdlite.sizes looks a cost up along the class hierarchy)."""
    seen, out = set(), set()

    def walk(cls):
        if cls in seen:
            return
        seen.add(cls)
        for name, tp in _hints(cls).items():
            if _is_section(tp):
                for c in (_variants(tp).values() or [tp]) if _variants(tp) else [tp]:
                    walk(c)
            elif tp is int or typing.get_origin(tp) is tuple:
                out.add(frozenset(f"{c.__name__}.{name}" for c in cls.__mro__[:-1]))
    for recipe in RECIPES.values():
        walk(type(recipe.defaults))
    return out


def test_every_size_like_field_has_a_declared_cost():
    fields = _size_fields()
    declared = set(FIELD_BYTES) | NOT_SIZES
    escaped = {min(names) for names in fields if not names & declared}
    assert escaped == set()  # a new field cannot escape
    names = set().union(*fields)
    assert set(FIELD_BYTES) - names == set() and NOT_SIZES <= names  # nothing stale
    for recipe in RECIPES.values():
        assert check_config(recipe.defaults) < 1 << 30  # the defaults cost little


@pytest.mark.parametrize("setting,largest", [
    ("net.depth=1000000000", "net.depth=1000000000"), ("data.K=1000000000", "data.K="),
    ("eval.n_boot=100000000000", "eval.n_boot="), ("diffusion.steps=1000000000", ""),
    ("distill.N=10000000000", "distill.N="), ("net.hidden=1000000", "net."),
])
def test_a_hostile_size_is_refused_at_once(tmp_path, setting, largest):
    start = time.perf_counter()
    result = invoke("run", "toy-gaussians", "--quick", "--set", setting, "--out", tmp_path / "r")
    assert time.perf_counter() - start < 1.0
    line = one_error_line(result)
    assert "more than the memory budget" in line and largest in line
    assert not (tmp_path / "r").exists()


def test_hostile_checkpoint_headers_and_sampler_settings_are_one_line(done, tmp_path):
    from cdlite.checkpoint import load_checkpoint, save_checkpoint
    arrays, meta = load_checkpoint(done / "checkpoints" / "teacher.npz")
    meta["network"]["depth"] = 10**9
    save_checkpoint(tmp_path / "deep.npz", arrays, meta)
    start = time.perf_counter()
    line = one_error_line(invoke("sample", tmp_path / "deep.npz", "--out", tmp_path / "s.npz"))
    assert time.perf_counter() - start < 1.0 and "depth=1000000000" in line, line
    ck = done / "checkpoints" / "teacher.npz"
    assert "1 to 100,000 sampling steps" in one_error_line(
        invoke("sample", ck, "--steps", 100_000_000, "--out", tmp_path / "s.npz"))
    assert "--seed" in one_error_line(invoke("sample", ck, "--seed", -1, "--out",
                                             tmp_path / "s.npz"))
    assert not (tmp_path / "s.npz").exists()


@pytest.mark.parametrize("name,value", [("CDLITE_THREADS", "garbage"),
                                        ("CDLITE_MEMORY_BUDGET", "inf"),
                                        ("CDLITE_DEVICE", "tpu")])
def test_a_bad_setting_is_one_line_at_the_start_and_version_still_works(tmp_path, name,
                                                                         value):
    env = {**os.environ, name: value}
    version = subprocess.run([sys.executable, "-m", "cdlite_cli.main", "--version"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "version" in version.stdout
    for args in (["run", "toy-gaussians", "--quick", "--out", tmp_path / "r"],
                 ["sweep", "toy-gaussians", "--quick", "--dry-run"]):
        line = one_error_line(invoke(*args, env={name: value}))
        assert name in line and repr(value) in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_one_line_the_folder_failed_and_unlocked(tmp_path,
                                                                           monkeypatch, fault):
    import cdlite.runs.folder as folder_module
    real = folder_module.write_samples

    def refuse(path, samples):
        if "teacher_heun" in samples or any("teacher" in k for k in samples):
            raise OSError(fault, os.strerror(fault), str(path))
        return real(path, samples)
    monkeypatch.setattr(folder_module, "write_samples", refuse)
    out = tmp_path / "run"
    line = one_error_line(invoke("run", "toy-gaussians", *TINY, "--out", out, "-q"))
    assert f"cannot write the run folder {out}: {os.strerror(fault)}" in line
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "failed" and "teacher" in m["stages_done"]
    assert not (out / ".lock").exists()
    monkeypatch.undo()  # space again: the same run continues
    assert invoke("run", "--resume", out, "-q").exit_code == 0
    assert json.loads((out / "metrics.json").read_text())["status"] == "complete"


def test_show_validates_metrics_and_names_missing_files(done, tmp_path):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(done, bad)
    m = json.loads((bad / "metrics.json").read_text())
    m["student"]["f_mem_ci"] = [None]
    (bad / "metrics.json").write_text(json.dumps(m))
    line = one_error_line(invoke("show", bad))
    assert "metrics.student.f_mem_ci" in line and "does not match its schema" in line
    m["student"]["f_mem_ci"] = [None, None]  # a CI that was not finite: shown
    (bad / "metrics.json").write_text(json.dumps(m))
    (bad / "checkpoints" / "student.npz").unlink()
    shown = invoke("show", bad)
    assert shown.exit_code == 0 and "checkpoints/student.npz is missing" in shown.output
    m["student"] = "nonsense"
    (bad / "metrics.json").write_text(json.dumps(m))
    assert "expected an object" in one_error_line(invoke("show", bad))


def test_a_dataclass_walk_finds_the_sections():  # the walk above is not vacuous
    assert {"MLPConfig.depth", "Gaussians.K", "EvalConfig.n_boot", "DistillConfig.steps"} <= \
        set().union(*_size_fields())
    assert dataclasses.is_dataclass(RECIPES["toy-gaussians"].defaults)
