"""Open the built site in a real browser: headless Chromium (Debian's package), no network.

    python tools/build_site.py                 # builds build/site/
    python tools/browser_check.py              # serves it on 127.0.0.1, checks three pages
    python tools/browser_check.py --out DIR    # screenshots there [default: build/browser_check]

For the home page, one lesson and one page of the annotated walk it
- serves build/site on 127.0.0.1 (a free port) with Python's http.server;
- asks Chromium for the page's DOM after its scripts ran (--dump-dom), with its console on
  stderr (--enable-logging=stderr --v=0: one `CONSOLE` line per message);
- checks every image, stylesheet, script and same-site link of that DOM over HTTP (a link to a
  page or an anchor on the site must answer 200; an embedded data: image must decode), and
  lists the resources the page would fetch from elsewhere (offline they fail);
- saves a screenshot of each page (--screenshot).
It fails (exit status 1) on a missing image, a broken link, a resource from outside the site or
any console message, and prints what it found. Not part of the test suite: a browser is not a
Python dependency (apt-get install chromium).
"""
from __future__ import annotations

import argparse
import base64
import functools
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["index.html", "lessons/03_teacher_memorizes.html", "walk/diffusion_loss.html"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
CONSOLE = re.compile(r":CONSOLE[:(]?\d*\)?\] (.*)$")


class Refs(HTMLParser):
    """The URLs a DOM refers to: (kind, url), kind in img, css, script, link."""

    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "img" and a.get("src"):
            self.refs.append(("img", a["src"]))
        elif tag == "script" and a.get("src"):
            self.refs.append(("script", a["src"]))
        elif tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or ""):
            self.refs.append(("css", a["href"]))
        elif tag == "a" and a.get("href"):
            self.refs.append(("link", a["href"]))


def serve(folder: Path):
    handler = functools.partial(Quiet, directory=str(folder))
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a browser that closes a connection early is not a finding


def chromium(url: str, extra: list, timeout: float = 90):
    with tempfile.TemporaryDirectory(prefix="cdlite-chromium-") as profile:
        cmd = [CHROMIUM] + FLAGS + [f"--user-data-dir={profile}"] + extra + [url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              errors="replace")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def check_page(base: str, page: str, shots: Path) -> tuple[list, dict]:
    """(problems, counts) of one page."""
    url = urljoin(base, page)
    problems = []
    dom = chromium(url, ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                         "--dump-dom"])
    if dom.returncode != 0 or "<html" not in dom.stdout:
        return [f"{page}: Chromium could not open it (exit {dom.returncode})"], {}
    for line in dom.stderr.splitlines():
        m = CONSOLE.search(line)
        if m:
            problems.append(f"{page}: console: {m.group(1)[:200]}")
    refs = Refs()
    refs.feed(dom.stdout)
    counts = {"img": 0, "css": 0, "script": 0, "link": 0, "external links": 0}
    ids_of = {}
    for kind, ref in refs.refs:
        if ref.startswith("data:"):
            if kind == "img":
                counts["img"] += 1
                if not _data_image_ok(ref):
                    problems.append(f"{page}: an embedded image does not decode")
            continue
        if ref.startswith(("mailto:", "javascript:")):
            continue
        target = urljoin(url, ref)
        if urlparse(target).netloc != urlparse(base).netloc:
            if kind == "link":
                counts["external links"] += 1
            else:
                problems.append(f"{page}: {kind} from outside the site (fails offline): {ref}")
            continue
        counts[kind] += 1
        doc, anchor = urldefrag(target)
        code = status(doc)
        if code != 200:
            problems.append(f"{page}: {kind} {ref} -> HTTP {code or 'no answer'}")
        elif anchor and doc.endswith(".html"):
            if doc not in ids_of:
                ids_of[doc] = _ids(doc) if doc != url else refs.ids
            if anchor not in ids_of[doc]:
                problems.append(f"{page}: link {ref}: no element with id {anchor!r}")
    shot = shots / (page.replace("/", "_").replace(".html", ".png"))
    grab = chromium(url, ["--window-size=1400,1000", "--virtual-time-budget=5000",
                          f"--screenshot={shot}"])
    if grab.returncode != 0 or not shot.is_file():
        problems.append(f"{page}: no screenshot (exit {grab.returncode})")
    return problems, counts


def _ids(url: str) -> set:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            parser = Refs()
            parser.feed(r.read().decode("utf-8", "replace"))
            return parser.ids
    except OSError:
        return set()


def _data_image_ok(ref: str) -> bool:
    head, _, data = ref.partition(",")
    try:
        raw = base64.b64decode(data) if head.endswith(";base64") else data.encode()
    except ValueError:
        return False
    return len(raw) > 8 and (raw[:4] == b"\x89PNG" or raw[:3] == b"\xff\xd8\xff"
                             or b"<svg" in raw[:400])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Open the built site in headless Chromium.")
    parser.add_argument("--site", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "browser_check",
                        help="folder for the screenshots")
    args = parser.parse_args(argv)
    global CHROMIUM
    CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
    if not CHROMIUM:
        print("Error: no chromium on PATH; install Debian's package: apt-get install chromium",
              file=sys.stderr)
        return 2
    if not (args.site / "index.html").is_file():
        print(f"Error: {args.site} has no index.html; build it: python tools/build_site.py",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    server, base = serve(args.site)
    failed = False
    try:
        for page in PAGES:
            problems, counts = check_page(base, page, args.out)
            summary = ", ".join(f"{v} {k}" for k, v in counts.items())
            print(f"{page}: {'FAIL' if problems else 'ok'} ({summary}); screenshot in {args.out}")
            for p in problems:
                print(f"  {p}")
            failed |= bool(problems)
    finally:
        server.shutdown()
    return 1 if failed else 0


CHROMIUM = None

if __name__ == "__main__":
    sys.exit(main())
