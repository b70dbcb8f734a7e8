"""The decentralized LLM on a chain (tiny preset: the micro GPT, milliseconds per block).

Genesis commits to the parameters; mining is proof-of-gradient on the tip; every node derives
bit-identical weights (a fresh node replaying the blocks, and a node restarting from its SQLite
store, get the same weights roots); reorgs move the weights and the dataset back and forth;
data contributions grow the dataset from the next block on; paid queries are answered inside
the block, deterministically, and the answering miner earns the fee. Every rule has a negative
test asserting its reason, and a rejected block leaves chain, UTXO set, weights, dataset and
store exactly as they were."""
from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from gradientcoin_edu.chain import AddResult, Block, compute_tx_root
from gradientcoin_edu.crypto.hashes import sha256
from gradientcoin_edu.errors import InvalidBlock, InvalidTransaction, ModelError, ParseError
from gradientcoin_edu.ledger import KIND_INFERENCE_QUERY, KIND_TRAINING_DATA, Transaction, TxOut, Wallet
from gradientcoin_edu.llm import (AnswerRecord, LLMChain, LLMParams, LLMSpec, Query, build_data_tx, build_query_tx,
                                  data_fee, greedy_decode, read_commitment, read_genesis)
from gradientcoin_edu.llm.commitment import Commitment, commitment_coinbase
from gradientcoin_edu.llm.data import contribution_records
from gradientcoin_edu.llm.inference import answers_root
from gradientcoin_edu.llm.miner import mine_proof
from gradientcoin_edu.model.fixed_point import to_model, weights_root
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)

CLOCK = lambda: 2_000_000_000                      # noqa: E731  (a fixed clock, long after genesis)
MINER = Wallet.from_seed("llm-miner")
ADA = Wallet.from_seed("llm-ada")
TEXT = "2+3=5\nthe dog has a hat.\n" * 3           # 75 characters: 8 records of 9 tokens


def new_chain(spec, **kwargs) -> LLMChain:
    return LLMChain(spec, clock=CLOCK, **kwargs)


@pytest.fixture(scope="module")
def mined(spec):
    """Eight blocks (ADA's coinbase first, so she has coins), the weights root after each."""
    chain = new_chain(spec)
    blocks, roots = [], [chain.rule.weights_root()]
    for i in range(8):
        blocks.append(chain.mine_and_add(ADA.address if i == 0 else MINER.address))
        roots.append(chain.rule.weights_root())
    return blocks, roots


def funded_chain(spec, mined, n: int = 2, **kwargs) -> LLMChain:
    chain = new_chain(spec, **kwargs)
    for block in mined[0][:n]:
        chain.add_block(block)
    return chain


def state(chain: LLMChain):
    """Everything a rejected block must leave as it was (an invalid mark is the one trace it may leave)."""
    rows = None
    if chain.store is not None:
        rows = ([(r.hash, r.status, r.block.serialize()) for r in chain.store.rows() if r.status != "invalid"],
                chain.store.tip(),
                chain.store.snapshots())
    rule = chain.rule
    return (chain.tip.hash, chain.height, chain.utxo.copy(), rule.tip_hash, rule.weights.copy(), rule.weights_root(),
            rule.dataset.root, len(rule.dataset), rule.params.dataset_root, list(rule._best), rule.height, rows)


def assert_same(a, b):
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y)
        else:
            assert x == y


def rebuilt(chain: LLMChain, block: Block, txs) -> Block:
    """``block`` with other transactions, its proof of gradient mined again for them on ``chain``'s tip:
    the batch seed and the ticket cover ``tx_root``, so the old proof would not do (see
    tests/test_consensus_pog.py). What is left to reject is the transactions themselves."""
    txs = tuple(txs)
    template = replace(block.header, tx_root=compute_tx_root(txs), nonce=0)
    proof = mine_proof(chain.rule, template)
    return Block(proof.header, txs, proof.payload)


def with_commitment(chain: LLMChain, block: Block, dataset_root=None, answers=None) -> Block:
    coinbase = block.txs[0]
    c = read_commitment(coinbase)
    new = commitment_coinbase(coinbase.coinbase_height, list(coinbase.outputs),
                              Commitment(dataset_root or c.dataset_root, answers or c.answers_root))
    return rebuilt(chain, block, (new, *block.txs[1:]))


def rejected(chain: LLMChain, block: Block, reason: str) -> None:
    before = state(chain)
    with pytest.raises(InvalidBlock) as err:
        chain.add_block(block)
    assert err.value.reason == reason, err.value
    assert_same(before, state(chain))


# ============================================================================ genesis and parameters

def test_genesis_commits_to_the_parameters_and_the_weights(spec):
    g = spec.genesis
    assert read_genesis(g) == spec.params
    assert g.txs[0].inputs[0].signature[4:40] == b"GCLM" + spec.params.hash
    assert g.header.weights_root == weights_root(spec.pog.genesis_weights(), spec.pog.chunk_bytes)
    assert spec.pog.dataset_root == spec.train.root and spec.pog.validation_root == spec.validation.root
    other = LLMSpec.builtin("tiny", query_fee=1)                    # other rules: another network
    assert other.genesis.hash() != g.hash()
    forged = Block(g.header, g.txs, other.params.serialize())       # the payload does not match the commitment
    with pytest.raises(InvalidBlock) as err:
        read_genesis(forged)
    assert err.value.reason == "bad-genesis"


@settings(max_examples=25, deadline=None)
@given(fee=st.integers(0, 2**40), per_tx=st.integers(1, 1000), margin=st.floats(0, 10), screen=st.booleans(),
       window=st.integers(1, 100))
def test_params_round_trip(spec, fee, per_tx, margin, screen, window):
    p = spec.params.replace(data_fee_per_record=fee, max_records_per_tx=per_tx, data_margin=margin,
                            screen_data=screen, query_window=window)
    assert LLMParams.parse(p.serialize()) == p
    assert LLMParams.parse(p.serialize()).hash == p.hash


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=400))
def test_params_parse_rejects_junk(spec, junk):
    try:
        p = LLMParams.parse(junk)
    except ParseError:
        return
    assert p.serialize() == junk


def test_bad_params_are_refused(spec):
    with pytest.raises(ModelError):
        spec.params.replace(query_window=0)
    with pytest.raises(ModelError):
        spec.params.replace(data_margin=float("nan"))


# ============================================================================ mining, replay, restart

def test_mining_trains_the_model_and_commits_to_it(spec, mined):
    blocks, roots = mined
    assert [b.header.weights_root for b in blocks] == roots[1:]
    assert len(set(roots)) == len(roots)
    chain = funded_chain(spec, mined, n=8)
    assert chain.val_loss() < chain.val_loss(0)
    for h in range(9):
        assert chain.weights_root_at(h) == roots[h] == chain.header_at(h).weights_root


def test_replay_on_a_fresh_node_gives_identical_weights(spec, mined):
    blocks, roots = mined
    fresh = new_chain(spec)
    for block, root in zip(blocks, roots[1:]):
        assert fresh.add_block(block) is AddResult.EXTENDED
        assert fresh.rule.weights_root() == root
    assert fresh.balance(ADA.address) == spec.chain_params.subsidy(1)


def test_restart_from_the_store_gives_identical_weights(spec, mined, tmp_path):
    blocks, roots = mined
    path = tmp_path / "node.sqlite"
    chain = new_chain(spec, store=str(path))
    for block in blocks:
        chain.add_block(block)
    tip, utxo = chain.tip.hash, chain.utxo.copy()
    chain.close()
    again = new_chain(spec, store=str(path), snapshot_interval=1000)
    assert again.tip.hash == tip and again.utxo == utxo and again.rule.weights_root() == roots[-1]
    assert weights_root(again.weights_at(3), spec.pog.chunk_bytes) == roots[3]
    again.close()


def test_a_store_of_another_network_is_refused(spec, tmp_path):
    from gradientcoin_edu.errors import StoreError
    path = str(tmp_path / "node.sqlite")
    new_chain(spec, store=path).close()
    with pytest.raises(StoreError):
        new_chain(LLMSpec.builtin("tiny", query_fee=1), store=path)


def test_reorg_moves_weights_and_dataset_back_and_forth(spec, mined):
    blocks, roots = mined
    a = funded_chain(spec, mined, n=2)
    fork = funded_chain(spec, mined, n=2)
    data = build_data_tx(fork.utxo, ADA.key, TEXT, spec.params)
    side = [fork.mine_and_add(MINER.address, [data], time=fork.tip.header.time + 7)]
    side.append(fork.mine_and_add(MINER.address, time=fork.tip.header.time + 7))
    a.add_block(blocks[2])                                     # a is on the main branch, height 3
    records = len(a.dataset)
    assert a.add_block(side[0]) is AddResult.SIDE_BRANCH
    assert a.add_block(side[1]) is AddResult.REORG             # the fork is longer now
    assert a.rule.weights_root() == fork.rule.weights_root() and a.dataset.root == fork.dataset.root
    assert len(a.dataset) == records + 8
    for block in blocks[3:5]:                                  # and back to the main branch
        a.add_block(block)
    assert a.tip.hash == blocks[4].hash() and a.rule.weights_root() == roots[5]
    assert len(a.dataset) == records and a.dataset.root == spec.train.root


# ============================================================================ training data

def test_a_contribution_becomes_trainable_from_the_next_block(spec, mined):
    chain = funded_chain(spec, mined)
    tx = build_data_tx(chain.utxo, ADA.key, TEXT, spec.params)
    assert tx.kind == KIND_TRAINING_DATA and data_fee(TEXT, spec.params) == 8 * spec.params.data_fee_per_record
    before_root, n = chain.dataset.root, len(chain.dataset)
    block = chain.mine_and_add(MINER.address, [tx])
    assert len(chain.dataset) == n + 8 and chain.dataset.root != before_root
    assert read_commitment(block.txs[0]).dataset_root == chain.dataset.root
    assert np.array_equal(chain.dataset.records[-8:].reshape(-1)[:9], spec.tokenizer.encode(TEXT[:9]))
    # the fee went to the miner, on top of the subsidy
    assert block.txs[0].total_out() == spec.chain_params.subsidy(chain.height) + data_fee(TEXT, spec.params)
    # the next block's batches are drawn from the grown dataset (its parameters carry the new root)
    assert chain.rule.params.dataset_root == chain.dataset.root


def _data_tx(chain, spec, text, fee=None, payload=None):
    tx = build_data_tx(chain.utxo, ADA.key, text, spec.params, fee=fee)
    if payload is not None:                                    # re-sign with another payload
        from gradientcoin_edu.ledger import build_payment
        tx = build_payment(chain.utxo, ADA.key, [], fee or 10**6, kind=KIND_TRAINING_DATA, payload=payload)
    return tx


@pytest.mark.parametrize("reason, make", [
    ("bad-data-payload", lambda c, s: _data_tx(c, s, TEXT, payload=b"\x02" + TEXT.encode())),
    ("bad-data-payload", lambda c, s: _data_tx(c, s, TEXT, payload=b"\x01\xff\xfe")),
    ("data-unknown-character", lambda c, s: _data_tx(c, s, "caf\u00e9 " * 10)),
    ("data-too-short", lambda c, s: _data_tx(c, s, "2+3=5\n")),
    ("data-too-long", lambda c, s: _data_tx(c, s, "x" * 9 * 17)),
    ("data-fee-too-low", lambda c, s: _data_tx(c, s, TEXT, fee=8 * s.params.data_fee_per_record - 1)),
])
def test_bad_contributions_make_the_block_invalid(spec, mined, reason, make):
    chain = funded_chain(spec, mined)
    tx = make(chain, spec)
    honest = chain.mine(MINER.address).block                   # a valid block, then the bad transaction added
    coinbase = honest.txs[0]
    records = np.zeros((0, 9), dtype=np.int64)
    try:
        records = contribution_records(tx, spec.params, spec.tokenizer)
    except InvalidTransaction:
        pass
    root = chain.dataset.extend(records).root if len(records) else chain.dataset.root
    new_coinbase = commitment_coinbase(coinbase.coinbase_height, list(coinbase.outputs),
                                       Commitment(root, read_commitment(coinbase).answers_root))
    rejected(chain, rebuilt(chain, honest, (new_coinbase, tx)), reason)
    with pytest.raises(InvalidBlock) as err:                   # the miner's strict mode refuses it too
        chain.mine(MINER.address, [tx])
    assert err.value.reason == reason


def test_a_block_may_add_only_so_many_records(mined):
    spec = LLMSpec.builtin("tiny", max_records_per_block=12)
    chain = new_chain(spec)
    chain.mine_and_add(ADA.address)
    chain.mine_and_add(ADA.address)                            # two coins: two contributions
    t1 = build_data_tx(chain.utxo, ADA.key, TEXT, spec.params)
    t2 = build_data_tx(chain.utxo, ADA.key, TEXT, spec.params, exclude={i.outpoint for i in t1.inputs})
    honest = chain.mine(MINER.address, [t1]).block
    records = np.array(spec.tokenizer.encode(TEXT[:72])).reshape(8, 9)
    root = chain.dataset.extend(np.concatenate([records, records])).root
    c = honest.txs[0]
    coinbase = commitment_coinbase(c.coinbase_height, [TxOut(c.total_out() + data_fee(TEXT, spec.params), MINER.address)],
                                   Commitment(root, read_commitment(c).answers_root))
    rejected(chain, rebuilt(chain, honest, (coinbase, t1, t2)), "data-block-full")
    mined_block, _, left_out = chain.mine(MINER.address, [t1, t2], strict=False)
    assert [r for _, r in left_out] == ["data-block-full"] and len(mined_block.txs) == 2


def test_the_screen_refuses_text_the_model_finds_implausible(spec, mined):
    chain = new_chain(spec)
    chain.mine_and_add(ADA.address)
    for _ in range(24):                                        # the model learns what text looks like
        chain.mine_and_add(MINER.address)
    rng = random.Random(0)
    garbage = "".join(chr(rng.randint(33, 126)) for _ in range(99))
    tx = build_data_tx(chain.utxo, ADA.key, garbage, spec.params)
    with pytest.raises(InvalidBlock) as err:
        chain.mine(MINER.address, [tx])
    assert err.value.reason == "data-implausible"
    block, _, left_out = chain.mine(MINER.address, [tx], strict=False)
    assert left_out == [(tx, "data-implausible")] and len(block.txs) == 1
    honest = build_data_tx(chain.utxo, ADA.key, TEXT, spec.params)
    val, loss = chain.rule.screen(honest, contribution_records(honest, spec.params, spec.tokenizer))
    assert loss < val + spec.params.data_margin
    # the block with the garbage, built by a miner without the screen, is refused by a screening node
    lax = new_chain(spec, check_validation=False)
    for entry in chain.active_chain()[1:]:
        lax.add_block(entry.block)
    bad = lax.mine(MINER.address, [tx]).block
    rejected(chain, bad, "data-implausible")


# ============================================================================ queries and answers

def test_greedy_decoding_is_deterministic_and_matches_argmax(spec, mined):
    chain = funded_chain(spec, mined, n=8)
    w = chain.weights
    a = greedy_decode(spec.pog.model, w, spec.tokenizer, "\n2+3=", 6, spec.pog.scale_log2)
    assert a == greedy_decode(spec.pog.model, w.copy(), spec.tokenizer, "\n2+3=", 6, spec.pog.scale_log2)
    model = to_model(spec.pog.model, w, spec.pog.scale_log2, dtype=torch.float64)
    assert model.complete(spec.tokenizer, "\n2+3=", 6) == a
    assert chain.answer(Query("\n2+3=", 8, 6)) == a
    assert chain.answer(Query("\n2+3=", 0, 6)) != a            # the genesis model says something else


@settings(max_examples=40, deadline=None)
@given(prompt=st.text(max_size=30), height=st.integers(0, 2**32 - 1), tokens=st.integers(0, 2**16 - 1))
def test_query_and_answer_round_trip(prompt, height, tokens):
    q = Query(prompt, height, tokens)
    assert Query.parse(q.serialize()) == q
    a = AnswerRecord(bytes(range(32)), height, prompt)
    assert AnswerRecord.parse(a.serialize()) == a


def test_a_paid_query_is_answered_in_the_block_and_the_miner_earns_the_fee(spec, mined):
    chain = funded_chain(spec, mined, n=4)
    query = Query("\n2+3=", chain.height, 4)
    tx = build_query_tx(chain.utxo, ADA.key, query, spec.params)
    assert tx.kind == KIND_INFERENCE_QUERY
    answerer = Wallet.from_seed("answerer")
    block = chain.mine_and_add(answerer.address, [tx])
    assert chain.balance(answerer.address) == spec.chain_params.subsidy(chain.height) + spec.params.query_fee
    height, record = chain.find_answer(tx.txid)
    assert height == chain.height and record.height == query.height and record.query_txid == tx.txid
    assert record.text == chain.answer(query)
    assert read_commitment(block.txs[0]).answers_root == answers_root([record])
    # anyone holding the chain recomputes it: a fresh node replays the blocks and agrees
    fresh = new_chain(spec)
    for entry in chain.active_chain()[1:]:
        fresh.add_block(entry.block)
    assert fresh.answer(query) == record.text


def _query_tx(chain, spec, query=None, fee=None, payload=None):
    query = query or Query("\n2+3=", chain.height, 4)
    tx = build_query_tx(chain.utxo, ADA.key, query, spec.params, fee=fee)
    if payload is not None:
        from gradientcoin_edu.ledger import build_payment
        tx = build_payment(chain.utxo, ADA.key, [], 10**6, kind=KIND_INFERENCE_QUERY, payload=payload)
    return tx


@pytest.mark.parametrize("reason, make", [
    ("bad-query-payload", lambda c, s: _query_tx(c, s, payload=b"\x01\x00")),
    ("bad-query-payload", lambda c, s: _query_tx(c, s, payload=b"\x02" + Query("x", 1, 1).serialize()[1:])),
    ("query-prompt", lambda c, s: _query_tx(c, s, Query("", c.height, 4))),
    ("query-prompt", lambda c, s: _query_tx(c, s, Query("x" * 17, c.height, 4))),
    ("query-prompt", lambda c, s: _query_tx(c, s, Query("caf\u00e9", c.height, 4))),
    ("query-tokens", lambda c, s: _query_tx(c, s, Query("2+3=", c.height, 0))),
    ("query-tokens", lambda c, s: _query_tx(c, s, Query("2+3=", c.height, 9))),
    ("query-height", lambda c, s: _query_tx(c, s, Query("2+3=", c.height + 1, 4))),
    ("query-fee-too-low", lambda c, s: _query_tx(c, s, fee=s.params.query_fee - 1)),
])
def test_bad_queries_make_the_block_invalid(spec, mined, reason, make):
    chain = funded_chain(spec, mined, n=3)
    tx = make(chain, spec)
    honest = chain.mine(MINER.address).block
    rejected(chain, rebuilt(chain, honest, (honest.txs[0], tx)), reason)
    with pytest.raises(InvalidBlock) as err:
        chain.mine(MINER.address, [tx])
    assert err.value.reason == reason


def test_a_query_naming_old_weights_expires(spec, mined):
    chain = funded_chain(spec, mined, n=1)
    tx = _query_tx(chain, spec, Query("2+3=", 1, 2))
    for block in mined[0][1:7]:
        chain.add_block(block)                                 # height 7: window is 1..6
    honest = chain.mine(MINER.address).block
    rejected(chain, rebuilt(chain, honest, (honest.txs[0], tx)), "query-height")
    _, _, left_out = chain.mine(MINER.address, [tx], strict=False)
    assert left_out == [(tx, "query-height")]


def test_a_wrong_answer_makes_the_block_invalid(spec, mined):
    chain = funded_chain(spec, mined, n=3)
    tx = _query_tx(chain, spec)
    block = chain.mine(MINER.address, [tx]).block
    wrong = AnswerRecord(tx.txid, chain.height, "9" * 4)
    rejected(chain, with_commitment(chain, block, answers=answers_root([wrong])), "bad-answers-root")
    assert chain.add_block(block) is AddResult.EXTENDED       # the honest one is fine


def test_a_block_may_answer_only_so_many_queries(mined):
    spec = LLMSpec.builtin("tiny", max_queries_per_block=1)
    chain = new_chain(spec)
    chain.mine_and_add(ADA.address)
    chain.mine_and_add(ADA.address)
    q1 = build_query_tx(chain.utxo, ADA.key, Query("2+3=", 2, 2), spec.params)
    q2 = build_query_tx(chain.utxo, ADA.key, Query("4+4=", 2, 2), spec.params, exclude={i.outpoint for i in q1.inputs})
    block, _, left_out = chain.mine(MINER.address, [q1, q2], strict=False)
    assert left_out == [(q2, "query-block-full")]
    answers = [chain.rule.answer(Query("2+3=", 2, 2), q1.txid), chain.rule.answer(Query("4+4=", 2, 2), q2.txid)]
    c = block.txs[0]
    coinbase = commitment_coinbase(c.coinbase_height, [TxOut(c.total_out() + spec.params.query_fee, MINER.address)],
                                   Commitment(read_commitment(c).dataset_root, answers_root(answers)))
    rejected(chain, rebuilt(chain, block, (coinbase, q1, q2)), "query-block-full")


# ============================================================================ commitment and guard

def test_a_block_without_commitment_is_invalid(spec, mined):
    chain = funded_chain(spec, mined)
    block = chain.mine(MINER.address).block
    c = block.txs[0]
    plain = Transaction.coinbase(c.coinbase_height, list(c.outputs), extra=b"no commitment here")
    rejected(chain, rebuilt(chain, block, (plain,)), "missing-commitment")


def test_a_wrong_dataset_root_is_invalid(spec, mined):
    chain = funded_chain(spec, mined)
    block = chain.mine(MINER.address).block
    rejected(chain, with_commitment(chain, block, dataset_root=sha256(b"another dataset")), "bad-dataset-root")
    tx = build_data_tx(chain.utxo, ADA.key, TEXT, spec.params)
    with_data = chain.mine(MINER.address, [tx]).block
    rejected(chain, with_commitment(chain, with_data, dataset_root=chain.dataset.root), "bad-dataset-root")


def test_the_anchored_guard_bounds_the_sum_of_small_rises(spec, mined):
    """A block that raises the validation loss less than the margin over its parent, but more than
    the margin over the best loss of the chain so far, is invalid (``validation-anchor``)."""
    chain = funded_chain(spec, mined, n=3)
    block = chain.mine(MINER.address).block
    new_val = chain.rule.pog._verified[block.hash()].val_loss_after
    chain.rule.pog._verified.clear()                               # verify it the way a peer does
    margin = spec.pog.validation_margin
    chain.rule._best[-1] = new_val - 1.5 * margin              # pretend the chain was once much better
    rejected(chain, block, "validation-anchor")
    other = funded_chain(spec, mined, n=3)                     # a node whose best is within the margin
    other.rule._best[-1] = new_val - 0.5 * margin
    assert other.add_block(block) is AddResult.EXTENDED
    unanchored = LLMSpec.builtin("tiny", anchored_guard=False)
    assert unanchored.genesis.hash() != spec.genesis.hash()


def test_a_rejected_block_leaves_the_store_as_it_was(spec, mined, tmp_path):
    chain = new_chain(spec, store=str(tmp_path / "node.sqlite"), snapshot_interval=2)
    for block in mined[0][:4]:
        chain.add_block(block)
    tx = _query_tx(chain, spec)
    block = chain.mine(MINER.address, [tx]).block
    wrong = AnswerRecord(tx.txid, chain.height, "9" * 4)
    rejected(chain, with_commitment(chain, block, answers=answers_root([wrong])), "bad-answers-root")   # store compared too
    rejected(chain, with_commitment(chain, block, dataset_root=sha256(b"x")), "bad-dataset-root")
    assert chain.add_block(block) is AddResult.EXTENDED
    chain.close()


def test_a_rule_refuses_a_block_on_another_tip(spec, mined):
    from gradientcoin_edu.errors import InvalidProof
    chain = funded_chain(spec, mined, n=3)
    with pytest.raises(InvalidProof) as err:
        chain.rule.connect_block(mined[0][1], chain.header_at(1), 2, None)
    assert err.value.reason == "stale-parent"
    with pytest.raises(ModelError):                            # data and queries need the fees
        chain.rule.contents([_query_tx(chain, spec)], chain.height + 1, None)
