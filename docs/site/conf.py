"""Sphinx configuration of the course site (built by ``python scripts/build_site.py``).

The build script copies this folder into ``build/site/src``, adds the executed notebooks under
``notebooks/`` and runs ``sphinx-build`` on that copy: see docs/site.md for why this stack.
Everything a page needs at view time (MathJax, plotly.js, the theme's fonts) is copied into the
site's ``_static``: nothing is fetched from a CDN.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import plotly

REPO = Path(os.environ.get("GRADIENTCOIN_REPO", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(REPO))

project = "GradientCoin: a course"
author = "gradientcoin_edu contributors"
copyright = "gradientcoin_edu contributors, MIT licence"
release = version = __import__("gradientcoin_edu").__version__

extensions = [
    "myst_nb",                      # executed notebooks (.ipynb) and MyST markdown pages
    "sphinx.ext.autodoc",           # the API reference, from the docstrings
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "conf.py", "_slides_list.md"]
templates_path = ["_templates"]

# --- notebooks: executed by scripts/build_site.py (cached), rendered as they are here --------
nb_execution_mode = "off"
nb_ipywidgets_js = {}             # widget views are replaced by static fallbacks before the build
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure",
                     "ref.python"]   # two classes named Block (chain and model): ambiguous short refs

# --- API reference ----------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_mock_imports = ["triton"]

# --- theme --------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "GradientCoin course"
html_static_path = ["_static"]
REPOSITORY_URL = "https://github.com/gradientcoin-edu/gradientcoin_edu"   # as the README's Colab badges
html_theme_options = {
    "show_toc_level": 2,
    # the sidebar shows the sections of the current page's branch only (as Read the Docs does): with
    # every branch open, the theme built the whole tree of ~125 pages for each page, 31 % of Sphinx's
    # CPU (84 -> 58 s, docs/benchmarks.md "CI")
    "collapse_navbar": True,
    "navigation_with_keys": False,
    "use_download_button": True,
    # a repository link on every page, and on each notebook page a "launch in Colab" entry that opens
    # notebooks/NN_name.ipynb of the repository (the theme's own bundled Colab logo: nothing is loaded
    # from outside when the page opens; the links lead outside only when clicked)
    "repository_url": REPOSITORY_URL,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
}
html_css_files = ["course.css"]   # code blocks wrap long lines instead of scrolling or clipping
html_context = {"default_mode": "light"}   # left empty, pydata-sphinx-theme logs a console error on a first visit

# --- offline assets: MathJax 3 from the sphinx-mathjax-offline package, plotly.js from plotly ---
MATHJAX_DIR = Path(__import__("importlib").util.find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax"
mathjax_path = "mathjax/tex-chtml.js"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _stage_static(app) -> None:
    """Copy plotly.min.js next to the other static files (MathJax is copied after the build)."""
    static = Path(app.srcdir) / "_static"
    static.mkdir(exist_ok=True)
    shutil.copyfile(PLOTLY_JS, static / "plotly.min.js")


def _plotly_on_pages_with_figures(app, pagename, templatename, context, doctree) -> None:
    """Load plotly.js (4 MB) only on the pages that hold a plotly figure, before the figures' own scripts."""
    if "plotly-graph-div" in context.get("body", ""):
        app.builder.add_js_file("plotly.min.js", priority=100)


def _copy_mathjax(app, exc) -> None:
    if exc is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "mathjax"
        if not (target / "tex-chtml.js").exists():
            shutil.copytree(MATHJAX_DIR, target, dirs_exist_ok=True)


def setup(app):
    app.connect("builder-inited", _stage_static)
    app.connect("html-page-context", _plotly_on_pages_with_figures)
    app.connect("build-finished", _copy_mathjax)
