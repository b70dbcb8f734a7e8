"""Sphinx configuration of the slide decks: one reveal.js deck per course notebook.

Used by ``python scripts/build_site.py`` (``sphinx-build -b revealjs -c docs/site/slides_conf``)
on the executed notebooks. sphinx-revealjs ships reveal.js, and MathJax and plotly.js are served
from the decks' own ``_static``, so the decks work offline. Each notebook heading is a slide
(``##`` a horizontal slide, ``###`` a vertical one); long slides scroll.
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


def setup(app):
    app.connect("html-page-context", _plotly_on_pages_with_figures)
    app.connect("build-finished", _copy_assets)
