"""Checks for notebook 05, "Incentives, attacks and calculations".

05.1 the total supply from the halving schedule, 05.2 the whitepaper's attacker success
probability, 05.3 how many confirmations keep that probability below a bound. Each check
compares the student's function with the library (``chain.params``, ``calculations``); a stub's
``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

from ..calculations import attacker_success_probability, min_confirmations
from ..chain.params import ChainParams
from ..ledger import COIN
from . import exercise


@exercise("05.1", "total supply from the halving schedule")
def check_total_supply(candidate) -> None:
    cases = [(50 * COIN, 210_000), (50 * COIN, 150), (50 * COIN, 10), (1, 5), (1000, 1), (7, 3)]
    for subsidy, interval in cases:
        want = ChainParams(initial_subsidy=subsidy, halving_interval=interval).total_supply()
        got = candidate(subsidy, interval)
        assert got is not None, "total_supply returned None - did you forget `return`?"
        assert got == want, (f"initial subsidy {subsidy}, halving every {interval} blocks: {want} units in all, "
                             f"you return {got!r}. Hint: the reward of era k is initial_subsidy >> k (integer "
                             "halving rounds down); add reward * interval per era until the reward is 0.")
    assert candidate(50 * COIN, 210_000) == 2_099_999_997_690_000, "Bitcoin's cap is 20 999 999.9769 BTC"


@exercise("05.2", "the whitepaper's attacker success probability")
def check_attacker_success(candidate) -> None:
    for q in (0.1, 0.3):
        for z in range(0, 11):
            want = attacker_success_probability(q, z)
            got = candidate(q, z)
            assert got is not None, "attacker_success returned None - did you forget `return`?"
            assert abs(float(got) - want) < 5e-8, (
                f"q={q}, z={z}: the whitepaper prints P={want:.7f}, you return {got!r}. Hint: lambda = z*q/p; "
                "sum over k = 0..z of Poisson(k; lambda) * (1 - (q/p)^(z-k)), and P = 1 - that sum.")


@exercise("05.3", "confirmations to wait")
def check_min_confirmations(candidate) -> None:
    for q, p_max in [(0.10, 0.001), (0.15, 0.001), (0.25, 0.001), (0.35, 0.001), (0.45, 0.001), (0.1, 0.05),
                     (0.3, 0.01)]:
        want = min_confirmations(q, p_max)
        got = candidate(q, p_max)
        assert got is not None, "confirmations_needed returned None - did you forget `return`?"
        assert got == want, (f"q={q}: the smallest z with P < {p_max} is {want}, you return {got!r}. Hint: try "
                             "z = 0, 1, 2, ... with attacker_success_probability(q, z).")
