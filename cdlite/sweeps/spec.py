"""What a sweep runs: its spec (a recipe, fixed settings, a grid of settings, seeds, from the
command line or a TOML spec file typed as configs are) and its cells, every one resolved and
checked before any task starts; the count of cells is checked before any cell is built
(cdlite.sizes.check_grid)."""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import asdict, dataclass, field

from .. import sizes
from ..catalog import get_recipe
from ..config import Config, ConfigError, at_least, flatten, override, to_dict, to_toml
from ..errors import CdliteError


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: a recipe, fixed settings, a grid of settings, seeds."""
    recipe: str
    grid: tuple = ()              # ((key, (value, ...)), ...): every combination is a cell
    sets: tuple = ()              # ((key, value), ...): the same for every cell
    seeds: tuple = (0,)           # each combination once per seed
    quick: bool = False           # the recipe's --quick variant as the base
    study: str = ""               # the shipped study it comes from, if any

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_toml(cls, d: dict, source) -> SweepSpec:
        """A spec file: recipe = "...", seeds = 3 or [..], seed, quick, [set] and [grid]
        tables, each value checked against its type as a config's are (quick = "no" is an
        error, not true)."""
        unknown = set(d) - {"recipe", "seeds", "seed", "quick", "set", "grid"}
        if unknown or "recipe" not in d:
            raise CdliteError(f"{source}: a sweep spec has recipe = \"...\", seeds, seed, quick, "
                              f"[set] and [grid]; got {sorted(d)}")
        seeds = d.get("seeds", 1)
        listed = isinstance(seeds, list)
        try:
            fields = SpecFile(**{k: d[k] for k in ("recipe", "seed", "quick") if k in d},
                              seeds=1 if listed else seeds)
        except ConfigError as e:
            raise CdliteError(f"{source}: {e}") from None
        except TypeError as e:
            raise CdliteError(f"{source}: {e}") from None
        if listed:
            bad = [s for s in seeds if not (isinstance(s, int) and not isinstance(s, bool)
                                            and s >= 0)]
            if bad or not seeds:
                raise CdliteError(f"{source}: seeds = {seeds!r}: give a number of seeds, or a "
                                  "list of whole numbers >= 0")
        for name, table in (("grid", d.get("grid", {})), ("set", d.get("set", {}))):
            if not isinstance(table, dict):
                raise CdliteError(f"{source}: {name} must be a [{name}] table, got {table!r:.60}")
        sizes.check_grid([(k, v if isinstance(v, list) else [v])
                          for k, v in flatten(d.get("grid", {}))],
                         len(seeds) if listed else fields.seeds, yes=True)
        seeds = (tuple(seeds) if listed else
                 tuple(range(fields.seed, fields.seed + fields.seeds)))
        grid = tuple((k, tuple(v if isinstance(v, list) else [v]))
                     for k, v in flatten(d.get("grid", {})))
        return cls(fields.recipe, grid, tuple(flatten(d.get("set", {}))), seeds, fields.quick)


@dataclass(frozen=True)
class SpecFile(Config):
    """The scalar fields of a spec file, typed as config fields are."""
    recipe: str = ""
    seeds: int = 1
    seed: int = 0
    quick: bool = False

    def check(self):
        yield from at_least(self, 1, "seeds")
        yield from at_least(self, 0, "seed")


def parse_grid(items) -> tuple:
    """--grid key=v1,v2 options as ((key, (v1, v2)), ...)."""
    out = []
    for item in items:
        if "=" not in item:
            raise CdliteError(f"--grid expects key=v1,v2,..., got {item!r} "
                              "(e.g. --grid data.n_train=8,16,32)")
        key, values = item.split("=", 1)
        values = [v.strip() for v in values.split(",") if v.strip()]
        if not values:
            raise CdliteError(f"--grid {key}= has no values; give them as key=v1,v2")
        out.append((key.strip(), tuple(values)))
    return tuple(out)


@dataclass
class Cell:
    index: int
    settings: dict                # the grid's values of this cell (key -> value as given)
    seed: int
    cfg: object = field(repr=False)
    share: str = ""               # cells with one share key share their first stages

    @property
    def folder(self) -> str:
        slug = "-".join(f"{k}={v}" for k, v in self.settings.items())
        slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", f"{slug}-seed={self.seed}".strip("-"))
        return f"cells/{self.index:03d}-{slug[:80]}"

    def task_settings(self) -> list:
        return flatten(to_dict(self.cfg))


def expand(spec: SweepSpec) -> list[Cell]:
    """Every cell of the spec, each config resolved and checked before any task starts: an
    unknown key or a value of the wrong type is one line naming the key and the choices."""
    check_spec(spec)
    recipe = get_recipe(spec.recipe)
    base = recipe.quick(recipe.defaults) if spec.quick else recipe.defaults
    keys = [k for k, _ in spec.grid]
    cells, seen = [], {}
    for combo in itertools.product(*(values for _, values in spec.grid)):
        for seed in spec.seeds:
            settings = dict(zip(keys, combo))
            cfg = override(base, list(spec.sets) + list(settings.items()) + [("seed", seed)])
            sizes.check_config(cfg)
            share = recipe.share_key(cfg) if recipe.share_key else ""
            cell = Cell(len(cells), settings, int(seed), cfg, share)
            twin = seen.setdefault(to_toml(cfg), cell)
            if twin is not cell:
                raise CdliteError(f"the cells {twin.folder[6:]} and {cell.folder[6:]} are the "
                                  "same run (a value given twice, e.g. 40 and 4e1, or a seed "
                                  "twice); give each --grid value and seed once")
            cells.append(cell)
    return cells


def check_spec(spec: SweepSpec, yes: bool = True) -> int:
    """What can be refused from the spec alone, before any cell is built: the seed as a grid
    key or a setting (--seeds and --seed say it), a key twice, a value twice, and the cell
    count (sizes.check_grid: over 1,000 without `yes` is refused). Returns the count."""
    keys = [k for k, _ in spec.grid]
    if "seed" in keys:
        raise CdliteError("--grid seed=...: the seeds of a sweep are --seeds K (seeds S, S+1, "
                          "..., S+K-1, with --seed S), so that each cell's folder says its seed")
    if any(k == "seed" for k, _ in spec.sets):
        raise CdliteError("--set seed=...: a sweep's seeds are --seed S and --seeds K")
    if len(set(keys)) != len(keys):
        raise CdliteError(f"--grid names a key twice: {keys}")
    for key, values in spec.grid:
        twice = sorted({str(v) for v in values if list(values).count(v) > 1})
        if twice:
            raise CdliteError(f"--grid {key} gives {', '.join(twice)} twice; give each value "
                              "once")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise CdliteError(f"the seeds {list(spec.seeds)} name a seed twice")
    return sizes.check_grid(spec.grid, spec.seeds, yes)
