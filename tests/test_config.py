"""Configs: everything derived from the dataclass fields (cdlite.config), the recipes' configs,
and the fingerprint of the quick run (the same seed gives the same metrics.json)."""
import copy
import importlib.util
import json
import pathlib
from dataclasses import dataclass, field
from typing import Literal

import pytest

from cdlite.config import Config, ConfigError, flatten, keys, override, to_dict, to_toml
from cdlite.data import Digits, Gaussians, TwoMoons
from cdlite.experiments import schema
from cdlite.errors import CdliteError
from cdlite.catalog import RECIPES, get_recipe
from cdlite.experiments import RunConfig
from cdlite.runs.runner import config_toml, load_toml, resolve_config
from cdlite.nn.networks import MLPConfig, RFConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent
FINGERPRINT = ROOT / "tests" / "data" / "quick_toy_fingerprint.json"


# --- a config declared here: one field, and --set / TOML follow ---------------------------------

@dataclass(frozen=True)
class Inner(Config):
    rate: float = 0.5             # a number in (0, 1]
    mode: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)

    def check(self):
        if not 0 < self.rate <= 1:
            yield f"rate={self.rate} (must be in (0, 1])"


@dataclass(frozen=True)
class Outer(Config):
    steps: int = 10
    flag: bool = False
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    net: MLPConfig | RFConfig = field(default_factory=MLPConfig)


def test_keys_come_from_the_fields():
    assert keys(Outer())[:5] == ["steps", "flag", "name", "inner.rate", "inner.mode"]
    assert "net.hidden" in keys(Outer()) and "net.p" not in keys(Outer())
    assert "net.p" in keys(Outer(net=RFConfig()))


def test_values_are_converted_to_the_field_type():
    cfg = override(Outer(), {"steps": "1e3", "flag": "yes", "name": "12", "inner.rate": "1",
                             "inner.sizes": "3, 4", "inner.mode": "b"})
    assert cfg.steps == 1000 and cfg.flag is True and cfg.name == "12"
    assert cfg.inner == Inner(rate=1.0, mode="b", sizes=(3, 4))
    assert isinstance(cfg.inner.rate, float)
    assert override(cfg, {"inner.sizes": "()"}).inner.sizes == ()


@pytest.mark.parametrize("key,value,message", [
    ("steps", "1.5", "steps='1.5' (must be an integer)"),
    ("steps", True, "must be an integer"),
    ("flag", "maybe", "must be true or false"),
    ("inner.rate", "nan", "must be finite"),
    ("inner.rate", "inf", "must be finite"),
    ("inner.rate", "2", "inner.rate=2.0 (must be in (0, 1])"),
    ("inner.mode", "c", "choose one of a, b"),
    ("inner.sizes", "[1, 2.5]", "must be a list of integers"),
    ("net.activation", "swish", "choose one of silu, relu, tanh, gelu"),
    ("net.hidden", "0", "net.hidden=0 (must be >= 1)"),
])
def test_bad_values_name_the_key_and_the_rule(key, value, message):
    with pytest.raises(ConfigError) as e:
        override(Outer(), {key: value})
    assert message in str(e.value)


def test_unknown_keys_get_a_suggestion():
    with pytest.raises(CdliteError, match="did you mean inner.rate"):
        override(Outer(), {"inner.rat": "1"})
    with pytest.raises(CdliteError, match=r"valid keys in \[net\]: net.kind, net.hidden"):
        override(Outer(), {"net.p": "3"})  # an RF setting while net is an MLP


def test_a_tag_switches_the_section_in_any_order():
    for pairs in ([("net.kind", "rf"), ("net.p", "64")], [("net.p", "64"), ("net.kind", "rf")]):
        cfg = override(Outer(), pairs)
        assert cfg.net == RFConfig(p=64)
    with pytest.raises(ConfigError, match="choose one of mlp, rf"):
        override(Outer(), {"net.kind": "cnn"})


def test_the_final_config_is_checked_once_so_order_does_not_matter():
    # sigma_min above the default sigma_max only until sigma_max is raised too
    cfg = override(RunConfig(), [("diffusion.sigma_min", "30"), ("diffusion.sigma_max", "100"),
                                 ("eval.student_tau", "50")])
    assert (cfg.diffusion.sigma_min, cfg.diffusion.sigma_max) == (30.0, 100.0)
    with pytest.raises(ConfigError) as e:
        override(RunConfig(), [("diffusion.sigma_min", "30"), ("teacher.lr", "-1"),
                               ("eval.threshold", "2")])
    text = str(e.value)  # every problem of every section, each with its dotted key
    assert "diffusion.sigma_max=20.0 (must be above sigma_min=30.0)" in text
    assert "teacher.lr=-1.0 (must be > 0)" in text and "eval.threshold=2.0" in text


def test_toml_round_trip_of_every_recipe(tmp_path):
    import tomllib
    for name, recipe in RECIPES.items():
        for cfg in (recipe.defaults, recipe.quick(recipe.defaults)):
            text = config_toml(recipe, cfg)
            assert tomllib.loads(text)["recipe"] == name
            path = tmp_path / f"{name}.toml"
            path.write_text(text)
            assert resolve_config(recipe, config_file=path) == cfg, name
            assert override(recipe.defaults, flatten(load_toml(path))[1:]) == cfg


def test_a_config_of_another_recipe_is_refused(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(config_toml(get_recipe("digits"), get_recipe("digits").defaults))
    with pytest.raises(CdliteError, match="is a config of recipe 'digits'"):
        resolve_config(get_recipe("toy-gaussians"), config_file=path)


def test_the_run_has_one_data_scale_setting():
    """diffusion.sigma_data is the one setting of EDM's data scale; a dataset has no second one."""
    with pytest.raises(CdliteError, match="unknown config key 'data.sigma_data'"):
        override(RunConfig(), {"data.name": "array", "data.path": "x.npz",
                               "data.sigma_data": "0.5"})


def test_dataset_options_are_their_own_class():
    cfg = override(RunConfig(), {"data.name": "digits", "data.classes": "[3, 7]"})
    assert cfg.data == Digits(classes=(3, 7))
    assert override(cfg, {"data.name": "two-moons"}).data == TwoMoons()
    with pytest.raises(CdliteError, match=r"unknown config key 'data.K'.*valid keys in \[data\]"):
        override(cfg, {"data.K": "4"})  # a gaussians option on the digits
    assert "data.K" in keys(RunConfig(data=Gaussians()))


def test_toml_text_reads_back():
    cfg = override(Outer(), {"inner.sizes": "[5]", "net.kind": "rf"})
    import tomllib
    d = tomllib.loads(to_toml(cfg))
    assert d == to_dict(cfg)


def _fingerprint_tool():
    """tools/fingerprint.py (not a package: loaded by path)."""
    spec = importlib.util.spec_from_file_location("fingerprint", ROOT / "tools" / "fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_seed_gives_the_stored_fingerprint():
    """The quick toy run, seed 0, keeps every value of its stored metrics.json
    (tests/data/quick_toy_fingerprint.json): the structure and the exact values exactly, the
    measured ones within the tolerances tools/fingerprint.py states and sizes (a BLAS build or
    an operation order that rounds differently passes; a lost key or a broken metric fails).
    Regenerate it for an intended change of results with `python tools/fingerprint.py --write`."""
    fp = _fingerprint_tool()
    m = fp.quick_metrics()
    assert schema.problems(m) == []  # docs/metrics.md describes every key
    assert fp.differences(json.loads(FINGERPRINT.read_text()), m) == []


def test_the_fingerprint_rules_catch_what_matters():
    fp = _fingerprint_tool()
    stored = json.loads(FINGERPRINT.read_text())

    def moved(path, change):
        new = copy.deepcopy(stored)
        *parents, last = path
        target = new
        for k in parents:
            target = target[k]
        target[last] = change(target[last])
        return fp.differences(stored, new)
    assert fp.differences(stored, copy.deepcopy(stored), exact=True) == []
    assert moved(["student", "quality", "energy_distance"], lambda v: v * (1 + 1e-5)) == []
    assert moved(["student", "quality", "energy_distance"], lambda v: 2 * v)
    assert moved(["student", "f_mem"], lambda v: v + 0.01) == []  # within its interval
    assert moved(["student", "f_mem"], lambda v: v + 0.4)
    assert moved(["student", "nfe"], lambda v: v + 1)  # counts are exact
    assert moved(["teacher", "sampler"], lambda v: v + "!")
    lost = copy.deepcopy(stored)
    del lost["teacher"]["coverage"]
    assert fp.differences(stored, lost) == ["metrics.teacher.coverage: missing"]
