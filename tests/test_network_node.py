"""Node logic without any network: a node fed messages by hand (a fake transport).

Blocks arriving in any order (hypothesis permutations) end on the heaviest valid branch, with
the UTXO set equal to one rebuilt from scratch; invalid blocks and transactions are rejected,
counted against the sender and never accepted; malformed, oversized and flooding peers are
dropped and banned while the node keeps working; the mempool follows reorgs."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from gradientcoin_edu.chain.block import Block, BlockHeader
from gradientcoin_edu.chain import Chain
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.errors import InvalidTransaction
from gradientcoin_edu.ledger import COIN, Transaction, TxIn, TxOut, build_payment
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.chain.pow import pow_search
from gradientcoin_edu.network.node import Node, NodeConfig
from gradientcoin_edu.network.peers import PeerPolicy

from _transport import RecordingTransport

PARAMS = ChainParams.preset("regtest")
T0 = PARAMS.genesis_time


class FakeTransport(RecordingTransport):
    """Records what the node sends; time is set by hand."""

    def __init__(self, t: float = T0 + 10_000):
        super().__init__(t)


def make_node(name="n", policy: PeerPolicy | None = None, **config) -> Node:
    transport = FakeTransport()
    chain = Chain(PARAMS, clock=transport.now)
    key = PrivateKey.from_seed(name.encode())
    return Node(name, chain, transport, miner_address=key.address(),
                config=NodeConfig(policy=policy or PeerPolicy(), **config))


def hello(node: Node, peer: str) -> None:
    node.on_connect(peer)
    node.on_message(peer, m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=hash(peer) & 0xFFFF)))


def rebuilt_utxo(node: Node):
    fresh = Chain(PARAMS, clock=node.transport.now)
    for block in [e.block for e in node.chain.active_chain()[1:]]:
        fresh.add_block(block)
    return fresh.utxo


# ----------------------------------------------------------------------------- a block tree

ALICE = PrivateKey.from_seed(b"test-alice")
BOB, CAROL = PrivateKey.from_seed(b"test-bob").address(), PrivateKey.from_seed(b"test-carol").address()


def _build_tree():
    """G-A1-A2(pays Bob)-A3-A4 and A1-B2-B3(pays Carol with the same coin)-B4-B5; E2 (bad signature) on A1."""
    miner = make_node("tree-miner")
    miner.miner_address = ALICE.address()
    t = T0
    a1 = miner.mine_block(time=t + 600)
    pay_bob = build_payment(miner.chain.utxo, ALICE, [(BOB, 10 * COIN)], 1000)
    pay_carol = build_payment(miner.chain.utxo, ALICE, [(CAROL, 20 * COIN)], 1000)   # same coin
    a2 = miner.mine_block(time=t + 1200, txs=[pay_bob])
    a3 = miner.mine_block(time=t + 1800)
    a4 = miner.mine_block(time=t + 2400)
    b2 = miner.mine_block(time=t + 1201, parent=a1.hash(), txs=[])
    b3 = miner.mine_block(time=t + 1801, parent=b2.hash(), txs=[pay_carol])
    b4 = miner.mine_block(time=t + 2401, parent=b3.hash(), txs=[])
    b5 = miner.mine_block(time=t + 3001, parent=b4.hash(), txs=[])
    forged = Transaction(inputs=(TxIn(pay_bob.inputs[0].prev_txid, 0, b"\x01" * 64, ALICE.public_key().to_bytes()),),
                         outputs=(TxOut(COIN, BOB),))
    e2 = _mine_raw(a1, 2, [forged], t + 1202)
    return {"A1": a1, "A2": a2, "A3": a3, "A4": a4, "B2": b2, "B3": b3, "B4": b4, "B5": b5, "E2": e2,
            "pay_bob": pay_bob, "pay_carol": pay_carol}


def _mine_raw(parent: Block, height: int, txs, time) -> Block:
    """A block at ``height`` on ``parent`` that a miner's own chain would refuse (so built by hand)."""
    from gradientcoin_edu.chain.block import compute_tx_root
    coinbase = Transaction.coinbase(height, [TxOut(PARAMS.subsidy(height), ALICE.address())], extra=b"raw")
    txs = (coinbase, *txs)
    header = BlockHeader(1, parent.hash(), compute_tx_root(txs), time=time, bits=PARAMS.pow_limit_bits)
    return Block(pow_search(header), txs)


TREE = _build_tree()
HONEST = ["A1", "A2", "A3", "A4", "B2", "B3", "B4", "B5"]


@settings(max_examples=40, deadline=None)
@given(st.permutations(HONEST + ["E2"]))
def test_any_arrival_order_ends_on_the_heaviest_valid_branch(order):
    node = make_node()
    hello(node, "honest")
    hello(node, "rogue")
    for name in order:
        node.on_message("rogue" if name == "E2" else "honest", m.encode(m.BlockMsg(TREE[name].serialize())))
    assert node.tip == TREE["B5"].hash()
    assert node.height == 5
    assert TREE["E2"].hash() not in node.best_chain()
    assert not node.orphans
    assert node.chain.utxo == rebuilt_utxo(node)
    assert node.chain.utxo.balance(CAROL) == 20 * COIN and node.chain.utxo.balance(BOB) == 0
    assert not node.peerbook.is_banned("honest", node.transport.now())


def test_orphans_wait_for_their_parent_and_ask_for_it():
    node = make_node()
    hello(node, "p")
    node.transport.sent.clear()
    node.on_message("p", m.encode(m.BlockMsg(TREE["A3"].serialize())))
    assert TREE["A3"].hash() in node.orphans and node.height == 0
    assert any(isinstance(msg, m.GetBlocks) for _, msg in node.transport.sent)      # asked for the gap
    for name in ("A2", "A1"):
        node.on_message("p", m.encode(m.BlockMsg(TREE[name].serialize())))
    assert node.height == 3 and not node.orphans


def test_reorg_returns_abandoned_transactions_to_the_mempool():
    node = make_node()
    hello(node, "p")
    for name in ("A1", "B2", "B3", "B4"):            # Carol's payment confirmed on branch B
        node.on_message("p", m.encode(m.BlockMsg(TREE[name].serialize())))
    assert node.chain.utxo.balance(CAROL) == 20 * COIN
    # a heavier branch without Carol's payment: A2 (Bob's payment spends the same coin) ... A5
    a_blocks = [TREE[n] for n in ("A2", "A3", "A4")]
    for b in a_blocks:
        node.on_message("p", m.encode(m.BlockMsg(b.serialize())))
    assert node.tip == TREE["B4"].hash()             # equal work (height 4): the first seen stays
    miner = make_node("extender")
    for b in [TREE["A1"], *a_blocks]:
        miner.submit_block(b)
    a5 = miner.mine_block(time=T0 + 3000)
    node.on_message("p", m.encode(m.BlockMsg(a5.serialize())))
    assert node.tip == a5.hash()
    assert node.stats["reorgs"] == 1
    # Carol's transaction came back from the abandoned branch, but it now double-spends Bob's: dropped
    assert TREE["pay_carol"].txid not in node.mempool
    assert node.chain.utxo.balance(BOB) == 10 * COIN and node.chain.utxo == rebuilt_utxo(node)


def test_honest_transaction_of_an_abandoned_block_goes_back_to_the_mempool_and_is_mined_again():
    node = make_node()
    hello(node, "p")
    for name in ("A1", "A2"):                         # Bob's payment in A2
        node.on_message("p", m.encode(m.BlockMsg(TREE[name].serialize())))
    assert node.chain.utxo.balance(BOB) == 10 * COIN
    rival = make_node("rival")
    rival.submit_block(TREE["A1"])
    r2 = rival.mine_block(time=T0 + 1300, txs=[])
    r3 = rival.mine_block(time=T0 + 1900, txs=[])
    for b in (r2, r3):
        node.on_message("p", m.encode(m.BlockMsg(b.serialize())))
    assert node.tip == r3.hash()
    assert TREE["pay_bob"].txid in node.mempool       # not lost: waiting to be mined again
    mined = node.mine_block(time=T0 + 2500)
    assert TREE["pay_bob"].txid in [tx.txid for tx in mined.txs]
    assert node.chain.utxo.balance(BOB) == 10 * COIN and not node.mempool


# ----------------------------------------------------------------------------- misbehaving peers

def _block_msg(block: Block) -> bytes:
    return m.encode(m.BlockMsg(block.serialize()))


def test_invalid_blocks_are_rejected_counted_and_the_sender_banned():
    node = make_node()
    hello(node, "honest")
    hello(node, "evil")
    a1 = TREE["A1"]
    bad_pow = Block(a1.header.with_nonce(next(n for n in range(1000) if a1.header.with_nonce(n).hash_value()
                                                 > (1 << 255))), a1.txs)
    node.on_message("evil", _block_msg(bad_pow))
    assert node.height == 0
    assert node.peerbook.is_banned("evil", node.transport.now())
    assert "evil" in node.transport.disconnected
    # a banned peer's further messages are ignored, the honest one is served
    node.on_message("evil", _block_msg(a1))
    assert node.height == 0
    node.on_message("honest", _block_msg(a1))
    assert node.height == 1


@pytest.mark.parametrize("tamper, reason", [
    (lambda b: Block(b.header, b.txs + b.txs[:1]), "extra-coinbase"),
    (lambda b: Block(b.header, b.txs[1:] or (Transaction(inputs=(TxIn(bytes(32), 0),), outputs=(TxOut(1, BOB),)),)),
     "missing-coinbase"),
])
def test_blocks_breaking_rules_are_refused_with_their_reason(tamper, reason):
    node = make_node()
    events = []
    node.listener = lambda kind, d: events.append((kind, d))
    hello(node, "evil")
    bad = tamper(TREE["A1"])
    node.on_message("evil", _block_msg(bad))
    assert node.height == 0
    assert any(k == "block-rejected" and d["reason"] in (reason, "bad-tx-root", "bad-pow") for k, d in events)
    assert node.peerbook.get("evil", 0).offences["invalid-block"] == 1


def test_a_double_spending_block_is_invalid():
    node = make_node()
    hello(node, "p")
    hello(node, "evil")
    for name in ("A1", "A2"):
        node.on_message("p", _block_msg(TREE[name]))
    double = _mine_raw(TREE["A2"], 3, [TREE["pay_carol"]], T0 + 1900)
    node.on_message("evil", _block_msg(double))
    assert node.height == 2 and node.tip == TREE["A2"].hash()
    assert node.peerbook.is_banned("evil", node.transport.now())


def test_invalid_and_valid_transactions():
    node = make_node()
    hello(node, "p")
    hello(node, "evil")
    node.on_message("p", _block_msg(TREE["A1"]))
    good = TREE["pay_bob"]
    # a forged signature on Alice's coin: the sender is punished
    bad_sig = Transaction(inputs=(TxIn(good.inputs[0].prev_txid, 0, b"\x01" * 64,
                                       ALICE.public_key().to_bytes()),), outputs=(TxOut(COIN, BOB),))
    node.on_message("evil", m.encode(m.TxMsg(bad_sig.serialize())))
    assert bad_sig.txid not in node.mempool
    assert node.peerbook.get("evil", 0).offences["invalid-tx"] == 1
    # transaction bytes that do not parse
    node.on_message("evil", m.encode(m.TxMsg(b"\x01\x02\x03")))
    assert node.peerbook.get("evil", 0).offences["malformed-message"] == 1
    # the real payment is accepted and relayed to the other peer, not back to the sender
    node.transport.sent.clear()
    node.on_message("p", m.encode(m.TxMsg(good.serialize())))
    assert good.txid in node.mempool
    assert [peer for peer, msg in node.transport.sent if isinstance(msg, m.Inv)] == ["evil"]
    # a conflicting spend is not the sender's fault (it may have seen it first): quietly refused
    node.on_message("p", m.encode(m.TxMsg(TREE["pay_carol"].serialize())))
    assert TREE["pay_carol"].txid not in node.mempool and node.peerbook.get("p", 0).score == 0


def test_malformed_and_oversized_messages_lead_to_a_ban_and_the_node_keeps_working():
    node = make_node(max_payload=10_000)
    hello(node, "evil")
    hello(node, "honest")
    junk = [b"", b"garbage", m.encode(m.Ping(1))[:-1], b"GCed" + b"\xff" * 40]
    for data in junk:
        node.on_message("evil", data)
    assert node.peerbook.get("evil", 0).offences["malformed-message"] == 4
    node.on_message("evil", m.encode(m.BlockMsg(b"x" * 20_000)))
    assert node.peerbook.get("evil", 0).offences["oversized-message"] == 1
    assert node.peerbook.is_banned("evil", node.transport.now())
    node.on_message("honest", _block_msg(TREE["A1"]))
    assert node.height == 1


def test_a_flood_is_rate_limited_and_banned():
    node = make_node(policy=PeerPolicy(rate=10, burst=50, ban_score=100))
    hello(node, "flooder")
    for i in range(400):
        node.on_message("flooder", m.encode(m.Ping(i)))
    state = node.peerbook.get("flooder", 0)
    assert state.dropped >= 100
    assert node.peerbook.is_banned("flooder", node.transport.now())
    pongs = sum(1 for peer, msg in node.transport.sent if isinstance(msg, m.Pong))
    assert pongs <= 50                                   # the node did not do the flood's work


def test_messages_before_version_are_dropped():
    node = make_node()
    node.on_message("stranger", m.encode(m.Inv((m.InvItem(m.INV_BLOCK, bytes(32)),))))
    assert node.peerbook.get("stranger", 0).offences["protocol"] == 1
    assert not any(isinstance(msg, m.GetData) for _, msg in node.transport.sent)


def test_wrong_network_and_self_connections_are_dropped():
    node = make_node()
    node.on_connect("other")
    node.on_message("other", m.encode(m.Version(genesis=b"\x01" * 32, nonce=5)))
    assert "other" in node.transport.disconnected
    node.on_connect("me")
    node.on_message("me", m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=node.nonce)))
    assert "me" in node.transport.disconnected


def test_getblocks_and_getdata_serve_the_chain():
    node = make_node()
    hello(node, "p")
    for name in ("A1", "A2", "A3"):
        node.on_message("p", _block_msg(TREE[name]))
    node.transport.sent.clear()
    node.on_message("p", m.encode(m.GetBlocks((node.chain.genesis.hash,))))
    (peer, inv), = node.transport.sent
    assert [i.hash for i in inv.items] == [TREE[n].hash() for n in ("A1", "A2", "A3")]
    node.transport.sent.clear()
    node.on_message("p", m.encode(m.GetData((m.InvItem(m.INV_BLOCK, TREE["A2"].hash()),
                                             m.InvItem(m.INV_TX, bytes(32))))))
    kinds = [type(msg) for _, msg in node.transport.sent]
    assert kinds == [m.BlockMsg, m.NotFound]
    assert Block.parse(node.transport.sent[0][1].raw) == TREE["A2"]


def test_mempool_rules():
    node = make_node()
    hello(node, "p")
    node.on_message("p", _block_msg(TREE["A1"]))
    node.submit_transaction(TREE["pay_bob"])
    with pytest.raises(InvalidTransaction) as err:
        node.submit_transaction(TREE["pay_carol"])
    assert err.value.reason == "mempool-conflict"
    with pytest.raises(InvalidTransaction) as err:
        node.submit_transaction(TREE["pay_bob"])
    assert err.value.reason == "already-in-mempool"
    block = node.mine_block(time=T0 + 1200)
    assert [tx.txid for tx in block.txs[1:]] == [TREE["pay_bob"].txid]
    coinbase = block.txs[0]
    assert coinbase.total_out() == PARAMS.subsidy(2) + 1000        # subsidy + the fee
    assert not node.mempool


# ----------------------------------------------------------------------------- fuzzing

@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["A1", "A2", "B3"]), st.data())
def test_mutated_blocks_never_crash_the_node_or_get_accepted_wrongly(name, data):
    """Flip bytes inside a block (with a valid envelope around it): the node rejects or accepts, never raises."""
    node = make_node()
    hello(node, "p")
    node.on_message("p", _block_msg(TREE["A1"]))
    raw = bytearray(TREE[name].serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    before = (node.tip, node.chain.utxo.copy())
    node.on_message("p", m.encode(m.BlockMsg(bytes(raw) or b"\x00")))
    if node.tip != before[0]:                       # accepted: then it must really be a valid block
        fresh = Chain(PARAMS, clock=node.transport.now)
        for entry in node.chain.active_chain()[1:]:
            fresh.add_block(entry.block)
        assert fresh.tip_hash == node.tip
    else:
        assert node.chain.utxo == before[1]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_random_transaction_bytes_never_crash_the_node(raw):
    node = make_node()
    hello(node, "p")
    node.on_message("p", m.encode(m.TxMsg(raw or b"\x00")))
    assert len(node.mempool) == 0
