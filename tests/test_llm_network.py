"""Miners of the decentralized LLM on the simulated network (tiny preset).

Nodes gossip proof-of-gradient blocks and verify each other's gradients; they converge on one
tip and bit-identical weights, even across forks and a crash with restart from the store; data
and queries travel through the mempool, and a node drops transactions that can never be mined."""
from __future__ import annotations

import random

import pytest

from gradientcoin_edu.errors import InvalidTransaction
from gradientcoin_edu.ledger import COIN, KIND_TRAINING_DATA, Wallet, build_payment
from gradientcoin_edu.llm import LLMChain, Query, build_data_tx, build_query_tx
from gradientcoin_edu.llm.data import data_payload
from gradientcoin_edu.llm.network import LLMSimulator
from gradientcoin_edu.network.simulator import LinkSpec
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)

ADA = Wallet.from_seed("net-ada")


def network(spec, seed=0, n=3, latency=30.0) -> LLMSimulator:
    sim = LLMSimulator(spec, seed=seed)
    sim.add_nodes(n)
    sim.connect_random(degree=2, link=LinkSpec(latency=latency, jitter=latency))
    sim.run(until=1.0)
    return sim


def test_miners_converge_on_one_chain_and_identical_weights(spec):
    sim = network(spec, seed=3, latency=120.0)          # slow links: forks happen and are resolved
    sim.run(blocks=16)
    sim.settle()
    chains = [sim.node(n).chain for n in sim.live()]
    assert len({c.tip.hash for c in chains}) == 1
    assert len({c.rule.weights_root() for c in chains}) == 1
    assert chains[0].val_loss() < chains[0].val_loss(0)
    fresh = LLMChain(spec, clock=sim.clock)             # a newcomer replays the chain and agrees
    for entry in chains[0].active_chain()[1:]:
        fresh.add_block(entry.block)
    assert fresh.rule.weights_root() == chains[0].rule.weights_root()
    assert sum(sim.node(n).stats["gradients"] for n in sim.live()) >= chains[0].height


def test_data_and_queries_travel_through_the_network(spec):
    sim = network(spec, seed=5, latency=1.0)
    sim.run(blocks=3)
    sim.settle()
    first = sim.node("n0").chain
    payer = next(n for n in sim.live() if first.balance(sim.nodes[n].address) >= 20 * COIN)
    two_coins = build_payment(first.utxo, sim.nodes[payer].key, [(ADA.address, 5 * COIN)] * 2, 1000)
    sim.submit(payer, two_coins)
    sim.resume_mining()
    sim.run(blocks=2)
    sim.settle()
    text = "2+3=5\nthe dog has a hat.\n" * 3
    data = build_data_tx(first.utxo, ADA.key, text, spec.params)
    sim.submit("n1", data)
    query = Query("\n2+3=", first.height, 3)
    qtx = build_query_tx(first.utxo, ADA.key, query, spec.params, exclude={i.outpoint for i in data.inputs})
    sim.submit("n2", qtx)
    sim.resume_mining()
    sim.run(blocks=2)
    sim.settle()
    chains = [sim.node(n).chain for n in sim.live()]
    assert len({c.dataset.root for c in chains}) == 1 and len(chains[0].dataset) == len(spec.train) + 8
    height, record = chains[0].find_answer(qtx.txid)
    assert all(c.find_answer(qtx.txid) == (height, record) for c in chains)
    assert record.text == chains[1].answer(query)


def test_a_crashed_node_restarts_from_its_store_and_catches_up(spec):
    sim = network(spec, seed=7, latency=1.0)
    sim.run(blocks=4)
    sim.crash("n1", at=sim.now + 1, restart=sim.now + 3000)
    sim.run(blocks=6)
    sim.run(until=sim.now + 4000)
    sim.settle()
    assert sim.converged()
    assert len({sim.node(n).chain.rule.weights_root() for n in sim.live()}) == 1


def test_a_node_refuses_malformed_data_and_drops_what_can_never_be_mined(spec):
    sim = network(spec, seed=9, latency=1.0)
    sim.run(blocks=2)
    sim.settle()
    node = sim.node("n0")
    me = node.chain
    rich = next(n for n in sim.live() if me.balance(sim.nodes[n].address) > 0)
    key = sim.nodes[rich].key
    bad = build_payment(me.utxo, key, [], 10**6, kind=KIND_TRAINING_DATA, payload=b"\x01" + "caf\u00e9".encode())
    with pytest.raises(InvalidTransaction) as err:
        node.submit_transaction(bad)
    assert err.value.reason == "data-unknown-character"
    with pytest.raises(InvalidTransaction) as err:
        node.submit_transaction(build_query_tx(me.utxo, key, Query("2+3=", me.height + 5, 2), spec.params))
    assert err.value.reason == "query-height"
    cheap = build_payment(me.utxo, key, [], 1, kind=KIND_TRAINING_DATA, payload=data_payload("2+3=5\n" * 6))
    with pytest.raises(InvalidTransaction) as err:               # the pool's relay policy: the minimum fee
        node.submit_transaction(cheap)
    assert err.value.reason == "policy-data-fee-too-low" and cheap.txid not in node.mempool


def test_miners_leave_out_and_drop_a_contribution_the_screen_refuses(spec):
    sim = network(spec, seed=11, latency=1.0)
    sim.run(blocks=22)                                          # the model has learned what text looks like
    sim.settle()
    me = sim.node("n0").chain
    rich = next(n for n in sim.live() if me.balance(sim.nodes[n].address) > 0)
    rng = random.Random(1)
    garbage = "".join(chr(rng.randint(33, 126)) for _ in range(99))
    tx = build_data_tx(me.utxo, sim.nodes[rich].key, garbage, spec.params)
    sim.submit(rich, tx)                                        # well formed and paid for: the pool keeps it
    sim.resume_mining()
    sim.run(blocks=3)
    sim.settle()
    assert all(len(sim.node(n).chain.dataset) == len(spec.train) for n in sim.live())
    assert sum(sim.node(n).stats["tx-dropped-data-implausible"] for n in sim.live()) >= 1


def test_a_query_paid_from_unconfirmed_change_is_mined_after_its_parent_or_left_out_with_it(spec):
    """The pool keeps chains (``network/mempool.py``); the LLM miner keeps them whole (``select_txs``)."""
    from gradientcoin_edu.llm.miner import select_txs
    from gradientcoin_edu.llm.network import LLMMempool
    chain = LLMChain(spec)
    chain.mine_and_add(ADA.address)
    pool = LLMMempool(chain)
    view = pool.coins(chain.utxo)
    data = build_data_tx(view, ADA.key, "2+3=5\nthe dog has a hat.\n" * 3, spec.params)
    pool.add(data, view)
    query = build_query_tx(view, ADA.key, Query("\n2+3=", chain.height, 3), spec.params)
    assert [i.prev_txid for i in query.inputs] == [data.txid]      # its change, not yet mined
    pool.add(query, view)
    early = build_query_tx(view, ADA.key, Query("\n2+3=", chain.height + 1, 3), spec.params)   # weights not there yet
    pool.add(early, view)
    late = build_query_tx(view, ADA.key, Query("\n1+1=", chain.height, 3), spec.params)
    assert [i.prev_txid for i in late.inputs] == [early.txid]
    pool.add(late, view)
    body = [e.tx for e in pool.select(10**6)]
    kept, _, _, rejected = select_txs(chain.work_rule, chain.utxo, chain.height + 1, body)
    assert [tx.txid for tx in kept] == [data.txid, query.txid]
    assert {tx.txid: reason for tx, reason in rejected} == {early.txid: "query-height", late.txid: "query-height"}
    block = chain.mine_and_add(ADA.address, body, strict=False)    # a valid block: parent, then child
    assert [tx.txid for tx in block.txs[1:]] == [data.txid, query.txid]
