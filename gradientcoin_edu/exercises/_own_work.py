"""[tooling] Helpers that make a check judge the student's own work (used by the checks of notebooks 01, 03,
05, 10, 11, 12 and 14).

A check draws its inputs afresh at every call (:func:`fresh_rng`), so no printed output can be
copied into an answer, and it refuses the library's own function: :func:`refuse_library` rejects a
function that lives in the package, and :func:`tripwires` makes the named library functions raise
while the check runs *if the student's function reaches them through its notebook's globals* (a
one-line wrapper such as ``lambda items: merkle_root(items)``). Everything else in the library the
notebook imported stays usable (``sha256``, ``leaf_hash``, ...).
"""
from __future__ import annotations

import contextlib
import random
import secrets
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["fresh_rng", "fresh_np_rng", "refuse_library", "tripwires", "guarded", "ReachedLibrary"]


class ReachedLibrary(AssertionError):
    """The student's function called the library function it was asked to write."""


def fresh_rng() -> random.Random:
    """A generator seeded from the operating system: the check's inputs differ at every call."""
    return random.Random(secrets.randbits(64))


def fresh_np_rng() -> np.random.Generator:
    return np.random.default_rng(secrets.randbits(64))


def _module_of(candidate: Any) -> str:
    fn = getattr(candidate, "__func__", candidate)             # classmethod/staticmethod/bound method
    return getattr(fn, "__module__", None) or ""


def refuse_library(candidate: Any, name: str) -> None:
    """Raise ``AssertionError`` when ``candidate`` is a function of the library itself."""
    module = _module_of(candidate)
    if module.startswith("gradientcoin_edu"):
        raise AssertionError(f"that is the library's own function ({module}); write {name} yourself - "
                             "the library's version is used after this exercise")


@contextlib.contextmanager
def tripwires(candidate: Any, library_fns: tuple[Callable, ...], name: str) -> Iterator[None]:
    """While the block runs, the library functions ``library_fns`` raise :class:`ReachedLibrary` when
    the student's function reaches them: through its own globals (``merkle_root(...)`` after
    ``from ... import merkle_root``) or through a library module (``teaching.sha256_pad(...)``).
    Everything is restored afterwards, whatever happens."""
    fn = getattr(candidate, "__func__", candidate)
    namespaces = [m.__dict__ for key, m in list(sys.modules.items())
                  if m is not None and (key == "gradientcoin_edu" or key.startswith("gradientcoin_edu."))]
    own = getattr(fn, "__globals__", None)
    if isinstance(own, dict):
        namespaces.append(own)
    attributes = [item for item in library_fns if isinstance(item, tuple)]     # (class, "method")
    library_fns = tuple(item for item in library_fns if not isinstance(item, tuple))
    swapped: list[tuple[Any, str, Any]] = []
    for owner, attr in attributes:
        def method_wire(*args, _key=f"{owner.__name__}.{attr}", **kwargs):
            raise ReachedLibrary(f"your {name} calls {_key}, the very thing to write here: write it yourself")
        swapped.append((owner, attr, owner.__dict__[attr]))
        setattr(owner, attr, method_wire)
    for namespace in namespaces:
        for key, value in list(namespace.items()):
            if callable(value) and any(value is lib for lib in library_fns):
                def wire(*args, _key=key, **kwargs):
                    raise ReachedLibrary(f"your {name} calls {_key}, the very thing to write here: write it yourself")
                swapped.append((namespace, key, value))
                namespace[key] = wire
    cells = []
    for cell in getattr(fn, "__closure__", None) or ():          # names of an enclosing function
        try:
            value = cell.cell_contents
        except ValueError:                                       # an empty cell
            continue
        if callable(value) and any(value is lib for lib in library_fns):
            def cell_wire(*args, **kwargs):
                raise ReachedLibrary(f"your {name} calls {value.__name__}, the very thing to write here: write it "
                                     "yourself")
            cells.append((cell, value))
            cell.cell_contents = cell_wire
    try:
        yield
    finally:
        for cell, value in cells:
            cell.cell_contents = value
        for namespace, key, value in reversed(swapped):
            if isinstance(namespace, dict):
                namespace[key] = value
            else:
                setattr(namespace, key, value)


def guarded(candidate: Any, library_fns: tuple[Callable, ...], name: str) -> Callable:
    """``candidate`` refused if it is a library function, and called with :func:`tripwires` set."""
    refuse_library(candidate, name)

    def call(*args, **kwargs):
        with tripwires(candidate, library_fns, name):
            return candidate(*args, **kwargs)
    return call
