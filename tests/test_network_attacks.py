"""Double-spend races between real nodes in the simulator (whitepaper section 11)."""
from __future__ import annotations

import pytest

from gradientcoin_edu.calculations import attacker_success_probability_exact
from gradientcoin_edu.network.attacks import double_spend_race, estimate_double_spend


def test_a_minority_attacker_fails_against_six_confirmations():
    r = double_spend_race(q=0.1, z=6, seed=11)
    assert not r.success and not r.released
    assert r.payment_in_chain and not r.conflict_in_chain
    assert r.honest_blocks >= 6


def test_a_majority_attacker_rewrites_six_confirmations():
    r = double_spend_race(q=0.6, z=6, seed=11, keep_sim=True)
    assert r.success and r.released
    assert r.reorg_depth >= 6
    assert not r.payment_in_chain and r.conflict_in_chain
    merchant = r.sim.node("merchant")
    # the payment came back from the abandoned blocks and was dropped as a double spend
    assert len(merchant.mempool) == 0
    assert merchant.tip == r.sim.node("attacker").tip


def test_zero_confirmations_always_lose():
    assert all(double_spend_race(q=0.2, z=0, seed=s).success for s in range(5))


def test_races_agree_with_the_exact_formula():
    est = estimate_double_spend(0.3, 3, trials=200, seed=77)
    exact = attacker_success_probability_exact(0.3, 3)
    assert est.contains(exact), (est, exact)
    assert 0.15 < est.rate < 0.5


def test_more_honest_miners_still_work():
    r = double_spend_race(q=0.7, z=2, seed=3, honest_miners=3)
    assert r.success


@pytest.mark.parametrize("q, z", [(0.0, 1), (1.0, 1), (0.3, -1)])
def test_bad_arguments(q, z):
    with pytest.raises(ValueError):
        double_spend_race(q, z)
