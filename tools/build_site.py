"""Build the documentation site: one command, everything generated from the repository.

    pip install -e ".[docs]"
    python tools/build_site.py            # -> build/site/index.html (about a minute on 2 cores)
    python tools/build_site.py --serve    # the same, then mkdocs' live server on 127.0.0.1:8000

Why mkdocs-material: the site is Markdown the repository already has (README, docs/), it renders
executed notebooks (mkdocs-jupyter) and docstrings (mkdocstrings) without a second markup
language (Sphinx would want reStructuredText or MyST for the same), it builds a static folder
that opens without a server, and its search works offline.

What it does, into build/site_src (mkdocs.yml's docs_dir; never a tracked file):
- index.md: the README, its links to repository files made site links or plain text;
- every file under docs/ (the instructor's page, the answer key, figures, and docs/design.md and
  docs/metrics.md when they are there), links fixed the same way;
- lessons/NN_*.ipynb: each lesson executed now, in quick mode (said at its top), with its
  exercises appended as cells to fill in (cdlite.course.notebook.run_notebook);
- exercises.md: every exercise's statement, stubs, checks and how to get hints;
- walk/*.md: the annotated walk through the core files, docstrings and comments beside the code
  (generated from the source at every build, so it cannot drift: tools/annotate.py);
- api.md: the API reference, from the docstrings (mkdocstrings).
Then `mkdocs build --strict`: a broken link or a missing image fails the build.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "build" / "site_src"
SITE = ROOT / "build" / "site"
sys.path.insert(0, str(ROOT / "tools"))

# the annotated walk: the core files, in reading order
CORE = ["cdlite/nn/layers.py", "cdlite/nn/networks.py", "cdlite/diffusion/precond.py",
        "cdlite/diffusion/loss.py", "cdlite/diffusion/samplers.py",
        "cdlite/distill/consistency.py", "cdlite/distill/losses.py",
        "cdlite/metrics/memorization.py"]

# the API reference: one section per package, as the README's reading order has them
API = ["cdlite.nn", "cdlite.diffusion", "cdlite.distill", "cdlite.metrics", "cdlite.data",
       "cdlite.theory", "cdlite.experiments", "cdlite.runs", "cdlite.sweeps", "cdlite.course"]

LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def fix_links(text: str, repo_dir: str, site_dir: str, pages: dict) -> str:
    """Rewrite the Markdown links of a repository file (in repo_dir) for its site page (in
    site_dir): a link to a file that is on the site points there; any other repository path
    becomes plain text (it is not on the site); web links and anchors are kept."""
    def one(m):
        bang, label, target = m.groups()
        if re.match(r"^[a-z]+:|^#", target):
            return m.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(repo_dir, path))
        if repo_path in pages:
            rel = posixpath.relpath(pages[repo_path], site_dir or ".")
            return f"{bang}[{label}]({rel}{'#' + anchor if anchor else ''})"
        return label if label.startswith("`") else f"`{label}`" if not bang else label
    return LINK.sub(one, text)


def site_pages() -> dict:
    """repository path -> site path, for every repository file that is on the site."""
    pages = {"README.md": "index.md", "examples/lessons/README.md": "lessons/index.md"}
    for p in sorted((ROOT / "docs").rglob("*")):
        if p.is_file():
            rel = p.relative_to(ROOT).as_posix()
            pages[rel] = rel[len("docs/"):]
    from cdlite.course import LESSONS
    for name, _ in LESSONS.values():
        pages[f"examples/lessons/{name}"] = f"lessons/{name[:-3]}.ipynb"
    return pages


def stage_markdown(pages: dict) -> None:
    for repo, site in pages.items():
        if site.endswith(".ipynb"):
            continue
        src, dst = ROOT / repo, SRC / site
        dst.parent.mkdir(parents=True, exist_ok=True)
        if repo.endswith(".md"):
            text = src.read_text(encoding="utf-8")
            dst.write_text(fix_links(text, posixpath.dirname(repo), posixpath.dirname(site),
                                     pages), encoding="utf-8")
        else:
            shutil.copyfile(src, dst)


QUICK_NOTE = ("*This page was executed when the site was built, in **quick mode** (less data, "
              "fewer steps: seconds instead of up to 20 s), so its numbers are rough; the "
              "questions at the end are meant for the full run: `python "
              "examples/lessons/{name}` (or `cdlite lesson copy DIR`). The exercises at the end "
              "are cells to fill in; `check(...)` grades them where they are.*")


def stage_lessons(workers: int) -> list:
    """Execute every lesson as a notebook (quick mode), two at a time on two cores."""
    from cdlite.course import LESSONS
    from cdlite.course.notebook import run_notebook
    os.environ["CDLITE_QUICK"] = "1"  # for every kernel (run_notebook restores it to this)
    os.environ["CDLITE_LESSONS_OUT"] = "build/lesson_figures"  # the kernels run in ROOT
    times = []

    def run(name):
        t0 = time.perf_counter()
        run_notebook(ROOT / "examples" / "lessons" / name, SRC / "lessons" / (name[:-3] + ".ipynb"),
                     quick=True, timeout=300, note=QUICK_NOTE.format(name=name))
        return name, time.perf_counter() - t0

    with ThreadPoolExecutor(workers) as pool:
        times = list(pool.map(run, [name for name, _ in LESSONS.values()]))
    return times


def stage_exercises() -> None:
    from cdlite.course import EXERCISES, LESSONS
    out = ["# Exercises", "",
           "Nine exercises in which you write the key lines of cdlite and get told at once, "
           "precisely, whether they are right. Start one as a file, or fill in its cells at the "
           "end of its lesson's notebook:", "",
           "```bash", "cdlite exercise start silu exercises      # writes exercises/silu.py",
           "cdlite exercise check exercises/silu.py   # pass or fail per check, with a hint",
           "cdlite exercise hint silu 2               # the derivation, one step at a time",
           "cdlite exercise capstone exercises        # your edm_loss, heun_step, cd_loss and "
           "f_mem, end to end", "```", "",
           "In a notebook: `from cdlite.course import check; check(\"silu\", silu_forward, "
           "silu_backward)` prints the same report in the cell. Every exercise is also checked "
           "on random inputs drawn anew at each run (the seed is printed; `--seed` replays it).",
           ""]
    for e in EXERCISES.values():
        lesson_file = LESSONS[e.lesson][0]
        out += [f"## `{e.name}`: {e.title}", "",
                f"Lesson {e.lesson}: [{LESSONS[e.lesson][1]}](lessons/{lesson_file[:-3]}.ipynb)."
                f" Reference: `{e.reference}`.", ""]
        out += ["    " + line if line.strip() else "" for line in e.math.strip().splitlines()]
        out += ["", "```python", e.code.strip(), "```", "", "The checks:", ""]
        out += [f"{k}. {c.title}" for k, c in enumerate(e.checks, 1)]
        out += ["", f"{len(e.hints)} hints: `cdlite exercise hint {e.name} K`, K = 1 to "
                f"{len(e.hints)}.", ""]
    (SRC / "exercises.md").write_text("\n".join(out), encoding="utf-8")


def stage_walk() -> list:
    from annotate import annotate_file
    (SRC / "walk").mkdir(parents=True, exist_ok=True)
    names = []
    index = ["# An annotated walk through cdlite", "",
             "The core of cdlite, file by file, in reading order: on the left each docstring "
             "and comment, on the right the code it explains. These pages are generated from "
             "the source at every build of the site, so they always show the code as it is.",
             ""]
    for rel in CORE:
        path = ROOT / rel
        if not path.is_file():
            continue
        page = rel.replace("cdlite/", "").replace("/", "_").replace(".py", ".md")
        (SRC / "walk" / page).write_text(annotate_file(path, rel), encoding="utf-8")
        names.append((rel, page))
        first = (path.read_text(encoding="utf-8").split('"""')[1:2] or [""])[0]
        summary = " ".join(first.strip().split("\n\n")[0].split())
        index.append(f"- [`{rel}`]({page}): {summary}")
    (SRC / "walk" / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    return names


def stage_api() -> None:
    out = ["# API reference", "",
           "From the docstrings of the code itself. Each package re-exports its public names; "
           "the annotated walk shows the same code with its comments.", ""]
    for module in API:
        out += [f"## `{module}`", "", f"::: {module}", ""]
    (SRC / "api.md").write_text("\n".join(out), encoding="utf-8")


def build(strict: bool = True, workers: int = 2, serve: bool = False) -> float:
    t0 = time.perf_counter()
    os.chdir(ROOT)
    if SRC.exists():
        shutil.rmtree(SRC)
    SRC.mkdir(parents=True)
    pages = site_pages()
    stage_markdown(pages)
    stage_exercises()
    stage_walk()
    stage_api()
    for name, seconds in stage_lessons(workers):
        print(f"  executed {name} (quick) in {seconds:.1f} s")
    cmd = [sys.executable, "-m", "mkdocs", "serve" if serve else "build", "-f",
           str(ROOT / "mkdocs.yml")] + (["--strict"] if strict and not serve else [])
    subprocess.run(cmd, check=True, cwd=ROOT, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="then serve it on 127.0.0.1:8000")
    parser.add_argument("--workers", type=int, default=2, help="lessons executed at once")
    args = parser.parse_args(argv)
    try:
        import mkdocs  # noqa: F401
        import mkdocs_jupyter  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as e:
        print(f"Error: building the site needs the docs extra ({e.name} is missing): "
              f"pip install -e \".[docs]\"", file=sys.stderr)
        return 2
    from cdlite.errors import CdliteError
    try:
        seconds = build(workers=args.workers, serve=args.serve)
    except CdliteError as e:  # a lesson that fails to run: its notebook says where
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"Error: mkdocs failed (exit status {e.returncode}); its messages are above",
              file=sys.stderr)
        return 1
    print(f"built {SITE / 'index.html'} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
