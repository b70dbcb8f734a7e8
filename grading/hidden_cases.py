"""Hidden cases: each exercise's function tried on inputs drawn from the instructor's private seed.

The public check of an exercise (``gradientcoin_edu/exercises/nbNN.py``) is in the package every
student installs, so its inputs can be read. The grader therefore also calls the student's function
on inputs drawn here from a seed only the instructor has (``python -m grading.build`` writes it into
the private autograder), and compares with an answer computed from the library. The *kinds* of
inputs are public (this file); the inputs themselves are not, so a function that only remembers the
public check's cases fails here.

This module is copied into each autograder and imported by its tests inside the grading kernel:
it imports only the library, NumPy and the standard library. Exercises without a generator below
are graded by the public check alone (rerun by the grader); ``GENERATORS`` says which have one.
"""
from __future__ import annotations

import math
import random

__all__ = ["GENERATORS", "run", "is_library_function"]

CASES = 40                      # hidden inputs per exercise (each a fresh draw from the seed)


def is_library_function(fn) -> bool:
    """True for a function of the library itself (handing in the library's answer is not an answer)."""
    module = getattr(fn, "__module__", None) or getattr(getattr(fn, "__func__", None), "__module__", "") or ""
    return module.startswith("gradientcoin_edu")


def _bits_01_1(rng, fn):
    for _ in range(CASES):
        n = rng.randrange(0, 48)
        a, b = rng.randbytes(n), rng.randbytes(n)
        want = sum(bin(x ^ y).count("1") for x, y in zip(a, b))
        got = fn(a, b)
        assert got == want, f"bit_difference on {n}-byte inputs: expected {want}, got {got!r}"


def _pad_01_2(rng, fn):
    from gradientcoin_edu.crypto.teaching import sha256_pad
    for _ in range(CASES):
        message = rng.randbytes(rng.choice([rng.randrange(0, 200), 55, 56, 63, 64, 119, 120]))
        got = fn(message)
        assert bytes(got) == sha256_pad(message), f"padding of a {len(message)}-byte message differs"


def _bits_03_2(rng, fn):
    from gradientcoin_edu.chain.bits import bits_to_target
    for _ in range(CASES):
        size = rng.randrange(1, 0x20)
        bits = (size << 24) | rng.randrange(0, 0x800000)
        got = fn(bits)
        assert got == bits_to_target(bits), f"decoding {bits:#010x}: expected {bits_to_target(bits):#x}, got {got!r}"


def _locator_04_1(rng, fn):
    def reference(height):
        out, h, step = [], height, 1
        while h > 0:
            out.append(h)
            if len(out) >= 10:
                step *= 2
            h -= step
        out.append(0)
        return out
    for _ in range(CASES):
        height = rng.choice([rng.randrange(0, 40), rng.randrange(0, 10**7)])
        got = fn(height)
        assert list(got) == reference(height), f"locator of height {height} differs"


def _fork_04_3(rng, fn):
    for _ in range(CASES):
        delay, interval = rng.uniform(0, 120), rng.uniform(0.5, 900)
        want = 1.0 - math.exp(-delay / interval)
        got = fn(delay, interval)
        assert abs(float(got) - want) < 1e-9, f"fork_probability({delay:.3f}, {interval:.3f}): expected {want:.9f}, got {got!r}"


def _supply_05_1(rng, fn):
    from gradientcoin_edu.chain.params import ChainParams
    for _ in range(CASES // 4):
        subsidy, interval = rng.randrange(1, 10**10), rng.randrange(1, 10**6)
        want = ChainParams(initial_subsidy=subsidy, halving_interval=interval).total_supply()
        got = fn(subsidy, interval)
        assert got == want, f"total_supply({subsidy}, {interval}): expected {want}, got {got!r}"


def _attacker_05_2(rng, fn):
    from gradientcoin_edu.calculations import attacker_success_probability
    for _ in range(CASES):
        q, z = rng.uniform(0.01, 0.49), rng.randrange(0, 40)
        want = attacker_success_probability(q, z)
        got = fn(q, z)
        assert abs(float(got) - want) < 5e-8, f"attacker_success({q:.4f}, {z}): expected {want:.7f}, got {got!r}"


def _confirmations_05_3(rng, fn):
    from gradientcoin_edu.calculations import min_confirmations
    for _ in range(CASES // 4):
        q, p_max = rng.uniform(0.02, 0.45), rng.choice([0.1, 0.01, 0.001, 0.0001])
        want = min_confirmations(q, p_max)
        got = fn(q, p_max)
        assert got == want, f"confirmations_needed({q:.4f}, {p_max}): expected {want}, got {got!r}"


def _change_06_2(rng, fn):
    unit = 10**8 // 100
    for _ in range(CASES):
        n = rng.choice([1, 2, 2, 2, 3])
        amounts = [rng.randrange(1, 100) * unit if rng.random() < 0.5 else rng.randrange(1, 10**9) for _ in range(n)]
        flags = [a % unit == 0 for a in amounts]
        want = flags.index(False) if n == 2 and flags.count(True) == 1 else None
        got = fn(list(amounts))
        assert got == want, f"change_index({amounts}): expected {want}, got {got!r}"


def _round_11_2(rng, fn):
    import numpy as np
    gen = np.random.default_rng(rng.randrange(2**32))
    x = np.concatenate([gen.integers(-2**20, 2**20, 200) + 0.5, gen.uniform(-1e7, 1e7, 200)])
    got = np.asarray(fn(x.copy()), dtype=np.float64)
    assert got.shape == x.shape and np.array_equal(got, np.rint(x)), "round_half_even differs from round-half-to-even"


def _laggards_13_2(rng, fn):
    for _ in range(CASES):
        heights = {f"s{rng.randrange(10**6)}": rng.randrange(50) for _ in range(rng.randrange(1, 12))}
        tolerance = rng.randrange(4)
        top = max(heights.values())
        want = sorted(name for name, h in heights.items() if h < top - tolerance)
        got = fn(dict(heights), tolerance)
        assert list(got) == want, f"laggards({heights}, {tolerance}): expected {want}, got {got!r}"


# exercise id -> generator(rng, candidate): raises AssertionError when the candidate is wrong
GENERATORS = {
    "01.1": _bits_01_1, "01.2": _pad_01_2, "03.2": _bits_03_2, "04.1": _locator_04_1, "04.3": _fork_04_3,
    "05.1": _supply_05_1, "05.2": _attacker_05_2, "05.3": _confirmations_05_3, "06.2": _change_06_2,
    "11.2": _round_11_2, "13.2": _laggards_13_2,
}


def run(ex_id: str, candidate, seed: str) -> None:
    """Try ``candidate`` on exercise ``ex_id``'s hidden inputs for ``seed``; AssertionError if wrong.

    The inputs depend on the seed and the exercise only, so a regrade draws the same ones."""
    assert callable(candidate), f"exercise {ex_id}: the notebook's answer is not a function"
    assert not is_library_function(candidate), f"exercise {ex_id}: this is the library's own function"
    generator = GENERATORS.get(ex_id)
    if generator is not None:
        generator(random.Random(f"{seed}/{ex_id}"), candidate)
