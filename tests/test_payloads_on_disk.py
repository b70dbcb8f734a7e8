"""A simulated LLM node keeps only its last blocks' gradients in memory; older ones are read back
from its block store, byte for byte, when something needs them (tiny preset).

Before ``llm.network.PayloadsOnDisk`` every node held every payload of its chain in memory (the
demo's 1.45 GB peak: 3 nodes x 433 KB x 540 blocks); the first test fails on that code."""
from __future__ import annotations

import pytest

from gradientcoin_edu.chain import Block
from gradientcoin_edu.chain.store import BlockStore, PayloadOnDisk
from gradientcoin_edu.llm import LLMChain, Query
from gradientcoin_edu.llm.network import LLMSimulator, PayloadsOnDisk
from gradientcoin_edu.network.simulator import LinkSpec
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)


def in_memory(chain) -> list[int]:
    """Heights of the best-chain blocks (genesis aside) whose payload the chain holds in memory."""
    return [e.height for e in chain.active_chain()[1:] if not isinstance(e.block, PayloadOnDisk) and e.block.payload]


@pytest.fixture(scope="module")
def sim(spec, tmp_path_factory):
    sim = LLMSimulator(spec, seed=4, parallel_verify=0)
    sim.store_dir = tmp_path_factory.mktemp("stores")
    sim.add_nodes(3)
    sim.connect_random(degree=2, link=LinkSpec(latency=1.0, jitter=1.0))
    sim.run(until=1.0)
    sim.run(blocks=14)
    sim.settle()
    yield sim
    sim.close()


def test_a_node_holds_the_payloads_of_its_last_blocks_only(sim, spec):
    keep = spec.params.query_window + 2
    for name in sim.live():
        chain = sim.node(name).chain
        assert chain.height >= keep + 4
        assert in_memory(chain) == list(range(chain.height - keep + 1, chain.height + 1))


def test_old_blocks_read_back_byte_for_byte_and_a_newcomer_agrees(sim, spec):
    chain = sim.node(sim.live()[0]).chain
    store = chain.store
    fresh = LLMChain(spec, clock=sim.clock)             # replays every block, old ones read from the store
    for entry in chain.active_chain()[1:]:
        block = entry.block
        again = Block.parse(block.serialize())
        assert again == block and block == again and hash(again) == hash(block)
        assert block.payload == store.get_block(entry.hash).payload and block.size() == again.size()
        fresh.add_block(again)
    assert fresh.rule.weights_root() == chain.rule.weights_root()
    assert [fresh.weights_root_at(h) for h in range(chain.height + 1)] == \
           [chain.weights_root_at(h) for h in range(chain.height + 1)]       # old weights: replayed from disk
    old = Query("\n2+3=", 2, 3)
    assert chain.answer(old) == fresh.answer(old)


def test_a_pruned_payload_reads_as_empty_and_an_unstored_block_is_not_released(spec):
    chain = LLMChain(spec, store=BlockStore(":memory:"))
    listener = PayloadsOnDisk(chain, keep=1)
    chain.listeners.append(listener)
    for _ in range(3):
        chain.mine_and_add(bytes(20))
    first = chain.entry_at(1)
    assert isinstance(first.block, PayloadOnDisk) and listener.released == 2 and first.block.payload
    chain.store.prune_payload(first.hash)
    assert first.block.payload == b""
    kept = Block(first.block.header, first.block.txs)               # the block as kept without its payload
    assert first.block.serialize() == kept.serialize() and first.block.size() == kept.size()
    assert Block.parse(first.block.serialize()) == kept             # never bytes announcing a payload
    with pytest.raises(TypeError):
        PayloadOnDisk(first.block.header)
    alone = LLMChain(spec)                               # no store: nothing can be released
    alone_listener = PayloadsOnDisk(alone, keep=0)
    alone.listeners.append(alone_listener)
    alone.mine_and_add(bytes(20))
    assert alone_listener.released == 0 and alone.block_at(1).payload


def test_the_simulators_stores_do_not_wait_for_the_disk_and_a_nodes_store_does(tmp_path):
    from gradientcoin_edu.network.simulator import Simulator
    sim = Simulator(seed=1)
    sim.store_dir = tmp_path
    sn = sim.add_node("a")
    assert sn.store._db.execute("PRAGMA synchronous").fetchone()[0] == 0        # OFF
    with BlockStore(tmp_path / "node.sqlite") as store:                           # what a real node opens
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2     # FULL (SQLite's default)


# ----------------------------------------------------------------------------- a real node's chain

def _open_as_the_node_does(data_dir):
    """The chain of ``gradientcoin node --chain llm --model tiny --data-dir DIR``: node_cli's own
    open path (``DIR/blocks.sqlite``, ``CHAIN_KINDS["llm"].open_chain``)."""
    from gradientcoin_edu import node_cli
    return node_cli._open_chain(_namespace(), data_dir)


def test_a_real_nodes_chain_holds_its_last_payloads_only_and_after_a_restart_too(spec, tmp_path):
    """A node started by ``gradientcoin node --chain llm`` held every gradient of its chain in
    memory (about 0.4 MB a block for the demo model, forever), and its replay after a restart held
    them all again; it now keeps the last ``query_window + 2``, as the simulator's nodes do, and
    serves the old blocks from its store byte for byte (a peer's getdata, the RPC's getblock)."""
    from gradientcoin_edu import node_cli
    from gradientcoin_edu.crypto import PrivateKey
    from gradientcoin_edu.network import messages as m
    from _transport import RecordingTransport
    keep = spec.params.query_window + 2
    chain = _open_as_the_node_does(tmp_path)
    try:
        for _ in range(keep + 4):
            chain.mine_and_add(bytes(20))
        assert in_memory(chain) == list(range(chain.height - keep + 1, chain.height + 1))
        hashes = [e.hash for e in chain.active_chain()]
        roots = [chain.weights_root_at(h) for h in range(chain.height + 1)]
    finally:
        chain.close()

    chain = _open_as_the_node_does(tmp_path)                        # the same command again
    try:
        assert [e.hash for e in chain.active_chain()] == hashes
        assert in_memory(chain) == list(range(chain.height - keep + 1, chain.height + 1))
        assert chain.weights_root_at(2) == roots[2]                   # old weights: replayed from disk
        args = _namespace()
        transport = RecordingTransport(spec.chain_params.genesis_time + 10_000)
        kind = node_cli.CHAIN_KINDS["llm"]
        node = kind.make_node(args, "n", chain, transport, PrivateKey.generate(), seed=1)
        service = kind.service_factory()(node, tmp_path, PrivateKey.generate(), chain_name="llm-tiny")
        old = chain.entry_at(1)
        assert isinstance(old.block, PayloadOnDisk)
        node._on_getdata("peer", m.GetData((m.InvItem(m.INV_BLOCK, old.hash),)))
        (peer, sent), = transport.sent
        stored = chain.store.get_block(old.hash)
        assert sent.raw == stored.serialize() and len(stored.payload) > 0
        assert Block.parse(sent.raw).hash() == old.hash
        assert service.rpc_getblock(1)["payload_bytes"] == len(stored.payload)
        assert in_memory(chain) == list(range(chain.height - keep + 1, chain.height + 1))   # still on disk
    finally:
        chain.close()


def _namespace():
    import argparse
    return argparse.Namespace(chain="llm", model="tiny", corpus_seed=0, threads=1, listen=None)


# ----------------------------------------------------------------------------- a restart's replay

def _payloads_held(chain) -> int:
    """Index entries (any branch, genesis aside) whose block holds its non-empty payload in memory."""
    return sum(1 for e in chain._index.values()
               if e.height > 0 and not isinstance(e.block, PayloadOnDisk) and e.block.payload)


def test_a_restart_replays_with_a_bounded_number_of_payloads_in_memory(spec, tmp_path, monkeypatch):
    """A restart read every stored block with its payload into memory before replaying them (480 MB at
    200 blocks of the demo model, growing with the chain); the replay now leaves them on disk and the
    work rule reads each one when it connects the block. Counted at every block the replay connects
    (verified, or below a snapshot): no entry of the index holds its payload; and measured: tracemalloc's
    peak while the chain reopens exceeds what the chain holds once open (the last ``keep`` payloads back
    in memory, the rule's states) by less than 3 payloads, for 12 blocks as for 24 (the replay held
    every payload: 10 and 22 payloads over). Every block, weights root and answer is unchanged."""
    import tracemalloc
    from gradientcoin_edu.chain.store import BlockStore
    from gradientcoin_edu.llm.rule import LLMRule
    keep, n = spec.params.query_window + 2, 12
    (tmp_path / "node").mkdir()
    chain = _open_as_the_node_does(tmp_path / "node")
    stores = {}
    try:
        for size in (n, 2 * n):
            while chain.height < size:
                chain.mine_and_add(bytes(20))
            (tmp_path / str(size)).mkdir()
            with BlockStore(tmp_path / str(size) / "blocks.sqlite") as copy:   # the store as it is now
                chain.store._db.backup(copy._db)
            stores[size] = ([e.hash for e in chain.active_chain()],
                            [chain.weights_root_at(h) for h in range(size + 1)], chain.answer(Query("\n2+3=", 2, 3)))
        payload_size = len(chain.store.get_block(chain.entry_at(1).hash).payload)
    finally:
        chain.close()

    held = []
    for name in ("connect_block", "connect_assumed"):         # each block the replay connects (verified or
        def counting(rule, *args, real=getattr(LLMRule, name), **kwargs):   # below a snapshot)
            held.append(_payloads_held(rule.chain))
            return real(rule, *args, **kwargs)
        monkeypatch.setattr(LLMRule, name, counting)
    over = {}
    for size in (2 * n, n):
        held.clear()
        tracemalloc.start()
        try:
            again = _open_as_the_node_does(tmp_path / str(size))
            now, peak = tracemalloc.get_traced_memory()
            over[size] = peak - now                           # held during the replay only
        finally:
            tracemalloc.stop()
        try:
            hashes, roots, answer = stores[size]
            assert len(held) == size and max(held) == 0            # every block connected, none held meanwhile
            assert [e.hash for e in again.active_chain()] == hashes
            assert [again.weights_root_at(h) for h in range(size + 1)] == roots
            assert again.answer(Query("\n2+3=", 2, 3)) == answer
            assert in_memory(again) == list(range(size - keep + 1, size + 1))
            assert _payloads_held(again) == keep
        finally:
            again.close()
    assert max(over.values()) < 3 * payload_size, (over, payload_size)


def test_rows_read_without_payloads_are_the_same_blocks(spec):
    """``BlockStore.rows(payloads=False)`` (what the replay reads): each block the same as read with its
    payload - hash, encoding, size, equality, pruned flag - with the payload left on disk where there is
    one; a proof-of-work chain's blocks (empty payloads) come as plain blocks."""
    from _chain_helpers import extend, new_chain
    chain = LLMChain(spec, store=BlockStore(":memory:"))
    for _ in range(3):
        chain.mine_and_add(bytes(20))
    chain.store.prune_payload(chain.entry_at(1).hash)
    whole, lazy = list(chain.store.rows()), list(chain.store.rows(payloads=False))
    assert [r.hash for r in lazy] == [r.hash for r in whole] and len(lazy) == 4
    for a, b in zip(whole, lazy):
        assert (b.pruned, b.status, b.height, b.chain_work) == (a.pruned, a.status, a.height, a.chain_work)
        assert b.block.serialize() == a.block.serialize() and b.block.size() == a.block.size()
        assert b.block == a.block and a.block == b.block and hash(b.block) == hash(a.block)
        assert isinstance(b.block, PayloadOnDisk) == bool(a.block.payload)
    assert [r.pruned for r in lazy] == [False, True, False, False]
    pow_chain = new_chain(store=BlockStore(":memory:"))
    extend(pow_chain, 2)
    assert len(pow_chain.store) == 3 and not any(isinstance(r.block, PayloadOnDisk) for r in pow_chain.store.rows(payloads=False))
