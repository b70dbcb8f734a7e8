#!/usr/bin/env python
"""Build the course site: executed notebooks, the API reference and per-session slides.

    python scripts/build_site.py                 # -> build/site/html/index.html (and slides/)
    python scripts/build_site.py --no-slides     # the site only
    python -m http.server -d build/site/html     # view it (it also opens from the file system)

Steps (docs/site.md explains the choice of tools):

1. Each ``notebooks/*.ipynb`` is executed once, the way the tests run it and Colab would:
   ``course_table.executed_copy`` copies it alone into a fresh folder outside the repository,
   runs every cell with nbclient (a per-cell time limit, ``course_table.CELL_TIMEOUT_S``) and
   keeps the executed copy in ``build/notebooks``, keyed by a hash of the notebook and of the
   library's source; tests/test_notebooks_fresh_env.py and the site read that same copy, so CI
   executes each notebook once. Figures are recorded with plotly's ``plotly_mimetype`` renderer
   and turned into plain HTML that draws them with the site's own copy of plotly.js
   (``include_plotlyjs=False``: no CDN). A notebook that fails shows its traceback on the page and
   is reported (the fresh-environment test fails CI on it; ``--strict`` fails the build).
2. Every ipywidgets view in the outputs is replaced by a static fallback: a line naming its
   controls and their values, then the outputs its ``Output`` areas held after the first run.
   A figure redrawn in place while its cell ran (a live dashboard) keeps only its last frame: plotly
   figures define ``_ipython_display_``, so IPython ignores ``display_id`` for them and each
   ``DisplayHandle.update`` appends a new output instead of replacing the first, which is the empty
   frame shown before any data arrived (``collapse_redrawn_figures``).
3. ``docs/site`` is copied to ``build/site/src`` with the executed notebooks, and Sphinx
   (myst-nb, sphinx-book-theme, autodoc/autosummary) builds ``build/site/html``.
4. Unless ``--no-slides``: Sphinx's ``revealjs`` builder (sphinx-revealjs) turns the same
   executed notebooks into one reveal.js deck per session under ``build/site/html/slides``.

Needs the ``[site]`` extra: ``pip install -e ".[site]"``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITE_SRC = REPO / "docs" / "site"
NOTEBOOKS = REPO / "notebooks"
SLIDES_CONF = SITE_SRC / "slides_conf"
DEFAULT_OUT = REPO / "build" / "site"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_JSON = "application/vnd.plotly.v1+json"

__all__ = ["build", "execute_all", "render", "error_cells", "static_widget_fallbacks", "collapse_redrawn_figures",
           "plotly_to_html", "notebook_paths", "main"]


def notebook_paths() -> list[Path]:
    """The course notebooks, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _course_table():
    """``scripts/course_table.py``, which executes the notebooks (once, shared with the tests)."""
    import importlib.util
    if "course_table" in sys.modules:
        return sys.modules["course_table"]
    spec = importlib.util.spec_from_file_location("course_table", Path(__file__).with_name("course_table.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["course_table"] = module
    spec.loader.exec_module(module)
    return module


def error_cells(nb) -> list[int]:
    """Indices of the code cells whose outputs hold an error (not counting those meant to raise)."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and "raises-exception" not in c.metadata.get("tags", [])
            and any(o.get("output_type") == "error" for o in c.get("outputs", []))]


def render(nb):
    """What the site shows of an executed notebook: widgets replaced by static fallbacks, a live
    figure reduced to its last frame, plotly figures as HTML drawn by the site's plotly.js."""
    static_widget_fallbacks(nb)
    collapse_redrawn_figures(nb)
    plotly_to_html(nb)
    return nb


def _widget_models(model_id: str, state: dict, seen: set):
    """The state of the widget model ``model_id`` and of every model under it (children first
    to last, depth first), each once."""
    if model_id in seen or model_id not in state:
        return
    seen.add(model_id)
    model = state[model_id]["state"]
    yield model
    for child in model.get("children", []):
        yield from _widget_models(str(child).removeprefix("IPY_MODEL_"), state, seen)


def _describe_controls(model_id: str, state: dict, seen: set) -> list[str]:
    """Names and values of the controls (sliders, dropdowns, ...) under one widget model."""
    return [f"{model.get('description') or model.get('_model_name', 'control').removesuffix('Model')} = "
            f"{model['value']}" for model in _widget_models(model_id, state, seen)
            if "value" in model and model.get("_model_name") not in {"OutputModel", "HTMLModel", "LabelModel"}]


def _outputs_of(model_id: str, state: dict, seen: set) -> list[dict]:
    """The outputs held by every ``Output`` widget under one widget model, in order."""
    return [output for model in _widget_models(model_id, state, seen) if model.get("_model_name") == "OutputModel"
            for output in model.get("outputs", [])]


def static_widget_fallbacks(nb) -> int:
    """Replace each widget view in ``nb``'s outputs by a static fallback; return how many.

    The fallback is a short HTML note naming the controls and their values, followed by the
    outputs that the widget's ``Output`` areas captured when the cell ran (printed text, plotly
    figures). The widget state is then dropped from the metadata, so the page loads no widget
    JavaScript (which would need a CDN)."""
    import nbformat

    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        new_outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW) if out.get("output_type") == "display_data" else None
            if view is None:
                new_outputs.append(out)
                continue
            replaced += 1
            model_id = view["model_id"]
            controls = _describe_controls(model_id, state, set())
            note = ("Interactive in Jupyter; this static copy shows the first state"
                    + (": " + ", ".join(controls) if controls else "") + ".")
            new_outputs.append(nbformat.v4.new_output(
                "display_data", data={"text/html": f'<p class="widget-static-fallback"><em>{_escape(note)}</em></p>',
                                      "text/plain": note}))
            new_outputs += [nbformat.from_dict(o) for o in _outputs_of(model_id, state, set())]
        cell.outputs = new_outputs
    nb.metadata.pop("widgets", None)
    return replaced


def _figure_signature(fig: dict) -> tuple:
    title = (fig.get("layout") or {}).get("title")
    title = title.get("text") if isinstance(title, dict) else title
    return title, tuple(t.get("type", "scatter") for t in fig.get("data", []))


def collapse_redrawn_figures(nb) -> int:
    """In each cell, keep only the last frame of a figure drawn several times; return how many were dropped.

    Frames of one figure are the plotly outputs of a cell with the same title and the same trace
    types (a live display updated by appending: see step 2 of the module docstring). The last frame
    stays where the last one was."""
    dropped = 0
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        last: dict[tuple, int] = {}
        for i, out in enumerate(outputs):
            fig = out.get("data", {}).get(PLOTLY_JSON) if out.get("output_type") == "display_data" else None
            if fig is not None:
                last[_figure_signature(fig)] = i
        keep = []
        for i, out in enumerate(outputs):
            fig = out.get("data", {}).get(PLOTLY_JSON) if out.get("output_type") == "display_data" else None
            if fig is not None and last[_figure_signature(fig)] != i:
                dropped += 1
                continue
            keep.append(out)
        if dropped:
            cell.outputs = keep
    return dropped


def plotly_to_html(nb) -> int:
    """Give every plotly figure output an HTML rendering that uses the page's plotly.js; return how many."""
    import plotly.io as pio

    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get(PLOTLY_JSON)
            if fig is None:
                continue
            count += 1
            out["data"]["text/html"] = pio.to_html(fig, include_plotlyjs=False, include_mathjax=False,
                                                   full_html=False, default_width="100%", validate=False)
            del out["data"][PLOTLY_JSON]
    return count


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _executed(args: tuple[str, str | None, str | None, str]):
    path, cache_dir, run_id, library = args
    return _course_table().executed_copy(Path(path), Path(cache_dir) if cache_dir else None, run_id=run_id,
                                         library=library)


def execute_all(paths: list[Path], cache_dir: Path | None = None, jobs: int = 1, strict: bool = False, log=print,
                run_id: str | None = None, reverse: bool = False) -> list:
    """Every notebook executed once (``course_table.executed_copy``: Colab-like, outside the
    repository, cached in ``build/notebooks``, shared with tests/test_notebooks_fresh_env.py);
    returns the executed notebooks in course order. ``reverse`` walks the course from its end, so
    that a test run whose other worker executes from the start meets it in the middle."""
    library = _course_table().library_digest()
    order = list(reversed(paths)) if reverse else list(paths)
    work = [(str(p), str(cache_dir) if cache_dir else None, run_id, library) for p in order]

    def report(path: Path, nb) -> None:
        run = nb.metadata.get("gradientcoin_run", {})
        log(f"  {path.name}: " + (f"executed in {run.get('wall_seconds', 0):.1f} s" if run.get("executed")
                                  else "executed earlier in this run" if run_id else "cached")
            + (f"; ERROR: {run['error'].splitlines()[-1]}" if run.get("error") else ""))

    results = {}
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for path, nb in zip(order, pool.map(_executed, work)):
                report(path, nb)
                results[path] = nb
    else:
        for path, w in zip(order, work):
            results[path] = _executed(w)
            report(path, results[path])
    failed = {p.name: results[p].metadata["gradientcoin_run"]["error"].splitlines()[-1]
              for p in paths if results[p].metadata.get("gradientcoin_run", {}).get("error")}
    if failed and strict:
        raise RuntimeError(f"notebooks failed while building the site: {failed}")
    return [results[p] for p in paths]


def _stage(paths: list[Path], rendered: list, out: Path, slides: bool) -> Path:
    import nbformat

    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(SITE_SRC, src, ignore=shutil.ignore_patterns("__pycache__", "slides_conf"))
    (src / "notebooks").mkdir()
    decks = []
    for path, nb in zip(paths, rendered):
        nbformat.write(nb, str(src / "notebooks" / path.name))
        decks.append(f'- <a class="slide-deck" href="slides/{path.stem}.html">{path.stem.replace("_", " ")}</a>')
    if not slides:
        decks = ["This build skipped the decks (`--no-slides`)."]
    (src / "_slides_list.md").write_text("\n".join(decks) + "\n")
    return src


def _stage_slides(paths: list[Path], out: Path) -> Path:
    """A source folder with only the executed notebooks and an index of the decks."""
    src = out / "slides_src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for path in paths:
        shutil.copyfile(out / "src" / "notebooks" / path.name, src / path.name)
    (src / "index.md").write_text("# Slides\n\n```{toctree}\n:hidden:\n\n" + "\n".join(p.stem for p in paths) + "\n```\n")
    return src


def _sphinx(builder: str, src: Path, dest: Path, confdir: Path | None = None, log=print) -> None:
    env = dict(os.environ, GRADIENTCOIN_REPO=str(REPO))
    cmd = [sys.executable, "-m", "sphinx", "-b", builder, "-q", "-j", "1", str(src), str(dest),
           "-d", str(src.parent / "doctrees" / src.name / builder)]
    if confdir is not None:
        cmd += ["-c", str(confdir)]
    log("  " + " ".join(cmd[1:]))
    subprocess.run(cmd, check=True, env=env, cwd=REPO)


def build(out: Path = DEFAULT_OUT, slides: bool = True, jobs: int = 1, only: list[str] | None = None,
          strict: bool = False, log=print, executed_dir: Path | None = None, run_id: str | None = None,
          reverse: bool = False) -> Path:
    """Build the site into ``out/html``; return the path of its index.html.

    The notebooks come from ``course_table.executed_copy`` (executed there once, or taken from
    ``executed_dir``, default ``build/notebooks``); ``run_id`` and ``reverse``: see ``execute_all``."""
    out = Path(out)
    paths = notebook_paths()
    if only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in only)]
    t0 = time.perf_counter()
    log(f"executing {len(paths)} notebooks, or reading them executed (from {executed_dir or 'build/notebooks'})")
    executed = execute_all(paths, executed_dir, jobs=jobs, strict=strict, log=log, run_id=run_id, reverse=reverse)
    t1 = time.perf_counter()
    src = _stage(paths, [render(nb) for nb in executed], out, slides)
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)          # no page left over from an earlier build
    _sphinx("html", src, html, log=log)
    t2 = time.perf_counter()
    if slides:
        _sphinx("revealjs", _stage_slides(paths, out), html / "slides", confdir=SLIDES_CONF, log=log)
    t3 = time.perf_counter()
    ran = sum(1 for nb in executed if nb.metadata.get("gradientcoin_run", {}).get("executed"))
    log(f"site built in {t3 - t0:.0f} s (notebooks {t1 - t0:.0f} s: {ran} of {len(paths)} executed here, the rest "
        f"read; html {t2 - t1:.0f} s, slides {t3 - t2:.0f} s): {html / 'index.html'}")
    (out / "timing.json").write_text(json.dumps({
        "seconds": round(t3 - t0), "notebooks_seconds": round(t1 - t0), "executed_here": ran, "notebooks": len(paths),
        "html_seconds": round(t2 - t1), "slides_seconds": round(t3 - t2)}) + "\n")
    return html / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build folder (default build/site)")
    parser.add_argument("--executed", type=Path, default=None,
                        help="folder of the executed notebooks (default build/notebooks: kept there, reused "
                             "while the notebook and the library are unchanged)")
    parser.add_argument("--no-slides", action="store_true", help="skip the reveal.js slide decks")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed in parallel (default 1)")
    parser.add_argument("--strict", action="store_true", help="fail when a notebook cell raises")
    parser.add_argument("--only", nargs="*", help="only the notebooks whose names start with these prefixes")
    args = parser.parse_args(argv)
    build(args.out, slides=not args.no_slides, jobs=args.jobs, only=args.only, strict=args.strict,
          executed_dir=args.executed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
