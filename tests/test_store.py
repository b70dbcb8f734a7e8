"""SQLite block store: a chain written, closed and reopened is identical; a failed write
leaves the previous state intact, on disk and in memory."""
from __future__ import annotations

import sqlite3

import pytest

from _chain_helpers import ALICE, BOB, MINER, PARAMS, extend, new_chain, next_block, state
from gradientcoin_edu.chain import Block, BlockStore, StoredBlock, genesis_block
from gradientcoin_edu.errors import StoreError
from gradientcoin_edu.ledger import COIN


def build(chain):
    """A chain with payments, a side branch and a reorg."""
    main = extend(chain, 2)
    chain.add_block(next_block(chain, txs=[MINER.pay(chain.utxo, ALICE.address, 3 * COIN, fee=7)]))
    extend(chain, 1, parent=main[0].hash(), miner=BOB)          # side branch, stays on the side
    side = extend(chain, 4, parent=main[1].hash(), miner=ALICE)  # heavier: reorg
    chain.add_block(next_block(chain, txs=[ALICE.pay(chain.utxo, BOB.address, COIN, fee=3)]))
    return side


def snapshot(chain):
    blocks = {e.hash: (e.block.serialize(), e.height, e.chain_work) for e in chain.entries()}
    return chain.tip.hash, chain.utxo.copy(), [e.hash for e in chain.active_chain()], blocks


def test_write_close_reopen_is_identical(tmp_path):
    path = tmp_path / "node.sqlite"
    chain = new_chain(store=BlockStore(path))
    build(chain)
    before = snapshot(chain)
    assert chain.balance(BOB.address) == COIN and chain.height == 7
    chain.close()
    reopened = new_chain(store=BlockStore(path))
    assert snapshot(reopened) == before
    reopened.add_block(next_block(reopened))                    # and it carries on
    reopened.close()
    again = new_chain(store=str(path))
    assert again.height == 8
    again.close()


def test_store_rows_match_the_tree(tmp_path):
    chain = new_chain(store=BlockStore(tmp_path / "n.sqlite"))
    build(chain)
    rows = list(chain.store.rows())
    assert len(rows) == len(chain.entries()) == len(chain.store)
    assert chain.store.tip() == chain.tip.hash
    seen = set()
    for row in rows:                                            # parents come before children
        assert row.height == 0 or row.parent in seen
        seen.add(row.hash)
        assert chain.get(row.hash).block == row.block
    active = {e.hash for e in chain.active_chain()}
    assert all(r.status == "valid" for r in rows if r.hash in active)
    chain.close()


def test_failed_write_leaves_disk_and_memory_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "node.sqlite"
    chain = new_chain(store=BlockStore(path))
    extend(chain, 3)
    before, on_disk = state(chain), snapshot(chain)
    block = next_block(chain, txs=[MINER.pay(chain.utxo, ALICE.address, COIN)])

    real_insert = BlockStore._insert

    def insert_then_fail(self, db, row):
        real_insert(self, db, row)                              # the row is written inside the transaction...
        raise sqlite3.OperationalError("disk I/O error (simulated)")  # ...then the write fails

    monkeypatch.setattr(BlockStore, "_insert", insert_then_fail)
    with pytest.raises(StoreError) as info:
        chain.add_block(block)
    assert info.value.reason == "write-failed"
    assert state(chain) == before                               # memory: tip, UTXO set, store rows
    monkeypatch.undo()
    chain.close()
    assert snapshot(new_chain(store=BlockStore(path))) == on_disk   # disk: as before the failed write


def test_failed_reorg_write_restores_the_old_branch(monkeypatch):
    chain = new_chain(store=BlockStore(":memory:"))
    main = extend(chain, 2)
    side = extend(chain, 1, parent=main[0].hash(), miner=ALICE)     # equal work: stays on the side
    before = state(chain)
    heavier = next_block(chain, parent=side[-1].hash(), miner=ALICE)
    monkeypatch.setattr(BlockStore, "_insert", lambda self, db, row: (_ for _ in ()).throw(sqlite3.OperationalError("full")))
    with pytest.raises(StoreError):
        chain.add_block(heavier)
    assert state(chain) == before and chain.tip.hash == main[-1].hash()
    monkeypatch.undo()
    chain.add_block(heavier)
    assert chain.tip.hash == heavier.hash()


def test_constraint_violation_rolls_back_the_whole_write():
    store = BlockStore(":memory:")
    g = genesis_block(PARAMS)
    row = StoredBlock(g.hash(), g.prev_hash, 0, 1, "valid", 0, g)
    store.write([row], tip=g.hash())
    chain = new_chain()
    extend(chain, 1)
    e = chain.tip
    new = StoredBlock(e.hash, e.block.prev_hash, 1, e.chain_work, "valid", 1, e.block)
    with pytest.raises(StoreError):
        store.write([new, row], tip=e.hash)                     # second row: duplicate primary key
    assert len(store) == 1 and store.tip() == g.hash() and e.hash not in store
    with pytest.raises(StoreError):
        store.write([StoredBlock(e.hash, e.block.prev_hash, 1, 0, "bogus", 1, e.block)])  # CHECK constraint
    assert len(store) == 1


def test_store_of_another_network_is_refused(tmp_path):
    path = tmp_path / "node.sqlite"
    new_chain(store=BlockStore(path)).close()
    with pytest.raises(StoreError) as info:
        new_chain(PARAMS.with_changes(genesis_time=PARAMS.genesis_time + 1), store=BlockStore(path))
    assert info.value.reason == "wrong-network"


def test_payload_has_its_own_column_and_can_be_pruned():
    store = BlockStore(":memory:")
    g = genesis_block(PARAMS)
    block = Block(g.header, g.txs, b"quantized gradient bytes")
    store.write([StoredBlock(block.hash(), block.prev_hash, 0, 1, "valid", 0, block)])
    assert store.get_block(block.hash()) == block
    store.prune_payload(block.hash())
    pruned = store.get(block.hash())
    assert pruned.pruned and pruned.block.payload == b"" and pruned.block.hash() == block.hash()
