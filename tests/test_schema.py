"""metrics.json and sweep.csv have one definition (cdlite.experiments.schema, written out as
docs/metrics.md), and the quality scores one registry (cdlite.metrics.scores): a new score is
one function plus one row, and every reader of the scores finds it."""
import csv
import json
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest

from cdlite.catalog import get_recipe
from cdlite.experiments import metrics_doc, schema
from cdlite.experiments.curves import scores_of
from cdlite.metrics.scores import SCORES, Score
from cdlite.report.frontier_plot import frontier_figure
from cdlite.report.tables import summary_text
from cdlite.runs.runner import resolve_config, run_recipe
from cdlite.sweeps.table import row, write_table

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
TINY = ["teacher.steps=40", "distill.steps=20", "eval.n_samples=100", "eval.n_curve=50",
        "eval.n_boot=50"]


def test_docs_metrics_md_is_the_schema():
    """docs/metrics.md is written from the schema; regenerate it with
    `python -m cdlite.experiments.metrics_doc > docs/metrics.md`."""
    assert DOCS.read_text(encoding="utf-8") == metrics_doc.markdown()


def test_the_schema_refuses_what_it_does_not_declare():
    m = {"recipe": "toy-gaussians", "seed": 0, "status": "running", "stage": "data",
         "stages_done": [], "timings_s": {}, "description": "", "device": "cpu"}
    assert schema.problems(m) == []  # a run just started
    assert schema.problems({**m, "mem_frac": 0.5}) == \
        ["metrics.mem_frac: not in the schema (cdlite/experiments/schema.py)"]
    assert schema.problems({**m, "seed": "0"}) == ["metrics.seed: '0' is not a integer"]
    assert "metrics.teacher: missing" in schema.problems({**m, "status": "complete"})


def mean_first_coordinate(x, test, mixture, features, rng) -> float:
    """The dummy score: how far right the samples sit (higher is 'better')."""
    return float(np.mean(x[:, 0]))


@pytest.fixture
def dummy_score(monkeypatch):
    """The one row a new score needs (removed again after the test)."""
    monkeypatch.setitem(SCORES, "dummy", Score("dummy", +1, "mean first coordinate", "dummy",
                                               "all", frontier=True,
                                               compute=mean_first_coordinate))


def test_a_new_score_is_one_function_plus_one_row(dummy_score, tmp_path):
    recipe = get_recipe("toy-gaussians")
    cfg = resolve_config(recipe, quick=True, sets=TINY)
    m = run_recipe(recipe, cfg, tmp_path / "run", progress=False)
    # evaluation: the final rows and every curve point carry it, and the schema knows it
    assert m["student"]["quality"]["dummy"] == pytest.approx(
        m["student"]["quality"]["dummy"])  # a number
    assert all("dummy" in p["quality"] for p in m["student_curve"])
    assert schema.problems(m) == []
    # report: a column of the summary table; the frontier and its figure judge it
    header = summary_text(m).splitlines()[0].split()
    assert "dummy" in header
    assert "dummy" in scores_of(m) and "dummy" in m["frontier"]["student"]
    fig = frontier_figure(m)
    assert any("mean first coordinate" in ax.get_xlabel() for ax in fig.axes)
    # sweeps: sweep.csv has its columns, in the order the schema declares
    cell = SimpleNamespace(folder="cells/000", settings={"distill.steps": 20}, seed=0)
    r = row(cell, m, 1.0)
    write_table(tmp_path, [r])
    with open(tmp_path / "sweep.csv", newline="") as fh:
        columns = next(csv.reader(fh))
    assert "student_dummy" in columns and "teacher_f_mem_at_student_dummy" in columns
    assert columns == schema.sweep_columns(["distill.steps"], scores_of(m))
    json.dumps(m)  # still plain JSON
