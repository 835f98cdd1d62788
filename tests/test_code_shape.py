"""The house rules a reader relies on, checked on the source: short functions in the layers
above the core (experiments/, theory/), and no private name imported across modules."""
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


@pytest.mark.parametrize("folder", ["experiments", "theory"])
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
