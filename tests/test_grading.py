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

@pytest.mark.parametrize("ex_id", sorted(hidden_cases.GENERATORS))
def test_hidden_cases_pass_the_reference_solution(ex_id):
    for seed in ("course-2026", "another seed"):
        hidden_cases.run(ex_id, _solution(ex_id), seed)


def test_hidden_cases_refuse_wrong_answers_and_the_library_itself():
    from gradientcoin_edu.calculations import attacker_success_probability
    from gradientcoin_edu.chain.bits import bits_to_target

    with pytest.raises(AssertionError, match="library's own function"):
        hidden_cases.run("03.2", bits_to_target, "s")
    with pytest.raises(AssertionError, match="library's own function"):
        hidden_cases.run("05.2", attacker_success_probability, "s")
    with pytest.raises(AssertionError):
        hidden_cases.run("06.2", lambda amounts: 0, "s")
    with pytest.raises(AssertionError):                       # right for heights 0 and 1 only
        hidden_cases.run("04.1", lambda h: [h, 0] if h else [0], "s")


def test_hidden_cases_catch_a_function_that_remembers_the_public_cases():
    """A lookup table of the public check's inputs passes the public check, not the hidden cases."""
    from gradientcoin_edu.exercises import verdict
    from gradientcoin_edu.chain.bits import bits_to_target

    seen = {}

    def recorder(bits):
        seen[bits] = bits_to_target(bits)
        return seen[bits]
    assert verdict("03.2", recorder).status == "correct"
    table = dict(seen)

    def memorised(bits):
        return table.get(bits, 0)
    print("the public check on a table of its own inputs:", verdict("03.2", memorised).status)
    with pytest.raises(AssertionError):                       # the hidden inputs are not in the table
        hidden_cases.run("03.2", memorised, "private seed")


def test_the_seed_changes_the_hidden_inputs():
    drawn = {}
    for seed in ("a", "b", "a"):
        calls = []

        def laggards(heights, tolerance, calls=calls):
            calls.append((sorted(heights.items()), tolerance))
            return _solution("13.2")(heights, tolerance)
        hidden_cases.run("13.2", laggards, seed)
        assert seed not in drawn or drawn[seed] == calls        # the same seed draws the same inputs
        drawn[seed] = calls
    assert drawn["a"] != drawn["b"]


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
        assert {"tests/06_1.py", "tests/06_2.py", "files/hidden_cases.py"} <= set(zf.namelist())

    nb = json.loads(NB06.read_text())
    cluster, change = (inspect.getsource(_solution(ex)) for ex in ("06.1", "06.2"))
    subs = tmp_path / "submissions"
    for student, answers in {"ada": {"cluster": cluster, "change_index": change},
                             "bob": {"cluster": cluster, "change_index": "def change_index(amounts):\n    return 0\n"}}.items():
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
