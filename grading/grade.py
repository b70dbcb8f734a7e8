"""Grade a folder of submissions with the private autograders; write a gradebook CSV.

    python -m grading.grade submissions/ --autograders ~/course-private/autograders --out gradebook.csv

A submission is a notebook (``NN_name.ipynb``) or a zip holding one (what
``gradientcoin_edu.exercises.submit.export_submission`` or otter's ``Notebook.export`` writes),
anywhere under the folder. Each is graded by otter-grader's non-containerized grader
(``otter.api.grade_submission``: the notebook runs top to bottom in a fresh kernel, then the
tests of ``AUTOGRADERS/NN/autograder.zip`` run on what it defined), in a process of its own with a
time limit, so a notebook that loops forever costs one row, not the batch. No Docker is needed.

Before grading, a cell is added after the student's last definition of each graded function that
records it (``_GRADED_ANSWERS``), so a notebook that later rebinds the name to the library's
function (as notebooks do when an exercise is not attempted) is graded on the student's version.

One row per submission: the student (from the zip's ``submission.json``, else the file name), the
notebook, one column per exercise (1 or 0), the total, the points possible, a status (``graded``,
``timeout``, ``error: ...``) and flags for a person to read (code that mentions otter or the
grader's names, a graded function the notebook never defines).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT_S = 600
SUSPICIOUS = re.compile(r"\botter\b|_GRADED_ANSWERS|GradingResults|Checker\b")

__all__ = ["Submission", "find_submissions", "prepare_notebook", "grade_one", "grade_folder", "write_gradebook", "main"]


@dataclass
class Submission:
    path: Path                       # the file handed in (.ipynb or .zip)
    student: str
    notebook_name: str               # NN_name.ipynb
    notebook: dict                   # the notebook's JSON
    flags: list[str] = field(default_factory=list)

    @property
    def number(self) -> str:
        return self.notebook_name[:2]


def _student_from_name(path: Path, notebook_name: str) -> str:
    stem = path.stem
    base = Path(notebook_name).stem
    if stem.startswith(base):
        stem = stem[len(base):].strip("-_ ") or stem
    return stem


def read_submission(path: Path) -> Submission:
    """Read one handed-in file; ValueError with the reason when it is not a gradable submission."""
    if path.suffix == ".ipynb":
        name = path.name
        if not re.match(r"\d\d_", name):
            raise ValueError(f"{path.name}: a notebook's name must start with its number (NN_...)")
        return Submission(path, _student_from_name(path, name), name, json.loads(path.read_text(encoding="utf-8")))
    if path.suffix != ".zip":
        raise ValueError(f"{path.name}: neither a notebook nor a zip")
    try:
        with zipfile.ZipFile(path) as zf:
            notebooks = [n for n in zf.namelist() if n.endswith(".ipynb") and not n.startswith("__MACOSX")
                         and re.match(r"\d\d_", Path(n).name)]
            if len(notebooks) != 1:
                raise ValueError(f"{path.name}: the zip holds {len(notebooks)} course notebooks, expected 1")
            meta = json.loads(zf.read("submission.json")) if "submission.json" in zf.namelist() else {}
            name = Path(notebooks[0]).name
            nb = json.loads(zf.read(notebooks[0]).decode("utf-8"))
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path.name}: not a readable zip ({err})") from None
    student = str(meta.get("student") or "").strip() or _student_from_name(path, name)
    return Submission(path, student, name, nb)


def find_submissions(folder: Path) -> tuple[list[Submission], list[tuple[Path, str]]]:
    """Every submission under ``folder`` and every file that could not be read (with why).

    A notebook handed in bare is named after its folder when it sits in one (one folder per
    student, as learning platforms export them), else after its file name."""
    found, bad = [], []
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.suffix in {".ipynb", ".zip"} and p.is_file()):
        if ".ipynb_checkpoints" in path.parts:
            continue
        try:
            sub = read_submission(path)
        except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as err:
            bad.append((path, str(err)))
            continue
        if path.suffix == ".ipynb" and path.parent != folder:
            sub.student = path.parent.name
        found.append(sub)
    return found, bad


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def prepare_notebook(sub: Submission, functions: dict[str, str]) -> dict:
    """A copy of the notebook with outputs cleared and a recording cell after each graded definition."""
    nb = json.loads(json.dumps(sub.notebook))
    cells = nb.get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
            if SUSPICIOUS.search(_source(cell)) and "mentions the grader (otter)" not in sub.flags:
                sub.flags.append("mentions the grader (otter)")
    inserts: list[tuple[int, str, str]] = []
    for ex_id, function in sorted(functions.items()):
        defines = re.compile(rf"^(\s*def\s+{re.escape(function)}\s*\(|{re.escape(function)}\s*=[^=])", re.M)
        where = [i for i, c in enumerate(cells) if c.get("cell_type") == "code" and defines.search(_source(c))]
        if not where:
            sub.flags.append(f"{ex_id}: no definition of {function}")
            continue
        inserts.append((where[-1], ex_id, function))
    for index, ex_id, function in sorted(inserts, reverse=True):
        record = f"globals().setdefault('_GRADED_ANSWERS', {{}})[{ex_id!r}] = globals().get({function!r})"
        cells.insert(index + 1, {"cell_type": "code", "metadata": {"tags": ["otter_ignore"]}, "outputs": [],
                                 "execution_count": None, "source": record})
    return nb


def _grade_in_this_process(notebook: Path, autograder: Path, result: Path) -> None:
    """The child's work: otter's non-containerized grading of one notebook; results as JSON."""
    from otter.api import grade_submission

    results = grade_submission(str(notebook), str(autograder), quiet=True)
    out = {"catastrophic": repr(results.catastrophic_error) if results.catastrophic_error else None, "tests": {}}
    for name, tf in results.results.items():
        out["tests"][name] = {"score": tf.score, "possible": tf.possible,
                              "failures": [str(getattr(r, "message", "")).strip()[:500]
                                           for r in getattr(tf, "test_case_results", []) if not r.passed]}
    result.write_text(json.dumps(out))


def grade_one(sub: Submission, autograders: Path, timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """Grade one submission in a child process; a dict with ``scores``, ``status`` and ``failures``."""
    folder = Path(autograders) / sub.number
    autograder = folder / "autograder.zip"
    if not autograder.exists():
        return {"scores": {}, "status": f"error: no autograder for notebook {sub.number} ({autograder})",
                "failures": {}}
    functions = json.loads((folder / "graded.json").read_text())["functions"]
    with tempfile.TemporaryDirectory(prefix="gc-grade-") as tmp:
        notebook = Path(tmp) / sub.notebook_name
        notebook.write_text(json.dumps(prepare_notebook(sub, functions)), encoding="utf-8")
        result = Path(tmp) / "result.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        proc = subprocess.Popen([sys.executable, "-m", "grading.grade", "--one", str(notebook), str(autograder),
                                 str(result)], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)       # its own process group: the kernel goes with it
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"scores": {ex: 0 for ex in functions}, "status": f"timeout after {timeout:.0f} s", "failures": {}}
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.returncode != 0 or not result.exists():
            last = output.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return {"scores": {ex: 0 for ex in functions}, "status": f"error: {last[0][:200]}", "failures": {}}
        data = json.loads(result.read_text())
    if data["catastrophic"]:
        return {"scores": {ex: 0 for ex in functions}, "status": f"error: {data['catastrophic'][:200]}",
                "failures": {}}
    scores = {ex: data["tests"].get(ex, {}).get("score", 0) for ex in functions}
    failures = {ex: t["failures"] for ex, t in data["tests"].items() if t["failures"]}
    return {"scores": scores, "status": "graded", "failures": failures}


def grade_folder(folder: Path, autograders: Path, timeout: float = DEFAULT_TIMEOUT_S, log=print) -> list[dict]:
    subs, bad = find_submissions(folder)
    rows = []
    for path, why in bad:
        log(f"skipped {path}: {why}")
        rows.append({"student": path.stem, "notebook": "", "file": str(path), "scores": {}, "status": f"error: {why}",
                     "flags": [], "failures": {}})
    for sub in subs:
        result = grade_one(sub, autograders, timeout)
        row = {"student": sub.student, "notebook": sub.notebook_name, "file": str(sub.path), "flags": sub.flags,
               **result}
        log(f"{sub.student} {sub.notebook_name}: {sum(row['scores'].values())}/{len(row['scores'])} ({row['status']})"
            + (f" flags: {'; '.join(sub.flags)}" if sub.flags else ""))
        rows.append(row)
    return rows


def write_gradebook(rows: list[dict], out: Path) -> None:
    exercises = sorted({ex for r in rows for ex in r["scores"]})
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", *exercises, "total", "possible", "status", "flags", "file"])
        for r in rows:
            s = r["scores"]
            w.writerow([r["student"], r["notebook"], *[s.get(ex, "") for ex in exercises], sum(s.values()), len(s),
                        r["status"], "; ".join(r["flags"]), r["file"]])
    failures = out.with_suffix(".failures.json")
    failures.write_text(json.dumps({r["file"]: r["failures"] for r in rows if r["failures"]}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:                      # the child process of grade_one
        _grade_in_this_process(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m grading.grade", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks or zips")
    parser.add_argument("--autograders", type=Path, required=True, help="the folder `python -m grading.build` wrote")
    parser.add_argument("--out", type=Path, default=Path("gradebook.csv"), help="the gradebook (default gradebook.csv)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per submission (default 600)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.exit(2, f"{parser.prog}: error: {args.submissions} is not a folder\n")
    if not args.autograders.is_dir():
        parser.exit(2, f"{parser.prog}: error: {args.autograders} is not a folder (run python -m grading.build)\n")
    if args.timeout <= 0:
        parser.exit(2, f"{parser.prog}: error: --timeout must be positive\n")
    rows = grade_folder(args.submissions, args.autograders, args.timeout)
    write_gradebook(rows, args.out)
    print(f"{len(rows)} submissions graded: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
