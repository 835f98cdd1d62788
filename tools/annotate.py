"""The annotated walk: a Python file as a page of sections, each docstring or comment block on the
left beside the code it explains on the right (the manner of labml.ai's annotated
implementations, after Pycco/Docco).

    python tools/annotate.py cdlite/diffusion/loss.py > loss.md   (tools/build_site.py calls it)

How a file is cut into sections:
- the module docstring is the first section, with no code;
- a class or function docstring starts a section that holds the `def`/`class` line (and its
  decorators) and the code after it;
- a block of whole-line comments starts a section whose code follows it;
- a comment that ends a line of code stays in the code.
The text is the source's, every time the site is built: the walk cannot drift from the code.
"""
from __future__ import annotations

import ast
import html
import inspect
import sys
from pathlib import Path

import markdown
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer


def _docstrings(tree) -> dict:
    """first line of a docstring -> (last line, first line of its owner's header, text)."""
    out = {}
    nodes = [tree] + [n for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for node in nodes:
        body = getattr(node, "body", [])
        if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            doc = body[0]
            header = 1 if node is tree else min([node.lineno] + [d.lineno for d in
                                                                 getattr(node, "decorator_list",
                                                                         [])])
            out[doc.lineno] = (doc.end_lineno, header, inspect.cleandoc(doc.value.value))
    return out


def sections(source: str) -> list:
    """[(doc text, code text)] in file order."""
    lines = source.splitlines()
    docs = _docstrings(ast.parse(source))
    out = [["", []]]
    i = 0
    while i < len(lines):
        n = i + 1  # 1-based line number
        stripped = lines[i].strip()
        if n in docs:
            end, header, text = docs[n]
            code = out[-1][1]
            take = min(n - header, len(code))  # the def/class lines (and decorators) move along
            head = code[len(code) - take:] if take else []
            del code[len(code) - take:]
            out.append([text, head])
            i = end
            continue
        if stripped.startswith("#") and not stripped.startswith("#!"):
            block = []
            while i < len(lines) and lines[i].strip().startswith("#"):
                block.append(lines[i].strip()[1:].strip())
                i += 1
            out.append(["\n".join(block), []])
            continue
        out[-1][1].append(lines[i])
        i += 1
    return [(doc, "\n".join(code).strip("\n")) for doc, code in out if doc or "".join(code).strip()]


def _doc_html(text: str) -> str:
    """A docstring or comment as HTML: paragraphs, and indented lines (equations) kept as is."""
    return markdown.markdown(text, extensions=["fenced_code"]) if text else ""


def annotate_file(path, title: str) -> str:
    """The Markdown page (raw HTML sections) of one source file."""
    source = Path(path).read_text(encoding="utf-8")
    formatter = HtmlFormatter(cssclass="highlight", nowrap=False)
    rows = []
    for doc, code in sections(source):
        code_html = highlight(code, PythonLexer(), formatter) if code.strip() else ""
        rows.append(f'<div class="walk-section"><div class="walk-doc">{_doc_html(doc)}</div>'
                    f'<div class="walk-code">{code_html}</div></div>')
    body = "\n".join(rows)
    return (f"# `{html.escape(title)}`\n\n"
            f"*Generated from the source at every build of the site: docstrings and comments on "
            f"the left, the code on the right.*\n\n<div class=\"walk\">\n{body}\n</div>\n")


if __name__ == "__main__":
    print(annotate_file(sys.argv[1], sys.argv[1]))
