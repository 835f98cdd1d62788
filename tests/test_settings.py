"""Environment variables: one validated reader each (cdlite.settings), read at use, never at
import."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cdlite import settings
from cdlite.errors import CdliteError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, read, value", [
    ("CDLITE_THREADS", settings.threads, "garbage"),
    ("CDLITE_THREADS", settings.threads, "0"),
    ("CDLITE_THREADS", settings.threads, "-1"),
    ("CDLITE_THREADS", settings.threads, "1.5"),
    ("CDLITE_THREADS", settings.threads, "100000"),
    ("CDLITE_MEMORY_BUDGET", settings.memory_budget, "inf"),
    ("CDLITE_MEMORY_BUDGET", settings.memory_budget, "nan"),
    ("CDLITE_MEMORY_BUDGET", settings.memory_budget, "-1G"),
    ("CDLITE_MEMORY_BUDGET", settings.memory_budget, "0"),
    ("CDLITE_MEMORY_BUDGET", settings.memory_budget, "1e400"),
    ("CDLITE_MEMORY_BUDGET", settings.memory_budget, "lots"),
    ("CDLITE_MEMORY_BUDGET", settings.memory_budget, "8X"),
    ("CDLITE_DEVICE", settings.device, "tpu"),
    ("CDLITE_QUICK", settings.quick, "maybe"),
])
def test_an_invalid_value_is_one_line_naming_the_variable_and_what_it_accepts(
        monkeypatch, name, read, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(CdliteError) as e:
        read()
    msg = str(e.value)
    assert msg.startswith(f"{name}={value!r} is not valid: give ") and "unset it" in msg
    assert "\n" not in msg
    with pytest.raises(CdliteError, match=name):
        settings.check_environment()


@pytest.mark.parametrize("value, expected", [
    ("1G", 1 << 30), ("1.5g", 3 << 29), ("500M", 500 << 20), ("500MiB", 500 << 20),
    ("64kb", 64 << 10), ("2T", 2 << 40), ("1e9", 10**9), ("1073741824", 1 << 30)])
def test_memory_budgets(monkeypatch, value, expected):
    monkeypatch.setenv("CDLITE_MEMORY_BUDGET", value)
    assert settings.memory_budget() == expected


def test_unset_and_empty_mean_the_defaults(monkeypatch):
    for name in settings.READERS:
        monkeypatch.setenv(name, "  ")
    assert settings.threads() is None and settings.device() is None
    assert settings.quick() is False and settings.lessons_out() is None
    assert settings.cache_dir() == Path.home() / ".cache" / "cdlite"
    assert settings.memory_budget() > 0
    settings.check_environment()


def test_valid_values(monkeypatch, tmp_path):
    monkeypatch.setenv("CDLITE_THREADS", "2")
    monkeypatch.setenv("CDLITE_DEVICE", " GPU ")
    monkeypatch.setenv("CDLITE_QUICK", "Yes")
    monkeypatch.setenv("CDLITE_CACHE", str(tmp_path / "new"))  # need not exist yet
    assert (settings.threads(), settings.device(), settings.quick()) == (2, "gpu", True)
    assert settings.cache_dir() == tmp_path / "new"
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("CDLITE_CACHE", str(tmp_path / "file"))
    with pytest.raises(CdliteError, match="CDLITE_CACHE=.* the path of a folder"):
        settings.cache_dir()


def test_import_and_version_work_whatever_the_environment_says():
    env = {k: v for k, v in os.environ.items()  # (the BLAS libraries' own choice would win)
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {**env, "CDLITE_THREADS": "garbage", "CDLITE_MEMORY_BUDGET": "inf",
           "CDLITE_DEVICE": "tpu", "CDLITE_QUICK": "maybe"}
    code = ("import cdlite, threadpoolctl\n"
            "print(cdlite.__version__, {i['num_threads'] for i in threadpoolctl.threadpool_info()"
            " if i['user_api'] == 'blas'})\n"
            "from cli.main import main\nmain(['--version'], prog_name='cdlite')")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    imported, cli_line = out.stdout.strip().splitlines()
    version, threads = imported.split()
    assert threads == "{1}"  # an invalid CDLITE_THREADS is the default (1) until it is used
    assert cli_line == f"cdlite, version {version}"


def test_every_cdlite_variable_in_the_code_has_its_reader_here():
    names = set()
    for path in list((ROOT / "cdlite").rglob("*.py")) + list((ROOT / "cli").rglob("*.py")):
        names |= set(re.findall(r"\bCDLITE_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert names <= set(settings.READERS), names - set(settings.READERS)
