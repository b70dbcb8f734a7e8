"""CURVE-authenticated transport and the node's key files.

* The key pair is created 0600, atomically, never through a symlink, and read back only from a
  private regular file.
* Peers are named by their authenticated public key: an attacker who forges frames claiming to be
  peer B, or who claims B's public key without B's secret, gets itself banned (or nothing through),
  never B; the honest nodes stay together. On the old transport (sender = a frame the sender sets)
  six forged messages banned B for 24 h and forked A from B.
* A relay with outbound-only students: a student with no listening socket syncs through the relay,
  and the relay forwards one student's blocks to the other.

Every test runs on loopback with explicit deadlines (a few seconds)."""
from __future__ import annotations

import os
import stat
import time

import pytest
import zmq

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.errors import StoreError
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.keys import (PUBLIC_FILE, SECRET_FILE, format_peer, key_bytes, load_or_create_keypair,
                                           parse_peer, read_secret_file, write_secret_file)
from gradientcoin_edu.network.node import Node, NodeConfig
from gradientcoin_edu.network.zmq_transport import ZmqTransport


# ----------------------------------------------------------------------------- key files

def test_keypair_is_created_private_and_reloaded(tmp_path):
    public, secret = load_or_create_keypair(tmp_path / "node")
    path = tmp_path / "node" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "node").stat().st_mode) & 0o077 == 0
    assert zmq.curve_public(secret) == public
    assert (tmp_path / "node" / PUBLIC_FILE).read_bytes().strip() == public
    assert load_or_create_keypair(tmp_path / "node") == (public, secret)
    assert not [p for p in (tmp_path / "node").iterdir() if p.name.endswith(".tmp")]


def test_a_symlink_planted_at_the_key_path_is_not_followed(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    (tmp_path / "d").mkdir()
    os.symlink(target, tmp_path / "d" / SECRET_FILE)
    with pytest.raises(StoreError) as err:
        load_or_create_keypair(tmp_path / "d")
    assert err.value.reason == "key-file-unreadable"
    assert target.read_text() == "precious"
    dangling = tmp_path / "d" / "other"
    os.symlink(tmp_path / "nowhere", dangling)
    with pytest.raises(StoreError) as err:
        write_secret_file(dangling, b"secret")
    assert err.value.reason == "file-exists"
    assert not (tmp_path / "nowhere").exists()


def test_a_readable_or_corrupt_key_file_is_refused(tmp_path):
    load_or_create_keypair(tmp_path)
    os.chmod(tmp_path / SECRET_FILE, 0o644)
    with pytest.raises(StoreError) as err:
        load_or_create_keypair(tmp_path)
    assert err.value.reason == "key-file-permissions"
    other = tmp_path / "x"
    other.mkdir()
    write_secret_file(other / SECRET_FILE, b"not a key at all\n")
    with pytest.raises(StoreError) as err:
        load_or_create_keypair(other)
    assert err.value.reason == "key-file-corrupt"
    assert read_secret_file(other / SECRET_FILE) == b"not a key at all\n"     # unchanged


def test_peer_specs():
    public, _ = zmq.curve_keypair()
    spec = format_peer("tcp://10.0.0.1:5001", public)
    assert parse_peer(spec) == ("tcp://10.0.0.1:5001", public)
    assert parse_peer(public.decode() + "@tcp://h:1") == ("tcp://h:1", public)
    assert key_bytes(public) == public
    for bad in ("tcp://10.0.0.1:5001", "@tcp://h:1", "abc@tcp://h:1", "zz" * 32 + "@tcp://h:1"):
        with pytest.raises(ValueError):
            parse_peer(bad)


# ----------------------------------------------------------------------------- live transports

class Net:
    """A few real nodes on loopback, each with its own ZeroMQ context and CURVE key pair."""

    def __init__(self):
        self.transports: list[ZmqTransport] = []
        self.nodes: dict[str, Node] = {}

    def add(self, name: str, listen: bool = True, **config) -> Node:
        public, secret = zmq.curve_keypair()
        t = ZmqTransport("tcp://127.0.0.1:0" if listen else None, secret_key=secret)     # t.listen: the port it got
        node = Node(name, Chain("regtest", clock=t.now), t, miner_address=bytes(20),
                    config=NodeConfig(request_timeout=5.0, hello_retry=0.5, **config))
        t.node = node
        self.transports.append(t)
        self.nodes[name] = node
        return node

    def spin(self, seconds: float, until=None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for t in self.transports:
                t.poll(2)
            for n in self.nodes.values():
                n.on_tick()
            if until is not None and until():
                return True
        return until is None

    def close(self):
        for t in self.transports:
            t.close()


@pytest.fixture
def net():
    n = Net()
    yield n
    n.close()


def _handshaken(a: Node, b: Node) -> bool:
    key = b.transport.peer_id
    return key in a.peers and a.peers[key]["version"]


def test_forged_identity_gets_the_forger_banned_not_its_victim(net):
    a, b = net.add("a"), net.add("b")
    b.transport.connect(a.transport.listen, a.transport.public_key)
    assert net.spin(5, lambda: _handshaken(a, b) and _handshaken(b, a))
    b_id = b.transport.peer_id

    # the attacker has its own key and dials a; it sends frames naming b, and junk
    ctx = zmq.Context()
    try:
        pub, sec = zmq.curve_keypair()
        evil = ctx.socket(zmq.DEALER)
        evil.curve_secretkey, evil.curve_publickey, evil.curve_serverkey = sec, pub, a.transport.public_key
        evil.connect(a.transport.listen)
        # and one that claims b's public key without b's secret: its handshake must fail
        liar = ctx.socket(zmq.DEALER)
        liar.curve_secretkey, liar.curve_publickey, liar.curve_serverkey = zmq.curve_keypair()[1], \
            b.transport.public_key, a.transport.public_key
        liar.connect(a.transport.listen)
        time.sleep(0.3)
        bad_block = m.encode(m.BlockMsg(b"\x00" * 100))
        for _ in range(6):                              # the six forged messages of the old attack
            evil.send_multipart([b_id.encode(), bad_block])
            evil.send_multipart([b.transport.listen.encode(), bad_block])
            evil.send(bad_block)
            liar.send(bad_block)
        evil_id = pub.decode()
        assert net.spin(5, lambda: a.peerbook.is_banned(evil_id, a.transport.now()))
        assert not a.peerbook.is_banned(b_id, a.transport.now())
        assert a.peerbook.get(b_id, 0).score == 0
        assert b_id in a.peers
        # the honest pair still talks: b mines, a follows
        for _ in range(3):
            b.mine_block()
        assert net.spin(5, lambda: a.tip == b.tip), (a.height, b.height)
        assert a.height == 3
    finally:
        ctx.destroy(linger=0)


def test_relay_forwards_between_outbound_only_students(net):
    relay = net.add("relay")
    s1, s2 = net.add("s1", listen=False), net.add("s2", listen=False)
    for s in (s1, s2):
        s.transport.connect(relay.transport.listen, relay.transport.public_key)
    assert net.spin(5, lambda: _handshaken(relay, s1) and _handshaken(relay, s2))
    assert set(relay.inbound_peers()) == {s1.transport.peer_id, s2.transport.peer_id}
    assert s1.outbound_peers() == [relay.transport.peer_id] and not s1.inbound_peers()
    for _ in range(4):
        s1.mine_block()
    assert net.spin(5, lambda: s2.tip == s1.tip == relay.tip)
    s2.mine_block()
    assert net.spin(5, lambda: s1.tip == s2.tip == relay.tip)
    assert s1.height == 5


def test_wrong_server_key_never_connects(net):
    a, b = net.add("a"), net.add("b")
    b.transport.connect(a.transport.listen, zmq.curve_keypair()[0])       # not a's key
    net.spin(1.5)
    assert not a.peers and not any(s["version"] for s in b.peers.values())


def test_a_frame_over_the_size_limit_costs_only_its_connection(net):
    a = net.add("a")
    ctx = zmq.Context()
    try:
        pub, sec = zmq.curve_keypair()
        evil = ctx.socket(zmq.DEALER)
        evil.setsockopt(zmq.LINGER, 0)
        evil.curve_secretkey, evil.curve_publickey, evil.curve_serverkey = sec, pub, a.transport.public_key
        evil.connect(a.transport.listen)
        time.sleep(0.3)
        evil.send(bytes(a.transport.max_msg + 1))        # over ZMQ_MAXMSGSIZE: libzmq drops the connection
        evil.send(m.encode(m.Ping(1)))                    # (sent again after ZeroMQ redials)
        net.spin(1.0)
        assert not a.stats["offence-oversized-message"] and not a.stats["offence-malformed-message"]
        assert a.transport.errors == 0                   # the frame never reached the node
        b = net.add("b", listen=False)
        b.transport.connect(a.transport.listen, a.transport.public_key)
        assert net.spin(5, lambda: _handshaken(a, b))      # the node is up and serves others
    finally:
        ctx.destroy(linger=0)
