"""Every exercise has a reference solution that passes its check, a check that rejects a
wrong answer, and a stub in its notebook that the check reports as not attempted."""
from __future__ import annotations

import importlib
import json
import pathlib

import pytest

from gradientcoin_edu import exercises

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
    assert exercises.check(ex_id, _solution(ex_id)) is True
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_check_rejects_a_wrong_answer(ex_id):
    with pytest.raises(AssertionError):
        exercises.check(ex_id, lambda *args, **kwargs: None)


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_untouched_stub_is_reported_not_attempted(ex_id, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError
    assert exercises.check(ex_id, stub) is False
    assert "not attempted" in capsys.readouterr().out


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
