"""Hidden cases: each exercise's function tried on inputs drawn from the instructor's private seed.

The public check of an exercise (``gradientcoin_edu/exercises/nbNN.py``) ships in the package every
student installs, so anyone can read how it tests. The grader also calls the student's function on
inputs drawn here from a seed only the instructor has (``python -m grading.build`` writes it into
the private autograder), and compares each answer with the instructor's reference solution for that
exercise (the notebook's ``solutions/nbNN.py``, copied into the autograder as ``reference.py``). The
*kinds* of inputs are public (this file); the inputs are not, and they are the same at every regrade.

Generators are keyed by the name of the function the notebook asks for (its ``check("NN.k", name)``
cell), which survives a renumbering of the exercises. An exercise whose function has no generator
below is graded by the rerun public check alone. This module is copied into each autograder and
imported inside the grading kernel: it needs only the standard library and NumPy.
"""
from __future__ import annotations

import copy
import math
import random

__all__ = ["INPUTS", "run", "is_library_function", "same"]


def is_library_function(fn) -> bool:
    """True for a function of the library itself (handing in the library's answer is not an answer)."""
    fn = getattr(fn, "__func__", fn)
    return (getattr(fn, "__module__", None) or "").startswith("gradientcoin_edu")


def _byte_pairs(rng):
    for _ in range(30):
        n = rng.randrange(0, 48)
        yield rng.randbytes(n), rng.randbytes(n)


def _messages(rng):
    for _ in range(30):
        yield (rng.randbytes(rng.choice([rng.randrange(0, 200), 0, 55, 56, 63, 64, 119, 120])),)


def _compact_targets(rng):
    for _ in range(40):
        yield ((rng.randrange(1, 0x20) << 24) | rng.randrange(0, 0x800000),)


def _heights(rng):
    for _ in range(30):
        yield (rng.choice([rng.randrange(0, 40), rng.randrange(0, 10**7)]),)


def _delays(rng):
    for _ in range(30):
        yield rng.uniform(0, 120), rng.uniform(0.5, 900)


def _schedules(rng):
    for _ in range(10):
        yield rng.randrange(1, 10**10), rng.randrange(1, 10**6)


def _attackers(rng):
    for _ in range(30):
        yield rng.uniform(0.01, 0.49), rng.randrange(0, 40)


def _confirmations(rng):
    for _ in range(8):
        yield rng.uniform(0.02, 0.45), rng.choice([0.1, 0.01, 0.001, 0.0001])


def _output_amounts(rng):
    unit = 10**8 // 100
    for _ in range(40):
        n = rng.choice([1, 2, 2, 2, 3])
        yield ([rng.randrange(1, 100) * unit if rng.random() < 0.5 else rng.randrange(1, 10**9) for _ in range(n)],)


def _float_arrays(rng):
    import numpy as np
    gen = np.random.default_rng(rng.randrange(2**32))
    yield (np.concatenate([gen.integers(-2**20, 2**20, 200) + 0.5, gen.uniform(-1e7, 1e7, 200)]),)


def _class_heights(rng):
    for _ in range(30):
        heights = {f"s{rng.randrange(10**6)}": rng.randrange(50) for _ in range(rng.randrange(1, 12))}
        yield heights, rng.randrange(4)


# the function a notebook asks for -> a generator of argument tuples (each a hidden case)
INPUTS = {
    "bit_difference": _byte_pairs, "differing_bits": _byte_pairs, "pad": _messages, "padded_words": _messages,
    "decode_bits": _compact_targets, "locator_heights": _heights, "fork_probability": _delays,
    "total_supply": _schedules, "attacker_success": _attackers, "confirmations_needed": _confirmations,
    "change_index": _output_amounts, "round_half_even": _float_arrays, "laggards": _class_heights,
}


def same(got, want) -> bool:
    """Equal answers: exact for integers, bytes, strings and containers; floats to 1e-9 (relative)."""
    try:
        import numpy as np
        if isinstance(want, np.ndarray) or isinstance(got, np.ndarray):
            got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
            return got.shape == want.shape and bool(np.array_equal(got, want))
    except ImportError:                                       # pragma: no cover - numpy is a dependency
        pass
    if isinstance(got, bool) != isinstance(want, bool):
        return False
    if isinstance(want, float) and isinstance(got, (int, float)):
        return math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    return got == want


def _short(value, n: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= n else text[:n] + "..."


def run(ex_id: str, candidate, seed: str, reference=None, function: str | None = None) -> None:
    """Try ``candidate`` on exercise ``ex_id``'s hidden inputs for ``seed``; AssertionError if wrong.

    ``reference`` is the instructor's solution and ``function`` the name the notebook asks for
    (which picks the generator). The inputs depend on the seed and the exercise only."""
    assert callable(candidate), f"exercise {ex_id}: the notebook's answer is not a function"
    assert not is_library_function(candidate), f"exercise {ex_id}: this is the library's own function"
    generator = INPUTS.get(function or "")
    if generator is None or reference is None:
        return
    for args in generator(random.Random(f"{seed}/{ex_id}")):
        want = reference(*copy.deepcopy(args))
        got = candidate(*copy.deepcopy(args))
        assert same(got, want), f"{function}{_short(args)}: expected {_short(want)}, got {_short(got)}"
