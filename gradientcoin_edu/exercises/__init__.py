"""Exercises: named checks that notebooks call on a student's answer.

Each notebook exercise is a stub the student fills in, followed by a cell
``check("03.2", my_function)``. The checks live here (so they work in Colab, where the
repository's ``tests/`` folder is not installed); the reference solutions live apart in
``solutions/`` for instructors, and ``tests/test_exercises.py`` proves every solution
passes its check and that every check rejects a wrong answer.

``check`` returns True for a correct answer, prints a gentle note and returns False for an
untouched stub (it raises ``NotImplementedError``), and raises ``AssertionError`` with a
hint for a wrong answer. Check modules are named ``nbNN.py`` and register themselves with
``@exercise("NN.k", "title")``.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Exercise", "exercise", "check", "all_exercises", "get"]


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


def check(ex_id: str, candidate: Any) -> bool:
    """Run exercise ``ex_id``'s check on ``candidate`` (usually the student's function)."""
    ex = get(ex_id)
    try:
        ex.run(candidate)
    except NotImplementedError:
        print(f"Exercise {ex_id} ({ex.title}): not attempted yet - fill in the stub above and run this cell again.")
        return False
    except AssertionError as err:
        raise AssertionError(f"Exercise {ex_id} ({ex.title}) is not right yet: {err}") from None
    print(f"Exercise {ex_id} ({ex.title}): correct!")
    return True
