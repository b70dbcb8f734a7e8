"""A node is never ended by what its peers or its own timers do.

* A transport may report a peer gone *while the node is sending to it* (the ZeroMQ transport calls
  ``on_disconnect`` when a send finds an inbound peer gone): announcing, broadcasting and the
  heartbeat walk a snapshot of the peer table. The old node iterated the live dict and died with
  ``RuntimeError: dictionary changed size during iteration``.
* A bug in a message handler or in one part of ``on_tick`` is caught, logged, emitted and counted;
  the other parts still run. Only KeyboardInterrupt and SystemExit go through.
* A stranger that connects and never says ``version`` is dropped after ``handshake_timeout``, and
  at most ``max_pending`` such strangers are held at once (the oldest goes first).
"""
from __future__ import annotations

import pytest

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.ledger import COIN, build_payment
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.node import Node, NodeConfig

PARAMS = ChainParams.preset("regtest")
KEY = PrivateKey.from_seed(b"supervision-miner")


class LeavingTransport:
    """Like the ZeroMQ transport: a send to a peer in ``gone`` finds it gone and tells the node
    at once (``on_disconnect``), in the middle of the node's own loop."""

    def __init__(self, t: float = PARAMS.genesis_time + 10_000):
        self.t = t
        self.node: Node | None = None
        self.gone: set[str] = set()
        self.sent: list[tuple[str, m.Message]] = []
        self.disconnected: list[str] = []

    def send(self, peer, data):
        if peer in self.gone:
            self.node.on_disconnect(peer)
            return
        self.sent.append((peer, m.decode(data)))

    def disconnect(self, peer):
        self.disconnected.append(peer)

    def now(self):
        return self.t


def make_node(**config) -> tuple[Node, LeavingTransport]:
    transport = LeavingTransport()
    node = Node("sup", Chain(PARAMS, clock=transport.now), transport, miner_address=KEY.address(),
                config=NodeConfig(**config))
    transport.node = node
    return node, transport


def say_version(node: Node, peer: str, inbound: bool = True) -> None:
    node.on_connect(peer, inbound=inbound, netgroup="10.0")
    node.on_message(peer, m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=1000 + hash(peer) % 1000)))


PEERS = [f"p{i}" for i in range(8)]


def test_peers_leaving_during_sends_do_not_break_mining_broadcast_or_heartbeat():
    node, transport = make_node(heartbeat=60.0)
    for i, p in enumerate(PEERS):
        say_version(node, p, inbound=i % 2 == 0)
    node.mine_block()                                     # a coin to spend below
    transport.gone = {"p1", "p4", "p6"}                   # they left; the node learns it when it sends
    transport.sent.clear()
    block = node.mine_block()                             # announces the new tip to every peer
    assert node.tip == block.hash()
    assert not transport.gone & set(node.peers)
    invs = {p for p, msg in transport.sent if isinstance(msg, m.Inv)}
    assert invs == set(PEERS) - {"p1", "p4", "p6"}        # everyone still there heard of it
    transport.gone |= {"p0", "p7"}
    tx = build_payment(node.chain.utxo, KEY, [(bytes(20), COIN)], 1000)
    node.submit_transaction(tx)                           # broadcast
    assert tx.txid in node.mempool and not {"p0", "p7"} & set(node.peers)
    transport.gone |= {"p2"}
    transport.t += 61                                     # heartbeat re-announces the tip
    transport.sent.clear()
    node.on_tick()
    assert "p2" not in node.peers
    assert {p for p, msg in transport.sent if isinstance(msg, m.Inv)} == {"p3", "p5"}
    assert node.stats["handler-crash"] == 0               # no bug was needed to survive this


def test_a_bug_in_a_handler_is_caught_counted_and_the_node_carries_on():
    events = []
    node, transport = make_node()
    node.listener = lambda kind, details: events.append((kind, details))
    say_version(node, "p")

    def broken(peer, msg):
        raise ValueError("a bug in our own code")

    node.handlers["inv"] = broken
    node.on_message("p", m.encode(m.Inv((m.InvItem(m.INV_BLOCK, bytes(32)),))))   # must not raise
    assert node.stats["handler-crash"] == 1
    crash = [d for k, d in events if k == "handler-error"]
    assert crash and crash[0]["peer"] == "p" and crash[0]["command"] == "inv" and "ValueError" in crash[0]["error"]
    miner, _ = make_node()
    block = miner.mine_block()
    node.on_message("p", m.encode(m.BlockMsg(block.serialize())))                   # still works
    assert node.tip == block.hash()

    def interrupted(peer, msg):
        raise KeyboardInterrupt

    node.handlers["ping"] = interrupted                    # the operator's Ctrl-C still stops the node
    with pytest.raises(KeyboardInterrupt):
        node.on_message("p", m.encode(m.Ping(1)))


def test_a_bug_in_one_timer_does_not_stop_the_others():
    node, transport = make_node(heartbeat=60.0, hello_retry=2.0)
    say_version(node, "good")
    node.on_connect("silent", inbound=False)               # never answers: its hello is retried
    node.peers["corrupt"] = {"version": False, "inbound": False}   # a state a bug left half-built
    transport.t += 61
    transport.sent.clear()
    node.on_tick()                                          # must not raise
    assert node.stats["handler-crash"] == 1 and node.stats["handler-crash-tick-peer"] == 1
    sent = [(p, type(msg).__name__) for p, msg in transport.sent]
    assert ("silent", "Version") in sent                   # the hello retry of the next peer ran
    assert ("good", "Inv") in sent                         # and the heartbeat after the broken part


def test_a_silent_inbound_peer_is_dropped_after_the_handshake_timeout():
    node, transport = make_node(handshake_timeout=10.0)
    for p in ("s1", "s2", "s3"):
        node.on_connect(p, inbound=True, netgroup="6.6")   # connects, never says version
    say_version(node, "honest")
    node.on_connect("dialled", inbound=False)              # one we dialled: we keep trying it
    transport.t += 9
    node.on_tick()
    assert {"s1", "s2", "s3"} <= set(node.peers)
    transport.t += 2
    node.on_tick()
    assert not {"s1", "s2", "s3"} & set(node.peers)
    assert {"s1", "s2", "s3"} <= set(transport.disconnected)
    assert {"honest", "dialled"} <= set(node.peers)
    assert node.stats["handshake-timeout"] == 3


def test_silent_strangers_hold_at_most_max_pending_slots_and_an_honest_peer_gets_in():
    node, transport = make_node(max_inbound=64, max_pending=4)
    for i in range(40):
        node.on_connect(f"silent{i}", inbound=True, netgroup="6.6")
    pending = [p for p, s in node.peers.items() if not s["version"]]
    assert len(pending) <= 4
    assert set(pending) == {f"silent{i}" for i in range(36, 40)}   # the oldest made room
    say_version(node, "honest")
    for i in range(40, 80):
        node.on_connect(f"silent{i}", inbound=True, netgroup="6.6")
    assert node.peers["honest"]["version"]                 # talking peers are never pending-evicted
    assert len([p for p, s in node.peers.items() if not s["version"]]) <= 4
