"""A transport for node-logic tests: it records what the node sends and disconnects; time is set
by hand (``transport.t``). Import it by name (``from _transport import RecordingTransport``)."""
from __future__ import annotations

from gradientcoin_edu.network import messages as m


class RecordingTransport:
    """Records ``(peer, decoded message)`` for every send, and every disconnected peer."""

    def __init__(self, t: float):
        self.t = t
        self.sent: list[tuple[str, m.Message]] = []
        self.disconnected: list[str] = []

    def send(self, peer, data):
        self.sent.append((peer, m.decode(data)))

    def disconnect(self, peer):
        self.disconnected.append(peer)

    def now(self):
        return self.t
