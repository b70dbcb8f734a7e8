"""The notebooks add up to a course: each has the same shape, the exercises, solutions and README agree.

Every rule is a small function that returns a list of problems (empty when the rule holds). The
tests run each rule on the real repository, and on deliberately broken copies in ``tmp_path`` to
show that the rule notices when it is broken. Nothing here is skipped: an empty notebooks folder is
a failure, not a pass.

Rules (docs/instructors.md):
* every notebook opens with a markdown title, "what you will build" and its learning goals;
* its second cell is exactly the setup cell;
* it closes with a summary and two or three discussion questions;
* it is committed clean (no outputs, no execution counts, no run metadata);
* every exercise id names an existing notebook that asks for it, numbered 1, 2, ... per notebook;
* every solution in ``solutions/`` belongs to an existing exercise (and every exercise has one);
* the README's course table lists every notebook, with its exercise count, measured CPU time and
  Colab badge, and is exactly what ``scripts/course_table.py`` writes (so it cannot go stale).
"""
from __future__ import annotations

import copy
import importlib.util
import json
import pathlib
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from _scripts import load_script

from gradientcoin_edu import exercises

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
SOLUTIONS_DIR = ROOT / "solutions"
COLAB = "https://colab.research.google.com/github/gradientcoin-edu/gradientcoin_edu/blob/main/notebooks/"

SETUP_CELL = '''# Setup: in Colab this installs the package; on a laptop install it once: pip install -e ".[notebooks]" jupyterlab
try:
    import google.colab  # noqa: F401
    %pip install -q "gradientcoin_edu[notebooks] @ git+https://github.com/gradientcoin-edu/gradientcoin_edu"
except ImportError:
    pass
import gradientcoin_edu
gradientcoin_edu.print_environment()'''


course_table = load_script("course_table")


def notebook_files(notebooks_dir: pathlib.Path) -> list[pathlib.Path]:
    return sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


# ============================================================================ the rules

_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*])\s+\S", re.M)


def opening_problems(nb) -> list[str]:
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        return ["the first cell is not a markdown cell"]
    text = nb.cells[0].source
    problems = []
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not re.match(r"^#\s+\S", first_line):
        problems.append(f"the first cell does not start with a '# ' title (starts with {first_line[:40]!r})")
    if "what you will build" not in text.lower():
        problems.append("the first cell does not say what you will build")
    m = re.search(r"learning goals", text, re.I)
    if m is None:
        problems.append("the first cell has no learning goals")
    elif len(_LIST_ITEM.findall(text[m.end():])) < 2:
        problems.append("the learning goals are not a list of at least two items")
    return problems


def setup_problems(nb) -> list[str]:
    if len(nb.cells) < 2 or nb.cells[1].cell_type != "code":
        return ["the second cell is not a code cell"]
    if nb.cells[1].source.rstrip("\n") != SETUP_CELL:
        return ["the second cell is not exactly the setup cell (see tests/test_course.py: SETUP_CELL)"]
    return []


def closing_problems(nb) -> list[str]:
    last_code = max((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), default=-1)
    tail = "\n\n".join(c.source for c in nb.cells[last_code + 1:] if c.cell_type == "markdown")
    if not tail:
        return ["the notebook does not close with markdown (summary and discussion questions)"]
    problems = []
    heading = r"^(?:#{1,6}\s*|\*\*)"                   # "## Summary" or a bold "**Summary**" line
    if not re.search(heading + r"summary\b", tail, re.I | re.M):
        problems.append("no '## Summary' heading after the last code cell")
    m = re.search(heading + r"(discussion|questions for discussion)\b.*$", tail, re.I | re.M)
    if m is None:
        problems.append("no '## Discussion questions' heading after the last code cell")
    else:
        section = re.split(r"^#{1,6}\s", tail[m.end():], maxsplit=1, flags=re.M)[0]
        n = len(re.findall(r"^\s*\d+[.)]\s+\S", section, re.M))
        if not 2 <= n <= 3:
            problems.append(f"{n} numbered discussion questions, expected two or three")
    return problems


def cleanliness_problems(nb) -> list[str]:
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if cell.get("outputs"):
                problems.append(f"cell {i} has committed outputs")
            if cell.get("execution_count") is not None:
                problems.append(f"cell {i} has an execution count")
        if "execution" in cell.get("metadata", {}):
            problems.append(f"cell {i} has execution timing metadata")
    if "widgets" in nb.metadata:
        problems.append("the notebook metadata holds saved widget state")
    return problems


def run_all_problems(nb) -> list[str]:
    """Nothing a student runs goes untested: no cell is skipped by nbval (only a cell that does the
    Colab install alone could be), and a cell tagged ``gpu-sized`` checks for a GPU itself."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if ("NBVAL_SKIP" in cell.source or "nbval-skip" in tags) and "google.colab" not in cell.source:
            problems.append(f"cell {i} is skipped by nbval: make it run in CI (a GPU-sized cell checks "
                            "torch.cuda.is_available() and runs a smaller version on a CPU)")
        if "gpu-sized" in tags and "cuda.is_available()" not in cell.source:
            problems.append(f"cell {i} is tagged gpu-sized but does not check torch.cuda.is_available()")
    return problems


def notebook_problems(nb) -> list[str]:
    return (opening_problems(nb) + setup_problems(nb) + closing_problems(nb) + cleanliness_problems(nb)
            + run_all_problems(nb))


def exercise_problems(ex_ids, notebooks_dir: pathlib.Path) -> list[str]:
    """Every id is NN.k, names an existing notebook that calls check("NN.k", ...), k = 1, 2, ..."""
    sources = {}
    for path in notebook_files(notebooks_dir):
        nb = nbformat.read(str(path), as_version=4)
        sources.setdefault(path.name[:2], []).append("\n".join(c.source for c in nb.cells))
    problems, numbers = [], {}
    for ex_id in ex_ids:
        m = re.fullmatch(r"(\d\d)\.([1-9]\d*)", ex_id)
        if m is None:
            problems.append(f"exercise id {ex_id!r} is not of the form NN.k")
            continue
        number, k = m.group(1), int(m.group(2))
        numbers.setdefault(number, []).append(k)
        if number not in sources:
            problems.append(f"exercise {ex_id} belongs to notebook {number}, which does not exist")
        elif len(sources[number]) > 1:
            problems.append(f"notebook number {number} is used by {len(sources[number])} notebooks")
        elif f'check("{ex_id}"' not in sources[number][0]:
            problems.append(f"notebook {number} never calls check(\"{ex_id}\", ...)")
    for number, ks in sorted(numbers.items()):
        if sorted(ks) != list(range(1, len(ks) + 1)):
            problems.append(f"the exercises of notebook {number} are numbered {sorted(ks)}, not 1..{len(ks)}")
    return problems


def _load_solutions(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(f"_solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solution_problems(solutions_dir: pathlib.Path, ex_ids) -> list[str]:
    """Each solutions/nbNN.py holds SOLUTIONS = {"NN.k": ...} for existing exercises of notebook NN."""
    ex_ids, problems, solved = set(ex_ids), [], set()
    for path in sorted(solutions_dir.glob("*.py")):
        if path.name == "__init__.py":
            continue
        m = re.fullmatch(r"nb(\d\d)\.py", path.name)
        if m is None:
            problems.append(f"solutions/{path.name} is not named nbNN.py")
            continue
        solutions = getattr(_load_solutions(path), "SOLUTIONS", None)
        if not isinstance(solutions, dict):
            problems.append(f"solutions/{path.name} has no SOLUTIONS dict")
            continue
        for key in solutions:
            if key not in ex_ids:
                problems.append(f"solutions/{path.name} solves {key!r}, which is not a registered exercise")
            elif key.split(".")[0] != m.group(1):
                problems.append(f"solutions/{path.name} holds {key!r}, which belongs to notebook {key.split('.')[0]}")
            solved.add(key)
    for ex_id in sorted(ex_ids - solved):
        problems.append(f"exercise {ex_id} has no reference solution in solutions/nb{ex_id[:2]}.py")
    return problems


def readme_problems(readme: str, notebook_names: list[str], exercise_counts: dict[str, int]) -> list[str]:
    """The course table between the markers has one true row per notebook, and no other rows."""
    body = course_table.block(readme, "course-table")
    if body is None:
        return ["README.md has no <!-- course-table:start --> ... <!-- course-table:end --> block"]
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 6 or not re.fullmatch(r"\d\d", cells[0]):
            continue
        link = re.search(r"\]\(notebooks/([^)]+\.ipynb)\)", cells[1])
        name = link.group(1) if link else f"(row {cells[0]} without a notebook link)"
        if name in rows:
            return [f"{name} is listed twice in the course table"]
        rows[name] = cells
    problems = []
    for name in notebook_names:
        cells = rows.get(name)
        if cells is None:
            problems.append(f"the README course table does not list {name}")
            continue
        count = exercise_counts.get(name[:2], 0)
        if cells[4] != str(count):
            problems.append(f"{name}: the table says {cells[4]} exercises, the registry has {count}")
        if f"({COLAB}{name})" not in cells[5]:
            problems.append(f"{name}: no Open-in-Colab badge linking to {COLAB}{name}")
        if not re.fullmatch(r"\d+ s|\d+ min \d\d s", cells[3]):
            problems.append(f"{name}: no measured CPU run time ({cells[3]!r})")
    for name in sorted(set(rows) - set(notebook_names)):
        problems.append(f"the README course table lists {name}, which is not in notebooks/")
    return problems


# ============================================================================ the repository

NOTEBOOK_PATHS = notebook_files(NOTEBOOKS_DIR)
EXERCISE_IDS = list(exercises.all_exercises())


def _counts(ex_ids) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ex_id in ex_ids:
        counts[ex_id[:2]] = counts.get(ex_id[:2], 0) + 1
    return counts


def test_the_course_has_its_notebooks():
    names = [p.name for p in NOTEBOOK_PATHS]
    assert "00_start_here.ipynb" in names, "notebooks/00_start_here.ipynb is missing"
    assert len(names) >= 2
    assert len({n[:2] for n in names}) == len(names), f"two notebooks share a number: {names}"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS or [None], ids=lambda p: p.stem if p else "none")
def test_notebook_has_the_course_shape(path):
    assert path is not None, "no notebooks found in notebooks/"
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert notebook_problems(nb) == [], path.name


def test_every_exercise_belongs_to_an_existing_notebook():
    assert EXERCISE_IDS, "no exercises are registered"
    assert exercise_problems(EXERCISE_IDS, NOTEBOOKS_DIR) == []


def test_every_solution_belongs_to_an_existing_exercise():
    assert solution_problems(SOLUTIONS_DIR, EXERCISE_IDS) == []


def test_readme_course_table_lists_every_notebook():
    problems = readme_problems((ROOT / "README.md").read_text(), [p.name for p in NOTEBOOK_PATHS],
                               _counts(EXERCISE_IDS))
    assert problems == [], "run `python scripts/course_table.py --measure-missing`"


def test_course_tables_are_what_the_script_writes():
    stale = [str(path.relative_to(ROOT)) for path, text in course_table.rendered_files().items()
             if path.read_text() != text]
    assert stale == [], f"{stale} out of date: run `python scripts/course_table.py`"


def test_every_notebook_has_a_measured_cpu_time():
    times = course_table.load_times().get("notebooks", {})
    missing = [p.name for p in NOTEBOOK_PATHS if times.get(p.name, {}).get("seconds") is None]
    assert missing == [], f"no measured CPU time for {missing}: run `python scripts/course_table.py --measure-missing`"
    budget = {p.name: course_table._time_of(p.name, {"notebooks": times}) for p in NOTEBOOK_PATHS}
    slow = {name: seconds for name, seconds in budget.items() if seconds > 120}
    assert slow == {}, f"notebooks over the two-minute budget (CPU time of Run All): {slow}"


def test_the_start_here_builder_uses_the_setup_cell_tested_here():
    assert course_table.SETUP_CELL == SETUP_CELL
    for number in (p.name[:2] for p in NOTEBOOK_PATHS):
        assert number in course_table.COURSE, f"add notebook {number} to COURSE in scripts/course_table.py"


# ============================================================================ the rules notice breakage

def _good_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# 05 · Something\n\n**What you will build.** A thing.\n\n"
                          "**Learning goals**\n1. one\n2. two"),
        new_code_cell(SETUP_CELL),
        new_code_cell('from gradientcoin_edu.exercises import check\ncheck("05.1", f)\ncheck("05.2", g)'),
        new_markdown_cell("## Summary\n\n* it works\n\n## Discussion questions\n\n1. Why?\n2. Why not?"),
    ])


def _roundtrip(nb, tmp_path, name="05_something.ipynb"):
    """Write the notebook to disk and read it back, as the repository's notebooks are read."""
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return nbformat.read(str(path), as_version=4)


def test_a_well_formed_notebook_passes_every_rule(tmp_path):
    assert notebook_problems(_roundtrip(_good_notebook(), tmp_path)) == []


@pytest.mark.parametrize("break_it, expected", [
    (lambda nb: nb.cells.pop(0), "first cell is not a markdown"),
    (lambda nb: setattr(nb.cells[0], "source", "Some text\n\n**What you will build** x\n\nLearning goals\n1. a\n2. b"),
     "'# ' title"),
    (lambda nb: setattr(nb.cells[0], "source", nb.cells[0].source.replace("Learning goals", "Goals")),
     "no learning goals"),
    (lambda nb: setattr(nb.cells[0], "source", nb.cells[0].source.replace("2. two", "")),
     "at least two items"),
    (lambda nb: setattr(nb.cells[0], "source", nb.cells[0].source.replace("What you will build", "Plan")),
     "what you will build"),
    (lambda nb: setattr(nb.cells[1], "source", SETUP_CELL.replace("print_environment()", "print('cpu')")),
     "exactly the setup cell"),
    (lambda nb: nb.cells.pop(1), "exactly the setup cell"),
    (lambda nb: nb.cells.pop(), "does not close with markdown"),
    (lambda nb: setattr(nb.cells[-1], "source", "## Discussion questions\n\n1. a\n2. b"), "Summary"),
    (lambda nb: setattr(nb.cells[-1], "source", "## Summary\n\nDone."), "Discussion questions"),
    (lambda nb: setattr(nb.cells[-1], "source", "**Summary** it works.\n\n**Discussion questions**\n1. a\n2. b\n3. c\n4. d"),
     "4 numbered discussion questions"),
    (lambda nb: setattr(nb.cells[-1], "source", "## Summary\n\nx\n\n## Discussion questions\n\n1. Only one?"),
     "1 numbered discussion questions"),
    (lambda nb: setattr(nb.cells[-1], "source", "## Summary\n\nx\n\n## Discussion\n\n1. a\n2. b\n3. c\n4. d"),
     "4 numbered discussion questions"),
    (lambda nb: nb.cells.append(new_code_cell("print('after the summary')")), "does not close with markdown"),
    (lambda nb: nb.cells[2].outputs.append(new_output("stream", name="stdout", text="hi\n")), "committed outputs"),
    (lambda nb: setattr(nb.cells[2], "execution_count", 3), "execution count"),
    (lambda nb: setattr(nb.cells[2], "source", "# NBVAL_SKIP\nbig_training()"), "skipped by nbval"),
    (lambda nb: nb.cells[2].metadata.update(tags=["nbval-skip"]), "skipped by nbval"),
    (lambda nb: nb.cells[2].metadata.update(tags=["gpu-sized"]), "does not check torch.cuda.is_available()"),
    (lambda nb: nb.cells[2].metadata.update(execution={"iopub.status.busy": "2024"}), "timing metadata"),
    (lambda nb: nb.metadata.update(widgets={"state": {}}), "widget state"),
])
def test_a_broken_notebook_is_caught(tmp_path, break_it, expected):
    nb = copy.deepcopy(_good_notebook())
    break_it(nb)
    problems = notebook_problems(_roundtrip(nb, tmp_path))
    assert any(expected in p for p in problems), problems


def _notebooks_dir(tmp_path, **sources: str) -> pathlib.Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, source in sources.items():
        nb = _good_notebook()
        nb.cells[2].source = source
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder


def test_exercise_rules_notice_breakage(tmp_path):
    folder = _notebooks_dir(tmp_path, **{"05_something": 'check("05.1", f)\ncheck("05.2", g)'})
    assert exercise_problems(["05.1", "05.2"], folder) == []
    assert any("notebook 07, which does not exist" in p for p in exercise_problems(["05.1", "05.2", "07.1"], folder))
    assert any("never calls" in p for p in exercise_problems(["05.1", "05.2", "05.3"], folder))
    assert any("numbered [1, 3]" in p for p in exercise_problems(["05.1", "05.3"], folder))
    assert any("not of the form" in p for p in exercise_problems(["5.1"], folder))
    nbformat.write(_good_notebook(), str(folder / "05_twin.ipynb"))
    assert any("used by 2 notebooks" in p for p in exercise_problems(["05.1"], folder))


def test_solution_rules_notice_breakage(tmp_path):
    folder = tmp_path / "solutions"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "nb05.py").write_text('SOLUTIONS = {"05.1": len, "05.2": len}\n')
    assert solution_problems(folder, ["05.1", "05.2"]) == []
    assert any("05.3 has no reference solution" in p for p in solution_problems(folder, ["05.1", "05.2", "05.3"]))
    (folder / "nb05.py").write_text('SOLUTIONS = {"05.1": len, "05.2": len, "05.9": len}\n')
    assert any("'05.9', which is not a registered" in p for p in solution_problems(folder, ["05.1", "05.2"]))
    (folder / "nb05.py").write_text('SOLUTIONS = {"05.1": len, "05.2": len, "06.1": len}\n')
    assert any("belongs to notebook 06" in p for p in solution_problems(folder, ["05.1", "05.2", "06.1"]))
    (folder / "nb05.py").write_text('SOLUTIONS = {"05.1": len, "05.2": len}\n')
    (folder / "nb07.py").write_text("ANSWERS = {}\n")
    assert any("nb07.py has no SOLUTIONS" in p for p in solution_problems(folder, ["05.1", "05.2"]))
    (folder / "nb07.py").unlink()
    (folder / "extra.py").write_text("SOLUTIONS = {}\n")
    assert any("extra.py is not named nbNN.py" in p for p in solution_problems(folder, ["05.1", "05.2"]))


def test_readme_rules_notice_breakage(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ["00_start.ipynb", "05_something.ipynb"]:
        nbformat.write(_good_notebook(), str(folder / name))
    paths = notebook_files(folder)
    times = {"notebooks": {"00_start.ipynb": {"seconds": 3.2}, "05_something.ipynb": {"seconds": 95.0}}}
    exercises_ = {"05": [("05.1", "a"), ("05.2", "b")]}
    table = course_table.render_course_table(paths, exercises_, times)
    readme = f"# x\n\n## The course\n\n<!-- course-table:start -->\n{table}\n<!-- course-table:end -->\n"
    names, counts = [p.name for p in paths], {"05": 2}
    assert readme_problems(readme, names, counts) == []

    assert any("does not list 06_new.ipynb" in p for p in readme_problems(readme, names + ["06_new.ipynb"], counts))
    assert any("not in notebooks/" in p for p in readme_problems(readme, names[:1], counts))
    assert any("registry has 3" in p for p in readme_problems(readme, names, {"05": 3}))
    assert any("no Open-in-Colab badge" in p
               for p in readme_problems(readme.replace(COLAB + "05_", COLAB + "5_"), names, counts))
    assert any("listed twice" in p for p in readme_problems(readme.replace(
        "<!-- course-table:end -->", table.splitlines()[-3] + "\n<!-- course-table:end -->"), names, counts))
    assert any("no course-table" in p or "has no <!--" in p for p in readme_problems("# x\n", names, counts))
    untimed = course_table.render_course_table(paths, exercises_, {"notebooks": {}})
    assert any("no measured CPU run time" in p
               for p in readme_problems(readme.replace(table, untimed), names, counts))


def test_course_table_script_reads_titles_and_formats_times(tmp_path):
    nb = _good_notebook()
    path = tmp_path / "05_something.ipynb"
    nbformat.write(nb, str(path))
    assert course_table.notebook_title(path) == "Something"
    assert course_table.format_seconds(None) == "not measured yet"
    assert course_table.format_seconds(7.4) == "7 s"
    assert course_table.format_seconds(95.0) == "1 min 35 s"
    text = "a\n<!-- homework:start -->\nold\n<!-- homework:end -->\nb\n"
    assert course_table.replace_block(text, "homework", "new", "x") == \
        "a\n<!-- homework:start -->\nnew\n<!-- homework:end -->\nb\n"
    with pytest.raises(SystemExit):
        course_table.replace_block("no markers", "homework", "new", "x")


def test_measured_times_file_is_well_formed():
    path = course_table.TIMES
    assert path.exists(), "docs/notebook_times.json is missing: run `python scripts/course_table.py --measure`"
    data = json.loads(path.read_text())
    assert set(data) >= {"machine", "notebooks"}
    for name, entry in data["notebooks"].items():
        assert (NOTEBOOKS_DIR / name).exists(), f"docs/notebook_times.json times {name}, which is gone"
        assert entry["seconds"] > 0 and len(entry["sha256"]) == 64


def test_the_setup_cell_prints_the_environment_line_once(capsys):
    """print_environment() prints its line and returns None, so Jupyter does not echo it a second time."""
    import gradientcoin_edu

    assert gradientcoin_edu.print_environment() is None
    out = capsys.readouterr().out
    assert out.count("gradientcoin_edu ") == 1 and out.strip() == gradientcoin_edu.environment_line()
