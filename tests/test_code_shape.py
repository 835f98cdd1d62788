"""The house rules a reader relies on, checked on the source: short functions in the layers
above the core (experiments/, runs/, report/, sweeps/, theory/), small files in the rooms of a
run, every import pointing down (docs/design.md §1), and no private name imported across
modules."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cdlite"
MAX_LINES = 60


def _functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("folder", ["experiments", "runs", "report", "sweeps", "theory"])
def test_no_function_over_sixty_lines(folder):
    long = [f"{p.relative_to(ROOT)}:{line} {name} ({n} lines)"
            for p in sorted((PACKAGE / folder).glob("*.py"))
            for name, line, n in _functions(p) if n > MAX_LINES]
    assert not long, "functions over 60 lines: " + "; ".join(long)


def test_no_private_name_crosses_a_module_boundary():
    crossing = []
    for path in sorted(list(PACKAGE.rglob("*.py")) + list((ROOT / "cli").glob("*.py"))):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                crossing += [f"{path.relative_to(ROOT)}: from {'.' * node.level}"
                             f"{node.module or ''} import {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert not crossing, "; ".join(crossing)


# The rooms above the core, lowest first: a module may import its own room or a lower one.
# The run folder's lifecycle is below the science that writes into it; the report reads what
# the science wrote; the catalogue binds science and report into recipes; sweeps run recipes;
# the course (its capstone reads the curves) sits on top.
LAYERS = ["runs", "experiments", "report", "catalog", "sweeps", "course"]
ROOMS = ["experiments", "runs", "report", "sweeps"]


def _rank(module: str) -> int:
    """0 for the core (data, nn, ..., metrics, theory), else 1 + the room's place in LAYERS."""
    parts = module.split(".")
    room = parts[1] if parts[0] == "cdlite" and len(parts) > 1 else ""
    return LAYERS.index(room) + 1 if room in LAYERS else 0


def _imports(path):
    """The cdlite modules `path` imports (relative imports resolved), at any depth."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            elif node.module:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_every_import_points_down():
    upward = [f"{p.relative_to(ROOT)} imports {m}" for p in sorted(PACKAGE.rglob("*.py"))
              for m in _imports(p) if m.startswith("cdlite")
              and _rank(m) > _rank(".".join(p.relative_to(ROOT).with_suffix("").parts))]
    assert not upward, "imports against the flow: " + "; ".join(upward)


@pytest.mark.parametrize("room", ROOMS)
def test_no_file_in_the_rooms_over_300_lines(room):
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in sorted((PACKAGE / room).glob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300]
    assert not long, "files over 300 lines: " + "; ".join(long)


def test_the_pipeline_has_no_function_over_40_lines():
    long = [f"{p.name}:{line} {name} ({n} lines)"
            for p in sorted((PACKAGE / "experiments").glob("*.py"))
            for name, line, n in _functions(p) if n > 40]
    assert not long, "pipeline functions over 40 lines: " + "; ".join(long)
