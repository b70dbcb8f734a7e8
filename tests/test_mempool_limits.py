"""What a node's mempool refuses and what it costs an attacker (``network/mempool.py``, protocol section 12).

Each test plays an attacker (or the attacker's victim) against the pool's policy: free and dust
transactions, a megabyte of zero-value outputs, a pool filled to its memory bound (the rolling
minimum fee), pinning a victim's change with a full family of descendants (the CPFP carve-out and
replace-by-fee let the victim's wallet pay anyway), a flood of payments that made an LLM
miner's template quadratic, and the reorgs that must not lose a paid query."""
from __future__ import annotations

import pytest

from gradientcoin_edu.errors import InvalidTransaction
from gradientcoin_edu.ledger import COIN, Transaction, TxIn, TxOut, build_payment
from gradientcoin_edu.network.mempool import (
    Mempool, RelayPolicy, dust_threshold, memory_usage,
)
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)
from test_mempool import (
    ALICE, BOB, BOB_KEY, CAROL, MALLORY, T0, FakeTransport, _rival_branch, funded, refused, spend, spend_coin,
)

DUST = dust_threshold(RelayPolicy().dust_feerate)


def payment(coin, outputs, key=ALICE) -> Transaction:
    op, out = coin
    tx = Transaction(inputs=(TxIn(op.txid, op.index),), outputs=tuple(outputs))
    return tx.sign_input(0, key, out)


# ----------------------------------------------------------------------------- what is refused

def test_a_free_transaction_is_refused_by_the_minimum_relay_fee():
    """Free transactions cost the attacker nothing and every node (and miner) a signature check each:
    a fee rate of at least 1 unit per byte is required (the old pool took them, and the LLM miner
    spent seconds per block on them)."""
    node = funded()
    coin = node.chain.utxo.coins_of(ALICE.address())[0]
    free = spend_coin(coin, 0)
    refused(node, free, "policy-min-relay-fee")
    almost = spend_coin(coin, free.size - 1)                    # one unit short of 1 per byte
    refused(node, almost, "policy-min-relay-fee")
    node.submit_transaction(spend_coin(coin, free.size + 2))    # DER signatures vary by a byte or two


def test_a_megabyte_of_zero_value_outputs_is_refused_before_its_signature_is_checked(monkeypatch):
    """The old pool took a 1 MB transaction of 35,000 zero-value outputs (5.8 MB of memory each:
    28 GB at the 5,000-transaction bound). Now: too large, and zero-value, dust and too many
    outputs are each refused by name - before any signature is verified."""
    node = funded()
    coin = node.chain.utxo.coins_of(ALICE.address())[0]
    checked = []
    real = Transaction.verify_input
    monkeypatch.setattr(Transaction, "verify_input", lambda self, *a: checked.append(1) or real(self, *a))
    huge = payment(coin, [TxOut(0, MALLORY.address())] * 35_000)
    assert huge.size > 980_000
    refused(node, huge, "policy-tx-size")
    refused(node, payment(coin, [TxOut(COIN, BOB), TxOut(0, MALLORY.address())]), "policy-zero-value-output")
    refused(node, payment(coin, [TxOut(COIN, BOB), TxOut(DUST - 1, MALLORY.address())]), "policy-dust")
    refused(node, payment(coin, [TxOut(DUST, MALLORY.address())] * 1001), "policy-too-many-outputs")
    assert checked == []
    change = TxOut(coin[1].amount - 999 * DUST - 100_000, ALICE.address())
    node.submit_transaction(payment(coin, [TxOut(DUST, MALLORY.address())] * 999 + [change]))   # at the bounds


def test_the_pool_is_bounded_in_memory_and_its_minimum_fee_rises_then_decays():
    """Mallory fills a pool bounded to the memory of 4 of her transactions. A fifth paying more per
    byte evicts her cheapest; the rolling minimum fee then sits above what was evicted (plus the
    incremental fee), so she cannot come straight back at the old price; it halves every half-life
    once a block came (faster when the pool is nearly empty) and finally falls back to the relay
    minimum. The old pool was bounded by count only."""
    node = funded(blocks=6)
    coins = node.chain.utxo.coins_of(ALICE.address())
    txs = [spend_coin(coins[i], 300 + 10 * i) for i in range(4)]
    relay = RelayPolicy(max_usage=sum(memory_usage(t, t.size) for t in txs), rolling_halflife=1000.0)
    pool = Mempool(max_txs=100, relay=relay)
    for tx in txs:
        pool.add(tx, node.chain.utxo, now=T0)
    assert pool.usage == relay.max_usage and pool.bytes == sum(t.size for t in txs)
    assert pool.min_feerate(T0) == relay.min_relay_feerate
    cheapest_rate = 300 / txs[0].size
    refused(pool, spend_coin(coins[4], 290), "mempool-full", node.chain.utxo)     # pays less than all of them
    richer = spend_coin(coins[4], 5_000)
    pool.add(richer, node.chain.utxo, now=T0)
    assert txs[0].txid not in pool and richer.txid in pool and pool.usage <= relay.max_usage
    floor = pool.min_feerate(T0)
    assert floor == pytest.approx(cheapest_rate + relay.incremental_feerate)
    back = spend_coin(coins[0], 300)                            # the evicted one again, same price
    refused(pool, back, "policy-mempool-min-fee", node.chain.utxo)
    assert pool.min_feerate(T0 + 10_000) == floor              # no block yet: no decay
    pool.remove_for_block([])                                   # a block came (it took none of them)
    assert pool.min_feerate(T0 + 1000) == pytest.approx(floor / 2)    # half-life 1000 s: pool over half full
    for tx in [*txs[1:], richer]:
        pool.remove(tx.txid)
    pool.min_feerate(T0 + 1250)
    assert pool.rolling_min_feerate == pytest.approx(floor / 4)     # empty (under a quarter): 250 s half-life
    assert pool.min_feerate(T0 + 1250) == relay.min_relay_feerate   # (the relay minimum is higher)
    pool.min_feerate(T0 + 10_000)
    assert pool.rolling_min_feerate == 0                            # below half the incremental fee: gone
    pool.add(back, node.chain.utxo, now=T0 + 10_000)


# ----------------------------------------------------------------------------- replacement

def test_a_replacement_pays_for_everything_it_evicts():
    """Replace-by-fee: a transaction spending a coin a pool transaction spends replaces it, and its
    descendants, when it pays their fees plus 1 unit per byte of its own and more per byte than
    each of them; else ``mempool-conflict`` and nothing changes."""
    node = funded()
    parent = build_payment(node.chain.utxo, ALICE, [(BOB, 10 * COIN)], 1000)
    node.submit_transaction(parent)
    child = spend(parent, 0, BOB_KEY, CAROL, fee=2000)         # Bob spends what Alice paid him
    node.submit_transaction(child)
    total = 1000 + 2000
    rival = build_payment(node.chain.utxo, ALICE, [(CAROL, 10 * COIN)], total + 50)   # more, not enough
    refused(node, rival, "mempool-conflict")
    op = parent.inputs[0].outpoint                             # would spend what it replaces:
    both = Transaction(inputs=(TxIn(op.txid, op.index), TxIn(parent.txid, 1)), outputs=(TxOut(COIN, CAROL),))
    both = both.sign_input(0, ALICE, node.chain.utxo.get(op)).sign_input(1, ALICE, parent.outputs[1])
    refused(node, both, "mempool-conflict")
    better = build_payment(node.chain.utxo, ALICE, [(CAROL, 10 * COIN)], total + 400)
    assert node.submit_transaction(better) == total + 400
    assert node.mempool.snapshot() == [better.txid]            # the parent and its child left


def test_a_replacement_evicts_at_most_100_transactions():
    node = funded(key=MALLORY)
    (op, out), = node.chain.utxo.coins_of(MALLORY.address())
    fan = payment((op, out), [TxOut(out.amount // 120, MALLORY.address())] * 110, key=MALLORY)
    pool = Mempool()
    pool.add(fan, node.chain.utxo)
    from gradientcoin_edu.network.mempool import ChainLimits
    pool.limits = ChainLimits(descendants=200, descendant_bytes=10**6)
    for i in range(100):
        pool.add(spend(fan, i, MALLORY, MALLORY.address(), fee=1000), node.chain.utxo)
    replacement = payment((op, out), [TxOut(out.amount // 2, MALLORY.address())], key=MALLORY)
    refused(pool, replacement, "mempool-conflict", node.chain.utxo)    # 101 would leave


# ----------------------------------------------------------------------------- pinning

def test_the_victims_wallet_pays_from_its_change_while_an_attacker_hangs_descendants_on_its_payment():
    """Alice pays Mallory; Mallory hangs 24 minimum-fee descendants on her output of that payment, so
    the payment's family is full (25). The old pool then refused Alice's next payment, spent from
    her change, ``policy-too-many-descendants`` until a block came. Now the CPFP carve-out lets a
    transaction whose only unconfirmed ancestor is that payment through (one, of at most 10 kB);
    and for the payment after, Alice's wallet replaces her first payment (RBF), paying for the 24
    descendants it evicts."""
    node = funded()
    victim = build_payment(node.chain.utxo, ALICE, [(MALLORY.address(), 10 * COIN)], 1000)
    node.submit_transaction(victim)
    pins = [spend(victim, 0, MALLORY, MALLORY.address(), fee=spend_coin_size())]
    while len(pins) < 24:
        pins.append(spend(pins[-1], 0, MALLORY, MALLORY.address(), fee=spend_coin_size()))
    for tx in pins:
        node.submit_transaction(tx)
    assert len(node.mempool.descendants(victim.txid)) == 24
    pay_bob = build_payment(node.mempool.coins(node.chain.utxo), ALICE, [(BOB, COIN)], 1000)
    assert [i.prev_txid for i in pay_bob.inputs] == [victim.txid]      # her change, still unconfirmed
    node.submit_transaction(pay_bob)                                   # the old pool: too-many-descendants
    pay_carol = build_payment(node.mempool.coins(node.chain.utxo), ALICE, [(CAROL, COIN)], 1000)
    refused(node, pay_carol, "policy-too-many-descendants")           # the carve-out is one transaction
    evicted_fees = sum(node.mempool.entries[t].fee for t in node.mempool.descendants(victim.txid) | {victim.txid})
    again = build_payment(node.chain.utxo, ALICE, [(MALLORY.address(), 10 * COIN), (BOB, COIN), (CAROL, COIN)],
                          evicted_fees + 2000)                         # one payment for all three, replacing
    node.submit_transaction(again)
    assert node.mempool.snapshot() == [again.txid]
    assert evicted_fees < 30_000                                       # what the pin costs the victim


def spend_coin_size() -> int:
    """The minimum relay fee of a one-input one-output transaction (DER signatures: up to 72 bytes)."""
    return 180


# ----------------------------------------------------------------------------- block templates

def test_selection_walks_each_transactions_ancestors_once(monkeypatch):
    """``select`` sums each transaction's ancestors once, then only updates the descendants of what
    it takes; the old one recomputed packages with ancestor walks for every heap pop and every
    descendant of every package taken."""
    node = funded(blocks=4)
    coins = node.chain.utxo.coins_of(ALICE.address())
    pool = Mempool()
    for coin in coins:
        tx = spend_coin(coin, 200)
        pool.add(tx, node.chain.utxo)
        for _ in range(5):
            tx = spend(tx, 0, ALICE, ALICE.address(), fee=200 + 50 * len(pool))
            pool.add(tx, node.chain.utxo)
    walks = []
    real = pool.ancestors
    monkeypatch.setattr(pool, "ancestors", lambda t: walks.append(t) or real(t))
    chosen = pool.select(10**6)
    assert len(chosen) == len(pool) == 24 and len(walks) == 24


def test_an_llm_miner_does_not_check_the_pools_signatures_again(spec, monkeypatch):
    """Mallory floods an LLM miner's pool with payments. The old ``select_txs`` re-applied the whole
    list for each candidate, signatures included: n(n+1)/2 signature checks (20,500 for 200, 13 s
    of CPU on the node's only thread). Now each candidate is applied once on one coins overlay and
    the pool's signatures (checked on entry) are not checked again."""
    from gradientcoin_edu.llm import LLMChain
    from gradientcoin_edu.llm.network import LLMNode
    from gradientcoin_edu.network.node import NodeConfig
    from gradientcoin_edu.network.peers import PeerPolicy
    transport = FakeTransport(spec.chain_params.genesis_time + 10_000)
    node = LLMNode("llm", LLMChain(spec, clock=transport.now), transport, miner_address=MALLORY.address(),
                   config=NodeConfig(policy=PeerPolicy()))
    node.mine_block(time=spec.chain_params.genesis_time + 600, txs=[])
    (op, out), = node.chain.utxo.coins_of(MALLORY.address())
    fan = payment((op, out), [TxOut(out.amount // 50, MALLORY.address())] * 40, key=MALLORY)
    node.mine_block(time=spec.chain_params.genesis_time + 1200, txs=[fan])
    for i in range(40):
        node.submit_transaction(spend(fan, i, MALLORY, BOB, fee=300 + i))
    checked = []
    real = Transaction.verify_input
    monkeypatch.setattr(Transaction, "verify_input", lambda self, *a: checked.append(1) or real(self, *a))
    block = node.mine_block(time=spec.chain_params.genesis_time + 1800)
    assert len(block.txs) == 41 and not node.mempool
    assert len(checked) <= 40        # the block's own check when it is added (the old miner: 820 more)



# ----------------------------------------------------------------------------- LLM queries across reorgs

def _llm_node(spec, name, address, start=10_000):
    from gradientcoin_edu.llm import LLMChain
    from gradientcoin_edu.llm.network import LLMNode
    from gradientcoin_edu.network.node import NodeConfig
    from gradientcoin_edu.network.peers import PeerPolicy
    transport = FakeTransport(spec.chain_params.genesis_time + start)
    return LLMNode(name, LLMChain(spec, clock=transport.now), transport, miner_address=address,
                   config=NodeConfig(policy=PeerPolicy()))


def _paid_query_setup(spec, contribution_in_rival: bool):
    """Bob's node X and a rival miner Y share block 1 (Bob's coins). X mines block 2 with Bob's
    contribution; Bob asks a query paid from the contribution's change. Y mines a competing block 2
    (with the contribution too, or without it) and a block 3: X reorganizes to Y's branch."""
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import Query, build_data_tx, build_query_tx
    g = spec.chain_params.genesis_time
    bob = Wallet.from_seed("limits-bob")
    x = _llm_node(spec, "x", bob.address)
    y = _llm_node(spec, "y", Wallet.from_seed("limits-y").address)
    y.submit_block(x.mine_block(time=g + 600, txs=[]))
    x.miner_address = Wallet.from_seed("limits-x").address
    contribution = build_data_tx(x.chain.utxo, bob.key, "2+3=5\nthe dog has a hat.\n" * 3, spec.params)
    x.submit_transaction(contribution)
    x.mine_block(time=g + 1200)
    query = build_query_tx(x.mempool.coins(x.chain.utxo), bob.key, Query("\n2+3=", x.chain.height, 3), spec.params)
    assert [i.prev_txid for i in query.inputs] == [contribution.txid]
    x.submit_transaction(query)
    if contribution_in_rival:
        y.submit_transaction(contribution)
    rival = [y.mine_block(time=g + 1207), y.mine_block(time=g + 1807)]
    assert (contribution.txid in [t.txid for t in rival[0].txs]) == contribution_in_rival
    for block in rival:
        x.submit_block(block)
    assert x.stats["reorgs"] == 1 and x.chain.tip.hash == rival[1].hash()
    return x, contribution, query


@pytest.mark.parametrize("in_both", [True, False], ids=["parent-in-both-branches", "parent-only-in-the-losing-one"])
def test_a_paid_query_survives_a_reorg_of_its_parents_block(spec, in_both):
    """The notebook-13 situation: the block holding Bob's contribution is replaced by a rival block
    at the same height. Whether the rival holds the contribution too or not, the query paid from its
    change stays in the pool (with its parent back when only the lost block had it) and is mined."""
    x, contribution, query = _paid_query_setup(spec, in_both)
    assert query.txid in x.mempool
    assert (contribution.txid in x.mempool) != in_both
    block = x.mine_block(time=spec.chain_params.genesis_time + 2400)
    assert query.txid in [t.txid for t in block.txs] and query.txid not in x.mempool


def test_a_query_asked_on_a_node_one_block_ahead_waits_for_its_weights(spec):
    """A query names the weights after block h; a node still at h - 1 (the block is on its way, or it
    is on a branch one block shorter) gets it first. The old miner found it ``query-height`` (too new)
    and dropped it for good: lost, although valid one block later. Now it waits; a query naming
    weights more than two blocks ahead (never usable soon: free space in every pool) or too old for
    the next block is refused at the door."""
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import Query, build_query_tx
    g = spec.chain_params.genesis_time
    bob = Wallet.from_seed("limits-bob")
    x = _llm_node(spec, "x", bob.address)
    x.mine_block(time=g + 600, txs=[])
    x.miner_address = Wallet.from_seed("limits-x").address
    ahead = build_query_tx(x.chain.utxo, bob.key, Query("\n2+3=", x.chain.height + 1, 3), spec.params)
    x.mempool.add(ahead, x.chain.utxo)                            # as if relayed by a peer (no wallet check)
    first = x.mine_block(time=g + 1200)
    assert ahead.txid not in [t.txid for t in first.txs] and ahead.txid in x.mempool
    second = x.mine_block(time=g + 1800)
    assert ahead.txid in [t.txid for t in second.txs]
    view = x.mempool.coins(x.chain.utxo)
    far = build_query_tx(view, bob.key, Query("\n2+3=", x.chain.height + 3, 3), spec.params)
    with pytest.raises(InvalidTransaction) as err:
        x.mempool.add(far, x.chain.utxo)
    assert err.value.reason == "policy-query-too-new"
    stale = build_query_tx(view, bob.key, Query("\n1+1=", x.chain.height, 3), spec.params)
    x.mempool.add(stale, x.chain.utxo)
    for i in range(spec.params.query_window):                 # blocks that do not take it
        assert stale.txid in x.mempool
        x.mine_block(time=g + 2400 + 600 * i, txs=[])
    assert stale.txid not in x.mempool                         # too old for any next block: gone
    old = build_query_tx(view, bob.key, Query("\n2+3=", 1, 3), spec.params)
    with pytest.raises(InvalidTransaction) as err:
        x.mempool.add(old, x.chain.utxo)
    assert err.value.reason == "policy-query-expired"
