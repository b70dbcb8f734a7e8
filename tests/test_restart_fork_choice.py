"""A node that stops and starts again chooses the same chain as a node that never stopped.

After a restart the blocks below the loaded snapshot are *assumed* (their gradients are not
re-verified), so the node does not know the best validation loss (the anchor of the anchored
guard) or the state at those heights directly. A rival miner - the attacker here, who wants to
split the network - mines a heavier branch a few blocks deep, with real work. Before the fix a
restarted node refused it (``no-anchor``), marked it invalid and kept that mark on disk, while a
fresh node followed it: the network split. Now the restarted node rebuilds the anchor and the state
from its stored snapshots and gradients and follows every fork a never-stopped node with the same
pruning follows; what it cannot evaluate for lack of data is reported, never marked invalid.
Tiny preset, a dozen blocks: seconds per test."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace

import pytest

from _chain_helpers import ALICE, extend, new_chain, next_block
from _fixtures import gradients, one_torch_thread, spec  # noqa: F401 (fixtures)
from gradientcoin_edu.chain import AddResult, Block, BlockStore
from gradientcoin_edu.errors import InvalidBlock, MutatedBlock, StoreError
from gradientcoin_edu.ledger import COIN, Transaction, TxIn, TxOut, Wallet
from gradientcoin_edu.llm import LLMChain, LLMSpec
from gradientcoin_edu.llm.pruning import prune

CLOCK = lambda: 2_000_000_000                      # noqa: E731
MINER = Wallet.from_seed("restart-miner")
RIVAL = Wallet.from_seed("restart-rival")          # the attacker: mines a heavier branch with real work
N = 11                                             # main chain length; snapshots every 5 blocks: at 5 and 10


@pytest.fixture(scope="module")
def main(spec):
    chain = LLMChain(spec, clock=CLOCK)
    return [chain.mine_and_add(MINER.address) for _ in range(N)]


_forks: dict = {}


def fork_from(spec, main, height: int, length: int) -> list[Block]:
    """``length`` rival blocks on main's block at ``height`` (cached across tests)."""
    key = (spec.genesis.hash(), height, length)
    if key not in _forks:
        rival = LLMChain(spec, clock=CLOCK)
        for block in main[:height]:
            rival.add_block(block)
        _forks[key] = [rival.mine_and_add(RIVAL.address, time=rival.tip.header.time + 1) for _ in range(length)]
    return _forks[key]


def fed(spec, blocks, path=None, **kwargs) -> LLMChain:
    chain = LLMChain(spec, store=None if path is None else str(path), clock=CLOCK, **kwargs)
    for block in blocks:
        chain.add_block(block)
    return chain


def restarted(spec, blocks, path, **kwargs) -> LLMChain:
    fed(spec, blocks, path, **kwargs).close()
    return LLMChain(spec, store=str(path), clock=CLOCK, **kwargs)


def same_state(a: LLMChain, b: LLMChain) -> bool:
    return (a.tip.hash == b.tip.hash and a.rule.weights_root() == b.rule.weights_root()
            and a.dataset.root == b.dataset.root and a.utxo == b.utxo)


# ============================================================================ restart, no pruning

def test_a_restarted_node_rebuilds_the_anchor_below_its_snapshot_bit_for_bit(spec, main, tmp_path):
    never_stopped = fed(spec, main)
    node = restarted(spec, main, tmp_path / "node.sqlite")
    assert len(node._assumed) == 10                                  # 1..10 from the snapshot at 10
    assert node.rule._best[9] is None                                # unknown right after the restart...
    for h in range(N + 1):                                           # ...rebuilt, the very same numbers
        assert node.rule.best_val_loss_at(h) == never_stopped.rule._best[h]
    assert node.weights_root_at(7) == never_stopped.weights_root_at(7) == main[6].header.weights_root
    node.close()


@pytest.mark.parametrize("depth", [2, 4, 7, 10])
def test_a_restarted_node_follows_the_heavier_fork_a_fresh_node_follows(spec, main, tmp_path, depth):
    """Before the fix: ``ModelError("no-anchor")`` at the first rival block, the branch marked invalid."""
    node = restarted(spec, main, tmp_path / "node.sqlite")
    fork = fork_from(spec, main, N - depth, depth + 1)               # one block more than we drop: heavier
    results = [node.add_block(block) for block in fork]
    fresh = fed(spec, [*main, *fork])
    assert results[-1] is AddResult.REORG and node.tip.hash == fork[-1].hash()
    assert same_state(node, fresh)
    assert node.rule.best_val_loss() == fresh.rule.best_val_loss()
    assert not node.invalid and not node.needs_data
    node.close()
    again = LLMChain(spec, store=str(tmp_path / "node.sqlite"), clock=CLOCK)    # and a second restart agrees
    assert same_state(again, fresh) and not again.invalid
    again.close()


def test_a_corrupt_older_snapshot_does_not_stop_a_restart(spec, main, tmp_path, caplog):
    path = tmp_path / "node.sqlite"
    fed(spec, main, path).close()
    store = BlockStore(path)
    data = bytearray(store.get_snapshot(main[4].hash()))            # the snapshot at 5 (the latest is at 10)
    data[-1] ^= 1
    store.put_snapshot(main[4].hash(), 5, bytes(data))
    store.close()
    with caplog.at_level(logging.WARNING, logger="gradientcoin_edu.chain"):
        node = LLMChain(spec, store=str(path), clock=CLOCK)
    assert "is corrupt and is not used" in caplog.text and node.tip.hash == main[-1].hash()
    fork = fork_from(spec, main, N - 4, 5)                           # still followed: rebuilt from genesis
    assert [node.add_block(b) for b in fork][-1] is AddResult.REORG
    assert same_state(node, fed(spec, [*main, *fork]))
    node.close()


def test_an_sgd_chain_restarted_or_pruned_follows_the_fork_too(tmp_path):
    """SGD undoes an update from its gradient (no stored states): the anchor is rebuilt all the same."""
    sgd = LLMSpec.builtin("tiny", pog={"optimizer": 0})
    source = LLMChain(sgd, clock=CLOCK)
    main = [source.mine_and_add(MINER.address) for _ in range(N)]
    fork = fork_from(sgd, main, 3, N - 3 + 1)
    fresh = fed(sgd, [*main, *fork])
    node = restarted(sgd, main, tmp_path / "a.sqlite")
    assert [node.add_block(b) for b in fork][-1] is AddResult.REORG and same_state(node, fresh)
    pruned = fed(sgd, main, tmp_path / "b.sqlite", snapshot_interval=100)
    assert prune(pruned, keep=2).pruned_below == 4                  # fork point 3: the deepest it keeps
    pruned.close()
    pruned = LLMChain(sgd, store=str(tmp_path / "b.sqlite"), clock=CLOCK, snapshot_interval=100)
    assert [pruned.add_block(b) for b in fork][-1] is AddResult.REORG and same_state(pruned, fresh)
    node.close()
    pruned.close()


# ============================================================================ pruned nodes

def test_a_restarted_pruned_node_follows_every_fork_a_running_pruned_node_follows(spec, main, tmp_path):
    running = fed(spec, main, tmp_path / "a.sqlite", snapshot_interval=100)
    report = prune(running, keep=2)
    assert (report.snapshot_height, report.pruned_below) == (9, 4)  # gradients of blocks 1..3 are gone
    node = fed(spec, main, tmp_path / "b.sqlite", snapshot_interval=100)
    prune(node, keep=2)
    node.close()
    node = LLMChain(spec, store=str(tmp_path / "b.sqlite"), clock=CLOCK, snapshot_interval=100)
    deepest = report.pruned_below - 1                                # the lowest fork point a pruned node keeps
    fork = fork_from(spec, main, deepest, N - deepest + 1)          # 8 blocks deep
    for chain in (running, node):
        assert [chain.add_block(b) for b in fork][-1] is AddResult.REORG
    fresh = fed(spec, [*main, *fork])
    assert same_state(running, fresh) and same_state(node, fresh)
    running.close()
    node.close()


def test_a_fork_below_the_pruned_blocks_needs_data_and_is_never_marked_invalid(spec, main, tmp_path, caplog,
                                                                              gradients):
    path = tmp_path / "node.sqlite"
    node = fed(spec, main, path, snapshot_interval=100)
    report = prune(node, keep=2)
    node.close()
    node = LLMChain(spec, store=str(path), clock=CLOCK, snapshot_interval=100)
    *fork, more = fork_from(spec, main, report.pruned_below - 2, N + 1)   # forks below what is kept: heavier
    tip = node.tip.hash
    gradients.clear()
    with caplog.at_level(logging.WARNING, logger="gradientcoin_edu.chain"):
        results = [node.add_block(block) for block in fork]
    assert results[-1] is AddResult.NEEDS_DATA and node.tip.hash == tip and node.rule.tip_hash == tip
    assert not node.invalid and node.needs_data[fork[-1].hash()].reason == "reorg-below-pruned"
    assert "NOT marked invalid" in caplog.text
    assert "cannot reorg deeper than the blocks and states it keeps" in caplog.text
    assert not gradients                                             # the attacker's blocks cost us no verification
    assert {node.store.get(b.hash()).status for b in fork} == {"header-ok"}
    assert node.add_block(more) is AddResult.NEEDS_DATA and node.tip.hash == tip and not gradients
    assert node.add_block(main[0]) is AddResult.DUPLICATE             # a pruned body sent again is not stored again
    assert node.store.get(main[0].hash()).pruned
    node.close()
    again = LLMChain(spec, store=str(path), clock=CLOCK, snapshot_interval=100)   # a restart tries it, stays
    assert again.tip.hash == tip and not again.invalid and more.hash() in again.needs_data
    again.close()
    resynced = fed(spec, [*main, *fork, more], tmp_path / "new.sqlite")   # the remedy: re-sync from genesis
    assert resynced.tip.hash == more.hash()
    resynced.close()


def test_a_pruned_store_without_its_snapshot_is_refused_and_left_as_it_was(spec, main, tmp_path):
    path = tmp_path / "node.sqlite"
    node = fed(spec, main, path, snapshot_interval=100)
    prune(node, keep=2)
    node.store.delete_snapshots(N + 1)                               # the snapshots are lost (a bad copy, say)
    rows = [(r.hash, r.status, r.pruned) for r in node.store.rows()]
    node.close()
    with pytest.raises(StoreError) as err:
        LLMChain(spec, store=str(path), clock=CLOCK, snapshot_interval=100)
    assert err.value.reason == "missing-data" and "re-sync from genesis" in err.value.message
    store = BlockStore(path)
    assert [(r.hash, r.status, r.pruned) for r in store.rows()] == rows   # no block marked invalid
    store.close()


# ============================================================================ marks left by the old code

def _doctor_as_old_bug(path, main, fork, reason):
    """The rows the old code left: the rival branch marked invalid (no reason recorded, or ``no-anchor``),
    its newest block kept without its payload, the stored tip back on main."""
    db = sqlite3.connect(str(path))
    with db:
        has_reason = "reason" in [row[1] for row in db.execute("PRAGMA table_info(blocks)")]
        for block in fork:
            db.execute("UPDATE blocks SET status = 'invalid' WHERE hash = ?", (block.hash(),))
            if has_reason:
                db.execute("UPDATE blocks SET reason = ? WHERE hash = ?", (reason, block.hash()))
        for block in main:
            db.execute("UPDATE blocks SET status = 'valid' WHERE hash = ?", (block.hash(),))
        db.execute("UPDATE blocks SET payload = NULL WHERE hash = ?", (fork[-1].hash(),))
        db.execute("UPDATE meta SET value = ? WHERE key = 'tip'", (main[-1].hash(),))
        if reason is None and has_reason:                                # a schema-1 store
            db.execute("ALTER TABLE blocks DROP COLUMN reason")
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"1",))
    db.close()


@pytest.mark.parametrize("reason", [None, "no-anchor"])
def test_an_invalid_mark_left_by_the_old_restart_bug_is_not_honoured(spec, main, tmp_path, reason):
    path = tmp_path / "node.sqlite"
    fork = fork_from(spec, main, N - 2, 4)                           # heavier even without its newest block
    fed(spec, [*main, *fork], path).close()
    _doctor_as_old_bug(path, main, fork, reason)
    node = LLMChain(spec, store=str(path), clock=CLOCK)              # upgrade + restart: the marks are re-checked
    assert not node.invalid and node.tip.hash == fork[-2].hash()
    assert node.needs_data[fork[-1].hash()].reason == "no-payload"  # its body is asked for again
    assert node.store.tip() == fork[-2].hash()
    genuine = fork[-1]
    flipped = bytearray(genuine.payload)
    flipped[0] ^= 1
    with pytest.raises(MutatedBlock):                                # a forged body for it changes nothing
        node.add_block(replace(genuine, payload=bytes(flipped)))
    assert node.tip.hash == fork[-2].hash() and node.store.get(genuine.hash()).pruned
    assert node.add_block(genuine) is AddResult.EXTENDED            # the peer sends it again
    assert same_state(node, fed(spec, [*main, *fork]))
    node.close()
    again = LLMChain(spec, store=str(path), clock=CLOCK)
    assert again.tip.hash == genuine.hash() and not again.invalid
    assert {r.status for r in again.store.rows()} <= {"valid", "header-ok"}
    again.close()


@pytest.mark.parametrize("reason", [None, "no-anchor"])
def test_a_node_asks_its_peers_for_the_body_a_reopened_mark_needs(spec, main, tmp_path, reason):
    """The same old marks, under a real ``Node``: the chain can take the missing body, but a node
    only fetches blocks it does not index, so it never asked for it - a peer announcing the block
    was ignored, a peer sending the next block of that branch got it stored as "needs data" and
    nothing more. The heavier branch waited for good (the split the re-check was meant to end).
    Now a block kept without the body a branch needs is wanted like an unknown one, and a block
    that needs data makes the node ask its sender for the missing bodies."""
    from gradientcoin_edu.network import messages as m
    from gradientcoin_edu.network.node import Node

    class Wire:
        def __init__(self):
            self.sent = []

        def send(self, peer, data):
            self.sent.append((peer, m.decode(data)))

        def disconnect(self, peer):
            pass

        def now(self):
            return CLOCK()

    def asked(wire, peer):
        return [i.hash for p, msg in wire.sent if p == peer and isinstance(msg, m.GetData) for i in msg.items]

    path = tmp_path / "node.sqlite"
    fork = fork_from(spec, main, N - 2, 5)
    fed(spec, [*main, *fork[:4]], path).close()
    _doctor_as_old_bug(path, main, fork[:4], reason)                 # fork[3] kept without its payload
    wire = Wire()
    node = Node("victim", LLMChain(spec, store=str(path), clock=CLOCK), wire)
    assert node.tip == fork[2].hash() and fork[3].hash() in node.chain.needs_data
    for peer in ("announcer", "relay"):
        node.on_connect(peer)
        node.on_message(peer, m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=len(peer))))
    wire.sent.clear()
    node.on_message("relay", m.encode(m.BlockMsg(fork[4].serialize())))   # the next block of that branch
    assert node.tip == fork[2].hash() and fork[4].hash() in node.chain.needs_data
    assert asked(wire, "relay") == [fork[3].hash()], "the node did not ask for the body its branch needs"
    wire.sent.clear()
    node.requested.clear()
    node.on_message("announcer", m.encode(m.Inv((m.InvItem(m.INV_BLOCK, fork[3].hash()),))))
    assert asked(wire, "announcer") == [fork[3].hash()], "an announced body the branch needs was ignored"
    node.on_message("announcer", m.encode(m.BlockMsg(fork[3].serialize())))
    assert node.tip == fork[4].hash() and not node.chain.needs_data
    assert same_state(node.chain, fed(spec, [*main, *fork]))
    node.chain.close()


# ============================================================================ proof-of-work (regtest)

def test_a_restarted_pow_node_follows_the_heavier_fork(tmp_path):
    path = tmp_path / "node.sqlite"
    node = new_chain(store=BlockStore(path))
    main = extend(node, 5)
    node.close()
    node = new_chain(store=BlockStore(path))
    fresh = new_chain()
    for block in main:
        fresh.add_block(block)
    fork = extend(fresh, 3, parent=main[2].hash(), miner=ALICE)     # 2 blocks deep, one more: heavier
    assert [node.add_block(b) for b in fork][-1] is AddResult.REORG
    assert node.tip.hash == fresh.tip.hash and node.utxo == fresh.utxo and not node.invalid
    node.close()


def _bad_branch(node, main):
    """A heavier branch whose second block spends a coin that never existed (rule 6)."""
    side = next_block(node, parent=main[0].hash(), miner=ALICE)
    fake = Transaction(inputs=(TxIn(b"\x42" * 32, 0),), outputs=(TxOut(COIN, ALICE.address),))
    node.add_block(side)
    bad = next_block(node, parent=side.hash(), txs=[fake], fees=0, miner=ALICE)
    node.add_block(bad)
    return side, bad, next_block(node, parent=bad.hash(), miner=ALICE)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_genuine_invalid_mark_survives_a_restart(tmp_path, legacy):
    """An attacker's invalid block stays invalid across restarts: recorded with its reason, or - a mark
    from a store that recorded none - checked again on restart and marked again, reason recorded."""
    path = tmp_path / "node.sqlite"
    node = new_chain(store=BlockStore(path))
    main = extend(node, 3)
    side, bad, top = _bad_branch(node, main)
    with pytest.raises(InvalidBlock) as err:
        node.add_block(top)
    assert err.value.reason == "missing-input" and node.store.get(bad.hash()).reason == "missing-input"
    node.close()
    if legacy:
        db = sqlite3.connect(str(path))
        with db:
            db.execute("UPDATE blocks SET reason = NULL")
        db.close()
    node = new_chain(store=BlockStore(path))
    assert node.tip.hash == main[-1].hash() and {bad.hash(), top.hash()} <= node.invalid
    assert node.store.get(bad.hash()).reason == "missing-input"
    with pytest.raises(InvalidBlock) as err:
        node.add_block(top)
    assert err.value.reason == "known-invalid"
    node.close()
