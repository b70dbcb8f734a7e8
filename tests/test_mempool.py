"""The mempool keeps chains of unconfirmed transactions (``network/mempool.py``, protocol section 12).

A transaction may spend an output of a transaction still waiting in the pool; chains are
bounded (ancestors/descendants: count and bytes), and every refusal leaves the pool as it was;
a transaction that leaves for good takes its descendants with it, one that gets mined leaves
them; a reorg brings abandoned transactions back parents first and only then re-checks the
pool, so a payment from the change of an un-confirmed transaction survives; miners put a parent
before its child (ancestor-package fee rate). The attacker tests build chains as long as they like."""
from __future__ import annotations

import pytest

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.errors import InvalidTransaction
from gradientcoin_edu.ledger import COIN, OutPoint, Transaction, TxIn, TxOut, UtxoSet, build_payment
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.mempool import ChainLimits, Mempool, dependency_order
from gradientcoin_edu.network.node import Node, NodeConfig
from gradientcoin_edu.network.peers import PeerPolicy

PARAMS = ChainParams.preset("regtest")
T0 = PARAMS.genesis_time
ALICE, MALLORY = PrivateKey.from_seed(b"mp-alice"), PrivateKey.from_seed(b"mp-mallory")
BOB_KEY, MINER = PrivateKey.from_seed(b"mp-bob"), PrivateKey.from_seed(b"mp-miner").address()
BOB, CAROL = BOB_KEY.address(), PrivateKey.from_seed(b"mp-carol").address()


class FakeTransport:
    def __init__(self, t: float = T0 + 10_000):
        self.t, self.sent = t, []

    def send(self, peer, data):
        self.sent.append((peer, m.decode(data)))

    def disconnect(self, peer):
        pass

    def now(self):
        return self.t


def make_node(name="n", key=ALICE, **config) -> Node:
    transport = FakeTransport()
    return Node(name, Chain(PARAMS, clock=transport.now), transport, miner_address=key.address(),
                config=NodeConfig(policy=PeerPolicy(), **config))


def funded(name="n", blocks=1, key=ALICE, **config) -> Node:
    """A node whose chain has ``blocks`` blocks paying ``key`` (one coinbase coin each); it mines
    for someone else afterwards."""
    node = make_node(name, key, **config)
    for i in range(blocks):
        node.mine_block(time=T0 + 600 * (i + 1), txs=[])
    node.miner_address = MINER
    return node


def pay(node: Node, to: bytes, amount: int, fee: int = 1000, key=ALICE) -> Transaction:
    """A payment from ``key``'s coins, pool outputs included (change can be spent at once)."""
    return build_payment(node.mempool.coins(node.chain.utxo), key, [(to, amount)], fee)


def spend(parent: Transaction, index: int, key, to: bytes, fee: int = 1000, outputs: int = 1) -> Transaction:
    """Spend output ``index`` of ``parent`` (owned by ``key``) into ``outputs`` equal outputs to ``to``."""
    value = parent.outputs[index].amount - fee
    outs = tuple(TxOut(value // outputs, to) for _ in range(outputs))
    tx = Transaction(inputs=(TxIn(parent.txid, index),), outputs=outs)
    return tx.sign_input(0, key, parent.outputs[index])


def state(pool: Mempool):
    return (pool.snapshot(), dict(pool.spends), {t: set(s) for t, s in pool.parents.items()},
            {t: set(s) for t, s in pool.children.items()})


def refused(node_or_pool, tx, reason, utxos=None):
    """``tx`` is refused with ``reason`` and the pool is exactly as before."""
    pool = node_or_pool.mempool if isinstance(node_or_pool, Node) else node_or_pool
    before = state(pool)
    with pytest.raises(InvalidTransaction) as err:
        if isinstance(node_or_pool, Node):
            node_or_pool.submit_transaction(tx)
        else:
            pool.add(tx, utxos)
    assert err.value.reason == reason, err.value
    assert state(pool) == before


def chain_of(node: Node, n: int, key=ALICE, fee: int = 1000) -> list[Transaction]:
    """``n`` transactions, each spending the previous one's only output (the first a confirmed coin)."""
    (op, out), = node.chain.utxo.coins_of(key.address())[:1]
    first = Transaction(inputs=(TxIn(op.txid, op.index),), outputs=(TxOut(out.amount - fee, key.address()),))
    txs = [first.sign_input(0, key, out)]
    for _ in range(n - 1):
        txs.append(spend(txs[-1], 0, key, key.address(), fee))
    return txs


# ----------------------------------------------------------------------------- chains are accepted

def test_change_can_be_spent_at_once_and_the_miner_puts_the_parent_first():
    node = funded()
    parent = pay(node, BOB, 10 * COIN)
    node.submit_transaction(parent)
    child = pay(node, CAROL, 5 * COIN)                         # only the parent's change is left
    assert [txin.prev_txid for txin in child.inputs] == [parent.txid]
    node.submit_transaction(child)                              # the old pool: missing-input
    assert node.mempool.parents[child.txid] == {parent.txid}
    assert node.mempool.ancestors(child.txid) == {parent.txid}
    assert node.mempool.descendants(parent.txid) == {child.txid}
    block = node.mine_block(time=T0 + 1200)
    assert [tx.txid for tx in block.txs[1:]] == [parent.txid, child.txid]
    assert not node.mempool and node.chain.utxo.balance(CAROL) == 5 * COIN


def test_the_coins_view_adds_pool_outputs_and_removes_what_the_pool_spends():
    node = funded()
    parent = pay(node, BOB, 10 * COIN)
    node.submit_transaction(parent)
    view = node.mempool.coins(node.chain.utxo)
    spent = parent.inputs[0].outpoint
    assert view.coin(spent) is None and node.chain.utxo.coin(spent) is not None
    assert view.get(OutPoint(parent.txid, 0)) == parent.outputs[0]
    assert view.get(OutPoint(parent.txid, 5)) is None
    assert view.balance(BOB) == 10 * COIN and node.chain.utxo.balance(BOB) == 0
    assert view.balance(ALICE.address()) == parent.outputs[1].amount


def test_a_double_spend_inside_the_pool_is_refused_and_changes_nothing():
    node = funded()
    parent = pay(node, BOB, 10 * COIN)
    node.submit_transaction(parent)
    child = pay(node, CAROL, 5 * COIN)
    node.submit_transaction(child)
    rival = spend(parent, 1, ALICE, BOB, fee=1100)             # the same change output, paying a little more:
    refused(node, rival, "mempool-conflict")                    # not enough to replace it (test_mempool_limits)
    refused(node, child, "already-in-mempool")


@pytest.mark.parametrize("case, reason", [
    ("unknown-parent", "missing-input"), ("no-such-output", "missing-input"),
    ("overspend", "overspend"), ("bad-signature", "bad-signature"), ("wrong-key", "wrong-key"),
])
def test_a_bad_child_of_a_pool_transaction_is_refused_and_changes_nothing(case, reason):
    node = funded()
    parent = pay(node, BOB, 10 * COIN)
    node.submit_transaction(parent)
    change = parent.outputs[1]
    if case == "unknown-parent":                               # its parent never reached us
        ghost = spend(parent, 1, ALICE, BOB)
        tx = spend(ghost, 0, BOB_KEY, CAROL)
    elif case == "no-such-output":
        tx = Transaction(inputs=(TxIn(parent.txid, 7),), outputs=(TxOut(COIN, CAROL),)).sign_input(0, ALICE, change)
    elif case == "overspend":
        tx = Transaction(inputs=(TxIn(parent.txid, 1),), outputs=(TxOut(change.amount + 1, CAROL),))
        tx = tx.sign_input(0, ALICE, change)
    elif case == "bad-signature":
        good = spend(parent, 1, ALICE, CAROL)
        tx = Transaction(inputs=(TxIn(parent.txid, 1, bytes(64), good.inputs[0].pubkey),), outputs=good.outputs)
    else:                                                      # Mallory signs for Alice's change
        tx = spend(parent, 1, MALLORY, CAROL)
    refused(node, tx, reason)


# ----------------------------------------------------------------------------- bounds (the attacker)

def test_an_attackers_long_chain_stops_at_25_ancestors_and_costs_the_node_nothing_more():
    node = funded(key=MALLORY)
    txs = chain_of(node, 40, key=MALLORY)
    for tx in txs[:25]:
        node.submit_transaction(tx)
    assert len(node.mempool) == 25
    for tx in txs[25:26]:
        refused(node, tx, "policy-too-many-ancestors")
    for tx in txs[26:]:                                         # their parent was refused: unknown
        refused(node, tx, "missing-input")
    block = node.mine_block(time=T0 + 1200)                     # the 25 fit one block, in order
    assert [tx.txid for tx in block.txs[1:]] == [tx.txid for tx in txs[:25]]
    node.submit_transaction(txs[25])                            # now confirmed ancestors: room again
    assert len(node.mempool) == 1


def test_a_long_chain_relayed_by_a_peer_is_cut_at_the_bound_without_banning_the_peer():
    node = funded(key=MALLORY)
    node.on_connect("p")
    node.on_message("p", m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=7)))
    for tx in chain_of(node, 30, key=MALLORY):
        node.on_message("p", m.encode(m.TxMsg(tx.serialize())))
    assert len(node.mempool) == 25
    assert node.stats["tx-rejected-policy-too-many-ancestors"] == 1
    assert node.stats["tx-rejected-missing-input"] == 4
    assert not node.peerbook.is_banned("p", node.transport.now())   # a local bound, not an offence


def test_a_child_that_arrives_before_its_parent_is_fetched_again_when_announced_again():
    node = funded()
    node.on_connect("p")
    node.on_message("p", m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=7)))
    parent = pay(node, BOB, 10 * COIN)
    child = spend(parent, 1, ALICE, CAROL)
    node.on_message("p", m.encode(m.TxMsg(child.serialize())))
    assert child.txid not in node.mempool and child.txid not in node.seen_txs
    node.on_message("p", m.encode(m.TxMsg(parent.serialize())))
    node.transport.sent.clear()
    node.on_message("p", m.encode(m.Inv((m.InvItem(m.INV_TX, child.txid),))))
    assert any(isinstance(msg, m.GetData) for _, msg in node.transport.sent)     # asks for it again
    node.on_message("p", m.encode(m.TxMsg(child.serialize())))
    assert node.mempool.txids() == [parent.txid, child.txid]
    assert not node.peerbook.is_banned("p", node.transport.now())


def test_a_wide_family_stops_at_25_descendants():
    node = funded(key=MALLORY)
    (op, out), = node.chain.utxo.coins_of(MALLORY.address())
    fan = Transaction(inputs=(TxIn(op.txid, op.index),),
                      outputs=tuple(TxOut(out.amount // 31, MALLORY.address()) for _ in range(30)))
    fan = fan.sign_input(0, MALLORY, out)
    node.submit_transaction(fan)
    kids = [spend(fan, i, MALLORY, MALLORY.address()) for i in range(30)]
    for kid in kids[:24]:
        node.submit_transaction(kid)
    assert len(node.mempool.descendants(fan.txid)) == 24
    node.submit_transaction(kids[24])                           # the CPFP carve-out: one more child of the fan
    refused(node, kids[25], "policy-too-many-descendants")      # ... only one
    grandchild = spend(kids[0], 0, MALLORY, BOB)                # also a descendant of the fan, two ancestors:
    refused(node, grandchild, "policy-too-many-descendants")    # no carve-out


def test_the_byte_bounds_refuse_a_package_that_grows_too_large():
    node = funded(key=MALLORY)
    txs = chain_of(node, 4, key=MALLORY)
    pool = Mempool(limits=ChainLimits(ancestor_bytes=3 * txs[0].size))
    for tx in txs[:3]:
        pool.add(tx, node.chain.utxo)
    refused(pool, txs[3], "policy-ancestors-too-large", node.chain.utxo)
    pool = Mempool(limits=ChainLimits(descendant_bytes=2 * txs[0].size))
    pool.add(txs[0], node.chain.utxo)
    pool.add(txs[1], node.chain.utxo)
    refused(pool, txs[2], "policy-descendants-too-large", node.chain.utxo)


def test_a_lone_transaction_is_never_refused_by_the_chain_bounds():
    node = funded()
    tx = pay(node, BOB, COIN)
    pool = Mempool(limits=ChainLimits(ancestors=1, ancestor_bytes=1, descendants=1, descendant_bytes=1))
    pool.add(tx, node.chain.utxo)
    assert tx.txid in pool


# ----------------------------------------------------------------------------- leaving the pool

def test_a_mined_parent_leaves_its_children_waiting():
    node = funded()
    txs = chain_of(node, 3)
    for tx in txs:
        node.submit_transaction(tx)
    node.mine_block(time=T0 + 1200, txs=txs[:1])                # another miner took only the parent
    assert node.mempool.snapshot() == sorted(t.txid for t in txs[1:])
    assert node.mempool.parents[txs[1].txid] == set()           # it now spends a confirmed coin
    block = node.mine_block(time=T0 + 1800)
    assert [tx.txid for tx in block.txs[1:]] == [t.txid for t in txs[1:]]


def test_a_parent_conflicted_by_a_block_takes_its_descendants_with_it():
    node = funded(blocks=2)
    txs = chain_of(node, 3)
    bystander = build_payment(node.chain.utxo, ALICE, [(BOB, COIN)], 1000,
                              exclude={txs[0].inputs[0].outpoint})
    for tx in (*txs, bystander):
        node.submit_transaction(tx)
    rival = build_payment(node.chain.utxo, ALICE, [(CAROL, COIN)], 1000,
                          exclude={bystander.inputs[0].outpoint})
    assert rival.inputs[0].outpoint == txs[0].inputs[0].outpoint
    miner = make_node("rival-miner")
    for entry in node.chain.active_chain()[1:]:
        miner.submit_block(entry.block)
    block = miner.mine_block(time=T0 + 1800, txs=[rival])
    node.submit_block(block)
    assert node.mempool.snapshot() == [bystander.txid]
    assert set(node.mempool.spends) == {bystander.inputs[0].outpoint}
    assert set(node.mempool.parents) == set(node.mempool.children) == {bystander.txid}


def test_remove_takes_the_descendants_too():
    node = funded()
    txs = chain_of(node, 4)
    for tx in txs:
        node.submit_transaction(tx)
    assert node.mempool.remove(txs[1].txid) == txs[1]           # e.g. a miner found it can never be mined
    assert node.mempool.snapshot() == [txs[0].txid]
    assert node.mempool.children[txs[0].txid] == set() and list(node.mempool.spends.values()) == [txs[0].txid]


def test_a_full_pool_evicts_the_cheapest_package_whole_and_never_the_newcomers_ancestor():
    node = funded(blocks=3)
    coins = node.chain.utxo.coins_of(ALICE.address())
    cheap_parent = spend_coin(coins[0], 200)
    cheap_child = spend(cheap_parent, 0, ALICE, ALICE.address(), fee=250)
    rich = spend_coin(coins[1], 50_000)
    pool = Mempool(max_txs=3)
    for tx in (cheap_parent, cheap_child, rich):
        pool.add(tx, node.chain.utxo)
    newcomer = spend_coin(coins[2], 20_000)
    pool.add(newcomer, node.chain.utxo)                        # the cheap package leaves whole
    assert pool.snapshot() == sorted([rich.txid, newcomer.txid])
    # full again; a child of the cheapest pays well: its parent (the cheapest) is not evicted for it
    pool = Mempool(max_txs=2)
    pool.add(cheap_parent, node.chain.utxo)
    pool.add(rich, node.chain.utxo)
    refused(pool, spend(cheap_parent, 0, ALICE, BOB, fee=40_000), "mempool-full", node.chain.utxo)
    refused(pool, spend_coin(coins[2], 190), "mempool-full", node.chain.utxo)   # pays the relay fee, less than 200


def spend_coin(coin, fee):
    op, out = coin
    tx = Transaction(inputs=(TxIn(op.txid, op.index),), outputs=(TxOut(out.amount - fee, ALICE.address()),))
    return tx.sign_input(0, ALICE, out)


def test_a_full_pool_scores_its_packages_once_not_for_every_refused_newcomer(monkeypatch):
    """Mallory, facing a full pool, sends transaction after transaction that pays too little, each
    spending the same confirmed coin with another fee (a new txid each time, and ``mempool-full``
    costs her no points). Scoring every package of the pool for each of them costs the node a walk
    over the whole pool (4-8 ms per refusal at 5,000 transactions, about ten times the signature
    check: docs/benchmarks.md): the pool scores its packages once and keeps that ranking until
    the pool changes. A change - here one transaction leaving and another entering - ranks again,
    and the cheapest package *now* in the pool is the one evicted."""
    node = funded(blocks=4)
    coins = node.chain.utxo.coins_of(ALICE.address())
    cheap, rich, richer = spend_coin(coins[0], 300), spend_coin(coins[1], 50_000), spend_coin(coins[2], 30_000)
    pool = Mempool(max_txs=2)
    pool.add(cheap, node.chain.utxo)
    pool.add(rich, node.chain.utxo)
    scored = []
    score = pool._descendant_score
    monkeypatch.setattr(pool, "_descendant_score", lambda txid: scored.append(txid) or score(txid))
    for fee in range(180, 230, 10):                             # five refused newcomers
        refused(pool, spend_coin(coins[3], fee), "mempool-full", node.chain.utxo)
    assert len(scored) == 2                                     # the two pool members, scored once
    pool.remove(cheap.txid)
    pool.add(richer, node.chain.utxo)                           # the pool changed: full again
    pool.add(spend_coin(coins[3], 40_000), node.chain.utxo)     # outbids richer (30,000), not rich
    assert pool.snapshot() == sorted([rich.txid, spend_coin(coins[3], 40_000).txid])
    assert len(pool) == 2


# ----------------------------------------------------------------------------- reorgs

def _rival_branch(node: Node, fork_height: int, length: int) -> list:
    """Blocks of a heavier branch forking after height ``fork_height`` of ``node``'s chain, empty."""
    rival = make_node("rival", key=MALLORY)
    for entry in node.chain.active_chain()[1:fork_height + 1]:
        rival.submit_block(entry.block)
    return [rival.mine_block(time=T0 + 600 * (fork_height + 1 + i) + 7, txs=[]) for i in range(length)]


def test_a_query_paid_from_change_survives_the_reorg_that_unconfirms_its_parent():
    node = funded()
    contribution = pay(node, BOB, 10 * COIN)
    node.mine_block(time=T0 + 1200, txs=[contribution])        # confirmed at height 2
    query = pay(node, CAROL, 5 * COIN)                          # paid from its (now confirmed) change
    assert [txin.prev_txid for txin in query.inputs] == [contribution.txid]
    node.submit_transaction(query)
    for block in _rival_branch(node, 1, 2):                     # heavier, without the contribution
        node.submit_block(block)
    assert node.stats["reorgs"] == 1 and node.chain.utxo.balance(BOB) == 0
    assert contribution.txid in node.mempool and query.txid in node.mempool   # the old order lost the query
    assert node.mempool.parents[query.txid] == {contribution.txid}
    assert node.mempool.txids() == [contribution.txid, query.txid]
    block = node.mine_block(time=T0 + 3000)
    assert [tx.txid for tx in block.txs[1:]] == [contribution.txid, query.txid]


def test_a_reorg_that_double_spends_the_parent_drops_the_child_too():
    node = funded()
    contribution = pay(node, BOB, 10 * COIN)
    double = build_payment(node.chain.utxo, ALICE, [(CAROL, 20 * COIN)], 1000)   # the same coin
    node.mine_block(time=T0 + 1200, txs=[contribution])
    query = pay(node, CAROL, 5 * COIN)
    node.submit_transaction(query)
    rival = make_node("rival", key=MALLORY)
    rival.submit_block(node.chain.active_chain()[1].block)
    for i in range(2):
        node.submit_block(rival.mine_block(time=T0 + 1207 + 600 * i, txs=[double] if i == 0 else []))
    assert node.chain.utxo.balance(CAROL) == 20 * COIN
    assert not node.mempool and not node.mempool.spends


def test_readd_puts_parents_first_whatever_the_order_given():
    node = funded()
    txs = chain_of(node, 3)
    assert dependency_order(txs[::-1]) == txs
    pool = Mempool()
    assert pool.readd(txs[::-1], node.chain.utxo) == [t.txid for t in txs]
    assert pool.txids() == [t.txid for t in txs]


def test_revalidate_drops_what_lost_its_inputs_with_its_descendants():
    node = funded(blocks=2)
    txs = chain_of(node, 3)
    pool = Mempool()
    for tx in txs:
        pool.add(tx, node.chain.utxo)
    other = make_node("other")                                  # a chain where that coin does not exist
    assert pool.revalidate(other.chain.utxo) == [t.txid for t in txs]
    assert not pool and not pool.spends and not pool.parents and not pool.children


# ----------------------------------------------------------------------------- block templates

def test_selection_takes_a_cheap_parent_for_its_rich_child_and_never_a_child_alone():
    node = funded(blocks=2)
    coins = node.chain.utxo.coins_of(ALICE.address())
    parent = spend_coin(coins[0], 200)
    child = spend(parent, 0, ALICE, ALICE.address(), fee=200_000)
    middle = spend_coin(coins[1], 20_000)
    pool = Mempool()
    for tx in (parent, child, middle):
        pool.add(tx, node.chain.utxo)
    order = [e.tx.txid for e in pool.select(10**6)]
    assert order == [parent.txid, child.txid, middle.txid]     # package rate beats middle's rate
    assert [e.tx.txid for e in pool.select(10**6, max_txs=1)] == [middle.txid]
    assert [e.tx.txid for e in pool.select(parent.size + child.size - 1)] == [middle.txid]


def test_any_selection_is_a_valid_block_body():
    node = funded(blocks=3)
    coins = node.chain.utxo.coins_of(ALICE.address())
    pool, txs = Mempool(), []
    for i, coin in enumerate(coins):
        tx = spend_coin(coin, 1000 * (i + 1))
        txs += [tx, spend(tx, 0, ALICE, BOB, fee=3000 * (3 - i)), ]
        txs.append(spend(txs[-1], 0, BOB_KEY, CAROL, fee=500 * i + 200))
    for tx in txs:
        pool.add(tx, node.chain.utxo)
    for max_bytes in range(0, sum(t.size for t in txs) + 1, 97):
        body = [e.tx for e in pool.select(max_bytes)]
        seen = set()
        for tx in body:
            assert all(i.prev_txid in seen or i.prev_txid not in pool for i in tx.inputs)
            seen.add(tx.txid)
        utxo: UtxoSet = node.chain.utxo.copy()
        height = utxo.height + 1
        utxo.apply_block([Transaction.coinbase(height, [TxOut(0, BOB)]), *body], height, 0)
