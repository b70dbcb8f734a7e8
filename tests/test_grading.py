"""Private grading (docs/grading.md): hidden cases, the submission zip, and a batch graded by otter-grader.

The batch test builds notebook 06's autograder from a seed, grades a correct submission, a wrong
one and one that only fakes the check's printed verdict, with otter's non-containerized grader (no
Docker), and reads the gradebook CSV. otter-grader is in the ``[dev]`` extra, so CI runs it.
"""
from __future__ import annotations

import copy
import csv
import importlib
import inspect
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gradientcoin_edu.exercises.submit import export_submission
from grading import build as grading_build
from grading import grade as grading_grade
from grading import hidden_cases

REPO = Path(__file__).resolve().parents[1]
NB06 = REPO / "notebooks" / "06_privacy.ipynb"


def _solution(ex_id: str):
    return importlib.import_module(f"solutions.nb{ex_id[:2]}").SOLUTIONS[ex_id]


# --- hidden cases ---------------------------------------------------------------------------------

def _graded() -> list[tuple[str, str]]:
    """(exercise id, function name) of every exercise whose function has hidden cases."""
    return [(ex_id, name) for nb in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
            for ex_id, name in sorted(grading_build.graded_functions(nb).items()) if name in hidden_cases.INPUTS]


def test_most_notebooks_with_exercises_have_hidden_cases():
    assert len({ex_id[:2] for ex_id, _ in _graded()}) >= 6, _graded()


@pytest.mark.parametrize("ex_id,name", _graded())
def test_hidden_cases_accept_the_reference_solution(ex_id, name):
    solution = _solution(ex_id)
    for seed in ("course-2026", "another seed"):
        hidden_cases.run(ex_id, solution, seed, reference=solution, function=name)


def test_hidden_cases_refuse_wrong_answers_and_the_library_itself():
    from gradientcoin_edu.calculations import attacker_success_probability
    from gradientcoin_edu.chain.bits import bits_to_target

    with pytest.raises(AssertionError, match="library's own function"):
        hidden_cases.run("03.2", bits_to_target, "s", reference=_solution("03.2"), function="decode_bits")
    with pytest.raises(AssertionError, match="library's own function"):
        hidden_cases.run("05.2", attacker_success_probability, "s", reference=_solution("05.2"),
                         function="attacker_success")
    with pytest.raises(AssertionError, match="expected"):
        hidden_cases.run("06.2", lambda amounts: 0, "s", reference=_solution("06.2"), function="change_index")
    with pytest.raises(AssertionError, match="expected"):                 # right for heights 0 and 1 only
        hidden_cases.run("04.1", lambda h: [h, 0] if h else [0], "s", reference=_solution("04.1"),
                         function="locator_heights")


def test_hidden_cases_catch_a_function_that_remembers_inputs_it_has_seen():
    """A table of answers to inputs seen before (another seed: what a student could collect) fails
    on the inputs of the grading seed."""
    reference = _solution("04.3")
    table = {}

    def recorder(delay, interval):
        table[(delay, interval)] = reference(delay, interval)
        return table[(delay, interval)]
    hidden_cases.run("04.3", recorder, "seen", reference=reference, function="fork_probability")
    assert len(table) >= 10

    def memorised(delay, interval):
        return table.get((delay, interval), 0.5)
    hidden_cases.run("04.3", memorised, "seen", reference=reference, function="fork_probability")   # passes there
    with pytest.raises(AssertionError, match="expected"):
        hidden_cases.run("04.3", memorised, "private", reference=reference, function="fork_probability")


def test_the_seed_picks_the_hidden_inputs():
    drawn = {}
    reference = _solution("06.2")
    for seed in ("a", "b", "a"):
        calls = []

        def change_index(amounts, calls=calls):
            calls.append(list(amounts))
            return reference(amounts)
        hidden_cases.run("06.2", change_index, seed, reference=reference, function="change_index")
        assert seed not in drawn or drawn[seed] == calls        # the same seed draws the same inputs
        drawn[seed] = calls
    assert drawn["a"] != drawn["b"]


def test_same_compares_answers_by_kind():
    import numpy as np

    assert hidden_cases.same(0.1 + 0.2, 0.3) and not hidden_cases.same(0.31, 0.3)
    assert hidden_cases.same([1, 2], (1, 2)) and not hidden_cases.same([1, 2], [1, 2, 3])
    assert hidden_cases.same(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert not hidden_cases.same(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    assert not hidden_cases.same(True, 1.0) and not hidden_cases.same(None, 0)


# --- the submission zip ----------------------------------------------------------------------------

def test_export_submission_writes_the_notebook_and_who_sent_it(tmp_path, monkeypatch):
    monkeypatch.chdir(NB06.parent)
    out = export_submission("06", student="Ada Lovelace", out_dir=tmp_path, download=False)
    assert out.parent == tmp_path and out.name.startswith("06_privacy-Ada_Lovelace-") and out.suffix == ".zip"
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["06_privacy.ipynb", "submission.json"]
        meta = json.loads(zf.read("submission.json"))
        assert meta["student"] == "Ada Lovelace" and meta["notebook"] == "06_privacy.ipynb"
        assert json.loads(zf.read("06_privacy.ipynb")) == json.loads(NB06.read_text())
    sub = grading_grade.read_submission(out)
    assert sub.student == "Ada Lovelace" and sub.number == "06"
    with pytest.raises(ValueError, match="student"):
        export_submission(NB06, student="  ", out_dir=tmp_path, download=False)
    with pytest.raises(ValueError, match="two digits"):
        export_submission("6", student="ada", out_dir=tmp_path, download=False)


def test_graded_functions_are_read_from_the_public_notebook():
    assert grading_build.graded_functions(NB06) == {"06.1": "cluster", "06.2": "change_index"}


def test_a_later_rebinding_does_not_change_what_is_graded():
    nb = json.loads(NB06.read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "x = 1"})
    sub = grading_grade.Submission(NB06, "ada", NB06.name, nb)
    prepared = grading_grade.prepare_notebook(sub, {"06.1": "cluster", "06.2": "change_index"})
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in prepared["cells"]]
    for name in ("cluster", "change_index"):
        defined = max(i for i, s in enumerate(sources) if f"def {name}(" in s)
        assert "_GRADED_ANSWERS" in sources[defined + 1] and repr(name) in sources[defined + 1]
    assert not sub.flags


def test_code_aimed_at_the_grader_and_missing_definitions_are_flagged():
    nb = json.loads(NB06.read_text())
    for cell in nb["cells"]:
        if "def change_index(" in "".join(cell["source"]):
            cell["source"] = "import otter.execute\notter.execute.Checker.get_results = lambda: {}\n"
    sub = grading_grade.Submission(NB06, "mallory", NB06.name, nb)
    grading_grade.prepare_notebook(sub, {"06.1": "cluster", "06.2": "change_index"})
    assert "mentions the grader (otter)" in sub.flags
    assert "06.2: no definition of change_index" in sub.flags


# --- the command line ------------------------------------------------------------------------------

def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_command_line_mistakes_get_one_line_and_status_2(tmp_path):
    r = _run("grading.grade", str(tmp_path / "missing"), "--autograders", str(tmp_path))
    assert r.returncode == 2 and "is not a folder" in r.stderr and "Traceback" not in r.stderr
    r = _run("grading.build", "--seed-file", str(tmp_path / "seed"), "--out", str(REPO / "docs" / "autograders"))
    assert r.returncode == 2 and "public repository" in r.stderr and "Traceback" not in r.stderr
    assert not (REPO / "docs" / "autograders").exists()
    r = _run("grading.build", "--seed-file", str(tmp_path / "seed"), "--out", str(tmp_path / "ag"), "--only", "6")
    assert r.returncode == 2 and "two-digit" in r.stderr


# --- a batch graded by otter ------------------------------------------------------------------------

def _filled(nb: dict, answers: dict[str, str]) -> dict:
    """The notebook with each exercise stub replaced by the given source (keyed by function name)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "exercise" in cell.get("metadata", {}).get("tags", []):
            for name, code in answers.items():
                if f"def {name}(" in src:
                    cell["source"] = code
    return nb


@pytest.mark.slow
@pytest.mark.processes
def test_batch_grading_gives_a_correct_submission_full_marks_and_a_wrong_one_less(tmp_path):
    pytest.importorskip("otter", reason="otter-grader is in the [dev] extra")
    seed_file = tmp_path / "private" / "seed"
    [autograder] = grading_build.build(seed_file, tmp_path / "autograders", only=["06"], log=lambda *_: None)
    assert autograder.exists() and (seed_file.stat().st_mode & 0o777) == 0o600
    with zipfile.ZipFile(autograder) as zf:
        assert {"tests/06_1.py", "tests/06_2.py", "files/hidden_cases.py", "files/reference.py"} <= set(zf.namelist())

    nb = json.loads(NB06.read_text())
    cluster, change = (inspect.getsource(_solution(ex)) for ex in ("06.1", "06.2"))
    subs = tmp_path / "submissions"
    wrong = "def change_index(amounts):\n    return 0\n"
    for student, answers in {"ada": {"cluster": cluster, "change_index": change},
                             "bob": {"cluster": cluster, "change_index": wrong}}.items():
        (subs / student).mkdir(parents=True)
        (subs / student / NB06.name).write_text(json.dumps(_filled(nb, answers)))
    # eve leaves the stubs and replaces the check cells by their "correct!" line, then hands in a zip
    faked = copy.deepcopy(nb)
    for cell in faked["cells"]:
        if "exercise-check" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = 'print("Exercise 06.1 (common-input-ownership clusters): correct!")'
    work = tmp_path / "eve"
    work.mkdir()
    (work / NB06.name).write_text(json.dumps(faked))
    export_submission(work / NB06.name, student="eve", out_dir=subs, download=False)

    out = tmp_path / "gradebook.csv"
    # in this process, so each submission's own time limit (which stops its grading process) applies
    assert grading_grade.main([str(subs), "--autograders", str(tmp_path / "autograders"), "--out", str(out),
                               "--timeout", "300"]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    assert set(rows) == {"ada", "bob", "eve"}
    assert all(row["status"] == "graded" for row in rows.values()), rows
    assert (float(rows["ada"]["06.1"]), float(rows["ada"]["06.2"]), float(rows["ada"]["total"])) == (1, 1, 2)
    assert (float(rows["bob"]["06.1"]), float(rows["bob"]["06.2"])) == (1, 0)
    assert float(rows["eve"]["total"]) == 0
    failures = json.loads(out.with_suffix(".failures.json").read_text())
    assert any("06.2" in f for path, f in failures.items() if "bob" in path)
