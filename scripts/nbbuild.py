"""Shared pieces of the notebook builders (``scripts/build_nb*.py``).

A builder keeps its notebooks' text in Python and ends with::

    NOTEBOOKS = {"03_blocks_merkle_and_proof_of_work.ipynb": CELLS}

    if __name__ == "__main__":
        nbbuild.main(NOTEBOOKS)

so that ``python scripts/build_nb03.py`` rewrites ``notebooks/03_...ipynb`` and
``python scripts/build_nb03.py --out-dir /tmp/nb`` writes the same bytes elsewhere (for comparing).
``tests/test_builders.py`` regenerates every builder that imports this module and checks that the
committed notebooks are exactly what it writes, so edit a notebook in its builder, not in Jupyter.

How builders import this module: ``scripts/`` is not a package, so each builder puts its own folder
on ``sys.path`` before importing::

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild
    import nbbuild
    from nbbuild import SETUP, code, md

That works from any working directory, with ``python -P`` too, and when a test loads the builder
from its file path.

Every notebook is written the same way: nbformat 4.4 (no cell ids, so regenerating does not churn
the diff), no outputs and no execution counts, the Python 3 kernelspec, UTF-8, and no newline after
the closing brace.
"""
from __future__ import annotations

import argparse
import pathlib
from collections.abc import Mapping, Sequence

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"

# The first code cell of every notebook. The same text is ``SETUP_CELL`` in scripts/course_table.py
# (which tests/test_course.py checks against the notebooks).
SETUP = '''# Setup: in Colab this installs the package; on your laptop run `pip install -e ".[dev]"` once in the repository.
try:
    import google.colab  # noqa: F401
    %pip install -q "gradientcoin_edu[dev] @ git+https://github.com/gradientcoin-edu/gradientcoin_edu"
except ImportError:
    pass
import gradientcoin_edu
gradientcoin_edu.print_environment()'''

METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def md(text: str) -> nbformat.NotebookNode:
    """A markdown cell; leading and trailing newlines of ``text`` are dropped."""
    return new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    """A code cell (no outputs, no execution count); leading and trailing newlines are dropped."""
    return new_code_cell(text.strip("\n"))


def notebook(cells: Sequence[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """A clean, validated nbformat-4.4 notebook holding ``cells`` (deep-copied, without cell ids)."""
    nb = new_notebook(cells=[nbformat.from_dict(cell) for cell in cells], metadata=METADATA)
    for cell in nb.cells:
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.nbformat, nb.nbformat_minor = 4, 4            # 4.4 has no cell ids: stable diffs
    nbformat.validate(nb)
    return nb


def write_notebook(path: pathlib.Path | str, cells: Sequence[nbformat.NotebookNode]) -> pathlib.Path:
    """Write ``cells`` as a clean notebook to ``path`` (folders are created) and return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(notebook(cells)), encoding="utf-8")
    return path


def write_all(notebooks: Mapping[str, Sequence[nbformat.NotebookNode]],
              out_dir: pathlib.Path | str = NOTEBOOKS_DIR) -> list[pathlib.Path]:
    """Write each ``{file name: cells}`` entry into ``out_dir``; return the paths written."""
    return [write_notebook(pathlib.Path(out_dir) / name, cells) for name, cells in notebooks.items()]


def main(notebooks: Mapping[str, Sequence[nbformat.NotebookNode]], argv: Sequence[str] | None = None) -> None:
    """Command line of every builder: write its notebooks to notebooks/ or to ``--out-dir``."""
    parser = argparse.ArgumentParser(description="Write this builder's notebooks, clean (no outputs).")
    parser.add_argument("--out-dir", type=pathlib.Path, default=NOTEBOOKS_DIR,
                        help="folder to write the notebooks into (default: the repository's notebooks/)")
    args = parser.parse_args(argv)
    for path in write_all(notebooks, args.out_dir):
        shown = path.resolve()
        shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
        print(f"wrote {shown} ({len(notebooks[path.name])} cells)")
