"""The built website, checked the way a reader meets it: in a real browser.

A local HTTP server on 127.0.0.1 serves ``_build/html``; headless Chromium
(Debian's ``chromium`` package, driven by Playwright) opens every page of
the site and these tests fail on a page of the table of contents that was
not built, an HTTP error, a JavaScript error, a request that leaves the
machine (the site must work offline), an image that did not load, math that
MathJax did not typeset, a broken internal link, a chapter without its
notebook download, a block of the article column that is wider than the
column, or a page whose screenshot is blank. A screenshot of every page goes
to ``tests/screenshots/`` so a person can look.

Wider than the column (at the default 1280 x 900 window): inside the page's
article column (``article.bd-article``), every visible element -- code
(``pre``), printed outputs, tables, figures, display math
(``mjx-container[display]``), anything -- must keep its content inside its
own box (``scrollWidth <= clientWidth + 1``: nothing hidden behind a
horizontal scrollbar) and its box inside the column (at most 1 px past the
column's right content edge). Each offender is reported once, as the
innermost element that overflows, with its widths and the text a person
searches for (for code and outputs, the first line that is too long, and
how many characters fit). Blank: fewer than ``BLANK_INK_FRACTION`` of the
pixels of the article column in the full-page screenshot differ from its
dominant colour (see ``ink_fraction``); a real page has several times more.

The tests skip, saying why, when the site is not built (run the README's
first command) or Chromium is not installed (``apt-get install chromium``);
with ``KD_BOOK_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail instead.
``KD_BOOK_SITE``, ``KD_BOOK_TOC`` and ``KD_BOOK_CHROMIUM`` point the tests
at another built site, table of contents or browser.
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

import matplotlib.image
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("KD_BOOK_SITE", ROOT / "_build" / "html"))
TOC = Path(os.environ.get("KD_BOOK_TOC", ROOT / "_toc.yml"))
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = (
    os.environ.get("KD_BOOK_CHROMIUM")
    or shutil.which("chromium")
    or "/usr/bin/chromium"
)

# Flags for a container without a GPU, a sandbox or a network. Playwright
# adds --headless itself, and a fresh --user-data-dir through
# launch_persistent_context.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 60_000  # generous: CI is a loaded 2-core machine

# Inline math that MathJax left as source text: $...$ holding TeX (a
# backslash, ^, _ or a brace), or a delimiter that only TeX uses.
RAW_INLINE_MATH = re.compile(r"\$[^$\s][^$]*[\\^_{}][^$]*\$")
RAW_DELIMITERS = ("$$", "\\(", "\\)", "\\[", "\\]")
# A screenshot pixel is ink when one of its channels differs from the
# image's dominant colour by more than INK_CONTRAST (0..1 scale: 32/255).
# A page is blank with less than BLANK_INK_FRACTION ink in its article
# column (in the whole page if it has none). Measured on this site at
# 1280 px: chapters have 9-12 % ink in the column, source, API and index
# pages 3.4-9 %, and the sparsest page, search.html (a title, a search box
# and the article's header bar), 0.74 %: seven times the threshold; a page
# that rendered nothing has 0.
INK_CONTRAST = 32 / 255
BLANK_INK_FRACTION = 0.001
# A page that only forwards the reader (the site's root index.html does).
META_REFRESH = re.compile(
    r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"',
    re.IGNORECASE,
)


def _skip_reason() -> str | None:
    if not (SITE / "index.html").is_file():
        return (
            f"the website is not built ({SITE} has no index.html): run "
            "`jupyter-book build . --warningiserror --keep-going` first"
        )
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            "Chromium is not installed "
            "(Debian: `apt-get install -y chromium`)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "Playwright for Python is not installed "
            "(`pip install -r requirements.txt`)"
        )
    return None


SKIP_REASON = _skip_reason()
# CI sets this, so that a missing browser or site fails instead of passing
# unseen.
REQUIRE_BROWSER = os.environ.get("KD_BOOK_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def _prerequisites():
    if SKIP_REASON is not None:
        if REQUIRE_BROWSER:
            pytest.fail(
                f"{SKIP_REASON} (KD_BOOK_REQUIRE_BROWSER=1 says this test "
                "must run)",
                pytrace=False,
            )
        pytest.skip(SKIP_REASON)


def site_pages() -> list[str]:
    """Every HTML page of the site, as paths relative to its root
    ('book/index.html')."""
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if p.relative_to(SITE).parts[0] not in ("_static", "_sources")
    )


def toc_files() -> list[str]:
    """The documents the table of contents names ('book/index',
    'book/01_pipeline', ...)."""

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
    """The file a URL path on our server maps to, or None if there is
    none."""
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
    # JS errors, console errors
    errors: list[str] = field(default_factory=list)
    # HTTP >= 400, failed requests
    bad_responses: list[str] = field(default_factory=list)
    # requests that left 127.0.0.1
    external: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    # absolute URLs of every <a href>
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    screenshot: Path | None = None
    # the article column in page pixels (left, top, right, bottom), or None
    # if the page has none; and what sticks out of it (_FIND_OVERFLOWS)
    column: tuple[float, float, float, float] | None = None
    overflows: list[dict] = field(default_factory=list)


# Runs in the page once it has loaded: wait for lazy images and for MathJax.
_INSPECT_PAGE = """
async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  await document.fonts.ready;
  const hasMathJax = !!document.querySelector('script[src*="mathjax"]');
  if (hasMathJax) {
    const ready = () =>
      window.MathJax && MathJax.startup && MathJax.startup.promise;
    for (let i = 0; i < 600 && !ready(); i++) {
      await new Promise(r => setTimeout(r, 50));
    }
    if (ready()) await MathJax.startup.promise;
  }
  // Text a reader sees, outside code, scripts and typeset math.
  const skip = 'pre, code, script, style, textarea, mjx-container, '
    + '.highlight, .output';
  const walker = document.createTreeWalker(
    document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement.closest(skip)) texts.push(n.textContent);
  }
  const mathElements = Array.from(document.querySelectorAll('.math'));
  return {
    brokenImages: images
      .filter(img => !(img.complete && img.naturalWidth > 0))
      .map(img => img.getAttribute('src')),
    math: {
      scriptPresent: hasMathJax,
      mathJaxLoaded: !!(window.MathJax && MathJax.version),
      elements: mathElements.length,
      typeset: document.querySelectorAll('mjx-container').length,
      untypeset: mathElements
        .filter(el => !el.querySelector('mjx-container'))
        .map(el => el.textContent.slice(0, 80)),
    },
    text: texts.join(' '),
    links: Array.from(document.querySelectorAll('a[href]'))
      .map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id]'))
      .map(el => el.id)
      .concat(Array.from(document.querySelectorAll('a[name]'))
        .map(a => a.name)),
  };
}
"""


# Runs after _INSPECT_PAGE, once images and math have their final size:
# the article column's box, and each element inside it that is wider than
# its own box or than the column, each reported once (see below). Left
# out: invisible elements (display: none, visibility: hidden, zero size,
# collapsed <details>), MathJax's assistive copy, and MathJax's internal
# boxes and inline math, whose glyphs overhang their boxes by a few pixels
# (italic corrections) without hiding anything: display math counts as a
# whole, inline math only by whether it leaves the column.
_FIND_OVERFLOWS = """
() => {
  const column = document.querySelector('article.bd-article')
    || document.querySelector('.bd-article-container');
  if (!column) return {column: null, overflows: []};
  const px = v => parseFloat(v) || 0;
  const columnStyle = getComputedStyle(column);
  const columnBox = column.getBoundingClientRect();
  const right = columnBox.right - px(columnStyle.paddingRight)
    - px(columnStyle.borderRightWidth);
  const clips = el => getComputedStyle(el).overflowX !== 'visible';
  const visible = el => (el.checkVisibility
    ? el.checkVisibility({visibilityProperty: true,
                          checkVisibilityCSS: true})
    : el.getClientRects().length > 0);
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + Array.from(el.classList).slice(0, 2).map(c => '.' + c).join('');
  // Up to the nearest element with an id (ids are unique), 3 at most.
  const path = el => {
    const chain = [];
    for (let a = el; a && a !== column && chain.length < 3;
         a = a.parentElement) {
      chain.unshift(name(a));
      if (a.id) break;
    }
    return chain.join(' > ');
  };
  const canvas = document.createElement('canvas').getContext('2d');
  // What a person searches for: for code and printed output (preformatted
  // text), the first line that does not fit and how many characters fit.
  const text = el => {
    if (el.tagName === 'IMG') {
      return {text: 'image ' + (el.getAttribute('alt')
                                || el.getAttribute('src'))};
    }
    const raw = el.innerText || el.textContent || '';
    const pre = getComputedStyle(el).whiteSpace.startsWith('pre')
      ? el : el.querySelector('pre');
    if (!pre) return {text: raw.replace(/\\s+/g, ' ').trim().slice(0, 60)};
    const style = getComputedStyle(el);
    canvas.font = getComputedStyle(pre).font;
    const charWidth = canvas.measureText('0'.repeat(100)).width / 100;
    const fits = Math.floor((el.clientWidth - px(style.paddingLeft)
                             - px(style.paddingRight)) / charWidth);
    const lines = raw.split('\\n');
    const tooLong = lines.filter(line => line.length > fits);
    return {
      text: (tooLong[0] || raw).trim().slice(0, 60),
      fits: fits,
      tooLong: tooLong.length,
      longest: Math.max(...lines.map(line => line.length)),
    };
  };
  const flagged = new Map();
  for (const el of column.querySelectorAll('*')) {
    if (el.closest('mjx-assistive-mml')) continue;
    const math = el.closest('mjx-container, span.math');
    const inlineMath = el.matches('span.math');
    const displayMath = el.matches('mjx-container[display]');
    if (math && !inlineMath && !displayMath) continue;
    if (!visible(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    // The part a reader can see ends where a clipping ancestor ends.
    let seenRight = box.right, clipped = false;
    for (let a = el.parentElement; a && a !== column; a = a.parentElement) {
      if (clips(a)) {
        clipped = true;
        seenRight = Math.min(seenRight, a.getBoundingClientRect().right);
      }
    }
    // Content wider than the box: hidden behind a scrollbar (or cut off),
    // or spilling out where no ancestor clips it.
    const scrolls = !inlineMath && el.clientWidth > 0
      && el.scrollWidth > el.clientWidth + 1 && (clips(el) || !clipped);
    const past = seenRight - right;
    if (scrolls || past > 1) {
      flagged.set(el, {
        scrolls: scrolls,
        scrollWidth: el.scrollWidth,
        clientWidth: el.clientWidth,
        past: past > 1 ? Math.round(past) : 0,
        right: Math.round(seenRight),
        columnRight: Math.round(right),
      });
    }
  }
  // One report per offender: of boxes past the column, the outermost (a
  // wide table, not each of its cells); of content wider than its box,
  // the innermost (the line's own box, not its ancestors, which overflow
  // because it does).
  const outermost = Array.from(flagged.keys()).filter(el =>
    !(flagged.get(el).past && flagged.has(el.parentElement)
      && flagged.get(el.parentElement).past));
  const overflows = [];
  for (const el of outermost) {
    const found = flagged.get(el);
    if (!found.past && outermost.some(o => o !== el && el.contains(o))) {
      continue;
    }
    const section = el.parentElement
      && el.parentElement.closest('section[id]');
    overflows.push(Object.assign({
      element: path(el),
      section: section ? section.id : null,
    }, found, text(el)));
  }
  const ratio = window.devicePixelRatio || 1;
  return {
    column: [columnBox.left + window.scrollX,
             columnBox.top + window.scrollY,
             columnBox.right + window.scrollX,
             columnBox.bottom + window.scrollY].map(v => v * ratio),
    overflows: overflows,
  };
}
"""


@pytest.fixture(scope="module")
def server(_prerequisites):
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    # port 0: any free port
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
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
    page.on(
        "pageerror",
        lambda exc: report.errors.append(f"uncaught exception: {exc}"),
    )
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and report.errors.append(f"console: {msg.text}")
        ),
    )
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and report.bad_responses.append(f"HTTP {r.status} {r.url}")
        ),
    )
    page.on(
        "requestfailed",
        lambda r: (
            not r.url.startswith(base)
            or report.bad_responses.append(f"failed {r.url}: {r.failure}")
        ),
    )

    def only_local(route):
        url = route.request.url
        if url.startswith(base + "/") or url.startswith(
            ("data:", "blob:", "about:")
        ):
            route.continue_()
        else:
            report.external.append(url)
            route.abort()

    page.route("**/*", only_local)
    url = f"{base}/{path}"
    response = page.goto(url, wait_until="load")
    report.status = response.status if response else None
    redirect = META_REFRESH.search(
        (SITE / path).read_text(encoding="utf-8", errors="replace")
    )
    # check where it forwards to, then inspect the page it lands on
    if redirect:
        target = urljoin(url, redirect.group(1))
        report.links.append(target)
        page.wait_for_url(target)
        page.wait_for_load_state("load")
    result = page.evaluate(_INSPECT_PAGE)
    page.wait_for_load_state("networkidle")
    report.broken_images = result["brokenImages"]
    report.math = dict(
        result["math"],
        raw=[d for d in RAW_DELIMITERS if d in result["text"]]
        + RAW_INLINE_MATH.findall(result["text"]),
    )
    report.links += result["links"]
    report.ids = set(result["ids"])
    layout = page.evaluate(_FIND_OVERFLOWS)
    report.column = tuple(layout["column"]) if layout["column"] else None
    report.overflows = layout["overflows"]
    report.screenshot = SCREENSHOTS / (
        path.removesuffix(".html").replace("/", "__") + ".png"
    )
    page.screenshot(path=str(report.screenshot), full_page=True)
    page.close()
    return report


@pytest.fixture(scope="module")
def crawl(server) -> dict[str, PageReport]:
    """Open every page of the site once in Chromium; the tests
    below read the reports."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    with (
        tempfile.TemporaryDirectory(prefix="kd-book-chromium-") as profile,
        sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            service_workers="block",
        )
        try:
            return {
                path: _visit(context, server, path) for path in site_pages()
            }
        finally:
            context.close()


def ink_fraction(image: np.ndarray, box=None, enough: float = 1.0) -> float:
    """The fraction of the pixels of ``image`` inside ``box`` that are ink.

    ``image`` is what ``matplotlib.image.imread`` returns (height x width
    [x channels], floats 0..1 or integers 0..255; alpha is ignored), ``box``
    is (left, top, right, bottom) in pixels, by default the whole image.
    Ink is a pixel that differs from the box's dominant colour (its
    background) by more than INK_CONTRAST in some colour channel: text,
    lines, figures. A blank image has none. Counting stops once at least
    ``enough`` of the box is known to be ink (a lower bound is returned).
    """
    pixels = image[..., None] if image.ndim == 2 else image[..., :3]
    if box is not None:
        left, top, right, bottom = (max(0, round(v)) for v in box)
        pixels = pixels[top:bottom, left:right]
    height, width, channels = pixels.shape
    if height * width == 0:
        return 0.0
    scale = 1.0 if pixels.dtype.kind == "f" else 255.0
    # The dominant colour, from a sample of about a million pixels.
    step = max(1, int((height * width / 1e6) ** 0.5))
    sample = pixels[::step, ::step].reshape(-1, channels)
    levels = np.round(sample * (255 / scale)).astype(np.int64)
    keys = levels @ (256 ** np.arange(channels))
    values, counts = np.unique(keys, return_counts=True)
    background = sample[np.flatnonzero(keys == values[counts.argmax()])[0]]
    limit = INK_CONTRAST * scale
    ink, needed = 0, enough * height * width
    for top in range(0, height, 1024):  # a full page: ~10^7 pixels
        band = pixels[top : top + 1024]
        ink += int((np.abs(band - background).max(axis=-1) > limit).sum())
        if ink >= needed:
            break
    return ink / (height * width)


def is_blank(image: np.ndarray, box=None) -> bool:
    """Whether ``image`` (inside ``box``) shows next to nothing."""
    enough = BLANK_INK_FRACTION  # no need to count all of a real page
    return ink_fraction(image, box, enough) < BLANK_INK_FRACTION


def _describe_overflow(found: dict) -> str:
    where = found["element"]
    section = f"section#{found['section']}" if found["section"] else ""
    if section and section not in where:
        where += f" in {section}"
    what = []
    if found["scrolls"]:
        what.append(
            f"content {found['scrollWidth']} px in a "
            f"{found['clientWidth']} px box"
        )
    if found["past"]:
        what.append(
            f"ends {found['past']} px past the column (at "
            f"{found['right']} px, column at {found['columnRight']} px)"
        )
    if found.get("tooLong"):
        what.append(
            f"{found['tooLong']} line(s) over the {found['fits']} "
            f"characters that fit (longest {found['longest']})"
        )
    return f"{where}: {'; '.join(what)}: {found['text']!r}"


def _fail_if(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}:\n  " + "\n  ".join(
        problems
    )


@pytest.mark.usefixtures("_prerequisites")
def test_every_toc_entry_has_a_page():
    missing = [
        f"{doc} -> {doc}.html"
        for doc in toc_files()
        if not (SITE / f"{doc}.html").is_file()
    ]
    _fail_if(missing, "table-of-contents entries without a built page")


def test_pages_load_without_errors(crawl):
    problems = []
    for path, report in crawl.items():
        if report.status != 200:
            problems.append(f"{path}: HTTP status {report.status}")
        problems += [
            f"{path}: {message}"
            for message in report.errors + report.bad_responses
        ]
    _fail_if(problems, "pages with errors")


def test_nothing_is_loaded_from_the_internet(crawl):
    problems = [
        f"{path}: requested {url}"
        for path, report in crawl.items()
        for url in report.external
    ]
    _fail_if(problems, "requests that would need the internet")


def test_images_load(crawl):
    problems = [
        f"{path}: image {src} did not load"
        for path, report in crawl.items()
        for src in report.broken_images
    ]
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
            problems.append(
                f"{path}: {math['elements']} math elements, none typeset"
            )
        problems += [
            f"{path}: untypeset math {text!r}" for text in math["untypeset"]
        ]
        problems += [
            f"{path}: raw TeX left in the text: {raw!r}"
            for raw in math["raw"]
        ]
    _fail_if(problems, "problems with math")


def test_math_pages_exist(crawl):
    """The math check above must have had something to check."""
    assert any(report.math["typeset"] for report in crawl.values()), (
        "no page has typeset math"
    )


def test_internal_links_resolve(crawl, server):
    problems = []
    for path, report in crawl.items():
        for url in sorted(set(report.links)):
            if not url.startswith(server + "/"):
                # external links are only links: a reader may follow them,
                # pages don't need them
                continue
            parts = urlsplit(url)
            target = local_file(parts.path)
            if target is None:
                problems.append(f"{path}: link to missing {parts.path}")
                continue
            target_page = target.relative_to(SITE).as_posix()
            fragment = unquote(parts.fragment)
            if (
                fragment
                and target_page in crawl
                and fragment not in crawl[target_page].ids
            ):
                problems.append(
                    f"{path}: link to missing anchor "
                    f"{target_page}#{fragment}"
                )
    _fail_if(problems, "broken internal links")


def test_notebook_pages_offer_their_download(crawl, server):
    problems = []
    for doc in toc_files():
        if not (ROOT / f"{doc}.ipynb").is_file():
            continue
        report = crawl.get(f"{doc}.html")
        downloads = (
            [u for u in report.links if urlsplit(u).path.endswith(".ipynb")]
            if report
            else []
        )
        if not any(local_file(urlsplit(u).path) for u in downloads):
            problems.append(
                f"{doc}.html: no working link to download {doc}.ipynb"
            )
    _fail_if(problems, "chapters without a notebook download")


def test_every_page_has_a_screenshot(crawl):
    problems = [
        f"{path}: no screenshot"
        for path, report in crawl.items()
        if not (
            report.screenshot
            and report.screenshot.is_file()
            and report.screenshot.stat().st_size > 1000
        )
    ]
    _fail_if(problems, "pages without a screenshot")


def test_no_block_overflows_its_column(crawl):
    problems = []
    for path, report in crawl.items():
        if report.column is None:
            problems.append(f"{path}: no article column found to check")
        problems += [
            f"{path}: {_describe_overflow(found)}"
            for found in report.overflows
        ]
    _fail_if(problems, "blocks wider than the article column")


def test_screenshots_are_not_blank(crawl):
    problems = []
    for path, report in crawl.items():
        if not (report.screenshot and report.screenshot.is_file()):
            continue  # test_every_page_has_a_screenshot reports it
        # The column lies within the page: a blank page has a blank column.
        image = matplotlib.image.imread(report.screenshot)
        if is_blank(image, report.column):
            ink = ink_fraction(image, report.column)
            where = "article column" if report.column else "page"
            problems.append(
                f"{path}: {report.screenshot.name} is blank: ink on "
                f"{100 * ink:.2f} % of the {where} (at least "
                f"{100 * BLANK_INK_FRACTION:.1f} % needed)"
            )
    _fail_if(problems, "blank screenshots")


def test_blank_detector_on_synthetic_images(tmp_path):
    """ink_fraction and is_blank themselves, without a browser."""
    white = np.ones((300, 400, 3), dtype=np.float32)
    assert ink_fraction(white) == 0.0 and is_blank(white)
    assert is_blank(np.full((300, 400, 3), 0.2, dtype=np.float32))
    speck = white.copy()
    speck[100:103, 100:103] = 0.0  # a few dark pixels are still blank
    assert is_blank(speck)
    # "text": lines of glyph-like vertical strokes, 1-2 px wide
    page = white.copy()
    for top in range(40, 280, 20):
        for left in range(20, 380, 40):
            page[top : top + 9, left : left + 30 : 3] = 0.1
            page[top + 8, left : left + 30] = 0.1
    assert 0.02 < ink_fraction(page) < 0.2 and not is_blank(page)
    assert is_blank(page, box=(0, 0, 400, 35))  # the text starts lower
    assert not is_blank(page, box=(0, 35, 400, 300))
    # the same through a PNG file (RGBA, as imsave writes it)
    path = tmp_path / "page.png"
    matplotlib.image.imsave(path, page)
    decoded = matplotlib.image.imread(path)
    assert decoded.shape[-1] == 4
    assert abs(ink_fraction(decoded) - ink_fraction(page)) < 1e-9
    assert ink_fraction(page, enough=0.001) >= 0.001  # stops early
    matplotlib.image.imsave(path, white)
    assert is_blank(matplotlib.image.imread(path))
