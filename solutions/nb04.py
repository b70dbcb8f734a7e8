"""Reference solutions for notebook 04 (for instructors): ``SOLUTIONS = {"04.k": function}``."""
from __future__ import annotations

import math


def locator_heights(height: int) -> list[int]:
    """04.1: the tip and the 9 blocks below it one by one, then steps of 2, 4, 8, ...; genesis last."""
    heights, h, step = [], height, 1
    while h > 0:
        heights.append(h)
        if len(heights) >= 10:
            step *= 2
        h -= step
    heights.append(0)
    return heights


def best_tip(blocks: dict) -> str:
    """04.2: cumulative work from genesis; replace the best only on strictly more work (first seen wins ties)."""
    total: dict[str, int] = {}
    best = None
    for name, (parent, work) in blocks.items():          # dicts keep arrival order
        total[name] = work + (total[parent] if parent is not None else 0)
        if best is None or total[name] > total[best]:
            best = name
    return best


def fork_probability(delay: float, interval: float) -> float:
    """04.3: blocks arrive as a Poisson process; P(at least one in `delay` seconds)."""
    return 1.0 - math.exp(-delay / interval)


SOLUTIONS = {"04.1": locator_heights, "04.2": best_tip, "04.3": fork_probability}
