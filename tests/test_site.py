"""The documentation site: `python tools/build_site.py` builds it with `mkdocs build --strict`
(no broken link, no missing image, every page generated from the repository). Needs the docs
extra (mkdocs-material, mkdocs-jupyter, mkdocstrings); skipped cleanly without it. The browser
check (tools/browser_check.py) needs Chromium and is not part of the suite."""
import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))


def test_annotated_walk_sections_follow_the_source():
    from annotate import sections
    source = '''"""Module text."""
import numpy as np


# ---- a heading comment
# and its second line
X = 1  # stays with the code


@staticmethod
def f(a,
      b):
    """What f does."""
    return a + b
'''
    got = sections(source)
    assert got[0] == ("Module text.", "import numpy as np")
    assert got[1] == ("---- a heading comment\nand its second line", "X = 1  # stays with the code")
    assert got[2][0] == "What f does."
    assert got[2][1].splitlines() == ["@staticmethod", "def f(a,", "      b):",
                                      "    return a + b"]


def test_links_to_repository_files_are_site_links_or_plain_text():
    from build_site import fix_links
    pages = {"README.md": "index.md", "docs/course.md": "course.md",
             "docs/figures/a.png": "figures/a.png"}
    text = ("see [the course](docs/course.md#set-up), ![fig](docs/figures/a.png), "
            "[code](cdlite/nn/layers.py), [web](https://example.org) and [here](#top)")
    assert fix_links(text, "", "", pages) == (
        "see [the course](course.md#set-up), ![fig](figures/a.png), `code`, "
        "[web](https://example.org) and [here](#top)")
    assert fix_links("[back](../README.md)", "docs", "", pages) == "[back](index.md)"


def test_site_builds_strict_with_every_page():
    for module in ("mkdocs", "material", "mkdocs_jupyter", "mkdocstrings", "jupytext",
                   "nbclient", "ipykernel"):
        pytest.importorskip(module)
    import build_site
    from cdlite.course import EXERCISES, LESSONS
    seconds = build_site.build()  # raises if mkdocs --strict fails
    site = build_site.SITE
    assert seconds < 180, f"the site took {seconds:.0f} s (target: 3 minutes)"
    home = (site / "index.html").read_text()
    assert "cdlite" in home and "figures/toy-gaussians-frontier.png" in home
    for name, _ in LESSONS.values():
        page = (site / "lessons" / (name[:-3] + ".html")).read_text()
        assert "quick mode" in page and "data:image/png;base64," in page, name
        assert "Traceback" not in page, name  # (a failing cell stops the build already)
    exercises = (site / "exercises.html").read_text()
    for e in EXERCISES.values():
        assert f"cdlite exercise hint {e.name}" in exercises
    # the walk is the source as it is now: every docstring of every core file is on its page
    for rel in build_site.CORE:
        if not (ROOT / rel).is_file():
            continue
        page = site / "walk" / (rel.replace("cdlite/", "").replace("/", "_")
                                .replace(".py", ".html"))
        text = re.sub(r"<[^>]+>", "", page.read_text())
        tree = ast.parse((ROOT / rel).read_text())
        for node in [tree] + [n for n in ast.walk(tree) if isinstance(
                n, (ast.FunctionDef, ast.ClassDef))]:
            doc = ast.get_docstring(node)
            if doc:
                first = doc.split()[:4]
                assert all(w.replace("&", "&amp;").replace("<", "&lt;") in text or w in text
                           for w in first), (rel, first)
    api = (site / "api.html").read_text()
    assert "edm_coeffs" in api and "memorization_fraction" in api and "cd_loss" in api
