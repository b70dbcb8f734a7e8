"""Whitepaper section 11, reproduced: the oracles are the numbers printed in the whitepaper
(Nakamoto 2008, section 11), a literal port of its C code, the closed form of the exact race
(Grunspan & Perez-Marco 2017), and simulation."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradientcoin_edu.calculations import (
    attacker_success_probability,
    attacker_success_probability_exact,
    catch_up_probability,
    format_whitepaper_tables,
    min_confirmations,
    simulate_double_spend,
    whitepaper_tables,
    wilson_interval,
)

# Printed in Nakamoto 2008, section 11 ("Running some results ...").
WHITEPAPER_Q01 = {0: "1.0000000", 1: "0.2045873", 2: "0.0509779", 3: "0.0131722", 4: "0.0034552",
                  5: "0.0009137", 6: "0.0002428", 7: "0.0000647", 8: "0.0000173", 9: "0.0000046",
                  10: "0.0000012"}
WHITEPAPER_Q03 = {0: "1.0000000", 5: "0.1773523", 10: "0.0416605", 15: "0.0101008", 20: "0.0024804",
                  25: "0.0006132", 30: "0.0001522", 35: "0.0000379", 40: "0.0000095", 45: "0.0000024",
                  50: "0.0000006"}
# Nakamoto 2008, section 11 ("Solving for P less than 0.1%...").
WHITEPAPER_P_BELOW_0_001 = {0.10: 5, 0.15: 8, 0.20: 11, 0.25: 15, 0.30: 24, 0.35: 41, 0.40: 89, 0.45: 340}


def whitepaper_c_code(q: float, z: int) -> float:
    """Line-by-line port of AttackerSuccessProbability() from the whitepaper."""
    p = 1.0 - q
    lam = z * (q / p)
    total = 1.0
    for k in range(z + 1):
        poisson = math.exp(-lam)
        for i in range(1, k + 1):
            poisson *= lam / i
        total -= poisson * (1 - math.pow(q / p, z - k))
    return total


def exact_closed_form(q: float, z: int) -> float:
    """Grunspan & Perez-Marco 2017: P = 1 - sum_{k<z} (p^z q^k - q^z p^k) C(k+z-1, k), in exact rationals."""
    q = Fraction(q)
    p = 1 - q
    return float(1 - sum((p**z * q**k - q**z * p**k) * math.comb(k + z - 1, k) for k in range(z)))


# ----------------------------------------------------------------------------- the printed tables

@pytest.mark.parametrize(("q", "table"), [(0.1, WHITEPAPER_Q01), (0.3, WHITEPAPER_Q03)])
def test_reproduces_the_whitepaper_tables_to_seven_decimals(q, table):
    for z, printed in table.items():
        assert f"{attacker_success_probability(q, z):.7f}" == printed, (q, z)


def test_reproduces_the_p_below_0_001_table():
    for q, z in WHITEPAPER_P_BELOW_0_001.items():
        assert min_confirmations(q, 0.001) == z, q
        assert attacker_success_probability(q, z) < 0.001 <= attacker_success_probability(q, z - 1)


def test_whitepaper_tables_and_their_printout():
    tables = whitepaper_tables()
    assert [z for z, _ in tables["q=0.1"]] == list(WHITEPAPER_Q01)
    assert [z for z, _ in tables["q=0.3"]] == list(WHITEPAPER_Q03)
    assert dict(tables["P < 0.001"]) == WHITEPAPER_P_BELOW_0_001
    text = format_whitepaper_tables()
    assert "z=1   P=0.2045873" in text and "z=50  P=0.0000006" in text and "q=0.45 z=340" in text


@pytest.mark.parametrize("q", [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.49])
def test_agrees_with_a_literal_port_of_the_c_code(q):
    for z in range(0, 60):
        assert attacker_success_probability(q, z) == pytest.approx(whitepaper_c_code(q, z), rel=1e-9, abs=1e-15)


def test_small_probabilities_keep_their_relative_precision():
    # the C code's 1 - sum(...) cancels; our positive-term sum does not
    tiny = attacker_success_probability(0.1, 40)
    assert 0 < tiny < 1e-20
    assert attacker_success_probability(0.45, 2000) > 0           # exp(-lambda) alone underflows here


# ----------------------------------------------------------------------------- closed forms

def test_catch_up_probability():
    assert catch_up_probability(0.1, 0) == 1.0
    assert catch_up_probability(0.25, 3) == pytest.approx((1 / 3) ** 3)
    assert catch_up_probability(0.0, 4) == 0.0
    assert catch_up_probability(0.5, 10) == 1.0                   # q >= p: always catches up
    assert catch_up_probability(0.7, 10) == 1.0


def test_attacker_with_half_or_more_always_wins():
    for q in (0.5, 0.6, 0.99):
        assert attacker_success_probability(q, 30) == 1.0
        assert attacker_success_probability_exact(q, 30) == 1.0


@pytest.mark.parametrize("q", [0.05, 0.1, 0.25, 0.3, 0.45])
def test_exact_version_matches_its_closed_form(q):
    for z in range(0, 40):
        assert attacker_success_probability_exact(q, z) == pytest.approx(exact_closed_form(q, z), rel=1e-9, abs=1e-15)
    assert attacker_success_probability_exact(q, 1) == pytest.approx(2 * q)


def test_the_poisson_approximation_is_not_small_in_relative_terms():
    # the docstring's claim: at q = 0.1, z = 5 the exact race is about twice the whitepaper number
    assert attacker_success_probability_exact(0.1, 5) == pytest.approx(0.00178184, abs=1e-8)
    assert 1.9 < attacker_success_probability_exact(0.1, 5) / attacker_success_probability(0.1, 5) < 2.0


@settings(max_examples=60, deadline=None)
@given(q=st.floats(0.0, 0.49), z=st.integers(0, 80))
def test_probabilities_are_probabilities_and_fall_with_z(q, z):
    for f in (attacker_success_probability, attacker_success_probability_exact):
        now, later = f(q, z), f(q, z + 1)
        assert 0.0 <= later <= now <= 1.0


# ----------------------------------------------------------------------------- simulation

@pytest.mark.parametrize(("q", "z"), [(0.1, 2), (0.1, 5), (0.3, 5), (0.3, 10), (0.45, 10)])
def test_simulation_agrees_with_the_formulas(q, z):
    whitepaper = simulate_double_spend(q, z, trials=60_000, seed=1, model="whitepaper", confidence=0.99)
    assert whitepaper.contains(attacker_success_probability(q, z)), whitepaper
    exact = simulate_double_spend(q, z, trials=60_000, seed=2, model="exact", confidence=0.99)
    assert exact.contains(attacker_success_probability_exact(q, z)), exact


def test_simulation_tells_the_approximation_from_the_exact_race():
    est = simulate_double_spend(0.3, 10, trials=60_000, seed=3, model="exact", confidence=0.999)
    assert est.contains(attacker_success_probability_exact(0.3, 10))
    assert not est.contains(attacker_success_probability(0.3, 10))   # 0.0417 vs 0.0651


def test_simulation_is_seeded_and_handles_the_edges():
    a = simulate_double_spend(0.2, 3, trials=5_000, seed=7)
    assert a == simulate_double_spend(0.2, 3, trials=5_000, seed=7)
    assert a.successes == round(a.rate * a.trials) and a.ci_low <= a.rate <= a.ci_high
    assert simulate_double_spend(0.3, 0, trials=100).rate == 1.0    # no confirmations: already level
    assert simulate_double_spend(0.0, 3, trials=100).rate == 0.0    # no hash rate: never


def test_wilson_interval():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(1.959964**2 / (10 + 1.959964**2), rel=1e-6)
    low, high = wilson_interval(50, 100, confidence=0.95)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=1.0)


# ----------------------------------------------------------------------------- validation

FORMULAS = [catch_up_probability, attacker_success_probability, attacker_success_probability_exact]


@pytest.mark.parametrize("f", FORMULAS)
@pytest.mark.parametrize("q", [-0.1, 1.0, 1.5, float("nan"), "0.1x", None])
def test_q_outside_zero_one_is_rejected(f, q):
    with pytest.raises(ValueError, match=r"q \(the attacker's share"):
        f(q, 3)


@pytest.mark.parametrize("f", FORMULAS)
@pytest.mark.parametrize("z", [-1, 2.5, True, "3"])
def test_z_must_be_a_non_negative_integer(f, z):
    with pytest.raises(ValueError, match=r"z \(the number of confirmations\) must be a non-negative integer"):
        f(0.1, z)


def test_min_confirmations_validation():
    with pytest.raises(ValueError, match=r"q \(the attacker's share"):
        min_confirmations(1.0)
    with pytest.raises(ValueError, match="catches up with probability 1"):
        min_confirmations(0.5)
    with pytest.raises(ValueError, match="p_max"):
        min_confirmations(0.1, p_max=0.0)
    assert min_confirmations(0.0) == 1 and min_confirmations(0.3, p_max=1.0) == 1


def test_simulation_validation():
    with pytest.raises(ValueError, match=r"q \(the attacker's share"):
        simulate_double_spend(-0.2, 3)
    with pytest.raises(ValueError, match="non-negative integer"):
        simulate_double_spend(0.1, -1)
    with pytest.raises(ValueError, match="needs q < 0.5"):
        simulate_double_spend(0.5, 3)
    with pytest.raises(ValueError, match="model"):
        simulate_double_spend(0.1, 3, model="poisson")
    with pytest.raises(ValueError, match="trials"):
        simulate_double_spend(0.1, 3, trials=0)
