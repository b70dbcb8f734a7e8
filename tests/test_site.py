"""The course site (``python scripts/build_site.py``) built once, then opened in headless Chromium.

Every page of the site (the executed notebooks, the API reference, the slide decks) refers to
nothing outside the site in what it loads (scripts, styles, images, frames: read from its HTML). In
the browser, every notebook page, slide deck and top-level page, every API page with something a
browser must draw (a code block, a formula, a figure) and one in eight of the plain API pages (the
same autodoc template with nothing of its own to draw: ``_browsed_pages``) must load with no console
error and no request leaving the local server; every plotly figure must have drawn an SVG with
its traces, and on the notebook pages with data in them (not empty axes); every formula must have
been typeset by MathJax; no code block is clipped or scrolls sideways (long lines wrap); each
widget must have its static fallback; each notebook page links to Colab and to the repository;
there is a slide deck and an API page for every notebook and module, and the decks are made for a
lecture (one idea per slide, the prose in speaker notes, figures that fit the slide).

Needs the ``[site]`` extra, and Debian's ``chromium`` for the browser checks (``.ci/run``
installs both, so in CI nothing here is skipped). The site is built under ``build/site`` from the notebooks
executed once per test run (``course_table.executed_copy``, shared with tests/test_notebooks_fresh_env.py).
"""
from __future__ import annotations

import functools
import json
import os
import pkgutil
import re
import shutil
import threading
import time
import warnings
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _scripts import current_run_id, load_script

for _module in ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx_revealjs"):
    pytest.importorskip(_module, reason='the site needs the [site] extra: pip install -e ".[site]"')

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 30_000


build_site = load_script("build_site")


@pytest.fixture(scope="session")
def site() -> dict:
    """Build the whole site once per test run; return its folders and how long the build took.

    The notebooks are not executed again for the site: it takes the copies executed in this test run
    by tests/test_notebooks_fresh_env.py (``course_table.executed_copy``), executing only those not
    run yet, from the end of the course backwards, so that two workers split the work."""
    out = Path(os.environ.get("GRADIENTCOIN_SITE_OUT", REPO / "build" / "site"))
    start = time.perf_counter()
    if os.environ.get("GRADIENTCOIN_SITE_PREBUILT"):      # while working on the test: skip the build
        return {"html": out / "html", "out": out, "seconds": 0.0}
    lines: list[str] = []
    index = build_site.build(out, slides=True, jobs=1, log=lines.append, run_id=current_run_id(), reverse=True)
    print("\n".join(lines))
    for line in lines:
        if "ERROR" in line:    # a failing notebook is the fresh-environment test's to fail on; say so here too
            warnings.warn(f"site build: {line.strip()}", stacklevel=1)
    return {"html": index.parent, "out": out, "seconds": time.perf_counter() - start}


def _pages(html: Path) -> list[str]:
    skip = ("_sources/", "_static/", "slides/_static/", "slides/_sources/")
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not p.relative_to(html).as_posix().startswith(skip))


# a plain API page: an autodoc page with no code block, formula or figure of its own
_DRAWN = re.compile(r'<pre|class="math|plotly-graph-div|<img |<svg|<iframe|<video|<canvas')
PLAIN_API_SAMPLE = 8        # one plain API page in 8 is opened in the browser


def _browsed_pages(html: Path) -> list[str]:
    """The pages opened in the browser: all of them but the plain API pages, of which one in
    ``PLAIN_API_SAMPLE`` (every eighth in sorted order, the first included). The others share
    their template, scripts and styles with the sampled ones and have nothing of their own for a
    browser to run or draw, and ``test_no_page_loads_anything_from_outside_the_site`` reads every
    page. Opening all 104 API pages took 45 s of the browser's CPU time of 83 s (docs/benchmarks.md,
    "CI")."""
    pages, plain = [], []
    for rel in _pages(html):
        if rel.startswith("api/") and not _DRAWN.search((html / rel).read_text()):
            plain.append(rel)
        else:
            pages.append(rel)
    return sorted(pages + plain[::PLAIN_API_SAMPLE])


# what a page loads when it opens (not the links a reader may click): tag, attribute
_LOADED = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("video", "src"),
           ("audio", "src"), ("embed", "src"), ("object", "data"), ("input", "src"), ("track", "src"),
           ("img", "srcset"), ("source", "srcset"), ("video", "poster")}
_LOADED_LINKS = {"stylesheet", "preload", "modulepreload", "icon", "shortcut", "apple-touch-icon", "manifest",
                 "prefetch", "preconnect", "dns-prefetch", "import"}
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


def _outside(ref: str) -> bool:
    ref = ref.strip().lower()
    return ref.startswith(("http:", "https:", "//", "ftp:", "ws:", "wss:"))


_LOADING_TAG = re.compile(r"<(?:script|img|iframe|source|video|audio|embed|object|input|track|link)\b[^>]*>", re.I)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>|\sstyle=(?:\"([^\"]*)\"|'([^']*)')", re.I | re.S)


def _outside_loads(text: str) -> list[str]:
    """What an HTML page would load from outside the site when it opens: the tags that load
    something (a regular expression finds them; Python's HTML parser reads each one's attributes),
    and the ``url(...)``/``@import`` of its style blocks and style attributes."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = {k: v or "" for k, v in attrs}
            for attr, value in attrs.items():
                refs = [r.split()[0] for r in value.split(",") if r.strip()] if attr == "srcset" else [value]
                if (tag, attr) in _LOADED:
                    found.extend(f"<{tag} {attr}={r}>" for r in refs if _outside(r))
            rels = set(attrs.get("rel", "").lower().split())
            if tag == "link" and rels & _LOADED_LINKS and _outside(attrs.get("href", "")):
                found.append(f"<link rel={attrs['rel']} href={attrs['href']}>")

    parser = Parser()
    for tag in _LOADING_TAG.finditer(text):
        parser.reset()                              # after <script> the parser would wait for </script>
        parser.feed(tag.group(0))
    for style in _STYLE.finditer(text):
        css = next(g for g in style.groups() if g is not None)
        found.extend(f"style: {u}" for u in _CSS_URL.findall(css) if _outside(u))
    return found


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - keep the test output clean
        pass


_PLOTLY_JS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => {
  const svg = d.querySelector('svg.main-svg');
  const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const lines = Array.from(d.querySelectorAll('svg path.js-line'))
    .filter(p => !p.closest('.legend') && (p.getAttribute('d') || '').length > 4);
  return {id: d.id, svg: !!svg, width: r.width, height: r.height,
          layoutHeight: d.layout ? d.layout.height || null : null,
          marks: d.querySelectorAll('svg .trace, svg .hm, svg .imagelayer image, svg .shapelayer path,'
                                    + ' svg .annotation, svg .table .column-cell').length,
          data: lines.length + d.querySelectorAll('svg .points path, svg .bars path, svg .hm, svg image,'
                                    + ' svg .shapelayer path, svg .table .column-cell, svg .pielayer path,'
                                    + ' svg .contour path, svg .textpoint').length};
})"""
_CODE_JS = """() => Array.from(document.querySelectorAll('div.highlight pre, .cell_output pre, pre.literal-block'))
  .filter(p => p.clientWidth > 0)
  .map(p => ({scroll: p.scrollWidth, client: p.clientWidth, text: p.textContent.slice(0, 60)}))"""
_SLIDES_JS = """() => Array.from(document.querySelectorAll('.reveal .slides section'))
  .filter(s => !s.querySelector('section'))
  .map(s => {
    const outside = el => !el.closest('aside.notes') && !el.closest('.cell');
    return {title: (s.querySelector('h1, h2, h3') || {textContent: ''}).textContent.trim().slice(0, 50),
            paragraphs: Array.from(s.querySelectorAll('p')).filter(outside).length,
            lists: Array.from(s.querySelectorAll('ul, ol')).filter(outside).length,
            figures: s.querySelectorAll('.plotly-graph-div, img').length,
            notes: s.querySelectorAll('aside.notes').length};
  })"""
_MATH_JS = """() => ({math: document.querySelectorAll('.math').length,
                      typeset: document.querySelectorAll('.math mjx-container').length,
                      errors: document.querySelectorAll('mjx-merror').length,
                      mathjax: typeof window.MathJax === 'object' && !!window.MathJax.startup})"""


def _inspect(page, url: str) -> dict:
    page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
    n_math = page.evaluate("document.querySelectorAll('.math').length")
    if n_math:
        try:
            page.wait_for_function("n => document.querySelectorAll('.math mjx-container').length >= n",
                                   arg=n_math, timeout=PAGE_TIMEOUT_MS)
        except Exception:  # the assertion below reports what was typeset
            pass
    if page.evaluate("document.querySelectorAll('.plotly-graph-div').length"):
        try:
            page.wait_for_function("() => Array.from(document.querySelectorAll('.plotly-graph-div'))"
                                   ".every(d => d.querySelector('svg.main-svg'))", timeout=PAGE_TIMEOUT_MS)
        except Exception:
            pass
    info = {"plotly": page.evaluate(_PLOTLY_JS), "math": page.evaluate(_MATH_JS), "code": page.evaluate(_CODE_JS)}
    if "/slides/" in url:
        info["slides"] = page.evaluate(_SLIDES_JS)
        info["reveal"] = page.evaluate("() => ({ready: !!document.querySelector('.reveal.ready'),"
                                       " slides: document.querySelectorAll('.reveal .slides section').length})")
    return info


@pytest.fixture(scope="session")
def browsed(site) -> dict:
    """Open every page of the built site in headless Chromium once; what each page showed."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (CI installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site["html"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    results: dict[str, dict] = {}
    start = time.perf_counter()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            outside: list[str] = []
            log: list[str] = []

            def block_outside(route):
                outside.append(route.request.url)
                route.abort()
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # every page is checked as on a first visit: storage is emptied before its scripts run
            context.add_init_script("try { localStorage.clear(); sessionStorage.clear(); } catch (e) {}")
            context.route(lambda url: not url.startswith(base) and not url.startswith("data:"), block_outside)
            page = context.new_page()
            page.on("console", lambda m: log.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: log.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: log.append(f"request failed: {r.url} {r.failure}"))
            for rel in _browsed_pages(site["html"]):
                log.clear()
                outside.clear()
                info = _inspect(page, base + rel)
                info["errors"] = list(log)
                info["outside"] = list(outside)
                results[rel] = info
            browser.close()
    finally:
        server.shutdown()
    return {"pages": results, "seconds": time.perf_counter() - start}


def _notebook_stems() -> list[str]:
    return [p.stem for p in build_site.notebook_paths()]


# --- the build ---------------------------------------------------------------------------------

def test_site_has_a_page_and_a_deck_for_every_notebook(site):
    stems = _notebook_stems()
    assert len(stems) >= 13
    missing = [s for s in stems if not (site["html"] / "notebooks" / f"{s}.html").exists()]
    assert not missing, f"notebooks without a site page: {missing}"
    no_deck = [s for s in stems if not (site["html"] / "slides" / f"{s}.html").exists()]
    assert not no_deck, f"notebooks without a slide deck: {no_deck}"
    listing = (site["html"] / "slides.html").read_text()
    assert all(f'href="slides/{s}.html"' in listing for s in stems), "slides.html does not link every deck"


def test_slide_decks_are_generated_from_the_executed_notebooks(site):
    for stem in _notebook_stems():
        deck = (site["html"] / "slides" / f"{stem}.html").read_text()
        assert deck.count("<section") >= 3, f"{stem}: fewer than 3 slides"
        assert "reveal.js" in deck and "_static/revealjs" in deck, f"{stem}: reveal.js not served locally"
        source = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
        title = next(line for c in source["cells"] if c["cell_type"] == "markdown"
                     for line in "".join(c["source"]).splitlines() if line.startswith("# "))
        assert _text_fragment(title[2:]) in deck, f"{stem}: the deck lacks the notebook's title"
    executed = (site["html"] / "slides" / "03_blocks_merkle_and_proof_of_work.html").read_text()
    assert "cell_output" in executed, "the decks carry no cell outputs"


def _text_fragment(title: str) -> str:
    """A plain stretch of a heading, as it appears in HTML (no markup, no entities)."""
    return max(re.findall(r"[A-Za-z0-9 ]+", title.replace("`", "")), key=len).strip()


def test_api_reference_has_a_page_for_every_module(site):
    import gradientcoin_edu

    modules = ["gradientcoin_edu"] + [m.name for m in pkgutil.walk_packages(gradientcoin_edu.__path__,
                                                                            "gradientcoin_edu.")
                                      if not m.name.endswith("__main__")      # runs the CLI when imported
                                      and not m.name.rsplit(".", 1)[-1].startswith("_")]   # private helpers
    missing = [m for m in modules if not (site["html"] / "api" / f"{m}.html").exists()]
    assert not missing, f"modules without an API page: {missing}"
    block = (site["html"] / "api" / "gradientcoin_edu.chain.block.html").read_text()
    assert 'id="gradientcoin_edu.chain.block.Block"' in block          # a class documented from its docstring
    assert "gradientcoin_edu.chain.block.Block" in (site["html"] / "genindex.html").read_text()


def test_widgets_have_static_fallbacks_and_no_cdn_script(site):
    pages = [site["html"] / "notebooks" / f"{s}.html" for s in _notebook_stems()]
    fallbacks = sum(p.read_text().count("widget-static-fallback") for p in pages)
    assert fallbacks >= 1, "no widget fallback on any page (the course has interactive widgets)"
    for page in pages:
        text = page.read_text()
        assert "interactive(children=" not in text and "VBox(children=" not in text, f"{page.name}: widget repr"
        for marker in ("cdn.plot.ly", "cdnjs.cloudflare", "cdn.jsdelivr", "unpkg.com", "require.min.js"):
            assert marker not in text, f"{page.name} loads {marker}"


def test_static_widget_fallback_replaces_views_with_their_output():
    """The fallback keeps what the widget's Output area showed, and names the controls."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("interact(...)", outputs=[nbformat.v4.new_output(
        "display_data", data={build_site.WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0},
                              "text/plain": "interactive(children=(IntSlider(value=12),))"})]))
    nb.metadata["widgets"] = {build_site.WIDGET_STATE: {"state": {
        "box": {"state": {"_model_name": "VBoxModel", "children": ["IPY_MODEL_s", "IPY_MODEL_o"]}},
        "s": {"state": {"_model_name": "IntSliderModel", "description": "zero bits", "value": 12}},
        "o": {"state": {"_model_name": "OutputModel", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "found a nonce\n"}]}},
    }}}
    assert build_site.static_widget_fallbacks(nb) == 1
    outputs = nb.cells[0].outputs
    assert "zero bits = 12" in outputs[0]["data"]["text/plain"]
    assert outputs[1]["text"] == "found a nonce\n"
    assert all(build_site.WIDGET_VIEW not in o.get("data", {}) for o in outputs)
    assert "widgets" not in nb.metadata


# --- in the browser -----------------------------------------------------------------------------

def test_no_page_loads_anything_from_outside_the_site(site):
    """Every page, browsed or not: no script, style, image, frame or font from outside the site."""
    pages = _pages(site["html"])
    assert len(pages) >= 13 + 60, f"only {len(pages)} pages built"
    outside = {p: o for p in pages if (o := _outside_loads((site["html"] / p).read_text()))}
    assert not outside, f"pages that load from outside the site: {json.dumps(outside, indent=1)[:4000]}"


def test_the_outside_check_finds_what_a_page_would_load_from_outside():
    """The reader of ``test_no_page_loads_anything_from_outside_the_site`` is not blind: planted cases."""
    bad = ('<script src="https://cdn.jsdelivr.net/x.js"></script><link rel="stylesheet" href="//cdn.x/y.css">'
           '<img srcset="a.png 1x, https://e.com/b.png 2x"><style>@import "https://fonts.x/f.css";</style>'
           '<div style="background: url(http://e.com/i.png)"></div><iframe src="https://e.com"></iframe>')
    assert len(_outside_loads(bad)) == 6, _outside_loads(bad)
    good = ('<a href="https://colab.research.google.com/x">Colab</a><script src="_static/x.js"></script>'
            '<link rel="canonical" href="https://e.com/p.html"><img src="../_static/logo.png">'
            '<style>body { background: url(_static/i.png) }</style>')
    assert _outside_loads(good) == []


def test_every_page_loads_without_console_errors_or_outside_requests(browsed, site):
    pages = browsed["pages"]
    expected = _browsed_pages(site["html"])
    assert sorted(pages) == expected and len(expected) >= 13 + 30, f"only {len(pages)} pages browsed"
    for kind in ("notebooks/", "slides/", "api/"):
        assert any(p.startswith(kind) for p in pages), f"no {kind} page browsed"
    plain = [p for p in _pages(site["html"]) if p.startswith("api/") and p not in pages]
    assert all(not _DRAWN.search((site["html"] / p).read_text()) for p in plain)
    bad = {p: i["errors"] for p, i in pages.items() if i["errors"]}
    assert not bad, f"pages with console errors: {json.dumps(bad, indent=1)[:4000]}"
    outside = {p: i["outside"] for p, i in pages.items() if i["outside"]}
    assert not outside, f"pages that fetch from outside the site: {json.dumps(outside, indent=1)[:4000]}"


def test_every_plotly_figure_renders_an_svg(browsed):
    """An SVG with something drawn in it (traces, shapes or annotations), and on the site's pages a
    visible size (a deck shows one slide at a time: its other figures have a size of zero)."""
    figures = [(p, f) for p, i in browsed["pages"].items() for f in i["plotly"]]
    assert sum(1 for p, _ in figures if p.startswith("notebooks/")) >= 10, f"only {len(figures)} figures"
    assert any(p.startswith("slides/") for p, _ in figures), "no figure on any slide"
    blank = [(p, f) for p, f in figures if not (f["svg"] and f["marks"] > 0)
             or (p.startswith("notebooks/") and not (f["width"] > 0 and f["height"] > 0))]
    assert not blank, f"plotly figures that did not render: {blank[:20]}"


def test_math_renders(browsed):
    with_math = {p: i["math"] for p, i in browsed["pages"].items() if i["math"]["math"]}
    assert any(p.startswith("notebooks/") for p in with_math), "no formula on any notebook page"
    assert sum(m["math"] for m in with_math.values()) >= 20, "hardly any formulas on the site"
    untypeset = {p: m for p, m in with_math.items() if not m["mathjax"] or m["typeset"] < m["math"] or m["errors"]}
    assert not untypeset, f"pages whose math MathJax did not typeset: {untypeset}"


def test_slide_decks_start_in_the_browser(browsed):
    decks = {p: i for p, i in browsed["pages"].items() if p.startswith("slides/") and p != "slides/index.html"}
    assert len(decks) == len(_notebook_stems())
    not_ready = {p: i["reveal"] for p, i in decks.items() if not (i["reveal"]["ready"] and i["reveal"]["slides"] >= 3)}
    assert not not_ready, f"decks where reveal.js did not start: {not_ready}"


def test_no_code_block_is_clipped_or_scrolls_sideways(browsed):
    """Long code lines wrap (``white-space: pre-wrap``): on every page, each visible code block is
    at most as wide as its box."""
    blocks = [(p, b) for p, i in browsed["pages"].items() for b in i["code"]]
    assert sum(1 for p, _ in blocks if p.startswith("notebooks/")) >= 100, "hardly any code blocks measured"
    wide = [(p, b) for p, b in blocks if b["scroll"] > b["client"] + 1]
    assert not wide, f"code blocks wider than their box: {wide[:10]}"


def test_notebook_figures_show_data_not_empty_axes(browsed):
    """A figure on a notebook page draws data (points, lines, bars, cells, ...): the first dashboard
    of notebook 13 used to show its empty first frame."""
    empty = [(p, f["id"]) for p, i in browsed["pages"].items() if p.startswith("notebooks/")
             for f in i["plotly"] if f["data"] == 0]
    assert not empty, f"figures with empty axes: {empty}"


def test_every_notebook_page_links_to_colab_and_to_the_repository(site):
    repo = "https://github.com/gradientcoin-edu/gradientcoin_edu"
    for stem in _notebook_stems():
        page = (site["html"] / "notebooks" / f"{stem}.html").read_text()
        colab = f"https://colab.research.google.com/github/gradientcoin-edu/gradientcoin_edu/blob/main/notebooks/{stem}.ipynb"
        assert colab in page, f"{stem}: no Colab link"
        assert f'href="{repo}"' in page, f"{stem}: no repository link"
        assert "logo_colab.png" in page and "<img" in page
        for src in re.findall(r'<img[^>]+src="([^"]+)"', page):
            assert not src.startswith(("http:", "https:", "//")), f"{stem}: an image from outside the site: {src}"


def test_slide_decks_are_made_for_a_lecture(browsed):
    """One idea per slide: at most one paragraph of prose and no bullet list outside the speaker
    notes, at most one figure; the rest of the prose is in speaker notes; figures fit the slide."""
    decks = {p: i for p, i in browsed["pages"].items() if p.startswith("slides/") and p != "slides/index.html"}
    crowded, notes, tall = [], 0, []
    for page, info in decks.items():
        for slide in info["slides"]:
            notes += slide["notes"]
            if slide["paragraphs"] > 1 or slide["lists"] > 0 or slide["figures"] > 1:
                crowded.append((page, slide))
        tall += [(page, f["layoutHeight"]) for f in info["plotly"] if (f["layoutHeight"] or 0) > 560]
    assert not crowded, f"slides with more than one idea on them: {crowded[:10]}"
    assert notes >= 3 * len(decks), f"only {notes} speaker notes in {len(decks)} decks"
    assert not tall, f"figures taller than a slide: {tall[:10]}"


def test_collapse_redrawn_figures_keeps_the_last_frame_of_a_live_figure():
    """A dashboard redrawn through a display handle leaves one output per frame (plotly figures
    ignore display ids); the site keeps the last frame, not the empty first one."""
    import nbformat

    def frame(title, xs):
        return nbformat.v4.new_output("display_data", data={build_site.PLOTLY_JSON: {
            "data": [{"type": "scatter", "x": xs, "y": xs}], "layout": {"title": {"text": title}}}})
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("dash.display(); dash.watch(...)", outputs=[
        frame("network", []), frame("network", [1]), frame("network", [1, 2]),
        nbformat.v4.new_output("stream", name="stdout", text="heights\n"), frame("loss", [3])]))
    assert build_site.collapse_redrawn_figures(nb) == 2
    outs = nb.cells[0].outputs
    assert [o["output_type"] for o in outs] == ["display_data", "stream", "display_data"]
    assert outs[0]["data"][build_site.PLOTLY_JSON]["data"][0]["x"] == [1, 2]
    assert outs[2]["data"][build_site.PLOTLY_JSON]["layout"]["title"]["text"] == "loss"
