"""The double-spend race of whitepaper section 11, played out by real nodes in the simulator.

An attacker with a share ``q`` of the hash rate pays a merchant, and at the same time mines, in
secret, a branch in which the same coin goes back to himself. The merchant waits until the
payment has ``z`` confirmations (the block containing it counts as the first) and then hands
over the goods. If the secret branch ever has more work than the public one after that, the
attacker publishes it: every honest node reorganizes to it, the payment vanishes from the chain,
and its transaction, returned to the mempool, is now a double spend and is dropped.

How it runs here (``double_spend_race``): an honest network (the merchant's node and, optionally,
more honest miners) and the attacker's node, all real ``Node`` objects mining real blocks in the
``Simulator``. The attacker is cut off from the others by a partition (he hears nothing and tells
nothing) while he mines; as an observer of the public chain he sees its height, and he releases
his branch by healing the partition - the honest nodes then fetch it through the ordinary
``getblocks`` / ``getdata`` gossip and reorganize by the ordinary most-work rule.

The attacker starts with one secret block already mined (on the block before the payment, with
his conflicting transaction in it). Mining is memoryless, so "the race starts when his first
secret block is found" loses nothing, and it makes the rules of the game those of the exact
calculation (:func:`gradientcoin_edu.calculations.attacker_success_probability_exact`, the
whitepaper's sum without its Poisson approximation): drawing level with the honest chain in block
count is enough for him, because his head start makes his branch one block heavier then. A
hopeless attacker gives up when his chance to come back, ``(q/p)^(deficit+1)``, falls below
``give_up_below`` (this biases the estimate by at most that much).

Used by notebook 05.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..calculations import wilson_interval
from ..crypto.keys import PrivateKey
from ..ledger import COIN, build_payment
from .simulator import LinkSpec, Simulator

__all__ = ["RaceResult", "double_spend_race", "RaceEstimate", "estimate_double_spend", "estimate_curve"]


@dataclass(frozen=True)
class RaceResult:
    """One race: who won, and what the merchant's node saw."""

    q: float
    z: int
    success: bool                    # the payment was undone on the merchant's node
    released: bool                   # the attacker published his branch
    honest_blocks: int               # public blocks mined after the fork point
    attacker_blocks: int             # secret blocks (the head start included)
    reorg_depth: int                 # blocks the merchant's node abandoned when the attacker released
    payment_in_chain: bool
    conflict_in_chain: bool
    sim: Simulator | None = None     # the finished simulation (``keep_sim=True``), e.g. to draw it


def double_spend_race(q: float, z: int, seed: int = 0, *, honest_miners: int = 1, latency: float = 1.0,
                      block_interval: float = 600.0, give_up_below: float = 1e-4, max_blocks: int = 2000,
                      keep_sim: bool = False) -> RaceResult:
    """Simulate one double-spend attempt by an attacker with hash share ``q`` against ``z`` confirmations."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie in (0, 1), got {q!r}")
    if z < 0:
        raise ValueError(f"z must be >= 0, got {z!r}")
    p = 1.0 - q
    sim = Simulator(seed=seed, block_interval=block_interval)
    attacker_key = PrivateKey.from_seed(f"attacker:{seed}".encode())
    sim.add_node("attacker", hashrate=q, key=attacker_key, publish=False)
    honest = [sim.add_node("merchant" if i == 0 else f"honest{i}", hashrate=p / honest_miners).name
              for i in range(honest_miners)]
    link = LinkSpec(latency=latency)
    for name in honest:
        sim.connect("attacker", name, link)
    for a, b in zip(honest, honest[1:]):
        sim.connect(a, b, link)
    sim.pause_mining()
    sim.run(until=1.0)                                       # handshakes

    merchant, attacker = sim.node("merchant"), sim.node("attacker")
    # 1. the attacker owns a coin that everyone knows about
    funding = attacker.mine_block()
    sim.record_block(funding, "attacker")
    sim.run(until=sim.now + 10 * latency + 10)
    assert merchant.tip == funding.hash(), "the funding block did not propagate"
    fork_height = merchant.height

    # 2. cut the attacker off; he signs the payment and a conflicting one with the same coin
    sim.partition([["attacker"], honest], start=sim.now)
    sim.run(until=sim.now)
    utxo = attacker.chain.utxo
    payment = build_payment(utxo, attacker_key, [(_merchant_address(seed), 10 * COIN)], fee=1000)
    conflict = build_payment(utxo, attacker_key, [(PrivateKey.from_seed(f"attacker2:{seed}".encode()).address(),
                                                   10 * COIN)], fee=1000)
    attacker.submit_transaction(conflict)
    head_start = attacker.mine_block()                       # the secret block he starts with
    sim.record_block(head_start, "attacker", public=False)
    merchant.submit_transaction(payment)

    # 3. race: the attacker releases as soon as his branch is heavier after the merchant accepted
    state = {"accepted": z == 0, "released": False, "gave_up": False}

    def confirmations() -> int:
        for depth, h in enumerate(reversed(merchant.best_chain())):
            block = merchant.chain.get_block(h)
            if any(tx.txid == payment.txid for tx in block.txs):
                return depth + 1
        return 0

    def decide(s: Simulator) -> bool:
        honest_len = merchant.height - fork_height
        attacker_len = attacker.height - fork_height
        if not state["accepted"] and confirmations() >= z:
            state["accepted"] = True
        if not state["accepted"]:
            return False
        if attacker_len > honest_len:
            state["released"] = True
            return True
        deficit = honest_len - attacker_len
        if q < p and (q / p) ** (deficit + 1) < give_up_below:
            state["gave_up"] = True
            return True
        return s.stats["mined"] >= max_blocks

    sim.resume_mining()
    if not decide(sim):
        sim.run(stop=decide)
    sim.pause_mining()
    honest_blocks = merchant.height - fork_height
    attacker_blocks = attacker.height - fork_height
    reorg_depth = 0
    if state["released"]:
        before = len(sim.reorgs())
        sim.heal()                                            # publish: the attacker reconnects
        sim.run(until=sim.now + 60 * (latency + 1))
        reorgs = [r for r in sim.reorgs()[before:] if r["node"] == "merchant"]
        reorg_depth = max((r["depth"] for r in reorgs), default=0)
    in_chain = {tx.txid for h in merchant.best_chain() for tx in merchant.chain.get_block(h).txs}
    paid, conflicted = payment.txid in in_chain, conflict.txid in in_chain
    return RaceResult(q, z, success=conflicted and not paid, released=state["released"],
                      honest_blocks=honest_blocks, attacker_blocks=attacker_blocks, reorg_depth=reorg_depth,
                      payment_in_chain=paid, conflict_in_chain=conflicted, sim=sim if keep_sim else None)


def _merchant_address(seed: int) -> bytes:
    return PrivateKey.from_seed(f"merchant:{seed}".encode()).address()


@dataclass(frozen=True)
class RaceEstimate:
    """Success rate of ``trials`` races with a Wilson confidence interval."""

    q: float
    z: int
    trials: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float

    def contains(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def estimate_double_spend(q: float, z: int, trials: int, seed: int = 0, confidence: float = 0.95,
                          **race_kwargs) -> RaceEstimate:
    """Run ``trials`` seeded races (seeds ``seed, seed+1, ...``) and estimate the success probability."""
    wins = sum(double_spend_race(q, z, seed + i, **race_kwargs).success for i in range(trials))
    low, high = wilson_interval(wins, trials, confidence)
    return RaceEstimate(q, z, trials, wins, wins / trials, low, high)


def estimate_curve(q: float, zs: Sequence[int], trials: int, seed: int = 0, **race_kwargs) -> list[RaceEstimate]:
    """``estimate_double_spend`` for each z (different seeds per z, so the points are independent)."""
    return [estimate_double_spend(q, z, trials, seed + 100_003 * k, **race_kwargs) for k, z in enumerate(zs)]

