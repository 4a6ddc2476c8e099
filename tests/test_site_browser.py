"""The built website, checked the way a reader meets it: in a real browser.

A local HTTP server on 127.0.0.1 serves ``_build/html``; headless Chromium
(Debian's ``chromium`` package, driven by Playwright) opens every page of the
site and these tests fail on a page of the table of contents that was not built,
an HTTP error, a JavaScript error, a request that leaves the machine (the site
must work offline), an image that did not load, math that MathJax did not
typeset, a broken internal link, or a chapter without its notebook download.
A screenshot of every page goes to ``tests/screenshots/`` so a person can look.

The tests skip, saying why, when the site is not built (run the README's first
command) or Chromium is not installed (``apt-get install chromium``); with
``KD_BOOK_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail instead.
``KD_BOOK_SITE``, ``KD_BOOK_TOC`` and ``KD_BOOK_CHROMIUM`` point the tests at
another built site, table of contents or browser.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("KD_BOOK_SITE", ROOT / "_build" / "html"))
TOC = Path(os.environ.get("KD_BOOK_TOC", ROOT / "_toc.yml"))
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = os.environ.get("KD_BOOK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# Flags for a container without a GPU, a sandbox or a network. Playwright adds
# --headless itself, and a fresh --user-data-dir through launch_persistent_context.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 60_000  # generous: CI is a loaded 2-core machine

# Inline math that MathJax left as source text: $...$ holding TeX (a backslash,
# ^, _ or a brace), or a delimiter that only TeX uses.
RAW_INLINE_MATH = re.compile(r"\$[^$\s][^$]*[\\^_{}][^$]*\$")
RAW_DELIMITERS = ("$$", "\\(", "\\)", "\\[", "\\]")
# A page that only forwards the reader (the site's root index.html does).
META_REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


def _skip_reason() -> str | None:
    if not (SITE / "index.html").is_file():
        return (f"the website is not built ({SITE} has no index.html): run "
                "`jupyter-book build . --warningiserror --keep-going` first")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return "Chromium is not installed (Debian: `apt-get install -y chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (`pip install -r requirements.txt`)"
    return None


SKIP_REASON = _skip_reason()
# CI sets this, so that a missing browser or site fails instead of passing unseen.
REQUIRE_BROWSER = os.environ.get("KD_BOOK_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module", autouse=True)
def _prerequisites():
    if SKIP_REASON is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"{SKIP_REASON} (KD_BOOK_REQUIRE_BROWSER=1 says this test must run)", pytrace=False)
        pytest.skip(SKIP_REASON)


def site_pages() -> list[str]:
    """Every HTML page of the site, as paths relative to its root ('book/index.html')."""
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if p.relative_to(SITE).parts[0] not in ("_static", "_sources"))


def toc_files() -> list[str]:
    """The documents the table of contents names ('book/index', 'book/01_pipeline', ...)."""
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file") and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
    return list(walk(yaml.safe_load(TOC.read_text())))


def local_file(path: str) -> Path | None:
    """The file a URL path on our server maps to, or None if there is none."""
    target = SITE / unquote(path).lstrip("/")
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest's output clean
        pass


@dataclass
class PageReport:
    """What the browser saw on one page."""

    path: str
    status: int | None = None
    errors: list[str] = field(default_factory=list)        # JS errors, console errors
    bad_responses: list[str] = field(default_factory=list)  # HTTP >= 400, failed requests
    external: list[str] = field(default_factory=list)       # requests that left 127.0.0.1
    broken_images: list[str] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    links: list[str] = field(default_factory=list)          # absolute URLs of every <a href>
    ids: set[str] = field(default_factory=set)
    screenshot: Path | None = None


# Runs in the page once it has loaded: wait for lazy images and for MathJax.
_INSPECT_PAGE = """
async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  const hasMathJax = !!document.querySelector('script[src*="mathjax"]');
  if (hasMathJax) {
    for (let i = 0; i < 600 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) {
      await new Promise(r => setTimeout(r, 50));
    }
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  }
  // Text a reader sees, outside code, scripts and typeset math.
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .output';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement.closest(skip)) texts.push(n.textContent);
  }
  const mathElements = Array.from(document.querySelectorAll('.math'));
  return {
    brokenImages: images.filter(img => !(img.complete && img.naturalWidth > 0))
                        .map(img => img.getAttribute('src')),
    math: {
      scriptPresent: hasMathJax,
      mathJaxLoaded: !!(window.MathJax && MathJax.version),
      elements: mathElements.length,
      typeset: document.querySelectorAll('mjx-container').length,
      untypeset: mathElements.filter(el => !el.querySelector('mjx-container'))
                             .map(el => el.textContent.slice(0, 80)),
    },
    text: texts.join(' '),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id]')).map(el => el.id)
           .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name)),
  };
}
"""


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: any free port
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _visit(context, base: str, path: str) -> PageReport:
    report = PageReport(path)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.on("pageerror", lambda exc: report.errors.append(f"uncaught exception: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and report.errors.append(f"console: {msg.text}"))
    page.on("response", lambda r: r.status >= 400 and report.bad_responses.append(f"HTTP {r.status} {r.url}"))
    page.on("requestfailed", lambda r: not r.url.startswith(base) or report.bad_responses.append(
        f"failed {r.url}: {r.failure}"))

    def only_local(route):
        url = route.request.url
        if url.startswith(base + "/") or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            report.external.append(url)
            route.abort()

    page.route("**/*", only_local)
    url = f"{base}/{path}"
    response = page.goto(url, wait_until="load")
    report.status = response.status if response else None
    redirect = META_REFRESH.search((SITE / path).read_text(encoding="utf-8", errors="replace"))
    if redirect:  # check where it forwards to, then inspect the page it lands on
        target = urljoin(url, redirect.group(1))
        report.links.append(target)
        page.wait_for_url(target)
        page.wait_for_load_state("load")
    result = page.evaluate(_INSPECT_PAGE)
    page.wait_for_load_state("networkidle")
    report.broken_images = result["brokenImages"]
    report.math = dict(result["math"], raw=[d for d in RAW_DELIMITERS if d in result["text"]]
                       + RAW_INLINE_MATH.findall(result["text"]))
    report.links += result["links"]
    report.ids = set(result["ids"])
    report.screenshot = SCREENSHOTS / (path.removesuffix(".html").replace("/", "__") + ".png")
    page.screenshot(path=str(report.screenshot), full_page=True)
    page.close()
    return report


@pytest.fixture(scope="module")
def crawl(server) -> dict[str, PageReport]:
    """Open every page of the site once in Chromium; the tests below read the reports."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="kd-book-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, service_workers="block")
        try:
            return {path: _visit(context, server, path) for path in site_pages()}
        finally:
            context.close()


def _fail_if(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}:\n  " + "\n  ".join(problems)


def test_every_toc_entry_has_a_page():
    missing = [f"{doc} -> {doc}.html" for doc in toc_files() if not (SITE / f"{doc}.html").is_file()]
    _fail_if(missing, "table-of-contents entries without a built page")


def test_pages_load_without_errors(crawl):
    problems = []
    for path, report in crawl.items():
        if report.status != 200:
            problems.append(f"{path}: HTTP status {report.status}")
        problems += [f"{path}: {message}" for message in report.errors + report.bad_responses]
    _fail_if(problems, "pages with errors")


def test_nothing_is_loaded_from_the_internet(crawl):
    problems = [f"{path}: requested {url}" for path, report in crawl.items() for url in report.external]
    _fail_if(problems, "requests that would need the internet")


def test_images_load(crawl):
    problems = [f"{path}: image {src} did not load" for path, report in crawl.items()
                for src in report.broken_images]
    _fail_if(problems, "broken images")


def test_math_is_typeset(crawl):
    problems = []
    for path, report in crawl.items():
        math = report.math
        if math["elements"] and not math["scriptPresent"]:
            problems.append(f"{path}: has math but loads no MathJax")
        elif math["elements"] and not math["mathJaxLoaded"]:
            problems.append(f"{path}: MathJax did not load")
        elif math["elements"] and not math["typeset"]:
            problems.append(f"{path}: {math['elements']} math elements, none typeset")
        problems += [f"{path}: untypeset math {text!r}" for text in math["untypeset"]]
        problems += [f"{path}: raw TeX left in the text: {raw!r}" for raw in math["raw"]]
    _fail_if(problems, "problems with math")


def test_math_pages_exist(crawl):
    """The math check above must have had something to check."""
    assert any(report.math["typeset"] for report in crawl.values()), "no page has typeset math"


def test_internal_links_resolve(crawl, server):
    problems = []
    for path, report in crawl.items():
        for url in sorted(set(report.links)):
            if not url.startswith(server + "/"):
                continue  # external links are only links: a reader may follow them, pages don't need them
            parts = urlsplit(url)
            target = local_file(parts.path)
            if target is None:
                problems.append(f"{path}: link to missing {parts.path}")
                continue
            target_page = target.relative_to(SITE).as_posix()
            fragment = unquote(parts.fragment)
            if fragment and target_page in crawl and fragment not in crawl[target_page].ids:
                problems.append(f"{path}: link to missing anchor {target_page}#{fragment}")
    _fail_if(problems, "broken internal links")


def test_notebook_pages_offer_their_download(crawl, server):
    problems = []
    for doc in toc_files():
        if not (ROOT / f"{doc}.ipynb").is_file():
            continue
        report = crawl.get(f"{doc}.html")
        downloads = [u for u in report.links if urlsplit(u).path.endswith(".ipynb")] if report else []
        if not any(local_file(urlsplit(u).path) for u in downloads):
            problems.append(f"{doc}.html: no working link to download {doc}.ipynb")
    _fail_if(problems, "chapters without a notebook download")


def test_every_page_has_a_screenshot(crawl):
    problems = [f"{path}: no screenshot" for path, report in crawl.items()
                if not (report.screenshot and report.screenshot.is_file()
                        and report.screenshot.stat().st_size > 1000)]
    _fail_if(problems, "pages without a screenshot")
