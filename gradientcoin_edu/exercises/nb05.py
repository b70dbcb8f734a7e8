"""[tooling] Checks for notebook 05, "Incentives, attacks and calculations".

05.1 the total supply from the halving schedule, 05.2 the whitepaper's attacker success
probability, 05.3 how many confirmations keep that probability below a bound. Each check draws
its inputs afresh at every call, compares the student's function with the library
(``chain.params``, ``calculations``) and refuses the library's own functions; a stub's
``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

from ..calculations import attacker_success_probability, attacker_success_probability_exact, min_confirmations
from ..chain.params import ChainParams
from ..ledger import COIN
from . import exercise
from ._own_work import fresh_rng, guarded


def _supply(subsidy: int, interval: int) -> int:
    total, era = 0, 0
    while subsidy >> era:
        total += (subsidy >> era) * interval
        era += 1
    return total


@exercise("05.1", "total supply from the halving schedule")
def check_total_supply(candidate) -> None:
    call = guarded(candidate, ((ChainParams, "total_supply"),), "total_supply")
    rng = fresh_rng()
    cases = [(1, rng.randrange(1, 10**6)), (50 * COIN, 210_000), (rng.randrange(2, 10**6), 1),
             (rng.randrange(10**8, 10**11), rng.randrange(10, 10**6)), (rng.randrange(2, 2**40), rng.randrange(1, 9))]
    for subsidy, interval in cases:
        want = _supply(subsidy, interval)
        got = call(subsidy, interval)
        assert got is not None, "total_supply returned None - did you forget `return`?"
        assert got == want, (f"initial subsidy {subsidy}, halving every {interval} blocks: {want} units in all, "
                             f"you return {got!r}. Hint: how much does one era of the schedule issue, and when "
                             "does the schedule end? Integer halving rounds down.")
    assert call(50 * COIN, 210_000) == 2_099_999_997_690_000, "Bitcoin's cap is 20 999 999.9769 BTC"


@exercise("05.2", "the whitepaper's attacker success probability")
def check_attacker_success(candidate) -> None:
    call = guarded(candidate, (attacker_success_probability, attacker_success_probability_exact),
                   "attacker_success")
    rng = fresh_rng()
    cases = [(rng.uniform(0.02, 0.45), rng.randrange(0, 25)) for _ in range(12)] + [(0.1, 0), (0.3, 5)]
    for q, z in cases:
        want = attacker_success_probability(q, z)
        got = call(q, z)
        assert got is not None, "attacker_success returned None - did you forget `return`?"
        assert abs(float(got) - want) < 1e-9, (
            f"q={q:.4f}, z={z}: the whitepaper's formula gives P={want:.9f}, you return {got!r}. Hint: reread the "
            "C function in section 11 - what is lambda, which k does the sum run over, and what is P made of?")


@exercise("05.3", "confirmations to wait")
def check_min_confirmations(candidate) -> None:
    call = guarded(candidate, (min_confirmations,), "confirmations_needed")
    rng = fresh_rng()
    cases = [(rng.uniform(0.05, 0.4), rng.choice([0.05, 0.01, 0.001, 0.0001])) for _ in range(5)] + [(0.1, 0.001)]
    for q, p_max in cases:
        want = min_confirmations(q, p_max)
        got = call(q, p_max)
        assert got is not None, "confirmations_needed returned None - did you forget `return`?"
        assert got == want, (f"q={q:.4f}: the smallest z with P < {p_max} is {want}, you return {got!r}. Hint: the "
                             "probability falls as z grows - which z is the first one below the bound?")
