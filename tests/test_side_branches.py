"""Side branches nobody asked for (Bitcoin Core's AcceptBlock rule, as node policy).

A block whose parent we know but which would not move our tip is stored only if we requested it
from its sender, and then only within a per-peer and an all-peers byte budget and at most
``max_side_ahead`` above our tip. Anything else waits, as raw bytes, in a bounded in-memory side
pool and is connected only if a branch through it gets more work than our tip. The old node stored
every valid side block it was sent: a forger filled the block store at the speed of its CPU (on
the regtest target about 64 MB per forger CPU-second). See docs/protocol.md section 10.3.
"""
from __future__ import annotations

from gradientcoin_edu.chain.block import Block
from gradientcoin_edu.chain import Chain
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.chain.store import BlockStore
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.node import Node, NodeConfig

from _transport import RecordingTransport, fork, send

PARAMS = ChainParams.preset("regtest")
T0 = PARAMS.genesis_time


class Wire(RecordingTransport):
    def __init__(self):
        super().__init__(T0 + 100_000)


def victim_and_forger(**config):
    """A victim that follows an honest chain of 5 blocks (with a block store), and a forger that
    knows the same blocks and can make valid side blocks anywhere on it."""
    wire = Wire()
    victim = Node("victim", Chain(PARAMS, store=BlockStore(":memory:"), clock=wire.now), wire,
                  config=NodeConfig(**config))
    forger = Node("forger", Chain(PARAMS, clock=wire.now), Wire(), miner_address=bytes(20))
    for peer in ("honest", "attacker", "attacker2", "relay"):
        victim.on_connect(peer)
        victim.on_message(peer, m.encode(m.Version(genesis=victim.chain.genesis.hash, nonce=len(peer))))
    honest = [forger.mine_block(time=T0 + 600 * (i + 1)) for i in range(5)]
    for b in honest:
        victim.on_message("honest", m.encode(m.BlockMsg(b.serialize())))
    assert victim.tip == honest[-1].hash()
    return victim, forger, honest, wire




def test_unrequested_low_work_side_blocks_are_not_stored():
    victim, forger, honest, _ = victim_and_forger()
    entries, rows = len(victim.chain.entries()), len(victim.chain.store)
    siblings = [fork(forger, honest[i % 4], 1, salt=i)[0] for i in range(45)]   # heights 2..5, all valid
    forks = [b for i in range(10) for b in fork(forger, honest[i % 3], 2, salt=100 + i)]   # heights 2..5
    for b in siblings:
        send(victim, "attacker", b)
    for b in forks:
        send(victim, "attacker2", b)
    assert len(victim.chain.entries()) == entries and len(victim.chain.store) == rows   # nothing stored
    assert not any(b.hash() in victim.chain for b in siblings + forks)
    assert victim.tip == honest[-1].hash()
    assert victim.stats["side-kept-out-unrequested"] >= 45
    assert not victim.peerbook.is_banned("attacker", victim.transport.now())   # 2 points each: 90 so far
    assert victim.peerbook.peers["attacker"].offences["unsolicited"] == 45
    cfg = victim.config
    assert len(victim.side_pool) <= 2 * cfg.max_side_pool * cfg.orphan_share   # memory: bounded per sender
    assert victim.side_pool_bytes <= cfg.max_side_pool_bytes


def test_a_heavier_unrequested_fork_is_still_accepted():
    victim, forger, honest, _ = victim_and_forger()
    heavier = fork(forger, honest[0], 6)                  # heights 2..7: more work than our 5 from block 2 on
    for b in heavier:
        send(victim, "relay", b)
    assert victim.tip == heavier[-1].hash() and victim.height == 7
    assert victim.stats["reorgs"] == 1 and not victim.side_pool and not victim.orphans


def test_a_heavier_fork_arriving_in_any_order_is_still_accepted():
    victim, forger, honest, _ = victim_and_forger()
    heavier = fork(forger, honest[1], 5)                  # heights 3..7
    for b in [heavier[3], heavier[0], heavier[4], heavier[2], heavier[1]]:
        send(victim, "relay", b)
    assert victim.tip == heavier[-1].hash() and not victim.side_pool and not victim.orphans


def _announce_and_deliver(victim: Node, wire: Wire, peer: str, blocks) -> None:
    """``peer`` announces ``blocks`` and delivers the ones the victim asks it for."""
    by_hash = {b.hash(): b for b in blocks}
    wire.sent.clear()
    victim.on_message(peer, m.encode(m.Inv(tuple(m.InvItem(m.INV_BLOCK, h) for h in by_hash))))
    asked = [i.hash for p, msg in wire.sent if p == peer and isinstance(msg, m.GetData) for i in msg.items]
    for h in asked:
        send(victim, peer, by_hash[h])


def test_requested_side_blocks_are_stored():
    victim, forger, honest, wire = victim_and_forger()
    side = fork(forger, honest[2], 2)                     # heights 4, 5: no more work than our tip
    entries = len(victim.chain.entries())
    _announce_and_deliver(victim, wire, "relay", side)
    assert len(victim.chain.entries()) == entries + 2 and victim.tip == honest[-1].hash()
    assert all(b.hash() in victim.chain for b in side)


def test_requested_side_blocks_stay_within_the_per_peer_budget_and_the_branch_can_still_win():
    size = len(honest_block_bytes())
    victim, forger, honest, wire = victim_and_forger(max_side_bytes_per_peer=int(2.5 * size))
    side = fork(forger, honest[0], 4)                     # heights 2..5: a side branch
    entries = len(victim.chain.entries())
    _announce_and_deliver(victim, wire, "attacker", side)
    assert len(victim.chain.entries()) == entries + 2               # two stored; the rest only in the side pool
    assert victim.stats["side-kept-out-peer-budget"] >= 1 and len(victim.side_pool) == 2
    winner = fork(forger, side[-1], 1)                    # the branch gets heavier: everything is connected
    _announce_and_deliver(victim, wire, "attacker", winner)
    assert victim.tip == winner[0].hash() and victim.height == 6 and not victim.side_pool


def test_the_side_branch_budget_refills_so_a_long_honest_branch_still_arrives():
    size = len(honest_block_bytes())
    victim, forger, honest, wire = victim_and_forger(max_side_bytes_per_peer=int(2.5 * size),
                                                     side_bytes_window=3600.0)
    entries = len(victim.chain.entries())
    _announce_and_deliver(victim, wire, "relay", fork(forger, honest[0], 2, salt=1))
    assert len(victim.chain.entries()) == entries + 2
    _announce_and_deliver(victim, wire, "relay", fork(forger, honest[1], 1, salt=2))
    assert len(victim.chain.entries()) == entries + 2     # over its budget: kept out
    wire.t += 3600                                        # an hour later the budget is back
    _announce_and_deliver(victim, wire, "relay", fork(forger, honest[1], 1, salt=3))
    assert len(victim.chain.entries()) == entries + 3


def test_all_peers_together_stay_within_the_side_branch_budget():
    size = len(honest_block_bytes())
    victim, forger, honest, wire = victim_and_forger(max_side_bytes=int(3.5 * size))
    entries = len(victim.chain.entries())
    for i, peer in enumerate(("attacker", "attacker2", "relay")):   # throwaway keys share one budget
        _announce_and_deliver(victim, wire, peer, fork(forger, honest[1], 2, salt=i))
    assert len(victim.chain.entries()) == entries + 3
    assert victim.stats["side-kept-out-budget"] >= 2 and len(victim.side_pool) == 3


def test_side_blocks_far_above_the_tip_are_not_stored():
    """With retargeting a branch can be higher and still lighter; ``max_side_ahead`` bounds how far
    above our tip such blocks are stored. (Regtest has one target, so this plays it with a bound
    below the tip: a side block at our own height is already too high.)"""
    victim, forger, honest, wire = victim_and_forger(max_side_ahead=-1)
    side = fork(forger, honest[2], 2)                     # heights 4 and 5
    entries = len(victim.chain.entries())
    _announce_and_deliver(victim, wire, "relay", side)
    assert len(victim.chain.entries()) == entries + 1 and victim.stats["side-kept-out-too-far-ahead"] == 1


def honest_block_bytes() -> bytes:
    forger = Node("size", Chain(PARAMS, clock=lambda: T0 + 100_000), Wire(), miner_address=bytes(20))
    return forger.mine_block(time=T0 + 600).serialize()


def test_a_fake_heavy_block_under_a_pooled_branch_gets_nothing_stored():
    """The forger pools a low-work branch unrequested, then sends a child that claims the work
    that would make the branch heaviest but did not do it (its hash is above its target). The
    headers are checked before anything is stored: nothing is, and the forger is banned."""
    victim, forger, honest, _ = victim_and_forger()
    entries, rows = len(victim.chain.entries()), len(victim.chain.store)
    branch = fork(forger, honest[1], 3)                   # heights 3..5: equal work at best
    for b in branch:
        send(victim, "attacker", b)
    assert len(victim.chain.entries()) == entries and len(victim.side_pool) == 3
    real = fork(forger, branch[-1], 1)[0]
    fake = Block(next(h for h in (real.header.with_nonce(n) for n in range(1000)) if h.hash_value() > 1 << 255),
                 real.txs)
    send(victim, "attacker", fake)
    assert len(victim.chain.entries()) == entries and len(victim.chain.store) == rows
    assert victim.tip == honest[-1].hash()
    assert victim.peerbook.is_banned("attacker", victim.transport.now())
    assert not victim.side_pool or fake.hash() not in victim.side_pool
