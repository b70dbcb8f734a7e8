"""Reference solutions for notebook 05 (for instructors): ``SOLUTIONS = {"05.k": function}``."""
from __future__ import annotations

import math


def total_supply(initial_subsidy: int, halving_interval: int) -> int:
    """05.1: sum over eras of (initial_subsidy >> era) * halving_interval."""
    total, era = 0, 0
    while (reward := initial_subsidy >> era) > 0:
        total += reward * halving_interval
        era += 1
    return total


def attacker_success(q: float, z: int) -> float:
    """05.2: the whitepaper's C function AttackerSuccessProbability, in Python."""
    p = 1.0 - q
    lam = z * (q / p)
    total = 1.0
    for k in range(z + 1):
        poisson = math.exp(-lam)
        for i in range(1, k + 1):
            poisson *= lam / i
        total -= poisson * (1 - (q / p) ** (z - k))
    return total


def confirmations_needed(q: float, p_max: float = 0.001) -> int:
    """05.3: the smallest z whose success probability is below p_max."""
    z = 0
    while attacker_success(q, z) >= p_max:
        z += 1
    return z


SOLUTIONS = {"05.1": total_supply, "05.2": attacker_success, "05.3": confirmations_needed}
