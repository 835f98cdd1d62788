"""The lessons (examples/lessons/) run in quick mode as scripts, lesson 1 also as a notebook, and
each reads as a lesson: jupytext percent cells, learning goals, questions at the end.

Scripts run in their own Python process with the working folder and --out in a temporary folder,
so nothing lands in the repository. The notebook run needs the `course` extra (jupytext,
nbclient, ipykernel; the `test` extra has them) and is skipped without it.
"""
import ast
import os
import pathlib
import re
import subprocess
import sys

import pytest

from cdlite.course import EXERCISES, LESSONS

ROOT = pathlib.Path(__file__).resolve().parent.parent
LESSON_DIR = ROOT / "examples" / "lessons"
FILES = [name for name, _ in LESSONS.values()]
PNG_MAGIC = b"\x89PNG"


def test_lesson_files_are_the_registered_lessons():
    on_disk = sorted(p.name for p in LESSON_DIR.glob("[0-9][0-9]_*.py"))
    assert on_disk == sorted(FILES)
    assert 6 <= len(FILES) <= 8


@pytest.mark.parametrize("name", FILES)
def test_lesson_runs_quick_as_a_script(name, tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("CDLITE_QUICK", "CDLITE_LESSONS_OUT")}
    proc = subprocess.run([sys.executable, str(LESSON_DIR / name), "--quick", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, (f"{name} exited with {proc.returncode}\n--- stdout\n"
                                  f"{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    assert "quick mode" in proc.stdout.splitlines()[0]
    if name.startswith("03_"):  # question 2 reads the relative gap: the lesson must print it
        assert re.search(r"relative gap at the end, \(test - train\) / test: sigma 0.1: "
                         r"-?\d\.\d\d, sigma 0.5: -?\d\.\d\d", proc.stdout), proc.stdout[-800:]
    promised = re.findall(r"figure: (\S+\.png)", proc.stdout)
    written = sorted(out.glob("*.png"))
    assert promised and len(promised) == len(written), (promised, written)
    stem = name[:-3]
    for png in written:
        assert png.name.startswith(stem + "_"), png.name
        assert png.read_bytes()[:4] == PNG_MAGIC
    assert not list(tmp_path.glob("lessons_out")), "--out was not respected"


@pytest.mark.parametrize("name", FILES)
def test_lesson_reads_as_a_lesson(name):
    text = (LESSON_DIR / name).read_text()
    assert text.startswith("# ---\n# jupyter:\n") and "format_name: percent" in text
    cells = re.split(r"^# %%.*$", text, flags=re.M)
    markdown = re.findall(r"^# %% \[markdown\]\n((?:#.*\n?)+)", text, flags=re.M)
    assert len(cells) >= 6 and len(markdown) >= 3
    intro, last = markdown[0], markdown[-1]
    assert "**Learning goals.**" in intro and "**Time**" in intro
    goals = intro.split("**Learning goals.**")[1].split("**Time**")[0]
    assert 2 <= len([ln for ln in goals.splitlines() if ln.strip("# ")]) <= 5
    assert "## Questions" in last and re.search(r"^# 1\. ", last, flags=re.M)
    # every question points at something the lesson shows: a figure by name, or printed values
    figures = set(re.findall(r'lesson\.show\(fig, "([a-z_]+)"\)', text))
    assert figures, f"{name} shows no figure"
    named = set(re.findall(r"`([a-z_]+)`", last)) & figures
    assert named, f"{name}: the questions name none of the lesson's figures {sorted(figures)}"
    # the exercises of this lesson are named in its introduction
    lesson_no = int(name[:2])
    for e in EXERCISES.values():
        if e.lesson == lesson_no:
            assert e.name in intro, f"{name} does not point to its exercise {e.name}"
    tree = ast.parse(text)
    first = next(n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    assert isinstance(first, ast.Import) and first.names[0].name == "cdlite"


def test_lesson_1_runs_as_a_notebook(tmp_path, monkeypatch):
    for module in ("jupytext", "nbclient", "ipykernel"):
        pytest.importorskip(module)
    import nbformat

    from cdlite.course.notebook import run_notebook
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDLITE_QUICK", raising=False)
    monkeypatch.setenv("CDLITE_LESSONS_OUT", str(tmp_path / "out"))  # the kernel inherits it
    path = run_notebook(LESSON_DIR / FILES[0], quick=True, timeout=120)
    assert path == tmp_path / "out" / (FILES[0][:-3] + ".ipynb")
    assert "CDLITE_QUICK" not in os.environ  # quick mode was for the kernel only
    nb = nbformat.read(path, as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") in ("error", "execute_result")]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs)
    assert "quick mode" in text
    # the lesson's exercise, appended as a cell to fill in and checked there
    assert "exercise edm_precond (lesson 1" in text and "0 of 7 checks pass." in text
    assert "is not written yet" in text
    assert len(images) == len(list((tmp_path / "out").glob("*.png"))) == 2  # each shown once


@pytest.mark.parametrize("layout", ["constrained"])
def test_suptitle_clears_the_panel_titles(layout, tmp_path, monkeypatch):
    """Lesson 6's samples figure: square panels under a suptitle. With tight_layout the suptitle
    overprinted two panel titles; the lessons make such figures with layout="constrained" and
    Lesson.show keeps it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdlite.course.lesson import Lesson
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.3), sharex=True, sharey=True, layout=layout)
    for k, ax in enumerate(axes):
        ax.set(title=f"student, {k + 1} steps (NFE {k + 1})\nf_mem 0.95, log-lik -5.65",
               xlim=(-4, 4), ylim=(-4, 4), aspect="equal")
    title = fig.suptitle("Red: memorized samples (d1/d2 < 1/3); circles: training points; chance "
                         "f_mem 0.17")
    monkeypatch.setattr(plt, "close", lambda fig: None)  # keep its canvas to measure
    Lesson("t", True, tmp_path).show(fig, "samples")  # lays the figure out and saves it
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    top = title.get_window_extent(renderer)
    for ax in axes:
        assert ax.title.get_window_extent(renderer).y1 <= top.y0 + 3, "suptitle overprints"


def test_lesson_8_points_to_the_readme_definition():
    text = (LESSON_DIR / "08_random_features.py").read_text()
    assert "README" in text and "50%" in text and "10%" in text


def test_cli_lesson_list_and_copy(tmp_path):
    from click.testing import CliRunner

    from cdlite_cli.lesson import lesson
    runner = CliRunner()
    out = runner.invoke(lesson, ["list"])
    assert out.exit_code == 0, out.output
    for k, (name, title) in LESSONS.items():
        assert re.search(rf"^{k}\s+{re.escape(name)}\s+{re.escape(title)}", out.output, re.M)
    assert "(exercises: silu, linear, layernorm)" in out.output

    dest = tmp_path / "L"
    out = runner.invoke(lesson, ["copy", str(dest)])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES + ["README.md"])
    for name in FILES:
        assert (dest / name).read_text() == (LESSON_DIR / name).read_text()

    (dest / FILES[0]).write_text("# my edits\n")
    (dest / "notes.txt").write_text("mine\n")
    out = runner.invoke(lesson, ["copy", str(dest)])  # not empty: refused, nothing touched
    assert out.exit_code == 2 and "is not empty" in out.output and "--force" in out.output
    assert (dest / FILES[0]).read_text() == "# my edits\n"

    outside = tmp_path / "outside.py"
    outside.write_text("precious\n")
    (dest / FILES[1]).unlink()
    (dest / FILES[1]).symlink_to(outside)
    out = runner.invoke(lesson, ["copy", str(dest), "--force"])
    assert out.exit_code == 0, out.output
    assert (dest / FILES[0]).read_text() == (LESSON_DIR / FILES[0]).read_text()
    assert (dest / "notes.txt").read_text() == "mine\n"  # other files are left alone
    assert outside.read_text() == "precious\n" and not (dest / FILES[1]).is_symlink()

    (tmp_path / "afile").write_text("x")
    out = runner.invoke(lesson, ["copy", str(tmp_path / "afile")])
    assert out.exit_code == 2 and "is a file, not a folder" in out.output


def test_the_wheel_ships_the_lessons():
    """setup.cfg maps examples/lessons to the package cdlite.course.lessons, with its README."""
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "cdlite.course.lessons = examples/lessons" in cfg["options"]["package_dir"]
    assert "cdlite.course.lessons" in cfg["options"]["packages"].split()
    assert "*.md" in cfg["options.package_data"]["cdlite.course.lessons"]
