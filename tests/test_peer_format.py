"""Peers are shown in the form ``--peer`` takes: the ``peers`` RPC gives each peer's key in hex and,
for a peer we dial, the whole ``HEXKEY@tcp://host:port``."""
from __future__ import annotations

from _transport import T0, RecordingTransport
from gradientcoin_edu.chain import Chain
from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.network.keys import load_or_create_keypair, parse_peer
from gradientcoin_edu.network.node import Node
from gradientcoin_edu.network.service import NodeService


class _DialingTransport(RecordingTransport):
    """Knows where the peers it dials listen, as ``ZmqTransport.peer_states`` does."""

    def __init__(self, t, dials):
        super().__init__(t)
        self.dials = dials

    def peer_states(self):
        from gradientcoin_edu.network.keys import format_peer, key_hex
        return {k: {"key": key_hex(k), "peer": format_peer(a, k.encode())} for k, a in self.dials.items()}


def test_the_peers_rpc_shows_keys_as_peer_takes_them(tmp_path):
    dialled = load_or_create_keypair(tmp_path / "a")[0].decode()
    inbound = load_or_create_keypair(tmp_path / "b")[0].decode()
    transport = _DialingTransport(T0 + 10, {dialled: "tcp://127.0.0.1:5002"})
    node = Node("n", Chain("regtest", clock=transport.now), transport)
    node.on_connect(dialled)
    node.on_connect(inbound, inbound=True)
    service = NodeService(node, tmp_path / "n", PrivateKey.from_seed(b"peer format"))
    shown = {p["peer"]: p for p in service.rpc_peers()}
    address, key = parse_peer(shown[dialled]["as_peer"])            # what --peer takes, as it is
    assert (address, key.decode()) == ("tcp://127.0.0.1:5002", dialled)
    assert shown[inbound]["as_peer"] is None and len(shown[inbound]["key"]) == 64
    assert parse_peer(f"{shown[inbound]['key']}@tcp://10.0.0.1:1")[1].decode() == inbound


def test_a_peer_named_otherwise_has_no_key(tmp_path):
    transport = RecordingTransport(T0 + 10)
    node = Node("n", Chain("regtest", clock=transport.now), transport)
    node.on_connect("sim-peer")
    assert NodeService(node, tmp_path, PrivateKey.from_seed(b"x")).rpc_peers()[0]["key"] is None
