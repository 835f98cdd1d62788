"""The repository's own documents: every citation of the design document points to a section
that exists, and the licence is where the wheel takes it from.

Code, lessons and docs cite the design as `docs/design.md §N` or `§N.M`; the sections are the
`## N. Title` and `### N.M Title` headings of docs/design.md.
"""
import configparser
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DESIGN_DOC = ROOT / "docs" / "design.md"
SCANNED = ["cdlite", "cli", "examples", "tests", "docs", "benchmarks", "tools", "README.md"]
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".ipynb"}

CITATION = re.compile(r"design\.md\s+§\s*(\d+(?:\.\d+)?)")
# The old, dangling form: the name of a file that is not in the repository. Written so that this
# pattern does not match its own source line.
BARE = re.compile(r"\bDES[I]GN\b")
HEADING = re.compile(r"^(?:## (\d+)\. |### (\d+\.\d+) )")


def sections() -> set:
    """The section numbers docs/design.md defines: '3' for `## 3. ...`, '3.2' for `### 3.2 ...`."""
    found = set()
    for line in DESIGN_DOC.read_text(encoding="utf-8").splitlines():
        m = HEADING.match(line)
        if m:
            found.add(m.group(1) or m.group(2))
    return found


def scanned_files():
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file()
                              and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts)


def citations():
    """(file:line, section cited, bare old-style citation?) of every citation in the scanned
    files."""
    for path in scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            for m in CITATION.finditer(line):
                yield where, m.group(1), False
            if BARE.search(line):
                yield where, line.strip(), True


def test_design_doc_has_the_numbered_sections():
    expected = {str(n) for n in range(1, 9)}
    assert expected <= sections(), f"docs/design.md lacks sections {sorted(expected - sections())}"


def test_every_design_citation_points_to_a_section_that_exists():
    have = sections()
    found = list(citations())
    dangling = [f"{where}: cites §{what}, which docs/design.md does not have"
                for where, what, bare in found if not bare and what not in have]
    bare = [f"{where}: cites the old design file ({what[:80]}); write `docs/design.md §N`"
            for where, what, bare in found if bare]
    assert not dangling + bare, "\n".join(dangling + bare)
    assert sum(not b for _, _, b in found) >= 20  # the scan itself finds the citations


def test_the_checker_names_file_and_line(tmp_path, monkeypatch):
    """The test above fails on a dangling citation, and says where it is."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "design.md").write_text("## 1. Layout\n### 1.2 Rooms\n")
    (tmp_path / "cdlite").mkdir()
    cited = "docs/design.md §"  # (split, so that this file's own scan finds no §9)
    (tmp_path / "cdlite" / "x.py").write_text(f"# ok: {cited}1.2\n# dangling: {cited}9\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "DESIGN_DOC", tmp_path / "docs" / "design.md")
    found = list(citations())
    assert found == [("cdlite/x.py:1", "1.2", False), ("cdlite/x.py:2", "9", False)]
    assert "9" not in sections() and "1.2" in sections()


def test_license_is_at_the_root_and_in_the_wheel_metadata():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the cdlite authors" in text
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license"] == "MIT"
    assert cfg["metadata"]["license_files"].split() == ["LICENSE"]
    # the digits data keep their own licence, shipped beside them as package data
    assert (ROOT / "cdlite" / "data" / "DIGITS_LICENSE.txt").exists()
    assert "*.txt" in cfg["options.package_data"]["cdlite.data"]
