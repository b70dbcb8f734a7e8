"""Write the course table (README.md) and the run-time and homework tables (docs/instructors.md).

Each row of the README table is built from the notebook itself (its title: the first markdown
heading), from the exercise registry (``gradientcoin_edu.exercises.all_exercises()``), from the
topic map below, and from the measured CPU wall time cached in ``docs/notebook_times.json``.
Only ``--measure`` executes notebooks; every other run just rewrites the tables, so it is fast
and works with whatever notebooks exist. Run from anywhere:

    python scripts/course_table.py                   # rewrite the tables from the cached times
    python scripts/course_table.py --measure         # execute every notebook, cache its time, rewrite
    python scripts/course_table.py --measure-missing # execute only notebooks without a time (or changed)
    python scripts/course_table.py --check           # exit 1 when README.md or docs/instructors.md is stale

A notebook is measured the way a student runs it in Colab (and the way
``tests/test_notebooks_fresh_env.py`` runs it): copied alone into a fresh directory outside the
repository and executed top to bottom by a kernel of this interpreter. Every cell runs: none is
skipped (the setup cell's Colab install is guarded by ``import google.colab`` and does nothing
elsewhere; cells sized for a GPU check for one and run a smaller version on a CPU). ``--measure``
also prints each notebook's slowest cells, so a slow cell is easy to find.

New notebooks (``notebooks/NN_name.ipynb``) are picked up by their file name; add a topic for them to
``COURSE`` below.
"""
from __future__ import annotations

import argparse
import copy
import datetime as _dt
import hashlib
import json
import os
import pathlib
import platform
import re
import shutil
import sys
import tempfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
INSTRUCTORS = ROOT / "docs" / "instructors.md"
TIMES = ROOT / "docs" / "notebook_times.json"
COLAB = "https://colab.research.google.com/github/gradientcoin-edu/gradientcoin_edu/blob/main/notebooks/"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

SETUP_CELL = '''# Setup: in Colab this installs the package; on a laptop install it once: pip install -e ".[notebooks]" jupyterlab
try:
    import google.colab  # noqa: F401
    %pip install -q "gradientcoin_edu[notebooks] @ git+https://github.com/gradientcoin-edu/gradientcoin_edu"
except ImportError:
    pass
import gradientcoin_edu
gradientcoin_edu.print_environment()'''

# notebook number -> (planned title, whitepaper section / paper topic, library modules it teaches).
# The planned title is used only where the notebook does not exist yet (the map in notebook 00);
# the README table always takes the title from the notebook itself.
COURSE: dict[str, tuple[str, str, str]] = {
    "00": ("Start here", "the paper's idea; the map of the course",
           "all of `gradientcoin_edu`"),
    "01": ("Hashes and signatures", "§2 Transactions (a coin is a chain of signatures), §3 hashes",
           "`crypto`"),
    "02": ("Transactions and the UTXO ledger", "§2 Transactions, §9 Combining and splitting value",
           "`ledger`"),
    "03": ("Blocks, Merkle trees and proof-of-work", "§3 Timestamp server, §4 Proof-of-work, §8 Simplified verification",
           "`crypto.merkle`, `chain`"),
    "04": ("The network", "§5 Network (gossip, forks, the most-work chain)",
           "`network`, `chain.fork_choice`"),
    "05": ("Incentives, attacks and calculations", "§6 Incentive, §11 Calculations",
           "`calculations`, `chain`, `network.simulator`"),
    "06": ("Privacy on a public ledger", "§10 Privacy",
           "`crypto.keys`, `ledger`"),
    "07": ("The model", "the LLM GradientCoin decentralizes: a tiny GPT trained centrally (the baseline)",
           "`model`"),
    "08": ("Proof-of-gradient", "GradientCoin's §4: mining is training; verification by recomputation",
           "`proof_of_gradient`, `kernels`"),
    "09": ("Training on the chain", "training through blocks, unhealthy data kept out, §7 Reclaiming disk space",
           "`proof_of_gradient`, `chain`, `network`"),
    "10": ("Asking the decentralized model", "paid queries, §8 Simplified verification of weights",
           "`model`, `ledger`, `crypto.merkle`"),
    "11": ("Hashing on the GPU", "fast verification of proof-of-gradient (Triton kernels)",
           "`kernels`"),
    "12": ("Why a gradient step can be checked", "theory: softmax-regression (attention) training, convexity",
           "`theory`"),
    "13": ("Join the network", "a classroom network: a relay, students who dial out, RPC, dashboard",
           "`classroom`, `rpc`, `network`, `viz.dashboard`"),
    "14": ("The attack lab", "attacks against naive rules and the real ones: mutated copies, theft, grinding, "
           "forgery, preview, poisoning, a liveness flood, time warp, light proofs", "`naive_rules`, `chain`, `proof_of_gradient`, `llm`"),
}

MARKERS = {
    "course-table": (README, "README.md"),
    "notebook-times": (INSTRUCTORS, "docs/instructors.md"),
    "homework": (INSTRUCTORS, "docs/instructors.md"),
}


# ------------------------------------------------------------------------------------ reading

def notebook_paths(notebooks_dir: pathlib.Path = NOTEBOOKS) -> list[pathlib.Path]:
    """The course notebooks, ``NN_name.ipynb``, in course order."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb") if p.is_file())


def notebook_title(path: pathlib.Path) -> str:
    """The first markdown heading of the notebook, without its ``NN ·`` prefix."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"^#+\s+(.+?)\s*#*\s*$", line)
            if m:
                return re.sub(r"^\d{1,2}\s*[·:.\-–—|]\s*", "", m.group(1)).strip()
    return path.stem


def exercises_by_notebook() -> dict[str, list[tuple[str, str]]]:
    """``{"01": [("01.1", "count differing bits"), ...]}`` from the exercise registry."""
    from gradientcoin_edu.exercises import all_exercises
    out: dict[str, list[tuple[str, str]]] = {}
    for ex_id, ex in all_exercises().items():
        out.setdefault(ex_id.split(".")[0], []).append((ex_id, ex.title))
    for items in out.values():
        items.sort(key=lambda item: int(item[0].split(".")[1]) if item[0].split(".")[1].isdigit() else 0)
    return out


def file_digest(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_times(path: pathlib.Path = TIMES) -> dict:
    if not path.exists():
        return {"machine": None, "notebooks": {}}
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------ running

def prepare(nb, guard: str | None = None):
    """A copy of ``nb`` to run: every cell kept (none skipped), NBVAL_RAISES_EXCEPTION allowed.

    ``guard``, if given, is run as an extra first cell (it checks the isolation, see the test).
    """
    nb = copy.deepcopy(nb)
    for before, cell in zip([None] + nb.cells[:-1], nb.cells):
        if (cell.cell_type == "code" and before is not None and before.cell_type == "markdown"
                and SLOW_ANNOUNCEMENT.search(before.source)):
            cell.metadata[SLOW_KEY] = True            # the longer cell limit (SLOW_CELL_TIMEOUT_S)
        if cell.cell_type == "code" and "NBVAL_RAISES_EXCEPTION" in cell.source:
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
    if guard is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(guard))
    return nb


def _kernel_spec_dir(base: pathlib.Path, python: str | None = None) -> pathlib.Path:
    """A kernelspec that starts exactly ``python`` (default: this interpreter), not whatever
    ``python3`` resolves to."""
    python = python or sys.executable
    spec = base / "kernels" / "gradientcoin-this-env"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({python})", "language": "python",
    }))
    return base / "kernels"


def _kernel_env() -> dict[str, str]:
    """This process's environment, minus PYTHONPATH entries that point into the repository."""
    env = dict(os.environ)
    kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
            if p and not _inside(pathlib.Path(p).resolve(), ROOT)]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        env.pop("PYTHONPATH", None)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def _inside(path: pathlib.Path, root: pathlib.Path) -> bool:
    return path == root or root in path.parents


# Per-cell time limits: a cell still running after this long is stuck, and fails its notebook (a hang
# costs that long, not the 600 s it used to). Measured on the shared 2-core machine at a load average
# of about 7 (docs/benchmarks.md, "CI"): the longest cell a notebook announces as slow ("**The next
# cell is slow**" / "**... takes about N s**" right above it) took 226 s (notebook 10's 500 blocks,
# 84 s of CPU on a quiet machine), the longest other cell 70 s.
CELL_TIMEOUT_S = int(os.environ.get("GRADIENTCOIN_CELL_TIMEOUT", "150"))
SLOW_CELL_TIMEOUT_S = int(os.environ.get("GRADIENTCOIN_SLOW_CELL_TIMEOUT", "400"))
SLOW_ANNOUNCEMENT = re.compile(r"^\*\*(The next cell|This cell)\b[^*]*\b(slow|takes)", re.M)
SLOW_KEY = "gradientcoin_announced_slow"


def execute_outside_repo(path: pathlib.Path, workdir: pathlib.Path, *, guard: str | None = None,
                         timeout: int = CELL_TIMEOUT_S, slow_timeout: int = SLOW_CELL_TIMEOUT_S,
                         python: str | None = None, allow_failure: bool = False):
    """Copy the notebook alone into ``workdir`` (outside the repository) and run it there.

    A cell may run ``timeout`` seconds, one the notebook announces as slow ``slow_timeout``.
    The kernel is ``python`` (default: this interpreter), started in ``workdir``. It talks to this
    process over Unix sockets (jupyter's ``ipc`` transport) in a private folder, not over TCP ports:
    jupyter_client picks a TCP kernel's five ports by binding port 0 and closing it, so a node that
    a notebook starts next to it could take one of them first. Figures are recorded as plotly JSON
    (``plotly_mimetype``), widgets with their state, so the site can render the same copy.

    Returns ``(executed notebook, wall time in seconds, kernel start included)``; raises
    ``nbclient.exceptions.CellExecutionError`` on a failing cell (unless the cell is tagged
    ``raises-exception`` or marked NBVAL_RAISES_EXCEPTION). With ``allow_failure`` it returns
    ``(notebook as far as it ran, seconds, the error)`` instead of raising.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    workdir = workdir.resolve()
    if _inside(workdir, ROOT):
        raise ValueError(f"{workdir} is inside the repository {ROOT}")
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / path.name
    shutil.copyfile(path, target)
    nb = prepare(nbformat.read(str(target), as_version=4), guard)
    error = None
    with tempfile.TemporaryDirectory(prefix="gc-kernel-") as spec_base:
        ksm = KernelSpecManager(kernel_dirs=[str(_kernel_spec_dir(pathlib.Path(spec_base), python))])
        # an *async* manager: with a blocking KernelManager, nbclient never enforces the cell limit
        # (a stuck cell waited forever; tests/test_notebooks_fresh_env.py plays one)
        km = AsyncKernelManager(kernel_name="gradientcoin-this-env", kernel_spec_manager=ksm, transport="ipc",
                                ip=str(pathlib.Path(spec_base) / "k"))
        client = NotebookClient(nb, km=km, timeout=timeout, startup_timeout=120, record_timing=True,
                                timeout_func=lambda cell: slow_timeout if cell.metadata.get(SLOW_KEY) else timeout,
                                store_widget_state=True, resources={"metadata": {"path": str(workdir)}})
        env = _kernel_env()
        env["PLOTLY_RENDERER"] = "plotly_mimetype"
        start, cpu_start = time.perf_counter(), _children_cpu_seconds()
        try:
            # nbclient passes `env` through to KernelManager.start_kernel
            client.execute(cwd=str(workdir), env=env)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            if not allow_failure:
                raise
            error = err
        finally:
            seconds = time.perf_counter() - start
            if km.has_kernel:                      # nbclient leaves a kernel it did not create running
                run_sync(km.shutdown_kernel)(now=True)
        # the kernel (and the processes it started and waited for) has exited and been reaped now
        nb.metadata["gradientcoin_timing"] = {"wall_seconds": seconds,
                                              "cpu_seconds": _children_cpu_seconds() - cpu_start}
        return (nb, seconds, error) if allow_failure else (nb, seconds)


# ------------------------------------------------------------------------------------ one run, reused

# The guard cell run first in every notebook executed for the tests and the site: it proves the
# Colab-like isolation (tests/test_notebooks_fresh_env.py explains why).
GUARD = '''# guard (added by scripts/course_table.py, not part of the notebook)
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

EXECUTED = pathlib.Path(os.environ.get("GRADIENTCOIN_EXECUTED_DIR", ROOT / "build" / "notebooks"))
RUN_KEY = "gradientcoin_run"


def library_digest() -> str:
    """A hash of the library's source (and of this executor): a change re-executes every notebook."""
    h = hashlib.sha256(pathlib.Path(__file__).read_bytes())
    for root in ("gradientcoin_edu", "kernels"):
        for p in sorted((ROOT / root).rglob("*")):
            if p.is_file() and p.suffix in {".py", ".json", ".txt", ".csv"}:
                h.update(str(p.relative_to(ROOT)).encode())
                h.update(p.read_bytes())
    h.update(f"{sys.version_info[:2]}".encode())
    return h.hexdigest()


def fresh_workdir() -> pathlib.Path:
    """A new empty folder outside the repository, for one notebook."""
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="gc-fresh-")).resolve()
    if _inside(workdir, ROOT):          # TMPDIR inside the checkout
        raise ValueError(f"the temporary folder {workdir} is inside the repository {ROOT}")
    return workdir


def executed_copy(path: pathlib.Path, cache_dir: pathlib.Path | None = None, *, run_id: str | None = None,
                  library: str | None = None, log=None):
    """The notebook executed once, Colab-like (``execute_outside_repo`` with the guard), for every
    consumer: the fresh-environment test, the site and the slides read the same executed copy.

    The copy is kept in ``cache_dir`` (default ``build/notebooks``, or $GRADIENTCOIN_EXECUTED_DIR)
    under a key made of the notebook's bytes and ``library_digest()``; a file lock per notebook
    makes concurrent callers (two pytest workers, the site's process pool) wait for the one run
    instead of starting their own. With ``run_id`` (a test run's id) a copy is reused only when it
    was made in that run, so every test run executes every notebook; without it (the site built by
    hand) an unchanged notebook that ran cleanly is not run again. A run that failed is kept too,
    with its error: within its own run it is reported again, never re-executed.

    Returns the executed notebook without the guard cell; ``nb.metadata["gradientcoin_run"]`` holds
    ``wall_seconds``, ``cpu_seconds``, ``error`` (None, or the failing cell's report), ``run_id``,
    ``slowest_cells`` (``[(cell index, seconds)]``) and whether this call executed it (``executed``).
    """
    import fcntl

    cache_dir = pathlib.Path(cache_dir or EXECUTED)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(path.read_bytes() + (library or library_digest()).encode()).hexdigest()[:16]
    cached = cache_dir / f"{path.stem}-{key}.ipynb"
    with open(cache_dir / f"{path.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # another process running this notebook: wait for it
        if cached.exists():
            nb = nbformat.read(str(cached), as_version=4)
            info = nb.metadata.get(RUN_KEY, {})
            same_run = run_id is not None and info.get("run_id") == run_id
            if same_run or (run_id is None and info.get("error") is None):
                info["executed"] = False
                return nb
        for stale in cache_dir.glob(f"{path.stem}-*.ipynb"):
            stale.unlink()
        workdir = fresh_workdir()
        try:
            guard = GUARD.format(repo=str(ROOT), workdir=str(workdir), name=path.name)
            nb, seconds, error = execute_outside_repo(path, workdir, guard=guard, allow_failure=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)    # the nodes' data dirs, models, logs: nothing stays
        timing = nb.metadata.pop("gradientcoin_timing", {})
        slow = [(i - 1, s) for i, s in slowest_cells(nb, 6) if i > 0][:5]          # -1: the guard cell goes
        nb.cells.pop(0)
        report = None if error is None else (str(error).strip() or type(error).__name__)
        nb.metadata[RUN_KEY] = {"wall_seconds": round(seconds, 1), "cpu_seconds": round(timing.get("cpu_seconds", 0), 1),
                                "error": report, "run_id": run_id, "slowest_cells": slow}
        tmp = cached.with_suffix(".tmp")
        nbformat.write(nb, str(tmp))
        tmp.replace(cached)
        nb.metadata[RUN_KEY]["executed"] = True
        if log is not None:
            log(f"  {path.name}: executed in {seconds:.1f} s" + (f"; FAILED: {report.splitlines()[-1]}" if report else ""))
        return nb


def _children_cpu_seconds() -> float:
    """User + system CPU time of this process's finished children (the kernels) and theirs."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def slowest_cells(nb, n: int = 3) -> list[tuple[int, float]]:
    """``[(cell index, seconds), ...]``: the ``n`` slowest code cells of an executed notebook."""
    from datetime import datetime

    def seconds(cell) -> float:
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input") or ex.get("shell.execute_reply.started"), ex.get("shell.execute_reply")
        if not (start and end):
            return 0.0
        parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))          # noqa: E731
        return (parse(end) - parse(start)).total_seconds()

    timed = [(i, seconds(c)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return sorted(timed, key=lambda item: -item[1])[:n]


def machine_description() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch
        torch_version, threads = torch.__version__, torch.get_num_threads()
    except ImportError:  # pragma: no cover
        torch_version, threads = None, None
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": threads, "python": platform.python_version(),
            "torch": torch_version, "load_average_1min_before": load, "gpu": None}


def measure(paths: list[pathlib.Path], times: dict) -> list[str]:
    """Execute each notebook outside the repository and record its wall time; returns failures."""
    failures = []
    times["machine"] = machine_description()
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="gc-course-") as tmp:
            try:
                ran, seconds = execute_outside_repo(path, pathlib.Path(tmp))
            except Exception as err:  # a failing notebook is reported, never timed
                first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
                print(f"{path.name}: FAILED: {first}")
                failures.append(f"{path.name}: {first}")
                times["notebooks"].pop(path.name, None)
                continue
        cpu = ran.metadata.get("gradientcoin_timing", {}).get("cpu_seconds")
        times["notebooks"][path.name] = {
            "seconds": round(seconds, 1), "cpu_seconds": None if cpu is None else round(cpu, 1),
            "load_average_1min_before": round(os.getloadavg()[0], 2), "sha256": file_digest(path),
            "measured": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        }
        slow = ", ".join(f"cell {i} {s:.1f} s" for i, s in slowest_cells(ran))
        print(f"{path.name}: {seconds:.1f} s wall, {cpu or 0:.1f} s CPU (slowest: {slow})")
    return failures


# ------------------------------------------------------------------------------------ writing

def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "not measured yet"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def _time_of(name: str, times: dict) -> float | None:
    """The figure the README shows: CPU time of Run All where measured (else the wall time)."""
    entry = times.get("notebooks", {}).get(name)
    if entry is None:
        return None
    return entry.get("cpu_seconds") if entry.get("cpu_seconds") is not None else entry.get("seconds")


def render_course_table(paths: list[pathlib.Path], exercises: dict, times: dict) -> str:
    rows = ["| # | notebook | whitepaper section / topic | CPU time of Run All | exercises | Colab |",
            "|---|---|---|---|---|---|"]
    for path in paths:
        number = path.name[:2]
        topic = COURSE.get(number, ("", "–", ""))[1]
        badge = f"[![Open In Colab]({BADGE})]({COLAB}{path.name})"
        rows.append(f"| {number} | [{notebook_title(path)}](notebooks/{path.name}) | {topic} | "
                    f"{format_seconds(_time_of(path.name, times))} | {len(exercises.get(number, []))} | {badge} |")
    machine = times.get("machine") or {}
    if machine:
        rows.append("")
        rows.append(f"CPU time of Run All: user + system time of the kernel and the processes it starts, every "
                    f"cell run (none skipped), measured by `python scripts/course_table.py --measure` on "
                    f"{machine.get('cores')} cores of an {machine.get('cpu')} (torch {machine.get('torch')}, "
                    f"{machine.get('torch_threads')} threads); on 2 idle cores a notebook takes about that long or "
                    f"less (plus waits: notebook 04 waits 8 s for its node processes). Wall times on the shared machine, and the GPU cells: "
                    f"[docs/instructors.md](docs/instructors.md).")
    else:
        rows.append("")
        rows.append("CPU run times are filled in by `python scripts/course_table.py --measure`.")
    return "\n".join(rows)


def render_times_table(paths: list[pathlib.Path], times: dict) -> str:
    rows = ["| # | notebook | CPU time of Run All | wall time of Run All (shared machine) | load average before | GPU |",
            "|---|---|---|---|---|---|"]
    for path in paths:
        entry = times.get("notebooks", {}).get(path.name, {})
        load = entry.get("load_average_1min_before")
        rows.append(f"| {path.name[:2]} | `{path.name}` | {format_seconds(entry.get('cpu_seconds'))} | "
                    f"{format_seconds(entry.get('seconds'))} | {'' if load is None else load} | "
                    f"not measured (no GPU was available) |")
    for key, label in (("cpu_seconds", "CPU"), ("seconds", "wall")):
        total = [times.get("notebooks", {}).get(p.name, {}).get(key) for p in paths]
        if total and all(t is not None for t in total):
            rows.append(f"| | **all notebooks, {label}** | {'**' + format_seconds(sum(total)) + '**' if key == 'cpu_seconds' else ''} | "
                        f"{'**' + format_seconds(sum(total)) + '**' if key == 'seconds' else ''} | | |")
    machine = times.get("machine") or {}
    if machine:
        rows.append("")
        rows.append(f"Measured by `python scripts/course_table.py --measure` on {machine.get('cores')} cores of an "
                    f"{machine.get('cpu')}, Python {machine.get('python')}, torch {machine.get('torch')} "
                    f"({machine.get('torch_threads')} threads). *CPU time* is the user + system time of the kernel "
                    "and the processes it started: it does not grow when other jobs share the machine, and on 2 "
                    "idle cores Run All takes about that long or less, plus waits (notebook 04 waits 8 s for its "
                    "node processes). *Wall time* was measured on a machine "
                    "shared with other jobs (the load average column: 2 means both cores already busy), so it is "
                    "an upper bound; a quiet laptop is faster.")
    return "\n".join(rows)


def render_homework(paths: list[pathlib.Path], exercises: dict) -> str:
    """One row per registered exercise; the first of each notebook is suggested for class, the rest for home."""
    rows = ["| notebook | exercise | title | suggested use |", "|---|---|---|---|"]
    names = {p.name[:2]: p.name for p in paths}
    for number in sorted(exercises):
        for k, (ex_id, title) in enumerate(exercises[number]):
            use = "in class" if k == 0 else "homework"
            rows.append(f"| `{names.get(number, number + ' (no notebook!)')}` | `{ex_id}` | {title} | {use} |")
    return "\n".join(rows)


def replace_block(text: str, marker: str, body: str, where: str) -> str:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SystemExit(f"{where}: expected one '{start}' ... '{end}' pair")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def block(text: str, marker: str) -> str | None:
    """The text between a marker pair (None when the markers are missing)."""
    m = re.search(rf"<!-- {marker}:start -->\n?(.*?)\n?<!-- {marker}:end -->", text, re.S)
    return None if m is None else m.group(1)


def rendered_files(times: dict | None = None) -> dict[pathlib.Path, str]:
    """The new contents of README.md and docs/instructors.md (whichever exist)."""
    paths, exercises = notebook_paths(), exercises_by_notebook()
    times = load_times() if times is None else times
    bodies = {
        "course-table": render_course_table(paths, exercises, times),
        "notebook-times": render_times_table(paths, times),
        "homework": render_homework(paths, exercises),
    }
    out: dict[pathlib.Path, str] = {}
    for marker, (path, where) in MARKERS.items():
        if not path.exists():
            continue
        text = out.get(path, path.read_text())
        out[path] = replace_block(text, marker, bodies[marker], where)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--measure", action="store_true", help="execute every notebook and cache its wall time")
    group.add_argument("--measure-missing", action="store_true",
                       help="execute only notebooks with no cached time or changed since they were timed")
    group.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table is stale")
    parser.add_argument("notebooks", nargs="*", help="with --measure: only these notebook files")
    args = parser.parse_args(argv)

    times, failures = load_times(), []
    if args.measure or args.measure_missing:
        paths = notebook_paths()
        if args.notebooks:
            wanted = {pathlib.Path(n).name for n in args.notebooks}
            paths = [p for p in paths if p.name in wanted]
        if args.measure_missing:
            cached = times.get("notebooks", {})
            paths = [p for p in paths if cached.get(p.name, {}).get("sha256") != file_digest(p)]
        failures = measure(paths, times)
        known = {p.name for p in notebook_paths()}
        times["notebooks"] = {k: v for k, v in sorted(times["notebooks"].items()) if k in known}
        TIMES.parent.mkdir(parents=True, exist_ok=True)
        TIMES.write_text(json.dumps(times, indent=2) + "\n")

    stale = []
    for path, text in rendered_files(times).items():
        if path.read_text() != text:
            if args.check:
                stale.append(str(path.relative_to(ROOT)))
            else:
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run `python scripts/course_table.py`", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
