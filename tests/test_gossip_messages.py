"""What the node sends per block stays bounded: block gossip, and pings only where they serve.

A node pings a peer for two reasons, both about its inbound slots: the peer's minimum round trip
protects it from eviction, and an inbound peer that goes silent after a ping is dropped. Peers we
dialled are never evicted nor timed out, so the inbound side of each link pings and the dialler
answers. Pinging from both sides doubled the ping traffic for nothing: a seeded 10-node network
sent 32,892 messages for 200 blocks, 17,688 of them pings and pongs (15,154 before pings existed).
"""
from __future__ import annotations

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.node import Node, NodeConfig
from gradientcoin_edu.network.simulator import LinkSpec, Simulator

from _transport import RecordingTransport

PARAMS = ChainParams.preset("regtest")


def _pings_to(wire: RecordingTransport, peer: str) -> list:
    return [msg for p, msg in wire.sent if p == peer and msg.command == "ping"]


def test_the_inbound_side_of_a_link_pings_and_the_dialler_only_answers():
    wire = RecordingTransport(PARAMS.genesis_time + 5000.0)
    node = Node("n", Chain(PARAMS, clock=wire.now), wire, config=NodeConfig(ping_interval=600.0))
    for peer, inbound in (("in", True), ("out", False)):
        node.on_connect(peer, inbound=inbound, netgroup=peer)
        node.on_message(peer, m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=len(peer))))
    assert len(_pings_to(wire, "in")) == 1                 # its round trip protects its slot
    assert _pings_to(wire, "out") == []                    # we chose it: never evicted, nothing to measure
    for _ in range(3):                                     # three ping intervals, both peers talking
        wire.t += 601.0
        for peer in ("in", "out"):
            node.on_message(peer, m.encode(m.Verack()))
        node.on_tick()
    assert len(_pings_to(wire, "in")) == 4 and _pings_to(wire, "out") == []
    node.on_message("out", m.encode(m.Ping(99)))           # the dialler still answers the other side's pings
    assert [msg.nonce for p, msg in wire.sent if p == "out" and msg.command == "pong"] == [99]


def _network(seed: int, nodes: int, degree: int) -> Simulator:
    sim = Simulator(seed=seed, block_interval=600)
    sim.add_nodes(nodes)
    sim.connect_random(degree=degree, link=LinkSpec(latency=1.0, jitter=1.0))
    return sim


def _received(sim: Simulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sn in sim.nodes.values():
        for key, value in sn.node.stats.items():
            if key.startswith("recv-"):
                counts[key[5:]] = counts.get(key[5:], 0) + value
    return counts


def test_a_seeded_network_sends_one_ping_per_link_and_interval_and_each_block_once_to_each_node():
    sim = _network(seed=5, nodes=8, degree=3)
    sim.run(blocks=40)
    sim.settle()
    assert sim.converged()
    got = _received(sim)
    assert sum(got.values()) == sim.stats["delivered"]
    links, nodes, blocks = len(sim.links) // 2, len(sim.nodes), len(sim.blocks)   # links: one entry a direction
    config, elapsed = sim.node_config, sim.now
    # pings: from the inbound side of each link, at the handshake and once per ping interval
    # (checked at each tick); each ping answered at most once. Both sides pinging sends twice that.
    assert got["ping"] <= links * (2 + elapsed / config.ping_interval), (got, links, elapsed)
    assert got["ping"] >= links * (elapsed // (config.ping_interval + sim.tick))   # the feature is kept
    assert got["pong"] <= got["ping"]
    # block gossip: every node downloads each block at most once (never its own) and asks once for
    # it; it announces its tip to each peer when the tip moves, after a quiet heartbeat and at the
    # handshake
    assert got["block"] <= blocks * (nodes - 1)
    assert got["getdata"] <= got["block"]
    assert got["inv"] <= 2 * links * (blocks + elapsed / config.heartbeat + 2)
    assert got["version"] + got["verack"] + got.get("getblocks", 0) <= 4 * links + nodes
    assert set(got) <= {"version", "verack", "ping", "pong", "inv", "getdata", "block", "getblocks"}


def test_the_last_node_of_a_line_dials_nobody_and_is_pinged_by_nobody():
    """n0 -> n1 -> n2 -> n3 (each dials the next): n3 has only an inbound peer, so nobody sees n3
    as inbound and nobody pings it; n0 only dials, so it pings nobody."""
    sim = Simulator(seed=2, block_interval=600)
    sim.add_nodes(4)
    names = sorted(sim.nodes)
    for a, b in zip(names, names[1:], strict=False):
        sim.connect(a, b, LinkSpec(latency=1.0, jitter=1.0))
    sim.run(blocks=12)
    sim.settle()
    assert sim.converged()
    first, last = sim.node(names[0]), sim.node(names[-1])
    assert last.stats["recv-ping"] == 0 and last.stats["recv-pong"] > 0
    assert first.stats["recv-pong"] == 0 and first.stats["recv-ping"] > 0
