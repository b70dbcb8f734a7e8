"""The notebooks' sources: every ``notebooks/NN_name.md`` (MyST markdown, the file authors edit) and
its paired ``notebooks/NN_name.ipynb`` (what Colab, nbval and students open) hold the same cells, and
the code cells pass ruff.

Why two files, and how to keep them in sync: docs/authoring.md. After editing either file:

    jupytext --sync notebooks/NN_name.md

Each rule is a function returning a list of problems; the tests run it on the real notebooks and on
a deliberately broken copy, so that a rule that stopped noticing anything would fail here too. New
notebooks are picked up by the glob: nothing to register.
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import jupytext
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
SYNC = "jupytext --sync notebooks/{name}.md"


def course_files(folder: pathlib.Path, suffix: str) -> list[pathlib.Path]:
    return sorted(folder.glob(f"[0-9][0-9]_*{suffix}"))


def pairing_problems(folder: pathlib.Path) -> list[str]:
    """Every notebook has its markdown source and every source its notebook."""
    notebooks = {p.stem for p in course_files(folder, ".ipynb")}
    sources = {p.stem for p in course_files(folder, ".md")}
    problems = [f"notebooks/{s}.ipynb has no source notebooks/{s}.md: run `jupytext --set-formats ipynb,md:myst "
                f"notebooks/{s}.ipynb`" for s in sorted(notebooks - sources)]
    problems += [f"notebooks/{s}.md has no notebook notebooks/{s}.ipynb: run `{SYNC.format(name=s)}`"
                 for s in sorted(sources - notebooks)]
    if not notebooks:
        problems.append(f"no notebooks in {folder}")
    return problems


def _cells(nb) -> list[tuple[str, str, dict]]:
    """What must agree between the two files: each cell's type, source and metadata (tags included)."""
    out = []
    for cell in nb.cells:
        metadata = {k: v for k, v in cell.get("metadata", {}).items() if k not in {"execution", "collapsed"}}
        out.append((cell.cell_type, cell.source.rstrip("\n"), metadata))
    return out


def sync_problems(source: pathlib.Path) -> list[str]:
    """The .ipynb next to ``source`` holds exactly the cells jupytext reads from ``source``."""
    notebook = source.with_suffix(".ipynb")
    nb = nbformat.read(str(notebook), as_version=4)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        return [f"{notebook.name} is not a valid notebook ({str(err).splitlines()[0]}): save it again with "
                f"nbformat 4.5, or run `{SYNC.format(name=source.stem)}`"]
    want = _cells(jupytext.read(source))
    have = _cells(nb)
    fix = f"edit the .md, then run `{SYNC.format(name=source.stem)}`"
    if len(want) != len(have):
        return [f"{source.name} has {len(want)} cells, {notebook.name} has {len(have)}: {fix}"]
    for i, (w, h) in enumerate(zip(want, have, strict=True)):
        if w != h:
            what = "type" if w[0] != h[0] else "source" if w[1] != h[1] else "metadata/tags"
            return [f"cell {i} differs ({what}) between {source.name} and {notebook.name}: {fix}"]
    return []


def ruff_problems(paths: list[pathlib.Path], *, config: pathlib.Path | None = ROOT / "pyproject.toml") -> list[str]:
    """``ruff check`` on the notebooks' code cells (ruff reads .ipynb natively; the .md is in sync)."""
    cmd = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise"]
    if config is not None:
        cmd += ["--config", str(config)]
    result = subprocess.run(cmd + [str(p) for p in paths], capture_output=True, text=True, cwd=ROOT)
    if result.returncode == 0:
        return []
    return [line for line in result.stdout.splitlines() if ".ipynb:" in line] or [result.stdout + result.stderr]


# ------------------------------------------------------------------------------ the real notebooks

SOURCES = course_files(NOTEBOOKS_DIR, ".md")


def test_every_notebook_has_its_source():
    assert pairing_problems(NOTEBOOKS_DIR) == []


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem[:2])
def test_notebook_is_in_sync_with_its_source(source):
    assert sync_problems(source) == []


def test_code_cells_pass_ruff():
    assert ruff_problems(course_files(NOTEBOOKS_DIR, ".ipynb")) == []


def test_jupytext_pairs_the_notebooks_by_configuration():
    """JupyterLab (with jupytext) and `jupytext --sync` pair .ipynb with .md:myst from pyproject.toml."""
    from jupytext.config import find_jupytext_configuration_file, load_jupytext_configuration_file

    config = load_jupytext_configuration_file(find_jupytext_configuration_file(str(NOTEBOOKS_DIR)))
    assert config is not None and "md:myst" in str(config.formats) and "ipynb" in str(config.formats)


# ------------------------------------------------------------------------------ the rules notice

def _tiny_notebook():
    return new_notebook(cells=[new_markdown_cell("# 05 · Something\n\nText."),
                               new_code_cell("x = 1\nprint(x)", metadata={"tags": ["exercise"]})])


def test_sync_rules_notice_an_edit_on_one_side(tmp_path):
    nb = _tiny_notebook()
    nbformat.write(nb, str(tmp_path / "05_x.ipynb"))
    jupytext.write(nb, str(tmp_path / "05_x.md"), fmt="md:myst")
    assert pairing_problems(tmp_path) == [] and sync_problems(tmp_path / "05_x.md") == []

    md = tmp_path / "05_x.md"
    md.write_text(md.read_text().replace("x = 1", "x = 2"))
    assert any("(source)" in p for p in sync_problems(md))
    jupytext.write(nb, str(md), fmt="md:myst")
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, str(tmp_path / "05_x.ipynb"))
    assert any("metadata/tags" in p for p in sync_problems(md))
    nb.cells.append(new_markdown_cell("more"))
    nbformat.write(nb, str(tmp_path / "05_x.ipynb"))
    assert any("has 2 cells" in p for p in sync_problems(md))

    shutil.copy(tmp_path / "05_x.ipynb", tmp_path / "06_y.ipynb")
    assert any("06_y.ipynb has no source" in p for p in pairing_problems(tmp_path))


def test_ruff_rule_notices_a_lint_error(tmp_path):
    nb = new_notebook(cells=[new_code_cell("import os\nprint(1)")])
    path = tmp_path / "05_lint.ipynb"
    nbformat.write(nb, str(path))
    problems = ruff_problems([path], config=None)
    assert any("F401" in p for p in problems), problems
