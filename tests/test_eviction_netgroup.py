"""Eviction inside one network group: a classroom shares one /16 (or loopback), so network groups
tell nobody apart. An attacker there churns a fresh key every 0.5 s; each new key takes an inbound
slot and evicts someone. The old rule evicted the youngest peer of the most crowded group: an
honest newcomer was pushed out the moment the next key arrived and fell 24 to 30 blocks behind in
40 s (0 in the control run). Now peers with the lowest measured ping and those that gave us new
blocks or transactions are protected, and a peer that just arrived gets ``eviction_grace`` seconds
to prove itself (docs/protocol.md section 10.2), so a newcomer that is useful stays in sync.
"""
from __future__ import annotations

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.errors import InvalidTransaction
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.node import Node, NodeConfig
from gradientcoin_edu.network.peers import EvictionCandidate, select_eviction
from gradientcoin_edu.network.simulator import LinkSpec, Simulator

JOIN, UNTIL = 10.25, 50.0


def classroom(attack: bool, *, newcomer_latency: float, attacker_latency: float = 0.05,
              newcomer_pays: bool = False, seed: int = 1) -> dict:
    """A teacher's node (the only miner, a block every 2 s on average, 8 inbound slots), two
    students, and a newcomer that dials it at ``JOIN``; all on one network group. The attacker
    dials with a fresh key every 0.5 s. Returns the newcomer's largest lag behind the teacher
    (sampled every second from JOIN + 2 s on) and what eviction did."""
    sim = Simulator(seed=seed, block_interval=2.0, tick=0.5, node_config=NodeConfig(max_inbound=8, heartbeat=2.0))
    lan = LinkSpec(latency=0.05)
    sim.add_node("teacher", hashrate=1.0, netgroup="10.0")
    for s in ("s1", "s2"):
        sim.add_node(s, hashrate=0.0, netgroup="10.0")
        sim.connect(s, "teacher", lan)
    newcomer = sim.add_node("new", hashrate=0.0, join_at=JOIN, netgroup="10.0")
    sim.connect("new", "teacher", LinkSpec(latency=newcomer_latency))
    if newcomer_pays:                                      # the newcomer has a coin and spends it on arrival
        sim.schedule(4.0, lambda s: (s.mine_now("teacher"), s.pay("teacher", newcomer.address, 10**8),
                                     s.mine_now("teacher")))
        def spend(s):
            try:
                s.pay("new", PrivateKey.from_seed(b"shop").address(), 10**7)
            except InvalidTransaction:                     # not synced (it was evicted at once): nothing to spend
                s.stats["newcomer-could-not-pay"] += 1

        sim.schedule(JOIN + 0.5, spend)
    keys = 0
    if attack:
        t = 1.0
        while t < UNTIL:
            sim.add_node(f"key{keys}", hashrate=0.0, join_at=t, netgroup="10.0")
            sim.connect(f"key{keys}", "teacher", LinkSpec(latency=attacker_latency))
            t += 0.5
            keys += 1
    lags, t = [], JOIN + 2
    while t <= UNTIL:
        sim.run(until=t)
        lags.append(sim.node("teacher").height - sim.node("new").height)
        t += 1.0
    teacher = sim.node("teacher")
    return {"max_lag": max(lags), "height": teacher.height, "keys": keys, "evicted": teacher.stats["evicted"],
            "newcomer_evicted": any(e["peer"] == "new" for e in sim.events("evict")),
            "inbound": len(teacher.inbound_peers())}


def test_a_low_ping_newcomer_survives_a_key_churning_attacker_on_its_own_network():
    control = classroom(False, newcomer_latency=0.01)
    attack = classroom(True, newcomer_latency=0.01)
    assert control["max_lag"] <= 1 and not control["newcomer_evicted"], control
    assert attack["evicted"] >= 50 and attack["inbound"] <= 8, attack   # the attack really churned the slots
    assert attack["height"] >= 15, attack
    assert not attack["newcomer_evicted"] and attack["max_lag"] <= 1, attack


def test_a_newcomer_that_relays_a_new_transaction_survives_keys_that_answer_pings_faster():
    """The attacker's keys answer pings ten times faster than the newcomer: they take the ping
    protection. A newcomer that gives the node something new (its own payment) is protected as a
    transaction relayer; to take that from it the attacker must relay new valid transactions,
    which cost fees."""
    attack = classroom(True, newcomer_latency=0.05, attacker_latency=0.005, newcomer_pays=True)
    assert attack["evicted"] >= 50, attack
    assert not attack["newcomer_evicted"] and attack["max_lag"] <= 1, attack


def test_what_the_rule_cannot_do_a_useless_newcomer_with_no_better_ping_is_evicted():
    """Stated, not hidden: a newcomer that relays nothing and answers pings no faster than the
    attacker's keys is, to the node, one more key; it is evicted like them."""
    attack = classroom(True, newcomer_latency=0.05)
    assert attack["newcomer_evicted"]


def test_a_just_arrived_peer_is_not_the_first_to_go():
    """Unit view of the rule, all peers in one group: old peers, a newcomer that arrived 0.3 s ago
    and attacker keys that arrived before it. The old rule evicted the youngest: the newcomer."""
    now = 100.0
    old = [EvictionCandidate(f"old{i}", 10.0 + i, netgroup="lan", min_ping=0.05) for i in range(3)]
    keys = [EvictionCandidate(f"key{i}", now - 3.0 + 0.5 * i, netgroup="lan", min_ping=0.05) for i in range(5)]
    newcomer = EvictionCandidate("new", now - 0.3, netgroup="lan")
    victim = select_eviction(old + keys + [newcomer], protect_netgroups=1, protect_ping=1,
                             protect_blocks=1, protect_txs=1, now=now, grace=2.0)
    assert victim is not None and victim.startswith("key")
    fast_newcomer = EvictionCandidate("new", now - 1.0, netgroup="lan", min_ping=0.001)
    victim = select_eviction(old + keys + [fast_newcomer], protect_netgroups=1, protect_ping=1,
                             protect_blocks=1, protect_txs=1, now=now, grace=0.5)
    assert victim != "new"


def test_only_a_pong_with_our_nonce_counts_as_a_ping_time():
    t = [ChainParams.preset("regtest").genesis_time + 5000.0]
    sent = []

    class Wire:
        def send(self, peer, data):
            sent.append((peer, m.decode(data)))

        def disconnect(self, peer):
            pass

        def now(self):
            return t[0]

    node = Node("n", Chain("regtest", clock=lambda: t[0]), Wire())
    node.on_connect("p", inbound=True, netgroup="lan")
    node.on_message("p", m.encode(m.Version(genesis=node.chain.genesis.hash, nonce=7)))
    pings = [msg for peer, msg in sent if isinstance(msg, m.Ping) and not isinstance(msg, m.Pong)]
    assert len(pings) == 1                                  # pinged as soon as it said hello
    t[0] += 0.001
    node.on_message("p", m.encode(m.Pong(pings[0].nonce ^ 1)))   # a guess, before the ping could arrive
    assert node.peers["p"]["min_ping"] == float("inf") and node.stats["pong-unexpected"] == 1
    t[0] += 0.25
    node.on_message("p", m.encode(m.Pong(pings[0].nonce)))
    assert abs(node.peers["p"]["min_ping"] - 0.251) < 1e-6
    node.on_message("p", m.encode(m.Pong(pings[0].nonce)))     # a replay counts for nothing
    assert node.stats["pong-unexpected"] == 2
