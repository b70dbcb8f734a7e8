"""[tooling] Checks for notebook 04, "The network".

04.1 the heights in a block locator, 04.2 the tip a node follows (most work, first seen on a
tie), 04.3 the chance that a block is found while another is still travelling. Each check
compares the student's function with the library on seeded inputs; a stub's
``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import math
import random

from . import exercise


def locator_heights_reference(height: int) -> list[int]:
    """Heights ``Chain.locator()`` lists: the last 10 blocks one by one, then steps doubling, then 0."""
    out, h, step = [], height, 1
    while h > 0:
        out.append(h)
        if len(out) >= 10:
            step *= 2
        h -= step
    out.append(0)
    return out


@exercise("04.1", "the heights in a block locator")
def check_locator_heights(candidate) -> None:
    for height in [0, 1, 2, 9, 10, 11, 12, 25, 100, 1000, 123_456]:
        want = locator_heights_reference(height)
        got = candidate(height)
        assert got is not None, "locator_heights returned None - did you forget `return`?"
        got = list(got)
        assert got == want, (f"for a chain of height {height} the locator lists heights {want[:14]}"
                             f"{' ...' if len(want) > 14 else ''}, you return {got[:14]}. Hint: start at the tip, "
                             "step back by 1 for the first 10 entries, then double the step after each entry; "
                             "always end with 0 (genesis).")
    assert len(candidate(10**9)) < 45, "a locator must stay short even for a very long chain"


def best_tip_reference(blocks: dict) -> str:
    """``blocks``: name -> (parent or None, work), in arrival order; the most cumulative work, first seen on a tie."""
    total: dict[str, int] = {}
    for name, (parent, work) in blocks.items():
        total[name] = work + (total[parent] if parent is not None else 0)
    best = None
    for name in blocks:                                  # arrival order: strictly more work to replace
        if best is None or total[name] > total[best]:
            best = name
    return best


def _random_tree(rng: random.Random, n: int) -> dict:
    blocks = {"genesis": (None, 1)}
    names = ["genesis"]
    for i in range(n):
        parent = rng.choice(names[-4:]) if rng.random() < 0.8 else rng.choice(names)
        blocks[f"b{i}"] = (parent, rng.choice([1, 1, 1, 2, 3]))
        names.append(f"b{i}")
    return blocks


@exercise("04.2", "the tip a node follows")
def check_best_tip(candidate) -> None:
    fixed = [
        ({"genesis": (None, 1), "a": ("genesis", 1), "b": ("genesis", 1)}, "a"),          # tie: first seen
        ({"genesis": (None, 1), "a": ("genesis", 1), "b": ("genesis", 3)}, "b"),          # more work, not more blocks
        ({"genesis": (None, 1), "a": ("genesis", 1), "a2": ("a", 1), "b": ("genesis", 2)}, "a2"),
    ]
    rng = random.Random(404)
    cases = fixed + [(t, best_tip_reference(t)) for t in (_random_tree(rng, n) for n in (3, 8, 20, 40))]
    for blocks, want in cases:
        got = candidate(dict(blocks))
        assert got is not None, "best_tip returned None - did you forget `return`?"
        assert got == want, (f"for blocks {dict(list(blocks.items())[:6])}... the node follows {want!r}, you return "
                             f"{got!r}. Hint: sum the work from genesis to each block; on equal work keep the "
                             "block that arrived first (the dict is in arrival order).")


def fork_probability_reference(delay: float, interval: float) -> float:
    """P(another block is found during ``delay`` seconds) when blocks come every ``interval`` s on average."""
    return 1.0 - math.exp(-delay / interval)


@exercise("04.3", "the chance of a fork")
def check_fork_probability(candidate) -> None:
    for delay, interval in [(0.0, 600.0), (1.0, 600.0), (6.0, 600.0), (60.0, 600.0), (600.0, 600.0),
                            (2.0, 15.0), (30.0, 2.5)]:
        want = fork_probability_reference(delay, interval)
        got = candidate(delay, interval)
        assert got is not None, "fork_probability returned None - did you forget `return`?"
        assert abs(float(got) - want) < 1e-9, (
            f"with a {delay} s delay and blocks every {interval} s the chance is {want:.6f}, you return {got!r}. "
            "Hint: block finding is a Poisson process; P(no block in t seconds) = exp(-t / interval).")
