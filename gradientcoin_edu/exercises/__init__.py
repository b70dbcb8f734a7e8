"""[tooling] Exercises: named checks that notebooks call on a student's answer.

Each notebook exercise is a stub cell (tagged ``exercise``) that the student fills in, followed by
a cell ``check("03.2", my_function)`` (tagged ``exercise-check``). The checks live here (so they
work in Colab, where the repository's ``tests/`` folder is not installed); the reference solutions
live apart in ``solutions/`` for instructors, and ``tests/test_exercises.py`` proves every solution
passes its check and that every check rejects a wrong answer.

``check`` never stops the notebook: it prints one verdict and returns ``None`` (so a notebook
shows no ``True``/``False`` after it): "correct!", "not attempted yet" for an untouched stub (it
raises ``NotImplementedError``), or "not right yet" with the hint for a wrong answer, so that Run
All goes on past a wrong answer. ``verdict`` returns the same outcome as a value, and ``verify``
raises ``AssertionError`` on a wrong answer (for tests and graders). Check modules are named
``nbNN.py`` and register themselves with ``@exercise("NN.k", "title")``.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Exercise", "Verdict", "exercise", "check", "verdict", "verify", "all_exercises", "get"]


@dataclass(frozen=True)
class Exercise:
    id: str                                  # "NN.k": notebook number, exercise number
    title: str
    run: Callable[[Any], None]               # raises AssertionError on a wrong answer


_REGISTRY: dict[str, Exercise] = {}


def exercise(ex_id: str, title: str):
    """Decorator that registers a check function under ``ex_id``."""
    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        if ex_id in _REGISTRY:
            raise ValueError(f"exercise {ex_id} registered twice")
        _REGISTRY[ex_id] = Exercise(ex_id, title, fn)
        return fn
    return register


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("nb"):
            importlib.import_module(f"{__name__}.{mod.name}")


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise, by id (loads all check modules)."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get(ex_id: str) -> Exercise:
    ex = all_exercises().get(ex_id)
    if ex is None:
        raise KeyError(f"no exercise {ex_id!r}; known: {', '.join(all_exercises())}")
    return ex


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``status`` is "correct", "not attempted" or "wrong"."""
    ex_id: str
    title: str
    status: str
    hint: str = ""

    @property
    def message(self) -> str:
        head = f"Exercise {self.ex_id} ({self.title})"
        if self.status == "correct":
            return f"{head}: correct!"
        if self.status == "not attempted":
            return f"{head}: not attempted yet - fill in the stub above and run this cell again."
        return f"{head} is not right yet: {self.hint}"


def verdict(ex_id: str, candidate: Any) -> Verdict:
    """Run exercise ``ex_id``'s check on ``candidate`` and return its outcome (prints nothing).

    Any exception other than the stub's ``NotImplementedError`` counts as a wrong answer: the
    student's function crashed on one of the check's inputs, and the message says which error.
    """
    ex = get(ex_id)
    try:
        ex.run(candidate)
    except NotImplementedError:
        return Verdict(ex_id, ex.title, "not attempted")
    except AssertionError as err:
        return Verdict(ex_id, ex.title, "wrong", str(err) or "the check failed (no hint)")
    except Exception as err:  # noqa: BLE001 - a crash in the student's code is a wrong answer, reported
        return Verdict(ex_id, ex.title, "wrong", f"your function raised {type(err).__name__}: {err}")
    return Verdict(ex_id, ex.title, "correct")


def verify(ex_id: str, candidate: Any) -> None:
    """Like ``check`` but strict: raise ``AssertionError`` unless ``candidate`` is correct."""
    result = verdict(ex_id, candidate)
    if result.status != "correct":
        raise AssertionError(result.message)


def check(ex_id: str, candidate: Any) -> None:
    """Print the verdict of exercise ``ex_id`` on ``candidate``; never raises for a wrong answer.

    A wrong answer's message (with its hint) goes to stderr, which Jupyter shows highlighted, and
    Run All continues with the next cell.
    """
    result = verdict(ex_id, candidate)
    print(result.message, file=sys.stderr if result.status == "wrong" else sys.stdout)
