"""Configs as frozen dataclasses, and everything derived from their fields.

Every setting of cdlite is a field of a frozen dataclass, declared once with its type annotation,
default and comment, and checked once, by its own class (`Config.check`). A recipe's config
composes component configs as sections (RunConfig has data, net, diffusion, teacher, distill and
eval). From the fields and their annotations alone this module derives:

    keys(cfg)                     every dotted name that `--set` accepts, e.g. "teacher.steps"
    override(cfg, assignments)    a new config from "key=value" pairs (--set, or a TOML file),
                                  each value converted to its field's type, all checked at once
    to_dict(cfg), to_toml(cfg)    the config as a nested dict, and as the config.toml of a run
    read_toml(path)               a TOML file (--config, a run's config.toml) as a dict, read
                                  with a size limit (TOML_LIMIT) so /dev/zero is one line

Field types it understands: bool, int, float, str, Literal[...] (a choice: the allowed values are
the annotation), tuple[int, ...] and tuple[float, ...], a nested config (a section, a [table] in
TOML), and a union of configs told apart by a one-value Literal field, their tag (a tagged
section: `net.kind = "rf"` switches `net` from MLPConfig to RFConfig with RFConfig's defaults,
`data.name = "digits"` switches the dataset). Adding a setting means adding one field to one
class; --set, TOML, --dry-run and the "did you mean" hints follow from it.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import sys
import types
import typing
from typing import Any, Literal, Union

from .backend import DEVICES
from .errors import CdliteError
from .fileio import read_limited

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Device = Literal[DEVICES]  # "cpu" (NumPy), "gpu" (CuPy) or "auto" (the GPU when there is one)


class ConfigError(CdliteError):
    """Invalid settings: `problems` lists each one as 'key=value (what is required)'."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        word = "value" if len(self.problems) == 1 else "values"
        super().__init__(f"invalid config {word}: " + "; ".join(self.problems))


class Config:
    """Base of every config dataclass: after construction, each field is checked against its
    annotation (type, Literal choice, finite float), then the class's own `check()` yields the
    problems with its ranges. Any problem raises a ConfigError that lists them all."""

    def __post_init__(self):
        problems = field_problems(self)
        if not problems:
            problems = list(self.check())
        if problems:
            raise ConfigError(problems)

    def check(self):
        """Yield one 'field=value (what is required)' string per problem (none by default)."""
        return ()


def at_least(obj, lower, *names):
    """Problems of the named fields of obj that are below `lower`."""
    for name in names:
        if not getattr(obj, name) >= lower:
            yield f"{name}={getattr(obj, name)!r} (must be >= {lower})"


def positive(obj, *names):
    """Problems of the named fields of obj that are not > 0."""
    for name in names:
        if not getattr(obj, name) > 0:
            yield f"{name}={getattr(obj, name)!r} (must be > 0)"


# --- reading the annotations ---------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    """{field name: annotation} of a config dataclass, annotations evaluated."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _variants(tp) -> dict:
    """{tag value: config class} of a tagged section, {} for anything else."""
    if not _is_union(tp):
        return {}
    out = {}
    for cls in typing.get_args(tp):
        tag = _tag(cls)
        if tag is None:
            return {}
        out[tag[1]] = cls
    return out


@functools.lru_cache(maxsize=None)
def _tag(cls):
    """(field name, value) of the one-value Literal field that names a union member, or None."""
    if not dataclasses.is_dataclass(cls):
        return None
    for name, tp in _hints(cls).items():
        if typing.get_origin(tp) is Literal and len(typing.get_args(tp)) == 1:
            return name, typing.get_args(tp)[0]
    return None


def _is_section(tp) -> bool:
    return (isinstance(tp, type) and dataclasses.is_dataclass(tp)) or bool(_variants(tp))


def _section_class(tp, value: dict):
    """The config class of a section, given its dict (a tagged section's tag picks it)."""
    variants = _variants(tp)
    if not variants:
        return tp
    name = _tag(next(iter(variants.values())))[0]
    return variants[value[name]]


def _describe(tp) -> str:
    """What a value of annotation tp is, for messages: 'an integer', 'a list of numbers'."""
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if typing.get_origin(tp) is tuple:
        return {int: "a list of integers", float: "a list of numbers"}[typing.get_args(tp)[0]]
    return {bool: "true or false", int: "an integer", float: "a number",
            str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


# --- checking values against their annotations --------------------------------------------------

def _value_problem(tp, v) -> str | None:
    """Why v does not fit the annotation tp (None if it does)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if v in choices:
            return None
        near = difflib.get_close_matches(str(v), [str(c) for c in choices], n=1)
        return "choose one of " + ", ".join(map(str, choices)) + (
            f"; did you mean {near[0]}?" if near else "")
    if origin is tuple:
        if not isinstance(v, tuple):
            return f"must be {_describe(tp)}"
        bad = [_value_problem(typing.get_args(tp)[0], x) for x in v]
        return next((f"element {i}: {b}" for i, b in enumerate(bad) if b), None)
    if tp is bool:
        return None if isinstance(v, bool) else "must be true or false"
    if tp is int:
        return None if isinstance(v, int) and not isinstance(v, bool) else "must be an integer"
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "must be a number"
        return None if math.isfinite(v) else "must be finite"
    if tp is str:
        return None if isinstance(v, str) else "must be a string"
    return None  # sections are checked by their own class


def field_problems(obj) -> list[str]:
    """The checks every field gets from its annotation alone, as 'name=value (problem)'."""
    problems = []
    for name, tp in _hints(type(obj)).items():
        v = getattr(obj, name)
        why = None if _is_section(tp) else _value_problem(tp, v)
        if why:
            problems.append(f"{name}={v!r} ({why})")
    return problems


def _convert(key: str, tp, v):
    """A --set string or a TOML value as the type of the field `key` (annotation tp)."""
    try:
        if isinstance(v, str) and typing.get_origin(tp) is not Literal and tp is not str:
            v = _parse_text(tp, v.strip())
        elif typing.get_origin(tp) is tuple and isinstance(v, list):
            v = tuple(v)
        if typing.get_origin(tp) is tuple:
            elem = typing.get_args(tp)[0]
            v = tuple(_number(elem, x) for x in v)
        elif tp in (int, float):
            v = _number(tp, v)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ConfigError([f"{key}={v!r} (must be {_describe(tp)})"]) from None
    why = _value_problem(tp, v)
    if why:
        raise ConfigError([f"{key}={v!r} ({why})"])
    return v


def _parse_text(tp, text: str):
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if typing.get_origin(tp) is tuple:
        if text in ("", "()", "[]"):
            return ()
        items = json.loads(text if text.startswith("[") else f"[{text}]")
        if not isinstance(items, list):
            raise ValueError(text)
        return tuple(items)
    return float(text) if tp is float else _int_text(text)


def _int_text(text: str) -> int:
    """'8000' or '1e4' as an int; '1.5' is not one."""
    try:
        return int(text)
    except ValueError:
        f = float(text)
        if not f.is_integer():
            raise
        return int(f)


def _number(tp, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(v)
    if tp is int:
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            raise ValueError(v)
        return int(v)
    return float(v)


# --- keys, overrides, dicts and TOML -----------------------------------------------------------

def to_dict(cfg) -> dict:
    """The config as a nested dict of plain values (tuples as lists), ready for TOML or JSON."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return list(v) if isinstance(v, tuple) else v
    return plain(dataclasses.asdict(cfg))


def keys(cfg) -> list[str]:
    """Every dotted name `--set` accepts for this config (the current variant of each tagged
    section)."""
    return _keys(type(cfg), to_dict(cfg))


def _keys(cls, d: dict) -> list[str]:
    out = []
    for name, tp in _hints(cls).items():
        if _is_section(tp):
            out += [f"{name}.{k}" for k in _keys(_section_class(tp, d[name]), d[name])]
        else:
            out.append(name)
    return out


def _field_type(cls, d: dict, parts: list, key: str, all_keys):
    """The annotation of the dotted field `parts` (of the whole key `key`) in the dict d of
    class cls."""
    hints = _hints(cls)
    head = parts[0]
    if head not in hints or (len(parts) > 1) != _is_section(hints[head]):
        raise CdliteError(_unknown_key_message(key, all_keys))
    if len(parts) == 1:
        return hints[head]
    return _field_type(_section_class(hints[head], d[head]), d[head], parts[1:], key, all_keys)


def _unknown_key_message(key: str, all_keys: list[str]) -> str:
    near = difflib.get_close_matches(key, all_keys, n=3)
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    section = key.split(".")[0] + "."
    same = [k for k in all_keys if k.startswith(section)] if "." in key else []
    where = f" in [{section[:-1]}]" if same else ""
    return f"unknown config key {key!r}; {hint}valid keys{where}: " + ", ".join(same or all_keys)


def _is_tag_key(cls, d: dict, parts: list) -> bool:
    """Does the dotted key name the tag of a tagged section (net.kind, data.name)?"""
    hints = _hints(cls)
    if parts[0] not in hints or not _is_section(hints[parts[0]]):
        return False
    tp = hints[parts[0]]
    if len(parts) == 2 and _variants(tp):
        return parts[1] == _tag(next(iter(_variants(tp).values())))[0]
    return len(parts) > 2 and _is_tag_key(_section_class(tp, d[parts[0]]), d[parts[0]],
                                           parts[1:])


def _switch_variant(cls, d: dict, parts: list, value, key: str):
    """Set a tag: the section becomes the named variant, with that variant's defaults."""
    tp = _hints(cls)[parts[0]]
    if len(parts) > 2:
        return _switch_variant(_section_class(tp, d[parts[0]]), d[parts[0]], parts[1:], value,
                               key)
    variants = _variants(tp)
    if not isinstance(value, str) or value not in variants:
        literal = Literal[tuple(variants)]
        raise ConfigError([f"{key}={value!r} ({_value_problem(literal, value)})"])
    if d[parts[0]][parts[1]] != value:
        d[parts[0]] = defaults(variants[value])


def defaults(cls) -> dict:
    """The defaults of a config class as a dict, without building (and so checking) it: some
    classes have no valid default (a dataset read from a file needs its path)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            v = f.default
        else:
            v = f.default_factory()
        out[f.name] = to_dict(v) if dataclasses.is_dataclass(v) else \
            (list(v) if isinstance(v, tuple) else v)
    return out


def _set_in(d: dict, parts: list, value) -> None:
    for p in parts[:-1]:
        d = d[p]
    d[parts[-1]] = value


def override(cfg, assignments, source: str = "--set"):
    """cfg with the dotted keys of `assignments` ((key, value) pairs or a dict) set.

    Values are --set strings or TOML values, converted to each field's type. Tags are applied
    first (so `net.p=2048 net.kind=rf` works in either order), then the other keys; the new
    config is built and checked once, at the end, so that the order of the keys never matters.
    """
    pairs = list(assignments.items() if isinstance(assignments, dict) else assignments)
    cls, d = type(cfg), to_dict(cfg)
    tags = [(k, v) for k, v in pairs if _is_tag_key(cls, d, k.split("."))]
    for k, v in tags:
        _switch_variant(cls, d, k.split("."), v.strip() if isinstance(v, str) else v, k)
    current = _keys(cls, d)
    problems = []
    for k, v in pairs:
        if (k, v) in tags:
            continue
        tp = _field_type(cls, d, k.split("."), k, current)
        try:
            _set_in(d, k.split("."), _convert(k, tp, v))
        except ConfigError as e:
            problems += e.problems
    if problems:
        raise ConfigError(problems)
    return from_dict(cls, d)


def from_dict(cls, d: dict, prefix: str = ""):
    """Build the config class cls from a complete nested dict (as to_dict makes), checking every
    section; problems are reported with their dotted keys."""
    kwargs, problems = {}, []
    for name, tp in _hints(cls).items():
        v = d[name]
        if _is_section(tp):
            try:
                v = from_dict(_section_class(tp, v), v, f"{prefix}{name}.")
            except ConfigError as e:
                problems += e.problems
                continue
        elif (tp is tuple or typing.get_origin(tp) is tuple) and isinstance(v, list):
            v = tuple(v)
        kwargs[name] = v
    if problems:
        raise ConfigError(problems)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError([prefix + p for p in e.problems]) from None


TOML_LIMIT = 1 << 20  # bytes a config file may have (a run's config.toml has about 2,000)


def read_toml(path, what: str = "config file") -> dict:
    """A TOML file as a nested dict; a missing, oversized, non-regular or invalid file is one
    CdliteError line."""
    data = read_limited(path, TOML_LIMIT, what)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CdliteError(f"{what} {path} is not valid TOML: {e}") from None


def flatten(d: dict, prefix: str = "") -> list:
    """A nested dict (a TOML file) as (dotted key, value) pairs."""
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += flatten(v, f"{prefix}{k}.")
        else:
            out.append((prefix + k, v))
    return out


def to_toml(cfg, header: dict | None = None) -> str:
    """The config as TOML: `header` keys (e.g. recipe = "...") and top-level fields first, then
    one [section] per section, nested sections as [section.sub]."""
    return toml_text({**(header or {}), **to_dict(cfg)})


def toml_text(d: dict, prefix: str = "") -> str:
    """A nested dict of plain values as TOML text."""
    scalars = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    text = ("\n".join([f"[{prefix[:-1]}]"] if prefix else []) + ("\n" if prefix else "")
            + "\n".join(scalars) + "\n")
    for k, v in d.items():
        if isinstance(v, dict):
            text += "\n" + toml_text(v, f"{prefix}{k}.")
    return text


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string is a valid TOML basic string
