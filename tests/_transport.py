"""A transport for node-logic tests: it records what the node sends and disconnects; time is set
by hand (``transport.t``); and two helpers that play a block sender on the regtest chain (``fork``,
``send``). Import them by name (``from _transport import RecordingTransport``)."""
from __future__ import annotations

from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.network import messages as m

T0 = ChainParams.preset("regtest").genesis_time


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


def fork(forger, parent, length: int, salt: int = 0) -> list:
    """``length`` valid blocks that ``forger`` mines on ``parent`` without announcing them (a side branch)."""
    blocks, prev = [], parent
    height = forger.chain.get(parent.hash()).height
    for i in range(length):
        b = forger.mine_block(time=T0 + 600 * (height + i + 1) + 1 + salt, parent=prev.hash(), publish=False)
        blocks.append(b)
        prev = b
    return blocks


def send(victim, peer: str, block) -> None:
    """``peer`` sends ``victim`` a ``block`` message (asked for or not)."""
    victim.on_message(peer, m.encode(m.BlockMsg(block.serialize())))
