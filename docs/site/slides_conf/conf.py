"""Sphinx configuration of the slide decks: one reveal.js deck per course notebook, for a lecture.

Used by ``python scripts/build_site.py`` (``sphinx-build -b revealjs -c docs/site/slides_conf``)
on the executed notebooks. sphinx-revealjs ships reveal.js, and MathJax and plotly.js are served
from the decks' own ``_static``, so the decks work offline.

A notebook is written to be read; a deck is shown. :func:`lecture_slides` reshapes each notebook's
doctree for the revealjs builder only (the site's pages are untouched): each heading is a slide
(``##`` horizontal, ``###`` vertical) that shows its title and the first sentence of its text (the
idea); the rest of the prose goes to the speaker notes (``<aside class="notes">``, press ``S``);
each figure gets a slide of its own (a ``revealjs_break`` repeats the title); a short code cell with
a short output stays, longer ones and the exercises stay in the notebook (the notes say so). Figures
are scaled to the slide by ``slides.js``. Everything is still generated from the notebooks.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import plotly

project = "GradientCoin course slides"
author = "gradientcoin_edu contributors"
extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx_revealjs"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [   # myst-nb knows the html builders only: the same order for revealjs
    ("revealjs", mime, rank) for rank, mime in enumerate(
        ["text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "text/latex", "text/plain"])]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure", "ref.python"]

revealjs_style_theme = "white"
revealjs_static_path = ["_static"]
revealjs_css_files = ["slides.css"]
revealjs_script_conf = {"hash": True, "slideNumber": "c/t", "width": 1280, "height": 800, "margin": 0.03,
                        "center": False, "controls": True, "progress": True}
revealjs_script_plugins = [{"name": "RevealNotes", "src": "revealjs/plugin/notes/notes.js"}]
revealjs_js_files = ["slides.js"]
html_static_path = ["_static"]

MATHJAX_DIR = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax"
mathjax_path = "mathjax/tex-chtml.js"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _plotly_on_pages_with_figures(app, pagename, templatename, context, doctree) -> None:
    if "plotly-graph-div" in context.get("body", ""):
        app.builder.add_js_file("plotly.min.js", priority=100)


def _copy_assets(app, exc) -> None:
    if exc is None:
        static = Path(app.outdir) / "_static"
        shutil.copyfile(PLOTLY_JS, static / "plotly.min.js")
        if not (static / "mathjax" / "tex-chtml.js").exists():
            shutil.copytree(MATHJAX_DIR, static / "mathjax", dirs_exist_ok=True)


# --- lecture decks: one idea per slide, prose in the speaker notes -------------------------------
SHORT_CODE_LINES = 8          # a code cell this short (and its output) may stay on a slide
SHORT_OUTPUT_LINES = 8
LEAD_CHARS = 240              # the visible first sentence of a section, at most


def _has_figure(node) -> bool:
    from docutils import nodes
    return any(isinstance(n, nodes.image) or (isinstance(n, nodes.raw) and "plotly-graph-div" in n.astext())
               for n in node.findall())


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    for end in (". ", ": ", "? ", "! "):
        i = text.find(end)
        if 0 < i < LEAD_CHARS:
            return text[:i + 1]
    return text if len(text) <= LEAD_CHARS else ""


def _notes(chunks: list[str]):
    from html import escape

    from docutils import nodes
    body = "".join(f"<p>{escape(' '.join(c.split()))}</p>\n" for c in chunks if c.strip())
    return nodes.raw("", f'<aside class="notes">\n{body}</aside>\n', format="html")


def reshape_section(section) -> None:
    """One section of a notebook as lecture slides (see the module docstring)."""
    from docutils import nodes
    from sphinx_revealjs.nodes import revealjs_break

    new, notes = [], []
    visible = 0                    # things shown on the current slide, besides its title
    lead_done = False

    def flush():
        if notes:
            new.append(_notes(notes))
            notes.clear()

    def new_slide():
        nonlocal visible
        flush()
        new.append(revealjs_break())
        visible = 0

    for child in list(section.children):
        if isinstance(child, nodes.title):
            new.append(child)
        elif isinstance(child, nodes.section):
            flush()
            new.append(child)
        elif isinstance(child, nodes.container) and "cell" in child.get("classes", []):
            classes = child.get("classes", [])
            if any(c.startswith("tag_exercise") for c in classes):
                notes.append("Exercise: in the notebook (students run its check there).")
                continue
            source = next((c for c in child.children if "cell_input" in c.get("classes", [])), None)
            output = next((c for c in child.children if "cell_output" in c.get("classes", [])), None)
            if output is not None and _has_figure(output):
                if visible:
                    new_slide()
                new.append(output)
                visible += 1
                continue
            code_lines = len(source.astext().splitlines()) if source is not None else 0
            out_lines = len(output.astext().splitlines()) if output is not None else 0
            if visible < 2 and code_lines <= SHORT_CODE_LINES and out_lines <= SHORT_OUTPUT_LINES:
                new.append(child)
                visible += 1
            else:
                notes.append(f"A code cell of {code_lines} lines: run it in the notebook.")
        else:
            text = child.astext().strip()
            math = any(isinstance(n, (nodes.math, nodes.math_block)) for n in child.findall())
            if not lead_done and isinstance(child, nodes.paragraph) and not math:
                lead = _first_sentence(text)
                if lead:
                    lead_done = True
                    new.append(nodes.paragraph("", lead, classes=["slide-lead"]))
                    visible += 1
                    rest = " ".join(text.split())[len(lead):].strip()
                    if rest:
                        notes.append(rest)
                    continue
            notes.append(text)
    flush()
    del section.children[:]
    section.extend(new)


def lecture_slides(app, doctree, docname) -> None:
    if app.builder.name != "revealjs":
        return
    from docutils import nodes
    for section in list(doctree.findall(nodes.section)):
        reshape_section(section)


def setup(app):
    app.connect("html-page-context", _plotly_on_pages_with_figures)
    app.connect("doctree-resolved", lecture_slides)
    app.connect("build-finished", _copy_assets)
