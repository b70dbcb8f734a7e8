"""Reclaiming disk space and simplified verification for the decentralized LLM (tiny preset).

Pruning drops old gradients and keeps a weight snapshot: the store shrinks, a restarted node
loads the snapshot (checked against the header's weights root) and replays the rest, and ends
with the same weights as a node that never pruned. A Merkle proof shows one chunk of weights
(or one answer) against a block header alone."""
from __future__ import annotations

import numpy as np
import pytest

from gradientcoin_edu.chain import AddResult
from gradientcoin_edu.crypto.hashes import sha256
from gradientcoin_edu.crypto.merkle import merkle_root
from gradientcoin_edu.errors import ModelError, StoreError
from gradientcoin_edu.ledger import Wallet
from gradientcoin_edu.llm import LLMChain, Query, build_query_tx
from gradientcoin_edu.llm.light import (AnswerProof, chunk_parameters, chunk_values, n_chunks, prove_answer,
                                        prove_weights_chunk, verify_answer, verify_weights_chunk)
from gradientcoin_edu.llm.pruning import prune
from gradientcoin_edu.model.fixed_point import param_spec, weights_bytes
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)

CLOCK = lambda: 2_000_000_000                      # noqa: E731
MINER = Wallet.from_seed("llm-miner")
ADA = Wallet.from_seed("llm-ada")


@pytest.fixture(scope="module")
def blocks(spec):
    """24 blocks; block 20 answers a query."""
    chain = LLMChain(spec, clock=CLOCK)
    out = [chain.mine_and_add(ADA.address)]
    for h in range(2, 25):
        txs = [build_query_tx(chain.utxo, ADA.key, Query("\n2+3=", h - 1, 4), spec.params)] if h == 20 else []
        out.append(chain.mine_and_add(MINER.address, txs))
    return out


def stored_chain(spec, blocks, path, **kwargs) -> LLMChain:
    chain = LLMChain(spec, store=str(path), clock=CLOCK, **kwargs)
    for block in blocks:
        chain.add_block(block)
    return chain


# ============================================================================ pruning and restart

def test_pruning_saves_disk_and_a_restart_replays_from_the_snapshot(spec, blocks, tmp_path):
    path = tmp_path / "node.sqlite"
    chain = stored_chain(spec, blocks, path, snapshot_interval=100)   # no automatic snapshots
    tip, root, records, utxo = chain.tip.hash, chain.rule.weights_root(), chain.dataset.root, chain.utxo.copy()
    chain.store.vacuum()
    report = prune(chain, keep=6)
    assert report.snapshot_height == 18 and report.pruned_below == 18 - spec.params.query_window + 1
    assert report.blocks_pruned == report.pruned_below - 1
    assert report.bytes_after < report.bytes_before
    assert report.saved >= report.blocks_pruned * spec.pog.payload_bytes * 0.9   # the gradients were the bulk
    assert chain.rule.weights_root() == root                         # the running node carries on
    with pytest.raises(ModelError) as err:
        chain.weights_at(3)                                          # its gradients are gone
    assert err.value.reason == "pruned"
    assert chain.weights_root_at(18 - spec.params.query_window) == chain.header_at(12).weights_root
    chain.close()

    again = LLMChain(spec, store=str(path), clock=CLOCK, snapshot_interval=100)
    assert again.tip.hash == tip and again.rule.weights_root() == root
    assert again.dataset.root == records and again.utxo == utxo
    assert len(again._assumed) == 18                                 # 1..18 from the snapshot, 19..24 replayed
    assert again.rule.best_val_loss() is not None
    block = again.mine_and_add(MINER.address)                        # and it keeps mining
    fresh = LLMChain(spec, clock=CLOCK)                              # a node that never pruned agrees
    for b in [*blocks, block]:
        fresh.add_block(b)
    assert fresh.rule.weights_root() == again.rule.weights_root()
    again.close()


def test_pruning_a_node_that_keeps_its_old_payloads_on_disk_forgets_them(spec, blocks, tmp_path):
    """Every node keeps its old blocks' payloads in its store only (``keep_payloads_on_disk``). When it
    prunes, those blocks must be marked as without their data, as the blocks held in memory are; they
    kept saying they had it, with a payload that read as empty."""
    from gradientcoin_edu.chain.store import PayloadOnDisk
    from gradientcoin_edu.llm.network import keep_payloads_on_disk
    chain = stored_chain(spec, blocks, tmp_path / "node.sqlite", snapshot_interval=100)
    keep_payloads_on_disk(chain)
    assert any(isinstance(e.block, PayloadOnDisk) for e in chain.active_chain())
    report = prune(chain, keep=6, vacuum=False)
    gone = [e for e in chain.active_chain() if 0 < e.height < report.pruned_below]
    assert gone and all(not e.has_data and e.block.payload == b"" for e in gone), \
        [(e.height, e.has_data) for e in gone if e.has_data]
    assert all(e.has_data and e.block.payload for e in chain.active_chain()[1:] if e.height >= report.pruned_below)
    chain.close()


def test_a_reorg_deeper_than_the_pruning_is_refused(spec, blocks, tmp_path):
    chain = stored_chain(spec, blocks[:12], tmp_path / "node.sqlite", snapshot_interval=100)
    prune(chain, keep=2)
    rival = LLMChain(spec, clock=CLOCK)
    rival.add_block(blocks[0])
    for _ in range(13):                                              # a longer branch from height 1
        rival.mine_and_add(Wallet.from_seed("rival").address, time=rival.tip.header.time + 1)
    tip = chain.tip.hash
    results = [chain.add_block(entry.block) for entry in rival.active_chain()[2:]]
    assert results[-1] is AddResult.NEEDS_DATA                       # cannot be evaluated: not invalid
    assert chain.needs_data[rival.tip.hash].reason == "reorg-below-pruned" and not chain.invalid
    assert chain.tip.hash == tip and chain.rule.tip_hash == tip


def test_a_snapshot_that_does_not_match_the_header_is_refused(spec, blocks, tmp_path):
    path = tmp_path / "node.sqlite"
    chain = stored_chain(spec, blocks[:10], path, snapshot_interval=100)
    chain.write_snapshot(8)
    data = bytearray(chain.store.get_snapshot(chain.block_at(8).hash()))
    data[-1] ^= 1                                                    # one weight changed
    chain.store.put_snapshot(chain.block_at(8).hash(), 8, bytes(data))
    chain.close()
    with pytest.raises(StoreError) as err:                           # a local corruption, not an invalid block
        LLMChain(spec, store=str(path), clock=CLOCK)
    assert err.value.reason == "bad-snapshot"


def test_prune_needs_a_store_and_does_nothing_on_a_short_chain(spec, blocks, tmp_path):
    with pytest.raises(StoreError):
        prune(LLMChain(spec, clock=CLOCK))
    chain = stored_chain(spec, blocks[:3], tmp_path / "node.sqlite")
    assert prune(chain, keep=10).blocks_pruned == 0


# ============================================================================ simplified verification

def test_weights_root_is_the_chain_merkle_root_of_chunk_digests(spec, blocks):
    chain = LLMChain(spec, clock=CLOCK)
    for b in blocks[:5]:
        chain.add_block(b)
    data, size = weights_bytes(chain.weights), spec.pog.chunk_bytes
    digests = [sha256(data[i:i + size]) for i in range(0, len(data), size)]
    assert len(digests) == n_chunks(spec) > 1
    assert merkle_root(digests, "chain") == chain.header_at(5).weights_root


def test_a_chunk_of_weights_is_checked_against_the_header_alone(spec, blocks):
    chain = LLMChain(spec, clock=CLOCK)
    for b in blocks[:6]:
        chain.add_block(b)
    last = n_chunks(spec) - 1
    for height, index in ((6, 0), (3, last), (0, 1)):
        p = prove_weights_chunk(chain, height, index)
        header = chain.header_at(height)
        assert verify_weights_chunk(header, p, spec)
        assert not verify_weights_chunk(chain.header_at(height - 1 if height else 1), p, spec)   # another height
        tampered = bytearray(p.chunk)
        tampered[0] ^= 1
        assert not verify_weights_chunk(header, type(p)(p.height, p.index, bytes(tampered), p.proof), spec)
        assert not verify_weights_chunk(header, type(p)(p.height, p.index ^ 1, p.chunk, p.proof), spec)
    p = prove_weights_chunk(chain, 6, 0)
    values = chunk_values(p.chunk, spec.pog.scale_log2)
    assert np.array_equal(values, np.ldexp(chain.weights[:len(values)].astype(np.float64), -spec.pog.scale_log2))
    names = chunk_parameters(spec, 0)
    assert names[0][0] == param_spec(spec.pog.model)[0][0] and names[0][1] == 0
    assert sum(b - a for _, a, b in chunk_parameters(spec, 0)) == spec.pog.chunk_bytes // 8


def test_an_answer_is_checked_against_the_header_alone(spec, blocks):
    chain = LLMChain(spec, clock=CLOCK)
    for b in blocks:
        chain.add_block(b)
    qtx = blocks[19].txs[1]
    p = prove_answer(chain, qtx.txid)
    assert p.height == 20 and p.answer.text == chain.answer(Query("\n2+3=", 19, 4))
    assert verify_answer(chain.header_at(20), p)
    assert not verify_answer(chain.header_at(21), p)
    forged = type(p.answer)(p.answer.query_txid, p.answer.height, "9999")
    assert not verify_answer(chain.header_at(20), AnswerProof(p.height, p.coinbase, p.coinbase_proof, forged,
                                                              p.answer_proof))
    not_coinbase = AnswerProof(p.height, qtx, p.coinbase_proof, p.answer, p.answer_proof)
    assert not verify_answer(chain.header_at(20), not_coinbase)
    with pytest.raises(KeyError):
        prove_answer(chain, sha256(b"no such query"))
