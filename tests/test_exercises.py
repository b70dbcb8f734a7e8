"""Every exercise has a reference solution that passes its check, a check that rejects a
wrong answer, and a stub in its notebook that the check reports as not attempted."""
from __future__ import annotations

import importlib
import io
import json
import pathlib
import re
import tempfile

import pytest

from gradientcoin_edu import exercises
from _scripts import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXERCISES = exercises.all_exercises()


def _solution(ex_id: str):
    module = importlib.import_module(f"solutions.nb{ex_id.split('.')[0]}")
    return module.SOLUTIONS[ex_id]


def _notebook_cells(number: str) -> list[dict]:
    [path] = sorted(ROOT.glob(f"notebooks/{number}_*.ipynb"))
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def test_there_are_exercises():
    assert len(EXERCISES) >= 2


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_reference_solution_passes(ex_id, capsys):
    exercises.verify(ex_id, _solution(ex_id))
    assert exercises.check(ex_id, _solution(ex_id)) is None            # nothing for Jupyter to echo
    out = capsys.readouterr()
    assert "correct!" in out.out and out.err == ""


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_check_rejects_a_wrong_answer(ex_id, capsys):
    """A wrong answer fails the strict check, and `check` reports it (with a hint) without raising."""
    def wrong(*args, **kwargs):
        return None
    with pytest.raises(AssertionError, match="not right yet"):
        exercises.verify(ex_id, wrong)
    result = exercises.verdict(ex_id, wrong)
    assert result.status == "wrong" and len(result.hint) > 10, result
    assert exercises.check(ex_id, wrong) is None                         # does not stop Run All
    out = capsys.readouterr()
    assert f"Exercise {ex_id}" in out.err and "not right yet" in out.err and "correct" not in out.out


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_a_crashing_answer_is_reported_not_raised(ex_id, capsys):
    def crashes(*args, **kwargs):
        raise ZeroDivisionError("division by zero")
    assert exercises.verdict(ex_id, crashes).status == "wrong"
    exercises.check(ex_id, crashes)
    assert "ZeroDivisionError" in capsys.readouterr().err


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_untouched_stub_is_reported_not_attempted(ex_id, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError
    assert exercises.verdict(ex_id, stub).status == "not attempted"
    assert exercises.check(ex_id, stub) is None
    out = capsys.readouterr()
    assert "not attempted" in out.out and "False" not in out.out


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_notebook_asks_for_the_exercise(ex_id):
    """The notebook has a stub cell tagged `exercise` and, right after it, a check cell tagged `exercise-check`."""
    cells = _notebook_cells(ex_id.split(".")[0])
    checks = [i for i, c in enumerate(cells) if f'check("{ex_id}"' in _source(c)]
    assert len(checks) == 1, f"notebook {ex_id.split('.')[0]} calls check({ex_id!r}, ...) {len(checks)} times"
    [i] = checks
    assert "exercise-check" in _tags(cells[i]), f"the cell checking {ex_id} is not tagged exercise-check"
    stub = cells[i - 1]
    assert "exercise" in _tags(stub), f"the cell before check({ex_id!r}) is not tagged exercise (the stub)"
    assert "raise NotImplementedError" in _source(stub)


def test_every_tagged_stub_is_checked():
    for path in sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")):
        cells = _notebook_cells(path.name[:2])
        for i, cell in enumerate(cells):
            if "exercise" in _tags(cell):
                assert i + 1 < len(cells) and "exercise-check" in _tags(cells[i + 1]), \
                    f"{path.name} cell {i} is tagged exercise but no exercise-check cell follows it"


def test_every_notebook_has_at_least_two_exercises():
    numbers = {p.name[:2] for p in ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")} - {"00"}
    for number in sorted(numbers):
        count = sum(1 for ex_id in EXERCISES if ex_id.startswith(number + "."))
        assert count >= 2, f"notebook {number} has {count} exercises, needs at least 2"


def _answer_cell(ex_id: str, name: str, how: str) -> str:
    """The source that replaces an exercise stub: the reference solution, a wrong answer, or the stub."""
    if how == "solution":
        return (f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                f"from solutions.nb{ex_id[:2]} import SOLUTIONS\n{name} = SOLUTIONS[{ex_id!r}]")
    if how == "wrong":
        return f"def {name}(*args, **kwargs):\n    return None"
    return f"def {name}(*args, **kwargs):\n    raise NotImplementedError"


@pytest.mark.slow
def test_run_all_goes_on_past_wrong_answers(tmp_path):
    """Notebook 03 run top to bottom with a wrong answer, an untouched stub and two correct answers
    (one of them the method of a library class): every cell runs, no cell errors, and each check
    cell shows its verdict (the wrong one with its hint, on stderr)."""
    import nbformat

    course_table = load_script("course_table")
    [path] = sorted(ROOT.glob("notebooks/03_*.ipynb"))
    nb = nbformat.read(str(path), as_version=4)
    plan = {"03.1": "wrong", "03.2": "untouched", "03.3": "solution", "03.4": "solution"}
    checked = {}
    for i, cell in enumerate(nb.cells):
        m = re.search(r'check\("(\d\d\.\d+)", (\w+)\)', cell.source)
        if m and "exercise-check" in cell.metadata.get("tags", []):
            ex_id, name = m.groups()
            nb.cells[i - 1].source = _answer_cell(ex_id, name, plan[ex_id])
            checked[ex_id] = i
    assert set(checked) == set(plan), checked
    src = tmp_path / "src" / path.name
    src.parent.mkdir()
    nbformat.write(nb, str(src))
    workdir = tmp_path / "run"
    if course_table._inside(workdir.resolve(), ROOT):                   # --basetemp inside the checkout
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="gc-runall-"))
    ran, _ = course_table.execute_outside_repo(src, workdir, timeout=300)

    errors = [(i, o.ename) for i, c in enumerate(ran.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert all(c.execution_count is not None for c in ran.cells if c.cell_type == "code"), "Run All stopped early"

    def streams(i: int, name: str) -> str:
        return "".join(o.text for o in ran.cells[i].outputs if o.output_type == "stream" and o.name == name)

    wrong = exercises.verdict("03.1", lambda *args, **kwargs: None)
    assert streams(checked["03.1"], "stderr").strip() == wrong.message and "not right yet" in wrong.message
    assert "not attempted" in streams(checked["03.2"], "stdout")
    for ex_id in ("03.3", "03.4"):
        assert "correct!" in streams(checked[ex_id], "stdout"), ran.cells[checked[ex_id]].outputs
    for i in checked.values():                                         # no echoed True/False/None
        assert not any(o.output_type == "execute_result" for o in ran.cells[i].outputs)


def test_library_passes_its_own_named_tests():
    """The named tests that Programming-Bitcoin-style exercises run, on the library's own methods."""
    import unittest

    from gradientcoin_edu.exercises import library_tests

    suite = unittest.defaultTestLoader.loadTestsFromModule(library_tests)
    assert suite.countTestCases() >= 1
    result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    assert result.wasSuccessful(), result.failures + result.errors


def test_a_method_exercise_restores_the_library_method():
    from gradientcoin_edu.chain.block import BlockHeader

    original = BlockHeader.__dict__["parse"]
    exercises.verdict("03.4", lambda cls, data: None)
    assert BlockHeader.__dict__["parse"] is original
