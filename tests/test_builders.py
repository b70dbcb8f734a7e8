"""Every committed notebook whose builder uses ``scripts/nbbuild.py`` is exactly what the builder writes.

A notebook edited (or saved with outputs) in Jupyter instead of in its ``scripts/build_nb*.py``
fails here. Fix: edit the builder, then run ``python scripts/build_nbNN.py``. Builders that do not
import nbbuild yet are not checked.
"""
from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
USES_NBBUILD = re.compile(r"^\s*(import nbbuild|from nbbuild import)\b", re.M)
BUILDERS = sorted(p for p in SCRIPTS.glob("build_nb*.py") if USES_NBBUILD.search(p.read_text(encoding="utf-8")))


def _load(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(f"_builder_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_builders_using_nbbuild_are_found():
    assert len(BUILDERS) >= 5, [p.name for p in BUILDERS]


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda p: p.stem)
def test_committed_notebooks_are_what_the_builder_writes(builder, tmp_path):
    module = _load(builder)
    notebooks = getattr(module, "NOTEBOOKS", None)
    assert notebooks, f"{builder.name} imports nbbuild but defines no NOTEBOOKS = {{file name: cells}}"
    import nbbuild                                    # on sys.path now: the builder put scripts/ there

    for path in nbbuild.write_all(notebooks, tmp_path):
        committed = ROOT / "notebooks" / path.name
        assert committed.exists(), f"notebooks/{path.name} is missing: run `python scripts/{builder.name}`"
        assert committed.read_bytes() == path.read_bytes(), (
            f"notebooks/{path.name} is not what scripts/{builder.name} writes: edit the builder, "
            f"not the notebook, then run `python scripts/{builder.name}`")
