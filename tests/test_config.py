"""Configs: everything derived from the dataclass fields (cdlite.config), the recipes' configs,
and the fingerprint of the quick run (the same seed gives the same metrics.json)."""
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
from cdlite.runs.runner import config_toml, load_toml, resolve_config, run_recipe
from cdlite.nn.networks import MLPConfig, RFConfig

FINGERPRINT = pathlib.Path(__file__).parent / "data" / "quick_toy_fingerprint.json"


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


def test_same_seed_gives_the_stored_fingerprint(tmp_path):
    """The quick toy run, seed 0, against metrics.json as it was before experiments/ was
    recomposed (tests/data/quick_toy_fingerprint.json): every stored value is reproduced exactly
    (on the reference platform: x86_64, NumPy 2, OpenBLAS, one thread). Regenerate it only for
    an intended change of results, from a quick run's metrics.json without timings_s, figures
    and status."""
    recipe = get_recipe("toy-gaussians")
    m = run_recipe(recipe, recipe.quick(recipe.defaults), tmp_path / "run", progress=False)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert schema.problems(m) == []  # docs/metrics.md describes every key
    _assert_reproduces(json.loads(FINGERPRINT.read_text()), m)


def _assert_reproduces(stored, new, path="metrics"):
    """Every stored value is in `new`, equal (new keys, e.g. later measurements, may be
    added)."""
    if isinstance(stored, dict):
        assert isinstance(new, dict), path
        for k, v in stored.items():
            assert k in new, f"{path}.{k} is missing"
            _assert_reproduces(v, new[k], f"{path}.{k}")
    elif isinstance(stored, list):
        assert isinstance(new, list) and len(new) == len(stored), path
        for i, (a, b) in enumerate(zip(stored, new)):
            _assert_reproduces(a, b, f"{path}[{i}]")
    else:
        assert new == stored, f"{path}: {new!r} != {stored!r}"
