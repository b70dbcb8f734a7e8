"""[tooling] The double-spend race of whitepaper section 11, played out by real nodes in the simulator.

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

The second half plays the attacks on the peer-to-peer layer of docs/protocol.md section 10 against
one real ``Node`` (``p2p_attack``): an inv flood, an orphan flood, getdata amplification, junk
and oversized messages. A scenario uses only ``Node(...)``, ``on_connect`` and ``on_message``, so
``benchmarks/p2p_attacks.py`` runs the same code against older versions of the node for
before/after figures; ``tests/test_p2p_attacks.py`` asserts the bounds.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import random
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from ..calculations import wilson_interval
from ..crypto.keys import PrivateKey
from ..ledger import COIN, build_payment
from .simulator import LinkSpec, Simulator

__all__ = ["RaceResult", "double_spend_race", "RaceEstimate", "estimate_double_spend", "estimate_curve",
           "P2P_ATTACKS", "p2p_attack", "big_block"]


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



# ----------------------------------------------------------------------------- the peer-to-peer layer

class _Wire:
    """A transport that counts what the victim sends (and keeps what goes to the honest peer)."""

    def __init__(self, t: float):
        self.t = t
        self.sent: Counter = Counter()
        self.bytes: Counter = Counter()
        self.to_honest: list[bytes] = []
        self.disconnected: set[str] = set()

    def send(self, peer: str, data: bytes) -> None:
        self.sent[peer] += 1
        self.bytes[peer] += len(data)
        if peer == "honest":
            self.to_honest.append(data)

    def disconnect(self, peer: str) -> None:
        self.disconnected.add(peer)

    def now(self) -> float:
        return self.t


def big_block(node, size: int, parent: bytes | None = None, time: int | None = None):
    """A valid proof-of-work block on ``parent`` (default: ``node``'s tip) of about ``size`` bytes:
    its coinbase pays the reward to many addresses (29 bytes per output)."""
    from ..chain.block import Block, compute_tx_root
    from ..ledger import Transaction, TxOut
    from ..chain.pow import pow_search
    template = node.block_template(time=time, parent=parent, txs=[])
    coinbase = template.txs[0]
    n = max(1, size // 29)
    reward = sum(o.amount for o in coinbase.outputs)
    outputs = [TxOut(reward - (n - 1), coinbase.outputs[0].address)] + \
              [TxOut(1, (i % 2**32).to_bytes(4, "little") * 5) for i in range(n - 1)]
    cb = Transaction.coinbase(node.chain.get(template.prev_hash).height + 1, outputs,
                              extra=coinbase.inputs[0].signature[4:])
    header = dataclasses.replace(template.header, tx_root=compute_tx_root((cb,)))
    return Block(pow_search(header), (cb,))


def _victim(seed: str, blocks: int = 3):
    """A node that followed an honest miner for ``blocks`` blocks, with peers "honest" and "attacker"."""
    from ..chain.chain import Chain
    from ..chain.params import get_params
    from . import messages as m
    from .node import Node
    params = get_params("regtest")
    wire = _Wire(params.genesis_time + 100_000)
    victim = Node("victim", Chain(params, clock=wire.now), wire, miner_address=bytes(20), seed=seed)
    miner_wire = _Wire(wire.t)
    miner = Node("miner", Chain(params, clock=miner_wire.now), miner_wire, miner_address=bytes(20), seed=seed)
    for peer, nonce in (("honest", 1), ("attacker", 2)):
        victim.on_connect(peer)
        victim.on_message(peer, m.encode(m.Version(genesis=victim.chain.genesis.hash, nonce=nonce)))
    for i in range(blocks):
        b = miner.mine_block(time=int(wire.t) - 10_000 + 600 * i)
        victim.on_message("honest", m.encode(m.BlockMsg(b.serialize())))
    return victim, miner, wire


def _envelope(command: str, payload: bytes) -> bytes:
    """A message built straight from its payload bytes (fast: no per-item objects on the attacker's side)."""
    from ..crypto.hashes import sha256d
    from . import messages as m
    return (m.MAGIC + command.encode().ljust(12, b"\x00") + len(payload).to_bytes(4, "little")
            + sha256d(payload)[:4] + payload)


def _inv_flood(victim, miner, n_messages: int = 20, items: int = 50_000):
    from ..encoding import write_varint
    from . import messages as m
    rng = random.Random(1)
    kind = bytes([m.INV_BLOCK])
    for _ in range(n_messages):
        raw = rng.randbytes(32 * items)
        yield _envelope("inv", write_varint(items) + b"".join(kind + raw[i:i + 32] for i in range(0, len(raw), 32)))


def _orphan_flood(victim, miner, count: int = 100, size: int = 1_000_000):
    from . import messages as m
    parent = os.urandom(32)                             # a parent nobody has: every block is an orphan
    template = big_block(miner, size)
    for i in range(count):
        header = dataclasses.replace(template.header, prev_hash=parent, time=template.header.time + i)
        yield m.encode(m.BlockMsg(type(template)(header, template.txs).serialize()))


def _getdata_amplification(victim, miner, repeats: int = 50_000, size: int = 433_000):
    from . import messages as m
    block = big_block(miner, size)
    miner.submit_block(block)
    victim.on_message("honest", m.encode(m.BlockMsg(block.serialize())))
    from ..encoding import write_varint
    yield _envelope("getdata", write_varint(repeats) + (bytes([m.INV_BLOCK]) + block.hash()) * repeats)


def _getdata_per_message(victim, miner, count: int = 300, size: int = 433_000):
    """The same big block asked for once per message (no repeats inside one request)."""
    from ..encoding import write_varint
    from . import messages as m
    block = big_block(miner, size)
    miner.submit_block(block)
    victim.on_message("honest", m.encode(m.BlockMsg(block.serialize())))
    data = _envelope("getdata", write_varint(1) + bytes([m.INV_BLOCK]) + block.hash())
    for _ in range(count):
        yield data


def _junk(victim, miner, count: int = 1000):
    from . import messages as m
    rng = random.Random(2)
    good = m.encode(m.Ping(7))
    for i in range(count):
        kind = i % 4
        if kind == 0:
            yield rng.randbytes(rng.randrange(0, 200))
        elif kind == 1:
            yield good[:-1] + bytes([good[-1] ^ 1])            # bad checksum
        elif kind == 2:
            yield m.MAGIC + b"nosuchcmd\x00\x00\x00" + bytes(8)
        else:
            yield good[:30]


def _oversized(victim, miner, count: int = 5, size: int = 5_000_000):
    from . import messages as m
    big = bytes(size)
    for _ in range(count):
        yield m.MAGIC + b"block".ljust(12, b"\x00") + len(big).to_bytes(4, "little") + bytes(4) + big


P2P_ATTACKS = {
    "inv-flood": _inv_flood,
    "orphan-flood": _orphan_flood,
    "getdata-amplification": _getdata_amplification,
    "getdata-per-message": _getdata_per_message,
    "junk": _junk,
    "oversized": _oversized,
}


def p2p_attack(kind: str, *, trace_memory: bool = True, seed: str = "p2p", **params) -> dict:
    """Play one attack of ``P2P_ATTACKS`` on a fresh victim; measure what it cost the victim.

    Returns ``cpu_s`` (victim CPU spent on the attack's messages: how long its other peers wait),
    ``peak_mb`` (traced memory at the worst moment, minus what the victim held before),
    ``held_mb`` (what it still holds afterwards), ``sent_mb`` (bytes it sent the attacker),
    ``banned`` (the attack stops there: further messages would be dropped unread, and
    ``messages`` says how many were handled), and whether a block the honest miner finds next still reaches the victim
    (``honest_ok``) and how long that took (``honest_s``: inv, getdata, block, validation)."""
    from . import messages as m
    victim, miner, wire = _victim(seed)
    messages = iter(P2P_ATTACKS[kind](victim, miner, **params))
    first = next(messages)                                # (the attack's own set-up happens before tracing)
    cpu, peak, handled = 0.0, 0, 0
    if trace_memory:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    for data in itertools.chain([first], messages):
        first = None
        if trace_memory:
            tracemalloc.reset_peak()
        t = time.process_time()
        handled += 1
        victim.on_message("attacker", data)
        cpu += time.process_time() - t
        if trace_memory:                                  # the attacker's message itself is not the victim's doing
            peak = max(peak, tracemalloc.get_traced_memory()[1] - base - len(data))
        del data
        if victim.peerbook.is_banned("attacker", wire.t):
            break                                         # the rest would be dropped unread
    held = 0
    if trace_memory:
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    # the honest miner finds a block: does it still get through, and how fast?
    block = miner.mine_block(time=int(wire.t) - 100)
    start, n_before = time.perf_counter(), len(wire.to_honest)
    victim.on_message("honest", m.encode(m.Inv((m.InvItem(m.INV_BLOCK, block.hash()),))))
    asked = any(m.peek_command(d) == "getdata" for d in wire.to_honest[n_before:])
    if asked:
        victim.on_message("honest", m.encode(m.BlockMsg(block.serialize())))
    honest_s = time.perf_counter() - start
    return {"attack": kind, "cpu_s": cpu, "peak_mb": max(0, peak) / 1e6, "held_mb": max(0, held) / 1e6,
            "sent_mb": wire.bytes["attacker"] / 1e6, "banned": victim.peerbook.is_banned("attacker", wire.t),
            "honest_ok": victim.tip == block.hash(), "honest_s": honest_s,
            "on_honest_chain": victim.tip == miner.tip, "orphans": len(victim.orphans), "messages": handled}
