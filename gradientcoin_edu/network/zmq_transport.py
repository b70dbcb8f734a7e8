"""Real nodes: the same ``Node`` logic, with messages carried by ZeroMQ sockets.

Each node process binds one ``PULL`` socket at its listen address (``tcp://host:port``) and opens
one ``PUSH`` socket to each peer's listen address. A message travels as two frames: the sender's
listen address (so the receiver knows whom to answer) and the message bytes of ``messages.py``.
A peer is therefore named by its listen address, on loopback in the tests and across machines in
a class (use the machine's address instead of 127.0.0.1, and open the port).

Why these choices (pyzmq is already installed with Jupyter):

* ``PUSH``/``PULL`` with ``ZMQ_IMMEDIATE``: a message to a peer that is down is refused at once
  (we drop it, as a node drops a message to a closed TCP connection) instead of piling up;
  ZeroMQ reconnects by itself when the peer comes back, and the node's housekeeping says hello
  again until the peer answers.
* ``ZMQ_MAXMSGSIZE`` on the receiving socket: a frame far above the protocol limit closes that
  connection inside ZeroMQ before it can fill our memory; anything smaller reaches the codec,
  which rejects oversized and malformed messages and counts them against the peer.
* The sender frame is only a claim (ZeroMQ does not authenticate it); we accept only
  ``tcp://host:port`` addresses and at most ``max_peers`` distinct peers. A real deployment would
  add CurveZMQ or TLS; this is a course.

The event loop (``ZmqTransport.run``) polls the socket, hands messages to the node, calls
``on_tick`` once a second, and gives the miner a slice of time in between. Taught in notebook 04;
``gradientcoin node`` (``node_cli.py``) runs it.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable

import zmq

from .messages import MAX_PAYLOAD_BYTES

__all__ = ["ZmqTransport", "ADDRESS_RE", "valid_address"]

log = logging.getLogger("gradientcoin.node")

ADDRESS_RE = re.compile(r"^tcp://[A-Za-z0-9.\-]{1,253}:\d{1,5}$")


def valid_address(address: str) -> bool:
    """A listen address we are willing to connect to: ``tcp://host:port``."""
    return bool(ADDRESS_RE.match(address)) and 0 < int(address.rsplit(":", 1)[1]) < 65536


class ZmqTransport:
    """Sockets for one node. Attach the node with ``transport.node = node`` before ``run``."""

    def __init__(self, listen: str, *, context: zmq.Context | None = None, max_peers: int = 64,
                 send_hwm: int = 1000, max_payload: int = MAX_PAYLOAD_BYTES,
                 clock: Callable[[], float] = time.time):
        if not valid_address(listen):
            raise ValueError(f"listen address must look like tcp://127.0.0.1:5000, not {listen!r}")
        self.listen = listen
        self.context = context or zmq.Context.instance()
        self.max_peers, self.send_hwm = max_peers, send_hwm
        self.clock = clock
        self.node = None
        self.pull = self.context.socket(zmq.PULL)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.pull.setsockopt(zmq.RCVHWM, 10_000)
        self.pull.setsockopt(zmq.MAXMSGSIZE, 2 * max_payload + 4096)
        self.pull.bind(listen)
        self.push: dict[str, zmq.Socket] = {}
        self.refused: set[str] = set()         # peers we disconnected (banned): ignore what they send
        self.dropped = 0                       # messages we could not send (peer down or queue full)
        self.errors = 0                        # unexpected exceptions while handling a message

    # ------------------------------------------------------------------ the transport interface
    def now(self) -> float:
        return self.clock()

    def send(self, peer: str, data: bytes) -> None:
        sock = self._socket_for(peer)
        if sock is None:
            self.dropped += 1
            return
        try:
            sock.send_multipart([self.listen.encode(), data], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            self.dropped += 1                  # peer down or too slow: like a dropped packet

    def disconnect(self, peer: str) -> None:
        self.refused.add(peer)
        sock = self.push.pop(peer, None)
        if sock is not None:
            sock.close(linger=0)

    # ------------------------------------------------------------------ connections
    def connect(self, peer: str) -> None:
        """Dial ``peer`` (a listen address) and start the handshake."""
        if not valid_address(peer) or peer == self.listen:
            raise ValueError(f"cannot connect to {peer!r}")
        self.refused.discard(peer)
        self._socket_for(peer)
        if self.node is not None:
            self.node.on_connect(peer)

    def _socket_for(self, peer: str) -> zmq.Socket | None:
        sock = self.push.get(peer)
        if sock is None:
            if peer in self.refused or len(self.push) >= self.max_peers or not valid_address(peer):
                return None
            sock = self.context.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.setsockopt(zmq.SNDHWM, self.send_hwm)
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            sock.connect(peer)
            self.push[peer] = sock
        return sock

    # ------------------------------------------------------------------ the event loop
    def poll(self, timeout_ms: int) -> int:
        """Deliver waiting messages to the node (waiting at most ``timeout_ms`` for the first)."""
        delivered = 0
        if not self.pull.poll(timeout_ms):
            return 0
        while delivered < 1000:
            try:
                frames = self.pull.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            delivered += 1
            if len(frames) != 2:
                continue                       # not our framing: nobody to blame, drop it
            try:
                peer = frames[0].decode("ascii")
            except UnicodeDecodeError:
                continue
            if not valid_address(peer) or peer in self.refused or peer == self.listen:
                continue
            if peer not in self.push and self._socket_for(peer) is None:
                continue                       # too many peers already
            try:
                self.node.on_message(peer, frames[1])
            except Exception:                  # a bug must not take the node down: log it, go on
                self.errors += 1
                log.exception("error handling a message from %s", peer)
        return delivered

    def run(self, until: Callable[[], bool], work: Callable[[], None] | None = None,
            tick_seconds: float = 1.0, poll_ms: int = 20) -> None:
        """Loop until ``until()`` is true: messages, then ``work()`` (a mining slice), ticks."""
        next_tick = time.monotonic() + tick_seconds
        while not until():
            self.poll(poll_ms)
            if work is not None:
                work()
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick_seconds
                self.node.on_tick()

    def close(self) -> None:
        for sock in self.push.values():
            sock.close(linger=0)
        self.push.clear()
        self.pull.close(linger=0)
