"""Every notebook runs the way Colab runs it: installed package only, started outside the repository.

Colab has the package (installed from git) and one notebook, nothing else: no ``solutions/``, no
``docs/``, no neighbouring notebooks, and its working directory is not the repository. nbval runs a
notebook with the kernel's working directory set to ``notebooks/`` inside the checkout, so a notebook
that reads ``../docs/benchmarks.md`` or imports ``solutions`` passes nbval and breaks in Colab. Here
each notebook is copied alone into a fresh temporary directory outside the repository and executed
there by a kernel of this interpreter; a guard cell run first proves the isolation (working directory,
no repository path on ``sys.path``, ``solutions`` not importable). ``.ci/run`` provides the rest of
the Colab-like setting: a fresh virtual environment where only the README's install command ran.

Cost. Executing every notebook is the most expensive part of CI, and nbval (in the README's test
command) executes each one a second time, inside the repository. Both runs are kept on purpose:
nbval is the tool students and instructors know, this test is the Colab-like one. Set
``GRADIENTCOIN_FRESH_ENV=0`` to skip this run (it says so in the skip reason) when iterating locally.

A cheap static check (no kernel) and a self-test of the harness (one small kernel) always run.
"""
from __future__ import annotations

import os
import pathlib
import re
import sys
import tempfile

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from _scripts import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV_VAR = "GRADIENTCOIN_FRESH_ENV"


course_table = load_script("course_table")
NOTEBOOK_PATHS = course_table.notebook_paths()

GUARD = '''# guard (added by tests/test_notebooks_fresh_env.py, not part of the notebook)
import importlib.util as _ilu, pathlib as _pl, sys as _sys
_repo, _cwd = _pl.Path({repo!r}).resolve(), _pl.Path.cwd().resolve()
assert _cwd == _pl.Path({workdir!r}).resolve(), f"kernel started in {{_cwd}}"
assert _cwd != _repo and _repo not in _cwd.parents, f"kernel started inside the repository: {{_cwd}}"
_env = _pl.Path(_sys.prefix).resolve()                     # the venv may live in the checkout (.venv)
_inside = [p for p in map(lambda q: _pl.Path(q).resolve(), filter(None, _sys.path))
           if (p == _repo or _repo in p.parents) and not (p == _env or _env in p.parents)]
assert not _inside, f"repository paths on sys.path (a path-based editable install?): {{_inside}}"
assert _ilu.find_spec("solutions") is None, "the repository's solutions/ folder is importable"
assert sorted(p.name for p in _cwd.iterdir()) == [{name!r}], sorted(p.name for p in _cwd.iterdir())
del _ilu, _pl, _sys, _repo, _cwd, _env, _inside'''


def _fresh_workdir(tmp_path_factory) -> pathlib.Path:
    """A new empty directory outside the repository (pytest's --basetemp could be inside it)."""
    workdir = tmp_path_factory.mktemp("fresh")
    if course_table._inside(workdir.resolve(), ROOT):
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="gc-fresh-"))
    return workdir


# ------------------------------------------------------------------------------- always run

def test_runs_in_an_isolated_environment():
    """The kernels below are this interpreter; it must be a virtual (or conda) environment, as in CI."""
    is_venv = sys.prefix != sys.base_prefix
    is_conda = (pathlib.Path(sys.prefix) / "conda-meta").is_dir()
    assert is_venv or is_conda, f"{sys.executable} is not in a virtual environment (sys.prefix={sys.prefix})"
    import gradientcoin_edu
    assert (pathlib.Path(gradientcoin_edu.__file__).parent / "__init__.py").exists()


# a string literal that is a path into the checkout: "../x", "docs/benchmarks.md" (not prose like "see docs/...")
_REPO_PATH_LITERAL = r"""["'](\.\./|notebooks/|solutions/|scripts/|tests/|docs/|benchmarks/|kernels/)[^"'\s]*["']"""
_REPO_PATTERNS = {
    "imports a repository folder that pip does not install": r"^\s*(from|import)\s+(solutions|tests|scripts|benchmarks)\b",
    "edits sys.path": r"sys\.path\.(append|insert|extend)",
    "changes the working directory": r"os\.chdir\(|%cd\b",
    "uses a path relative to the repository": _REPO_PATH_LITERAL,
    "uses __file__ (undefined in a notebook)": r"\b__file__\b",
}


def repo_dependencies(nb) -> list[str]:
    """Code cells that look like they need the checkout (static; the execution test is the proof)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for what, pattern in _REPO_PATTERNS.items():
            m = re.search(pattern, cell.source, re.M)
            if m:
                found.append(f"cell {i} {what}: {m.group(0)!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOK_PATHS or [None], ids=lambda p: p.stem if p else "none")
def test_notebook_does_not_reach_into_the_repository(path):
    assert path is not None, "no notebooks found in notebooks/"
    assert repo_dependencies(nbformat.read(str(path), as_version=4)) == []


def test_static_check_notices_repository_paths():
    nb = new_notebook(cells=[new_code_cell(src) for src in [
        "from solutions.nb01 import pad", "import sys\nsys.path.insert(0, '..')", "import os\nos.chdir('..')",
        "open('../docs/benchmarks.md')", "data = 'notebooks/01_x.ipynb'", "print(__file__)",
        "import gradientcoin_edu\nprint('see docs/benchmarks.md')"]])
    found = repo_dependencies(nb)
    assert [f.split()[1] for f in found] == ["0", "1", "2", "3", "4", "5"], found


def test_harness_runs_outside_the_repository(tmp_path_factory):
    """One small kernel: what works from notebooks/ inside the checkout fails here, and the guard passes."""
    workdir = _fresh_workdir(tmp_path_factory)
    probe = new_notebook(cells=[
        new_code_cell("import solutions", metadata={"tags": ["raises-exception"]}),
        new_code_cell("open('../docs/architecture.md').read()  # NBVAL_RAISES_EXCEPTION"),
        new_code_cell("print('runs too')  # NBVAL_SKIP (ignored here: every cell runs)"),
        new_code_cell("import os, gradientcoin_edu\nprint(os.getcwd())"),
    ])
    source = workdir.parent / f"{workdir.name}-src" / "99_probe.ipynb"
    source.parent.mkdir()
    nbformat.write(probe, str(source))
    guard = GUARD.format(repo=str(ROOT), workdir=str(workdir), name=source.name)
    nb, seconds = course_table.execute_outside_repo(source, workdir, guard=guard, timeout=120)
    guard_cell, imports, opens, skipped, last = nb.cells          # nothing was left out
    assert "runs too" in "".join(o.get("text", "") for o in skipped.outputs)
    assert not any(o.output_type == "error" for o in guard_cell.outputs), guard_cell.outputs
    assert [o.ename for o in imports.outputs if o.output_type == "error"] == ["ModuleNotFoundError"]
    assert [o.ename for o in opens.outputs if o.output_type == "error"] == ["FileNotFoundError"]
    assert pathlib.Path("".join(o.text for o in last.outputs if o.output_type == "stream").strip()) == workdir.resolve()
    assert seconds > 0


# ------------------------------------------------------------------------------- the real run

# A notebook's budget is 120 s of Run All on 2 quiet cores (measured by `course_table.py --measure`,
# README table). In CI this run shares the 2 cores with another pytest worker, so the limit here is
# generous: it catches a hang or a cell that silently went GPU-sized, not a few seconds of noise.
HANG_LIMIT_S = 300


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOK_PATHS or [None], ids=lambda p: p.stem if p else "none")
def test_notebook_runs_outside_the_repository(path, request, tmp_path_factory, record_property):
    """Run All, every cell (none skipped), timed: the CI re-measure of the course's run times."""
    assert path is not None, "no notebooks found in notebooks/"
    mode = os.environ.get(ENV_VAR, "")
    if mode == "0":
        pytest.skip(f"{ENV_VAR}=0: fresh-environment run of the notebooks switched off")
    workdir = _fresh_workdir(tmp_path_factory)
    guard = GUARD.format(repo=str(ROOT), workdir=str(workdir), name=path.name)
    ran, seconds = course_table.execute_outside_repo(path, workdir, guard=guard, timeout=HANG_LIMIT_S)
    slow = ", ".join(f"cell {i - 1}: {s:.1f} s" for i, s in course_table.slowest_cells(ran))   # -1: the guard
    record_property("run_all_seconds", round(seconds, 1))
    print(f"{path.name}: Run All {seconds:.1f} s (slowest {slow})")
    assert seconds < HANG_LIMIT_S, f"{path.name} took {seconds:.0f} s (slowest {slow}): a hang, or a GPU-sized cell?"
