"""The rf-theory recipe at its quick size: run folder contents, the closed form against simulated
gradient descent for every draw, metrics that survive JSON, the terminal table, the config's own
checks, and random streams that keep draws independent of one another."""
import cdlite  # noqa: F401  (sets the BLAS thread default before NumPy loads)

import dataclasses
import json
import math

import numpy as np
import pytest

from cdlite.errors import CdliteError
from cdlite.fileio import json_safe
from cdlite.theory.recipe import RFTheoryConfig, quick, run_draws, run_rf_theory
from cdlite.theory.report import terminal_table
from cdlite.theory.spectrum import ge_constants


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rf")
    cfg = quick(RFTheoryConfig())
    return cfg, folder, run_rf_theory(cfg, folder, log=lambda *a: None)


def test_quick_run_writes_figures_and_report_only(quick_run):
    cfg, folder, m = quick_run
    for name in ("report.md", "figures/spectrum.png", "figures/losses.png",
                 "figures/tau_vs_n.png", "figures/distill.png"):
        assert (folder / name).is_file(), name
    # the run folder's owner writes config.toml and metrics.json, not the recipe
    assert not (folder / "config.toml").exists() and not (folder / "metrics.json").exists()
    assert not list(folder.rglob("*.tmp"))
    assert m["recipe"] == "rf-theory" and m["seed"] == cfg.seed
    assert m["tau_mem"]["ns"] == list(cfg.ns)
    assert all(len(v) == cfg.draws for v in m["tau_mem"]["draws"].values())
    assert set(m["tau_mem_by_fraction"]) == {str(f) for f in cfg.gap_fractions}
    assert set(m["finite_size"]["by_p"]) == {str(p) for p in (*cfg.size_ps, cfg.p)}
    assert [int(n) for n in m["cd"]["by_n"]] == list(cfg.cd_ns)


def test_closed_form_matches_simulated_gd_for_every_draw(quick_run):
    """Quick size (d=8, p=256, GD batch 2048, eta = half the stability limit, 60 steps, float32,
    fresh noise every step): train and test loss within 3% of the closed form in every draw and
    at every n (measured: 1% at most over seeds 0-2). The score error, which magnifies loss
    differences by 1 / Delta_t = 50 and GD's noise floor with them, is checked at a smaller
    step in tests/test_theory.py."""
    cfg, _, m = quick_run
    rel = m["gd_check"]["rel_dev_by_draw"]
    assert len(rel) == cfg.draws and all(len(row) == len(cfg.ns) for row in rel)
    for r, row in enumerate(rel):
        for n, dev in zip(cfg.ns, row):
            assert dev["train"] < 0.03 and dev["test"] < 0.03, (r, n, dev)


def test_metrics_survive_json_and_the_table_reads_them_back(quick_run):
    _, _, m = quick_run
    text = json.dumps(json_safe(m))
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    table = terminal_table(back)
    assert table == terminal_table(m)
    for n in m["tau_mem"]["ns"]:
        assert f"\n{n:>6}  " in table
    assert "slopes against n" in table and "finite size" in table and "CD window" in table
    # a value that was not reached (nan, None in JSON) prints as n/a
    back["tau_mem"]["mean"][str(m["tau_mem"]["ns"][0])] = None
    assert "n/a" in terminal_table(back)


def test_report_states_the_measured_numbers(quick_run):
    _, folder, m = quick_run
    report = (folder / "report.md").read_text()
    slope = f"{m['tau_mem']['slope']:.2f}"
    assert f"**{slope} [" in report
    assert "Ranked by how far each moves the slope" in report
    assert "figures/distill.png" in report and "tau d^2 / p" in report
    assert "~8%" not in report                      # no prewritten figures


def test_draws_are_independent_streams():
    """Adding draws or changing the other sizes leaves draw 0 unchanged; a new seed changes it."""
    cfg = dataclasses.replace(quick(RFTheoryConfig()), n_taus=40)
    consts = ge_constants(cfg.t)

    def taus(c, draws, ns):
        runs = run_draws(c, 8, 256, ns, draws, consts, log=lambda *a: None)["runs"]
        return [[r["tau_gen"] for r in row] for row in runs]

    one, two = taus(cfg, 1, [16, 32]), taus(cfg, 2, [16, 32])
    assert one[0] == two[0] and one[0] != two[1]
    assert taus(cfg, 1, [16, 32]) == one                      # deterministic
    assert taus(dataclasses.replace(cfg, seed=1), 1, [16, 32]) != one


def test_config_lists_every_bad_value_in_one_line():
    with pytest.raises(CdliteError) as e:  # types first (cdlite.config), every one of them
        RFTheoryConfig(d=0, t=math.nan, seed=1.5)
    msg = str(e.value)
    assert "\n" not in msg
    for part in ("t=nan (must be finite)", "seed=1.5 (must be an integer)"):
        assert part in msg, part
    with pytest.raises(CdliteError) as e:
        RFTheoryConfig(draws=0, ns=(16, 2000), gap_fraction=1.5, device="gpu")
    msg = str(e.value)
    for part in ("draws=0", "ns=(16, 2000)", "d < n < p", "gap_fraction=1.5",
                 "rf-theory runs on NumPy only, drop --device"):
        assert part in msg, part


@pytest.mark.parametrize("kwargs, says", [
    ({"draws": True}, "draws=True"),
    ({"ns": (64, 128.5)}, "element 1: must be an integer"),
    ({"p": 0}, "p=0"),
    ({"seed": -1}, "seed=-1"),
    ({"gap_fractions": (0.5, math.inf)}, "finite"),
    ({"cd_ns": (96,)}, "cd_ns=(96,)"),
    ({"size_ps": (1000,)}, "size_ps: p=1000"),
    ({"mc_per_feature": 4}, "8 p samples"),
    ({"cd_t_min": 0.02}, "cd_t_min=0.02"),
])
def test_config_errors_say_what_to_change(kwargs, says):
    with pytest.raises(CdliteError, match=says.replace("(", r"\(").replace(")", r"\)")):
        RFTheoryConfig(**kwargs)


def test_quick_keeps_seed_and_device_and_is_valid():
    cfg = quick(RFTheoryConfig(seed=7))
    assert cfg.seed == 7 and cfg.device == "cpu" and cfg.p < RFTheoryConfig().p
    assert all(cfg.d < n < cfg.p for n in cfg.ns)
    assert np.all([type(v) in (int, float, bool, str, tuple)
                   for v in dataclasses.asdict(cfg).values()])
