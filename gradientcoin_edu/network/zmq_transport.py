"""[policy] Real nodes: the same ``Node`` logic, with messages carried by authenticated ZeroMQ sockets.

Every connection is authenticated and encrypted with CurveZMQ (libzmq's CURVE mechanism, checked
through pyzmq's ``zmq.auth`` ZAP handler). Each node has a long-term key pair
(``keys.load_or_create_keypair(datadir)``); **a peer is named by its public key** (its 40-character
Z85 text). That name comes out of the CURVE handshake (the ZAP "User-Id" of each inbound message,
or the server key we dialled for outbound ones): a sender cannot choose it, so nobody can get
another node scored or banned by claiming to be it.

Usage (what ``gradientcoin node`` does)::

    public, secret = load_or_create_keypair(datadir)
    raise_fd_limit()                                    # every connection is a descriptor
    t = ZmqTransport("tcp://0.0.0.0:5001", secret_key=secret, public_key=public)   # listen=None: outbound only
    node = Node(name, chain, t, listen="tcp://my.host:5001"); t.node = node
    t.connect("tcp://relay.example:5001", relay_public_key)      # or parse_peer("HEXKEY@tcp://...")
    t.run(until=lambda: stopped, work=mine_a_little)   # supervised: errors are logged and counted
    t.peer_states()                                     # each peer's key, address, state, last error
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
``disconnect``.

Connections a stranger can open (docs/protocol.md 10.6). A socket monitor on the ROUTER reports
every accepted TCP connection with its file descriptor, and each received message says which
descriptor delivered it (``ZMQ_SRCFD``). So the transport knows, per connection, whether it has
become a peer (delivered a message) and can really close one: ``shutdown(fd)`` on libzmq's own
descriptor (libzmq then closes it; we never ``close`` it), after checking the descriptor still
belongs to the same TCP connection (same local and remote address and port). With that:

* the CURVE handshake must finish within ``handshake_seconds`` (``ZMQ_HANDSHAKE_IVL``);
* an inbound connection that has not delivered a message within ``pending_seconds`` is closed;
* at most ``max_pending`` such connections at once (over it, one of the address holding the most,
  drawn at random, is closed);
* at most ``max_connections`` inbound connections in all, derived from the process's descriptor
  limit (``raise_fd_limit`` lifts the soft limit towards the hard one at start): a newcomer over
  the cap is closed at once, so a flood of idle connections cannot exhaust descriptors;
* "disconnect" of an inbound peer closes its TCP connection and makes the ZAP handler refuse its
  key for ``refuse_seconds`` (banned keys: for the whole ban).

Never from inside ``send``: a peer that hangs up is noticed while the node is iterating its peers
(``send`` gets EHOSTUNREACH); the transport only *queues* that disconnect and tells the node from
the event loop, between messages. ``run`` is supervised: an exception in polling, a message
handler, ``work()`` (miner, RPC, status file) or ``on_tick`` is logged with its source and counted
(``errors``, ``error_counts``), never the end of the process (Ctrl-C and ``SystemExit`` still stop it).

Each peer we dial has a state from its DEALER's monitor (``peer_states()``): ``connecting``,
``handshaking``, ``connected``, ``unreachable`` (nothing accepts TCP there), ``handshake-failed``
(something answers but the CURVE handshake fails: a wrong key or not a gradientcoin node),
``refused`` (the node refused our key), ``disconnected``; a warning is logged when a peer stays
out of reach for ``warn_seconds``, and when every dialled peer is out of reach.

The event loop (``ZmqTransport.run``) polls the sockets, hands messages to the node, calls
``on_tick`` once a second, and gives the miner a slice of time in between. Taught in notebook 04.
"""
from __future__ import annotations

import logging
import random
import re
import resource
import socket
import time
from collections import Counter, deque
from typing import Callable

import zmq
import zmq.auth.thread
from zmq.utils.monitor import recv_monitor_message

from .keys import format_peer, key_bytes, key_hex, public_key_of
from .messages import MAX_PAYLOAD_BYTES

__all__ = ["ZmqTransport", "ADDRESS_RE", "valid_address", "valid_listen", "netgroup_of", "raise_fd_limit",
           "connection_cap"]

log = logging.getLogger("gradientcoin.node")

ADDRESS_RE = re.compile(r"^tcp://[A-Za-z0-9.\-*]{1,253}:\d{1,5}$")
ZAP_DOMAIN = "gradientcoin"
FD_RESERVE = 256            # descriptors kept for everything but inbound peers (store, log, RPC, our dials, libzmq)
MAX_CONNECTIONS = 4096      # inbound TCP connections at most, however high the descriptor limit
UNKNOWN_ADDRESS = "unknown (it dialled us)"
FD_LIMIT_GOAL = 65536       # raise_fd_limit lifts the soft limit this far (or to the hard limit)

# what a DEALER's monitor events mean for the peer it dials
_DIAL_EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_DELAYED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_CLOSED
                | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
_BAD_STATES = {"unreachable": "nothing accepts connections there (is the node running? is the port right?)",
               "handshake-failed": "the CURVE handshake failed: a wrong public key in --peer, or not a "
                                   "gradientcoin node at that port",
               "refused": "the node refused our key (it may have banned us)",
               "disconnected": "the connection was lost; redialling",
               "connecting": "no answer yet",
               "handshaking": "connected, but the CURVE handshake has not finished"}


def valid_address(address: str) -> bool:
    """An address we are willing to bind or dial: ``tcp://host:port``."""
    return (isinstance(address, str) and bool(ADDRESS_RE.match(address))
            and 0 < int(address.rsplit(":", 1)[1]) < 65536)


def valid_listen(address: str) -> bool:
    """An address we may bind: ``tcp://host:port``; port 0 or ``*``: any free port (read back after binding)."""
    if not isinstance(address, str):
        return False
    if address.endswith(":*"):
        address = address[:-1] + "0"
    return valid_address(address) or (bool(ADDRESS_RE.match(address)) and int(address.rsplit(":", 1)[1]) == 0)


def netgroup_of(ip: str) -> str:
    """The network group of an IP address (IPv4: its /16, as Bitcoin Core; else the address)."""
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(parts[:2])
    return ip


def raise_fd_limit(goal: int = FD_LIMIT_GOAL) -> tuple[int, int, int]:
    """Lift the soft ``RLIMIT_NOFILE`` towards the hard limit (at most ``goal``): ``(before, now, hard)``.

    Like bitcoind's RaiseFileDescriptorLimit: every peer costs a descriptor, and the usual soft
    limit (1024) is far below what the kernel allows a process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = goal if hard == resource.RLIM_INFINITY else min(goal, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard


def connection_cap(soft_limit: int | None = None) -> int:
    """Inbound TCP connections we accept at most, given the descriptor soft limit."""
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(8, min(MAX_CONNECTIONS, soft_limit - FD_RESERVE))


HEARTBEAT_SECONDS = 10      # ZMTP heartbeats: a PING this often on every connection ...
HEARTBEAT_TIMEOUT = 30      # ... and a connection that answers nothing for this long is closed


def _keepalive(sock: zmq.Socket) -> None:
    """ZMTP 3.1 heartbeats (answered by libzmq's I/O thread, so a node busy mining still answers):
    a link that died without a goodbye (a laptop lid closed, a cable pulled, no FIN ever sent) is
    closed after ``HEARTBEAT_TIMEOUT`` seconds and its descriptor freed, instead of being held until
    the node's own ping timeout."""
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_SECONDS * 1000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT * 1000)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT * 1000)


def _fd_pair(fd: int, port: int | None):
    """(local, remote) address of the TCP connection on descriptor ``fd``, or None (closed, not TCP,
    or not accepted on our listening ``port``).

    A descriptor number names whatever the process opened last under it: the one a message's
    ``ZMQ_SRCFD`` names may since have been closed by libzmq and reused, by another peer's
    connection or by a connection that is not libzmq's at all (the RPC server's, in the same
    process). Only a connection whose local port is the ROUTER's listening port can be one of
    the ROUTER's, so any other is never recorded, and so never shut down, as a peer's."""
    try:
        sock = socket.socket(fileno=fd)         # wraps the descriptor; detach() below gives it back untouched
    except OSError:
        return None
    try:
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        local, remote = sock.getsockname(), sock.getpeername()
        return (local, remote) if local[1] == port else None
    except OSError:
        return None
    finally:
        sock.detach()


def _shutdown_fd(fd: int, pair) -> bool:
    """Close libzmq's TCP connection on ``fd`` if it is still the connection ``pair`` (never ``close(fd)``)."""
    if pair is None or _fd_pair(fd, pair[0][1]) != pair:
        return False
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)          # libzmq sees the end of the stream and closes fd itself
        return True
    except OSError:
        return False
    finally:
        sock.detach()


class _Gate:
    """ZAP callback: any client key may connect, except keys the node has refused (banned)."""

    def __init__(self):
        self.refused: dict[str, float] = {}      # z85 key -> until (time.time())

    def callback(self, domain, key) -> bool:
        key = key.decode("ascii") if isinstance(key, bytes) else key
        return self.refused.get(key, 0.0) <= time.time()


class _Conn:
    """One inbound TCP connection on the ROUTER: its descriptor, addresses, age, and peer once it spoke."""

    __slots__ = ("fd", "pair", "since", "peer", "accepted", "ip")

    def __init__(self, fd: int, pair, since: float, accepted: bool):
        self.fd, self.pair, self.since, self.accepted = fd, pair, since, accepted
        self.ip = pair[1][0] if pair else ""
        self.peer: str | None = None


class _Dial:
    """What we know about a peer we dial: its state (from the DEALER's monitor) and its last error."""

    __slots__ = ("address", "state", "since", "last_error", "attempts", "warned", "ever_connected")

    def __init__(self, address: str, now: float):
        self.address, self.state, self.since = address, "connecting", now
        self.last_error: str | None = None
        self.attempts = 1
        self.warned = 0.0                          # when we last logged a warning about it (0: not yet)
        self.ever_connected = False


class ZmqTransport:
    """Authenticated sockets for one node. Attach the node with ``transport.node = node`` before use."""

    def __init__(self, listen: str | None, *, secret_key: bytes, public_key: bytes | None = None,
                 server_public_keys: dict[str, bytes | str] | None = None, context: zmq.Context | None = None,
                 send_hwm: int = 1000, recv_hwm: int = 10_000, max_payload: int = MAX_PAYLOAD_BYTES,
                 max_batch: int = 1000, refuse_seconds: float = 60.0, clock: Callable[[], float] = time.time,
                 handshake_seconds: float = 10.0, pending_seconds: float = 20.0, max_pending: int | None = None,
                 max_connections: int | None = None, warn_seconds: float = 3.0):
        if listen is not None and not valid_listen(listen):
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
        self.handshake_seconds, self.pending_seconds = handshake_seconds, pending_seconds
        self.warn_seconds = warn_seconds
        self.max_connections = max_connections if max_connections is not None else connection_cap()
        self.max_pending = max_pending if max_pending is not None else max(4, min(128, self.max_connections // 4))
        self.node = None
        self.outbound: dict[str, zmq.Socket] = {}    # peer key -> DEALER we dialled
        self.monitors: dict[zmq.Socket, str] = {}    # monitor socket of a DEALER -> peer key
        self.linked: set[str] = set()                # outbound peers whose CURVE handshake is done
        self.addresses: dict[str, str] = {}          # peer key -> address we dialled
        self.dials: dict[str, _Dial] = {}            # peer key -> state of our dial to it
        self.routes: dict[str, bytes] = {}           # inbound peer key -> ROUTER routing id
        self.conns: dict[int, _Conn] = {}            # inbound TCP connections by descriptor
        self.pending: dict[int, _Conn] = {}          # those that have not delivered a message, oldest first
        self.refused: dict[str, float] = {}          # peer key -> ignore its messages until (clock)
        self.dropped = 0                             # messages we could not send (peer gone or too slow)
        self.errors = 0                              # unexpected exceptions (message handlers, work, ticks, polls)
        self.error_counts: Counter = Counter()       # the same, by source ("message", "work", "tick", ...)
        self.ignored = 0                             # messages from refused peers, or not our framing
        self.closed: Counter = Counter()             # inbound connections we closed, by why
        self._gone: deque[str] = deque()             # peers that hung up, for the node (from the event loop)
        self._next_housekeeping = 0.0
        self._next_prune = 0.0
        self._rng = random.Random()
        self._all_down_warned = 0.0
        self.gate = _Gate()
        self.auth = None
        self.router = None
        self.listen_port: int | None = None         # the ROUTER's port, once bound
        self.router_monitor = None
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
        router.setsockopt(zmq.HANDSHAKE_IVL, int(self.handshake_seconds * 1000))
        _keepalive(router)
        router.curve_server = True
        router.curve_secretkey = self.secret_key
        router.zap_domain = ZAP_DOMAIN.encode()
        monitor = router.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        host, port = listen.rsplit(":", 1)
        any_port = port in ("0", "*")
        try:
            router.bind(f"{host}:*" if any_port else listen)
        except zmq.ZMQError:
            router.disable_monitor()
            monitor.close(linger=0)
            router.close(linger=0)
            self.auth.stop()
            if self._own_context:
                self.context.term()
            raise
        if any_port:                                 # any free port: read back the one the OS gave
            self.listen = f"{host}:{router.last_endpoint.decode().rsplit(':', 1)[1]}"
        self.listen_port = int(router.last_endpoint.decode().rsplit(":", 1)[1])
        self.router, self.router_monitor = router, monitor
        self.poller.register(router, zmq.POLLIN)
        self.poller.register(monitor, zmq.POLLIN)

    # ------------------------------------------------------------------ the transport interface
    def now(self) -> float:
        return self.clock()

    def send(self, peer: str, data: bytes) -> None:
        """Send ``data`` to ``peer`` if we can; never blocks, never calls back into the node."""
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
                self._peer_gone(peer)              # the node hears it from the event loop, not from here

    def _peer_gone(self, peer: str) -> None:
        """A link to ``peer`` is gone; the node hears it (from the event loop) unless another link is up."""
        if peer not in self._gone:
            self._gone.append(peer)

    def disconnect(self, peer: str) -> None:
        """Stop talking to ``peer``: close our dial to it and its connections to us, refuse it for a while."""
        until = self.clock() + self.refuse_seconds
        gate_until = time.time() + self.refuse_seconds
        if self.node is not None:
            banned = getattr(self.node, "peerbook", None)
            ban_end = banned.bans.get(peer) if banned is not None else None
            if ban_end is not None and ban_end > until:
                until = ban_end
                gate_until = time.time() + (ban_end - self.clock())
        self.refused[peer] = until
        self.gate.refused[peer] = max(gate_until, self.gate.refused.get(peer, 0.0))
        self.routes.pop(peer, None)
        self.addresses.pop(peer, None)
        self.dials.pop(peer, None)
        self._close_outbound(peer)
        for conn in [c for c in self.conns.values() if c.peer == peer]:
            self._close_conn(conn, "disconnected")

    def _close_conn(self, conn: _Conn, why: str) -> None:
        """Really close one inbound TCP connection (libzmq closes the descriptor; we forget it now)."""
        self._forget(conn)
        if _shutdown_fd(conn.fd, conn.pair):
            self.closed[why] += 1

    def _forget(self, conn: _Conn) -> None:
        if self.conns.get(conn.fd) is conn:
            del self.conns[conn.fd]
        if self.pending.get(conn.fd) is conn:
            del self.pending[conn.fd]

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
        sock.setsockopt(zmq.HANDSHAKE_IVL, int(self.handshake_seconds * 1000))
        _keepalive(sock)
        sock.curve_secretkey = self.secret_key
        sock.curve_publickey = self.public_key
        sock.curve_serverkey = server
        monitor = sock.get_monitor_socket(_DIAL_EVENTS)
        sock.connect(address)
        self.outbound[peer] = sock
        self.addresses[peer] = address
        self.dials[peer] = _Dial(address, time.time())
        self.monitors[monitor] = peer
        self.poller.register(sock, zmq.POLLIN)
        self.poller.register(monitor, zmq.POLLIN)
        return peer

    def inbound_peers(self) -> list[str]:
        return [p for p in self.routes if p not in self.outbound]

    def peer_states(self) -> dict[str, dict]:
        """Every peer we dial or that connected to us: ``{z85 key: {...}}``, for status and RPC.

        Each entry: ``key`` (hex, as ``--peer`` takes it), ``peer`` (``HEXKEY@tcp://host:port``,
        None when we do not know where it listens), ``address``, ``direction`` (outbound: we dial
        it; inbound: it dialled us; its address is then unknown: where it listens, if anywhere, is
        only what it claims), ``state``, ``since`` (Unix time), ``last_error``."""
        out: dict[str, dict] = {}
        for peer, dial in self.dials.items():
            out[peer] = {"key": key_hex(peer), "peer": format_peer(dial.address, peer.encode()),
                         "address": dial.address, "direction": "outbound", "state": dial.state,
                         "since": dial.since, "last_error": dial.last_error, "attempts": dial.attempts}
        now_wall, now_mono = time.time(), time.monotonic()
        for conn in self.conns.values():
            if conn.peer is None or conn.peer in out:
                continue
            out[conn.peer] = {"key": key_hex(conn.peer), "peer": None, "address": UNKNOWN_ADDRESS,
                              "direction": "inbound", "state": "connected",
                              "since": now_wall - (now_mono - conn.since), "last_error": None}
        for peer in self.routes:                    # inbound peers whose descriptor we did not see
            out.setdefault(peer, {"key": key_hex(peer), "peer": None, "address": UNKNOWN_ADDRESS,
                                  "direction": "inbound", "state": "connected", "since": None, "last_error": None})
        return out

    def connection_stats(self) -> dict:
        """Inbound TCP connections: how many, how many have not spoken yet, the caps, and what we closed."""
        pending = len(self.pending)
        return {"inbound_connections": len(self.conns), "pending": pending, "max_connections": self.max_connections,
                "max_pending": self.max_pending, "closed": dict(self.closed)}

    # ------------------------------------------------------------------ the event loop
    def poll(self, timeout_ms: int) -> int:
        """Deliver waiting messages to the node (waiting at most ``timeout_ms`` for the first)."""
        self._deliver_gone()
        delivered = 0
        ready = [sock for sock, _ in self.poller.poll(timeout_ms)]
        if self.router_monitor is not None:
            self._router_events()                   # accepts before the messages they carry
        for sock in ready:
            if sock in self.monitors:
                self._dial_events(sock)
        if self.router is not None and self.router not in ready:
            ready.append(self.router)               # (messages that came with the accepts just read)
        for sock in ready:
            if sock is self.router_monitor or sock in self.monitors:
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
        if self.router is not None:
            self._enforce_caps()                    # after the messages: a connection that spoke is not pending
        self._deliver_gone()
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + 0.25
            self._housekeeping()
        return delivered

    def _deliver_gone(self) -> None:
        """Tell the node about peers that hung up (queued by ``send`` and the monitors)."""
        while self._gone:
            peer = self._gone.popleft()
            if peer in self.routes or peer in self.linked or self.node is None:
                continue                            # another link to it is up, or it came back meanwhile
            self.guard("on_disconnect", self.node.on_disconnect, peer)

    def _router_events(self) -> None:
        """Accepted and closed inbound TCP connections (with their descriptors)."""
        while True:
            try:
                event = recv_monitor_message(self.router_monitor, flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            fd = int(event["value"])
            if event["event"] == zmq.EVENT_ACCEPTED:
                known = self.conns.get(fd)
                pair = _fd_pair(fd, self.listen_port)
                if known is not None and not known.accepted and known.pair == pair:
                    known.accepted = True           # we saw its first message before its accept event
                    continue
                old = self.conns.get(fd)
                if old is not None:
                    self._forget(old)
                self.conns[fd] = self.pending[fd] = _Conn(fd, pair, time.monotonic(), True)
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                conn = self.conns.get(fd)
                if conn is None or not conn.accepted:
                    continue                        # (not accepted yet: the event is about an earlier connection)
                self._forget(conn)
                if conn.peer is not None and not any(c.peer == conn.peer for c in self.conns.values()):
                    if self.routes.pop(conn.peer, None) is not None:
                        self._peer_gone(conn.peer)  # (no route left: send or disconnect saw to it already)

    def _enforce_caps(self) -> None:
        """Over ``max_pending``: close a pending connection, drawn at random, of the address holding
        the most (a flood from one place evicts itself, not newcomers from elsewhere; at random, so
        a newcomer from the flood's own address still gets through now and then, where "the oldest"
        would always close it before a redialling flood lets it speak). Over ``max_connections``:
        close the newest pending one (or the newest of all), so descriptors never run out."""
        while len(self.pending) > self.max_pending:
            ip = Counter(c.ip for c in self.pending.values()).most_common(1)[0][0]
            self._close_conn(self._rng.choice([c for c in self.pending.values() if c.ip == ip]), "pending-cap")
        while len(self.conns) > self.max_connections:
            victim = next(reversed(self.pending.values()), None) or next(reversed(self.conns.values()))
            self._close_conn(victim, "full")

    def _dial_events(self, monitor: zmq.Socket) -> None:
        """A DEALER's state changed: keep the dial's state; on a finished handshake tell the node."""
        peer = self.monitors[monitor]
        dial = self.dials.get(peer)
        while True:
            try:
                event = recv_monitor_message(monitor, flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED and peer in self.outbound:
                self.linked.add(peer)
                if dial is not None:
                    if dial.warned:
                        log.info("peer %s: connected now", format_peer(dial.address, peer.encode()))
                    self._set_state(dial, "connected", None)
                    dial.ever_connected, dial.warned = True, 0.0
                if self.node is not None:
                    self.guard("on_connect", self.node.on_connect, peer, inbound=False)
                continue
            if kind == zmq.EVENT_DISCONNECTED and peer in self.linked:
                self.linked.discard(peer)          # until ZeroMQ redials: send by the peer's own link if any
                self._peer_gone(peer)              # (a restarted peer knows nothing of us: a fresh hello)
            if dial is None:
                continue
            if kind == zmq.EVENT_CONNECTED:
                if dial.state in ("connecting", "unreachable", "disconnected"):
                    self._set_state(dial, "handshaking", dial.last_error)   # (a failed handshake stays failed)
            elif kind == zmq.EVENT_CLOSED and dial.state in ("connecting", "unreachable", "disconnected"):
                self._set_state(dial, "unreachable", f"cannot connect to {dial.address}: {_BAD_STATES['unreachable']}")
            elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self._set_state(dial, "refused", f"{dial.address}: {_BAD_STATES['refused']}")
            elif kind in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                self._set_state(dial, "handshake-failed", f"{dial.address}: {_BAD_STATES['handshake-failed']}")
            elif kind == zmq.EVENT_DISCONNECTED and dial.state == "connected":
                self._set_state(dial, "disconnected", f"lost the connection to {dial.address}")
            elif kind == zmq.EVENT_DISCONNECTED and dial.state == "handshaking":
                self._set_state(dial, "handshake-failed", f"{dial.address}: {_BAD_STATES['handshake-failed']}")
            elif kind == zmq.EVENT_CONNECT_RETRIED:
                dial.attempts += 1
                if dial.state == "connecting":         # not even a TCP attempt: the name does not resolve
                    self._set_state(dial, "unreachable", f"cannot connect to {dial.address}: the host name does "
                                                         "not resolve, or nothing answers")

    @staticmethod
    def _set_state(dial: _Dial, state: str, error: str | None) -> None:
        if state != dial.state:
            dial.state, dial.since = state, time.time()
        dial.last_error = error

    def _housekeeping(self) -> None:
        """Close inbound connections that never spoke; warn about peers we cannot reach; forget
        refusals that have expired (throwaway keys must not grow them for ever)."""
        now = time.monotonic()
        if now >= self._next_prune:
            self._next_prune = now + 10.0
            clock, wall = self.clock(), time.time()
            for peer in [p for p, until in self.refused.items() if until <= clock]:
                del self.refused[peer]
            for peer in [p for p, until in list(self.gate.refused.items()) if until <= wall]:
                self.gate.refused.pop(peer, None)
        for conn in list(self.pending.values()):
            if now - conn.since <= self.pending_seconds:
                break                               # (oldest first: the rest are younger)
            self._close_conn(conn, "no-message")
        wall = time.time()
        out_of_reach = 0
        for peer, dial in self.dials.items():
            if dial.state == "connected":
                continue
            if wall - dial.since >= self.warn_seconds:
                out_of_reach += 1
                if wall - dial.warned >= 60.0:
                    dial.warned = wall
                    log.warning("peer %s: %s (%s, %d attempts)", format_peer(dial.address, peer.encode()),
                                dial.state, dial.last_error or _BAD_STATES.get(dial.state, ""), dial.attempts)
        if self.dials and out_of_reach == len(self.dials) and wall - self._all_down_warned >= 60.0:
            self._all_down_warned = wall
            log.warning("none of the %d peers this node dials is reachable; it keeps running and retrying "
                        "(check each --peer: the key from the peer's DATA_DIR/p2p_key.pub, host and port)",
                        len(self.dials))
        elif out_of_reach < len(self.dials):
            self._all_down_warned = 0.0

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
        conn = self._conn_of(frames[1])
        now = self.clock()
        if self.refused.get(peer, float("-inf")) > now:
            self.ignored += 1
            if conn is not None and conn.peer in (None, peer):
                self._close_conn(conn, "refused")   # a refused key that got through: close its connection
            # (a connection that another key spoke on is that key's: this frame is older than the
            # descriptor's reuse, so it closes nothing)
            return
        self.refused.pop(peer, None)
        if conn is not None:
            if conn.peer is not None and conn.peer != peer:
                self._peer_gone(conn.peer)          # (its descriptor was reused: that peer is gone)
            conn.peer = peer
            self.pending.pop(conn.fd, None)
        if peer not in self.routes and peer not in self.linked:    # (a live dial to it: the node knows it)
            self.routes[peer] = frames[0].bytes
            try:
                ip = frames[1].get("Peer-Address")
            except zmq.ZMQError:
                ip = ""
            self.guard("on_connect", self.node.on_connect, peer, inbound=True, netgroup=netgroup_of(ip))
            if peer not in self.routes:            # the node refused it (no free slot, banned)
                return
        else:
            self.routes[peer] = frames[0].bytes     # (a reconnect gets a new routing id)
        self._deliver(peer, frames[1].bytes)

    def _conn_of(self, frame) -> _Conn | None:
        """The inbound connection that delivered ``frame`` (from its descriptor), recorded if new."""
        try:
            fd = frame.get(zmq.SRCFD)
        except zmq.ZMQError:
            return None
        conn = self.conns.get(fd)
        if conn is not None:
            return conn
        pair = _fd_pair(fd, self.listen_port)        # its accept event is still on the way
        if pair is None:
            return None
        conn = self.conns[fd] = _Conn(fd, pair, time.monotonic(), False)
        return conn

    def _deliver(self, peer: str, data: bytes) -> None:
        self.guard("message", self.node.on_message, peer, data)

    def guard(self, source: str, fn: Callable, *args, **kwargs) -> bool:
        """Call ``fn``; an exception is logged with its source and counted, never raised (Ctrl-C is)."""
        try:
            fn(*args, **kwargs)
            return True
        except Exception as err:                    # a bug or a full disk must not take the node down
            self.errors += 1
            self.error_counts[source] += 1
            n = self.error_counts[source]
            if n <= 3 or n % 100 == 0:
                who = f" from {args[0][:12]}" if source in ("message", "on_connect", "on_disconnect") and args else ""
                log.error("error in %s%s (%d so far from %s): %s: %s", source, who, n, source,
                          type(err).__name__, err, exc_info=n <= 3)
            return False

    def run(self, until: Callable[[], bool], work: Callable[[], None] | None = None,
            tick_seconds: float = 1.0, poll_ms: int = 20) -> None:
        """Loop until ``until()`` is true: messages, then ``work()`` (a mining slice), ticks.

        Supervised: an exception in any of them is logged and counted (``errors``,
        ``error_counts``) and the loop goes on; only KeyboardInterrupt and SystemExit end it."""
        next_tick = time.monotonic() + tick_seconds
        while not until():
            if not self.guard("poll", self.poll, poll_ms):
                time.sleep(poll_ms / 1000)         # do not spin if polling itself keeps failing
            if work is not None:
                self.guard("work", work)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick_seconds
                self.guard("tick", self.node.on_tick)

    def close(self) -> None:
        for peer in list(self.outbound):
            self._close_outbound(peer)
        if self.router is not None:
            if self.router_monitor is not None:
                self.poller.unregister(self.router_monitor)
                self.router.disable_monitor()
                self.router_monitor.close(linger=0)
                self.router_monitor = None
            self.router.close(linger=0)
            self.router = None
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
        if self._own_context and not self.context.closed:
            self.context.term()
