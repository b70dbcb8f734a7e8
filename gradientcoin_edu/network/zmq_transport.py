"""Real nodes: the same ``Node`` logic, with messages carried by authenticated ZeroMQ sockets.

Every connection is authenticated and encrypted with CurveZMQ (libzmq's CURVE mechanism, checked
through pyzmq's ``zmq.auth`` ZAP handler). Each node has a long-term key pair
(``keys.load_or_create_keypair(datadir)``); **a peer is named by its public key** (its 40-character
Z85 text). That name comes out of the CURVE handshake (the ZAP "User-Id" of each inbound message,
or the server key we dialled for outbound ones): a sender cannot choose it, so nobody can get
another node scored or banned by claiming to be it.

Usage (what ``gradientcoin node`` does)::

    public, secret = load_or_create_keypair(datadir)
    t = ZmqTransport("tcp://0.0.0.0:5001", secret_key=secret, public_key=public)   # listen=None: outbound only
    node = Node(name, chain, t, listen="tcp://my.host:5001"); t.node = node
    t.connect("tcp://relay.example:5001", relay_public_key)      # or parse_peer("HEXKEY@tcp://...")
    t.run(until=lambda: stopped, work=mine_a_little)
    t.close()

Sockets:

* one ``ROUTER`` socket bound at the listen address, a CURVE *server*: inbound peers connect to it.
  It accepts any client key (a public node; the ZAP callback refuses only keys that are banned),
  and learns each client's key from the message property ``User-Id``. ``listen=None`` gives a node
  without it: a student behind NAT or in Colab, who can only dial out.
* one ``DEALER`` socket per peer we dial, a CURVE *client* that must know the server's public key
  (``connect(address, key)`` or ``server_public_keys={address: key}``): talking to the wrong server
  fails the handshake. Replies come back on the same socket, so a node with no inbound at all
  still syncs through its outbound connections, and a relay answers (and gossips to) peers it
  could never dial.

Resource bounds in the transport: ``ZMQ_MAXMSGSIZE`` on every socket (a frame far above the
protocol limit closes that connection inside libzmq before it fills our memory), receive and send
high-water marks, at most ``max_batch`` messages handled per poll. Slots, scores, rate budgets and
bans are the node's business (``node.py``): the transport reports inbound peers with
``node.on_connect(peer, inbound=True, netgroup=...)`` the first time a key speaks, and obeys
``disconnect``. A ROUTER cannot close one client's TCP connection, so "disconnect" of an inbound
peer means: forget its route, ignore what it sends for ``refuse_seconds`` (banned keys: for the
whole ban, and the ZAP handler refuses their new handshakes).

The event loop (``ZmqTransport.run``) polls the sockets, hands messages to the node, calls
``on_tick`` once a second, and gives the miner a slice of time in between. Taught in notebook 04.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable

import zmq
import zmq.auth.thread
from zmq.utils.monitor import recv_monitor_message

from .keys import key_bytes, public_key_of
from .messages import MAX_PAYLOAD_BYTES

__all__ = ["ZmqTransport", "ADDRESS_RE", "valid_address", "netgroup_of"]

log = logging.getLogger("gradientcoin.node")

ADDRESS_RE = re.compile(r"^tcp://[A-Za-z0-9.\-*]{1,253}:\d{1,5}$")
ZAP_DOMAIN = "gradientcoin"


def valid_address(address: str) -> bool:
    """An address we are willing to bind or dial: ``tcp://host:port``."""
    return (isinstance(address, str) and bool(ADDRESS_RE.match(address))
            and 0 < int(address.rsplit(":", 1)[1]) < 65536)


def netgroup_of(ip: str) -> str:
    """The network group of an IP address (IPv4: its /16, as Bitcoin Core; else the address)."""
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(parts[:2])
    return ip


class _Gate:
    """ZAP callback: any client key may connect, except keys the node has refused (banned)."""

    def __init__(self):
        self.refused: dict[str, float] = {}      # z85 key -> until (time.time())

    def callback(self, domain, key) -> bool:
        key = key.decode("ascii") if isinstance(key, bytes) else key
        return self.refused.get(key, 0.0) <= time.time()


class ZmqTransport:
    """Authenticated sockets for one node. Attach the node with ``transport.node = node`` before use."""

    def __init__(self, listen: str | None, *, secret_key: bytes, public_key: bytes | None = None,
                 server_public_keys: dict[str, bytes | str] | None = None, context: zmq.Context | None = None,
                 send_hwm: int = 1000, recv_hwm: int = 10_000, max_payload: int = MAX_PAYLOAD_BYTES,
                 max_batch: int = 1000, refuse_seconds: float = 60.0, clock: Callable[[], float] = time.time):
        if listen is not None and not valid_address(listen):
            raise ValueError(f"listen address must look like tcp://127.0.0.1:5000, not {listen!r}")
        if not zmq.has("curve"):
            raise RuntimeError("this libzmq was built without CURVE; install pyzmq's wheel (it bundles libsodium)")
        self.secret_key = secret_key
        self.public_key = public_key_of(secret_key)
        if public_key is not None and key_bytes(public_key) != self.public_key:
            raise ValueError("public_key does not belong to secret_key")
        self.peer_id = self.public_key.decode("ascii")
        self.listen = listen
        self.server_public_keys = {a: key_bytes(k) for a, k in (server_public_keys or {}).items()}
        self.context = context or zmq.Context()
        self._own_context = context is None
        self.send_hwm, self.recv_hwm, self.max_batch = send_hwm, recv_hwm, max_batch
        self.max_msg = 2 * max_payload + 4096
        self.refuse_seconds = refuse_seconds
        self.clock = clock
        self.node = None
        self.outbound: dict[str, zmq.Socket] = {}    # peer key -> DEALER we dialled
        self.monitors: dict[zmq.Socket, str] = {}    # monitor socket of a DEALER -> peer key
        self.linked: set[str] = set()                # outbound peers whose CURVE handshake is done
        self.addresses: dict[str, str] = {}          # peer key -> address we dialled
        self.routes: dict[str, bytes] = {}           # inbound peer key -> ROUTER routing id
        self.refused: dict[str, float] = {}          # peer key -> ignore its messages until (clock)
        self.dropped = 0                             # messages we could not send (peer gone or too slow)
        self.errors = 0                              # unexpected exceptions while handling a message
        self.ignored = 0                             # messages from refused peers, or not our framing
        self.gate = _Gate()
        self.auth = None
        self.router = None
        self.poller = zmq.Poller()
        if listen is not None:
            self._bind(listen)

    def _bind(self, listen: str) -> None:
        self.auth = zmq.auth.thread.ThreadAuthenticator(self.context)
        self.auth.start()
        self.auth.configure_curve_callback(ZAP_DOMAIN, self.gate)
        router = self.context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)   # sending to a peer that left raises: we learn it left
        router.setsockopt(zmq.RCVHWM, self.recv_hwm)
        router.setsockopt(zmq.SNDHWM, self.send_hwm)
        router.setsockopt(zmq.MAXMSGSIZE, self.max_msg)
        router.curve_server = True
        router.curve_secretkey = self.secret_key
        router.zap_domain = ZAP_DOMAIN.encode()
        try:
            router.bind(listen)
        except zmq.ZMQError:
            router.close(linger=0)
            self.auth.stop()
            if self._own_context:
                self.context.term()
            raise
        self.router = router
        self.poller.register(router, zmq.POLLIN)

    # ------------------------------------------------------------------ the transport interface
    def now(self) -> float:
        return self.clock()

    def send(self, peer: str, data: bytes) -> None:
        try:
            sock = self.outbound.get(peer)
            route = self.routes.get(peer)
            if sock is not None and (peer in self.linked or route is None):
                sock.send(data, flags=zmq.NOBLOCK, copy=False)
                return
            if route is None or self.router is None:
                self.dropped += 1
                return
            self.router.send_multipart([route, data], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            self.dropped += 1                      # peer not connected yet, or too slow: a lost packet
        except zmq.ZMQError as err:
            self.dropped += 1
            if err.errno == zmq.EHOSTUNREACH and peer in self.routes:   # an inbound peer has gone
                del self.routes[peer]
                if self.node is not None and peer not in self.outbound:
                    self.node.on_disconnect(peer)

    def disconnect(self, peer: str) -> None:
        """Stop talking to ``peer``: close our dial to it, forget its route, ignore it for a while."""
        until = self.clock() + self.refuse_seconds
        if self.node is not None:
            banned = getattr(self.node, "peerbook", None)
            ban_end = banned.bans.get(peer) if banned is not None else None
            if ban_end is not None and ban_end > until:
                until = ban_end
                self.gate.refused[peer] = time.time() + (ban_end - self.clock())
        self.refused[peer] = until
        self.routes.pop(peer, None)
        self.addresses.pop(peer, None)
        self._close_outbound(peer)

    def _close_outbound(self, peer: str) -> None:
        self.linked.discard(peer)
        sock = self.outbound.pop(peer, None)
        if sock is None:
            return
        for mon, p in list(self.monitors.items()):
            if p == peer:
                del self.monitors[mon]
                self.poller.unregister(mon)
                sock.disable_monitor()
                mon.close(linger=0)
        self.poller.unregister(sock)
        sock.close(linger=0)

    # ------------------------------------------------------------------ connections
    def connect(self, address: str, public_key: bytes | str | None = None) -> str:
        """Dial the node at ``address`` whose public key is ``public_key``; returns its peer name.

        When the CURVE handshake succeeds (now, and again after every reconnect: ZeroMQ redials by
        itself) the node hears ``on_connect(peer, inbound=False)`` and says hello."""
        if not valid_address(address) or address == self.listen:
            raise ValueError(f"cannot connect to {address!r}: expected tcp://host:port")
        if public_key is None:
            public_key = self.server_public_keys.get(address)
            if public_key is None:
                raise ValueError(f"no public key known for {address}: give PUBKEY@{address}")
        server = key_bytes(public_key)
        peer = server.decode("ascii")
        if peer == self.peer_id:
            raise ValueError("that is our own public key")
        self.refused.pop(peer, None)
        self.gate.refused.pop(peer, None)
        self._close_outbound(peer)
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)         # refuse to queue for a peer that is down: we drop
        sock.setsockopt(zmq.SNDHWM, self.send_hwm)
        sock.setsockopt(zmq.RCVHWM, self.recv_hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_msg)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        sock.curve_secretkey = self.secret_key
        sock.curve_publickey = self.public_key
        sock.curve_serverkey = server
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        sock.connect(address)
        self.outbound[peer] = sock
        self.addresses[peer] = address
        self.monitors[monitor] = peer
        self.poller.register(sock, zmq.POLLIN)
        self.poller.register(monitor, zmq.POLLIN)
        return peer

    def inbound_peers(self) -> list[str]:
        return [p for p in self.routes if p not in self.outbound]

    # ------------------------------------------------------------------ the event loop
    def poll(self, timeout_ms: int) -> int:
        """Deliver waiting messages to the node (waiting at most ``timeout_ms`` for the first)."""
        delivered = 0
        for sock, _ in self.poller.poll(timeout_ms):
            if sock in self.monitors:
                self._link_up(sock)
                continue
            while delivered < self.max_batch:
                try:
                    frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                delivered += 1
                if sock is self.router:
                    self._inbound(frames)
                else:
                    self._outbound(sock, frames)
        return delivered

    def _link_up(self, monitor: zmq.Socket) -> None:
        """A DEALER finished its CURVE handshake: the server is who we think; tell the node."""
        peer = self.monitors[monitor]
        while True:
            try:
                event = recv_monitor_message(monitor, flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            if event["event"] == zmq.EVENT_DISCONNECTED:
                self.linked.discard(peer)          # until ZeroMQ redials: send by the peer's own link if any
            elif event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED and peer in self.outbound:
                self.linked.add(peer)
                if self.node is not None:
                    self.node.on_connect(peer, inbound=False)

    def _outbound(self, sock: zmq.Socket, frames: list) -> None:
        peer = next((p for p, s in self.outbound.items() if s is sock), None)
        if peer is None or len(frames) != 1:
            self.ignored += 1
            return
        self._deliver(peer, frames[0].bytes)

    def _inbound(self, frames: list) -> None:
        if len(frames) != 2:
            self.ignored += 1                      # not our framing: the sender is known, but ignore it
            return
        try:
            peer = frames[1].get("User-Id")        # set by the CURVE handshake, not by the sender
        except zmq.ZMQError:
            self.ignored += 1
            return
        if not peer or peer == self.peer_id:
            self.ignored += 1
            return
        now = self.clock()
        if self.refused.get(peer, float("-inf")) > now:
            self.ignored += 1
            return
        self.refused.pop(peer, None)
        if peer not in self.routes and peer not in self.outbound:
            self.routes[peer] = frames[0].bytes
            try:
                ip = frames[1].get("Peer-Address")
            except zmq.ZMQError:
                ip = ""
            self.node.on_connect(peer, inbound=True, netgroup=netgroup_of(ip))
            if peer not in self.routes:            # the node refused it (no free slot, banned)
                return
        else:
            self.routes[peer] = frames[0].bytes     # (a reconnect gets a new routing id)
        self._deliver(peer, frames[1].bytes)

    def _deliver(self, peer: str, data: bytes) -> None:
        try:
            self.node.on_message(peer, data)
        except Exception:                          # a bug must not take the node down: log it, go on
            self.errors += 1
            log.exception("error handling a message from %s", peer[:12])

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
        for peer in list(self.outbound):
            self._close_outbound(peer)
        if self.router is not None:
            self.router.close(linger=0)
            self.router = None
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
        if self._own_context:
            self.context.term()
