"""The transport survives what peers and strangers do (docs/protocol.md 10.6).

Each test plays the other side: a peer that hangs up while the node is talking to every peer, an
event loop whose miner or status file fails, idle connections by the hundred against a node with
a small descriptor limit, a --peer with the wrong key or port. In-process tests use two real
``ZmqTransport`` objects on loopback; the ``processes`` tests start real ``gradientcoin node``
processes (ports chosen by the OS and read back from ``status.json``) and always stop them.
"""
from __future__ import annotations

import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.keys import format_peer, key_hex, load_or_create_keypair
from gradientcoin_edu.network.zmq_transport import ZmqTransport, connection_cap

LOOPBACK = "tcp://127.0.0.1:0"        # any free port; the transport reads back the one it got


class _Recorder:
    """The node side of the transport interface, iterating its peers the way ``Node`` broadcasts."""

    def __init__(self, transport):
        self.transport = transport
        self.peers: dict[str, dict] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.gone: list[str] = []
        self.connects: list[str] = []
        self.ticks = 0

    def on_connect(self, peer, inbound=False, netgroup=""):
        self.peers.setdefault(peer, {"inbound": inbound})
        self.connects.append(peer)

    def on_disconnect(self, peer):
        self.peers.pop(peer, None)
        self.gone.append(peer)

    def on_message(self, peer, data):
        self.messages.append((peer, data))

    def on_tick(self):
        self.ticks += 1

    def broadcast(self, data: bytes) -> None:
        for peer in self.peers:                      # as Node._announce_tip: no copy of the dict
            self.transport.send(peer, data)


def _curve_client(ctx, server_public, address, redial=True):
    pub, sec = zmq.curve_keypair()
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    if not redial:                                   # (libzmq redials a closed connection by itself)
        d.setsockopt(zmq.RECONNECT_IVL, -1)
    d.curve_secretkey, d.curve_publickey, d.curve_serverkey = sec, pub, server_public
    d.connect(address)
    return d, pub.decode()


@pytest.fixture
def listening():
    pub, sec = zmq.curve_keypair()
    t = ZmqTransport(LOOPBACK, secret_key=sec)
    t.node = _Recorder(t)
    ctx = zmq.Context()
    try:
        yield t, pub, ctx
    finally:
        t.close()
        ctx.destroy(linger=0)


def _poll_until(t, cond, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        t.poll(10)
    return cond()


# ----------------------------------------------------------------------------- a peer hangs up

def test_a_peer_hanging_up_mid_broadcast_is_reported_from_the_event_loop(listening):
    """Three peers connect and speak; two hang up; the node broadcasts to every peer before it
    polls again. The old transport called ``on_disconnect`` from inside ``send``: the node's peer
    dict changed size during its own loop (RuntimeError, which killed a mining node)."""
    t, pub, ctx = listening
    clients = [_curve_client(ctx, pub, t.listen) for _ in range(3)]
    for d, _ in clients:
        d.send(b"hello")
    assert _poll_until(t, lambda: len(t.node.peers) == 3)
    for d, _ in clients[:2]:
        d.close(linger=0)
    time.sleep(0.5)                                  # libzmq has seen the hang-ups; we have not polled
    t.node.broadcast(b"new tip")                     # must not raise
    t.node.broadcast(b"new tip")
    assert t.node.gone == []                         # nothing was delivered from inside send
    assert _poll_until(t, lambda: len(t.node.gone) == 2)
    assert sorted(t.node.gone) == sorted(p for _, p in clients[:2])
    assert list(t.node.peers) == [clients[2][1]]
    assert clients[2][0].poll(2000) and clients[2][0].recv() == b"new tip"   # the one left still hears us


def test_a_peer_we_dial_that_restarts_is_reported_gone_then_greeted_afresh(listening):
    """The node we dial is killed and restarted on the same address: our node hears the link go
    (so it forgets that peer's handshake) and a new ``on_connect`` when it is back (a fresh hello).
    The old transport said nothing: the restarted peer got our messages before any version and
    scored us as misbehaving."""
    t, pub, ctx = listening
    secret = t.secret_key
    _, dsec = zmq.curve_keypair()
    dialer = ZmqTransport(None, secret_key=dsec)
    dialer.node = _Recorder(dialer)
    restarted = None
    try:
        peer = dialer.connect(t.listen, pub)
        assert _poll_until(dialer, lambda: dialer.node.connects == [peer])
        address = t.listen
        t.close()                                    # the peer dies
        assert _poll_until(dialer, lambda: dialer.node.gone == [peer])
        assert peer not in dialer.node.peers
        restarted = ZmqTransport(address, secret_key=secret)   # and comes back where it was
        restarted.node = _Recorder(restarted)
        deadline = time.monotonic() + 10
        while dialer.node.connects != [peer, peer] and time.monotonic() < deadline:
            dialer.poll(10)
            restarted.poll(10)
        assert dialer.node.connects == [peer, peer] and peer in dialer.node.peers
    finally:
        dialer.close()
        if restarted is not None:
            restarted.close()


def test_run_survives_failing_work_ticks_and_handlers_but_not_ctrl_c(listening, caplog):
    """The miner, RPC or status file failing (EMFILE, ENOSPC, a bug) is logged and counted; the
    loop goes on. The old ``run`` ended at the first exception, and so did the node process."""
    t, pub, ctx = listening
    calls = {"work": 0}

    def work():
        calls["work"] += 1
        if calls["work"] % 2:
            raise OSError(24, "Too many open files")

    def tick():
        raise ValueError("a bug in on_tick")

    t.node.on_tick = tick
    d, _ = _curve_client(ctx, pub, t.listen)
    t.node.on_message = lambda peer, data: 1 / 0
    d.send(b"x")
    with caplog.at_level(logging.ERROR, logger="gradientcoin.node"):
        t.run(until=lambda: calls["work"] >= 40 and t.error_counts["tick"] >= 2, work=work, tick_seconds=0.05,
              poll_ms=5)
    assert t.error_counts["work"] == 20
    assert t.error_counts["tick"] >= 2
    assert t.error_counts["message"] == 1
    assert t.errors == sum(t.error_counts.values())
    assert any("error in work" in r.getMessage() and "Too many open files" in r.getMessage() for r in caplog.records)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        t.run(until=lambda: False, work=interrupted)


# ----------------------------------------------------------------------------- strangers' connections

def test_idle_connections_are_closed_and_capped_while_an_honest_peer_is_served():
    """A stranger opens CURVE connections that never send a message and raw TCP connections that
    never even handshake. At most ``max_pending`` silent connections are kept (the oldest go
    first), none longer than ``pending_seconds``, and an honest peer still gets in and is answered.
    The old transport kept every one of them forever (one descriptor each)."""
    pub, sec = zmq.curve_keypair()
    t = ZmqTransport(LOOPBACK, secret_key=sec, pending_seconds=2.0, handshake_seconds=1.0, max_pending=10,
                     max_connections=40)
    t.node = _Recorder(t)
    ctx = zmq.Context()
    raw = []
    try:
        host, port = t.listen[len("tcp://"):].rsplit(":", 1)
        raw = [socket.create_connection((host, int(port))) for _ in range(10)]
        idle = [_curve_client(ctx, pub, t.listen, redial=False)[0] for _ in range(30)]
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            t.poll(10)
            assert len(t.conns) <= 40 and t.connection_stats()["pending"] <= 10
        assert t.closed["pending-cap"] + t.closed["full"] >= 20
        honest, honest_key = _curve_client(ctx, pub, t.listen)
        honest.send(b"hello")
        assert _poll_until(t, lambda: honest_key in t.node.peers, 5.0)
        t.send(honest_key, b"welcome")
        assert honest.poll(2000) and honest.recv() == b"welcome"
        assert _poll_until(t, lambda: t.connection_stats()["pending"] == 0 and t.closed["no-message"] > 0, 5.0)
        assert honest_key in t.node.peers and len(t.conns) == 1     # only the honest peer's connection is left
        for s in raw:                                    # the raw connections were closed by the node
            s.settimeout(3.0)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        for d in idle:
            d.close(linger=0)
    finally:
        for s in raw:
            s.close()
        t.close()
        ctx.destroy(linger=0)


def test_a_flood_from_one_address_evicts_its_own_pending_connections_first():
    """A stranger on 127.0.0.1 floods a node whose pending cap is 5 while a newcomer from another
    address (127.0.0.2) is still handshaking: the flood's own oldest connections are closed, the
    newcomer's is kept. (Evicting simply the oldest would close the newcomer first.)"""
    pub, sec = zmq.curve_keypair()
    t = ZmqTransport(LOOPBACK, secret_key=sec, max_pending=5, max_connections=100)
    t.node = _Recorder(t)
    host, port = t.listen[len("tcp://"):].rsplit(":", 1)
    socks = []
    try:
        newcomer = socket.socket()
        newcomer.bind(("127.0.0.2", 0))
        newcomer.connect((host, int(port)))
        socks.append(newcomer)
        assert _poll_until(t, lambda: len(t.pending) == 1)
        for _ in range(20):
            socks.append(socket.create_connection((host, int(port))))
            t.poll(5)
        assert _poll_until(t, lambda: t.closed["pending-cap"] >= 16, 5.0)
        assert len(t.pending) <= 5
        assert any(c.pair and c.pair[1][0] == "127.0.0.2" for c in t.pending.values())   # the newcomer is kept
    finally:
        for x in socks:
            x.close()
        t.close()


def test_disconnect_of_an_inbound_peer_closes_its_tcp_connection(listening):
    """``disconnect`` (eviction, a ban) now really closes the connection, and the handshake of the
    refused key is turned away for ``refuse_seconds``. The old ROUTER only forgot the route."""
    t, pub, ctx = listening
    d, key = _curve_client(ctx, pub, t.listen)
    mon = d.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    d.send(b"hello")
    assert _poll_until(t, lambda: key in t.node.peers)
    t.disconnect(key)
    assert t.closed["disconnected"] == 1
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and zmq.EVENT_HANDSHAKE_FAILED_AUTH not in seen:
        t.poll(10)
        if mon.poll(10):
            seen.add(zmq.utils.monitor.recv_monitor_message(mon)["event"])
    assert zmq.EVENT_DISCONNECTED in seen and zmq.EVENT_HANDSHAKE_FAILED_AUTH in seen
    d.disable_monitor()
    mon.close(linger=0)

    t.refuse_seconds = 0.0                           # refusals expire, and are then forgotten
    for _ in range(200):
        t.disconnect(zmq.curve_keypair()[0].decode())    # throwaway keys, each refused once
    t.refused = {p: u - 120 for p, u in t.refused.items()}
    t.gate.refused = {p: u - 120 for p, u in t.gate.refused.items()}
    t._next_prune = 0.0
    t.poll(0)
    t._housekeeping()
    assert not t.refused and not t.gate.refused


class _StaleFrame:
    """A message as libzmq hands it over: its ``ZMQ_SRCFD`` names the descriptor it came in on,
    which libzmq may have closed (and the process reused) by the time the node reads it."""

    def __init__(self, fd: int, user_id: str, data: bytes = b"late"):
        self.fd, self.user_id, self.bytes = fd, user_id, data

    def get(self, prop):
        if prop == zmq.SRCFD:
            return self.fd
        if prop == "User-Id":
            return self.user_id
        if prop == "Peer-Address":
            return "127.0.0.1"
        raise zmq.ZMQError(zmq.EINVAL)


def test_a_late_frame_from_a_banned_key_never_closes_a_reused_descriptor(listening):
    """The attacker: a key floods, is banned, and its last frames are still queued when libzmq has
    closed its connection and the process has reused the descriptor number for an RPC connection
    (CI saw an RPC status call answered by a hang-up). The frames name the old descriptor; the
    transport used to record whatever socket held it now as the banned key's and shut it down.
    Only a connection on the ROUTER's own port is ever recorded (or closed) as a peer's."""
    t, pub, ctx = listening
    d, key = _curve_client(ctx, pub, t.listen)
    d.send(b"hello")
    assert _poll_until(t, lambda: key in t.node.peers)
    t.disconnect(key)                                # banned: its later frames are refused

    server = socket.create_server(("127.0.0.1", 0))  # an unrelated TCP service in the same process
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    try:
        t._inbound([zmq.Frame(b"route"), _StaleFrame(accepted.fileno(), key)])
        assert accepted.fileno() not in t.conns
        client.sendall(b"still open")
        accepted.settimeout(5)
        assert accepted.recv(64) == b"still open"     # not shut down under the other service
        accepted.sendall(b"reply")
        client.settimeout(5)
        assert client.recv(64) == b"reply"
    finally:
        for s in (client, accepted, server):
            s.close()

    d2, key2 = _curve_client(ctx, pub, t.listen)     # a real connection of the ROUTER is still tracked
    d2.send(b"hello")
    assert _poll_until(t, lambda: key2 in t.node.peers)
    assert any(c.peer == key2 for c in t.conns.values())


def test_connection_cap_follows_the_descriptor_limit():
    assert connection_cap(1024) == 1024 - 256
    assert connection_cap(300) == 44 and connection_cap(100) == 8
    assert connection_cap(10**7) == 4096


# ----------------------------------------------------------------------------- peers we cannot reach

def test_a_wrong_key_or_port_gives_a_state_an_error_and_a_warning(listening, caplog):
    """A --peer with the wrong port or the wrong key used to leave the node silent with zero peers."""
    t, pub, ctx = listening
    _, sec = zmq.curve_keypair()
    dialer = ZmqTransport(None, secret_key=sec, warn_seconds=0.5)
    dialer.node = _Recorder(dialer)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))                    # bound, never listening: connections are refused
    nowhere = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    try:
        wrong_key, _ = zmq.curve_keypair()
        good = dialer.connect(t.listen, pub)
        bad_key = dialer.connect(t.listen.replace("127.0.0.1", "localhost"), wrong_key)
        other, _ = zmq.curve_keypair()
        bad_port = dialer.connect(nowhere, other)           # (one dial per key: another key for this one)
        with caplog.at_level(logging.WARNING, logger="gradientcoin.node"):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len([r for r in caplog.records if "peer " in r.getMessage()]) < 2:
                for x in (t, dialer):
                    x.poll(10)
        states = dialer.peer_states()
        assert states[good]["state"] == "connected" and states[good]["last_error"] is None
        assert states[bad_key]["state"] == "handshake-failed" and "wrong public key" in states[bad_key]["last_error"]
        assert states[bad_port]["state"] == "unreachable" and "port" in states[bad_port]["last_error"]
        assert states[bad_port]["peer"] == format_peer(nowhere, other) and states[bad_port]["key"] == key_hex(other)
        warned = " ".join(r.getMessage() for r in caplog.records)
        assert format_peer(nowhere, other) in warned and "unreachable" in warned
        assert "handshake-failed" in warned
        inbound = t.peer_states()
        assert all(s["direction"] == "inbound" and s["peer"] is None and "unknown" in s["address"]
                   for s in inbound.values())
    finally:
        closed.close()
        dialer.close()


# ----------------------------------------------------------------------------- real processes

def _node(data: Path, *extra, preexec=None) -> subprocess.Popen:
    out = open(data.parent / f"{data.name}.out", "ab")
    return subprocess.Popen([sys.executable, "-m", "gradientcoin_edu", "node", "--chain", "regtest", "--data-dir",
                             str(data), "--status-every", "0.2", *extra], stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=preexec)


def _status(data: Path) -> dict | None:
    try:
        return json.loads((data / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _wait_status(data: Path, proc, cond, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s = _status(data)
        if s is not None and cond(s):
            return s
        assert proc.poll() is None, (data.parent / f"{data.name}.out").read_text()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"timed out; last status {_status(data)}")


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)


@pytest.mark.processes
def test_a_mining_node_survives_its_peer_killed_and_a_peer_that_hangs_up(tmp_path):
    """Two mining nodes; one is killed with SIGKILL; then a raw CURVE peer says ``version`` and
    hangs up, three times. On the old code each of these killed the other mining node within a
    second (RuntimeError: dictionary changed size during iteration)."""
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    procs = []
    ctx = zmq.Context()
    try:
        a = _node(a_dir, "--listen", LOOPBACK, "--mine", "--mine-every", "0.2")
        procs.append(a)
        sa = _wait_status(a_dir, a, lambda s: s["height"] >= 1, 30)
        a_key = load_or_create_keypair(a_dir)[0]
        b = _node(b_dir, "--mine", "--mine-every", "0.2", "--peer", format_peer(sa["listen"], a_key))
        procs.append(b)
        _wait_status(a_dir, a, lambda s: len(s["peers"]) == 1, 30)
        os.killpg(b.pid, signal.SIGKILL)
        b.wait(timeout=10)
        h = _status(a_dir)["height"]
        sa = _wait_status(a_dir, a, lambda s: s["height"] >= h + 5 and not s["peers"], 20)

        genesis = Chain("regtest").genesis.hash
        for i in range(3):
            d, _ = _curve_client(ctx, a_key, sa["listen"])
            d.send(m.encode(m.Version(genesis=genesis, nonce=1000 + i)))
            assert d.poll(5000), "no answer to version"
            d.close(linger=0)
            h = _status(a_dir)["height"]
            _wait_status(a_dir, a, lambda s, h=h: s["height"] >= h + 2, 20)
        assert a.poll() is None
    finally:
        _stop(procs)
        ctx.destroy(linger=0)


def _low_fd_limit(n):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return set_limit


@pytest.mark.processes
def test_idle_connection_flood_against_a_small_descriptor_limit(tmp_path):
    """The node runs with at most 512 descriptors (soft = hard, so it cannot raise them). A
    stranger opens 600 CURVE connections that never send a message (libzmq redials each one the
    node closes) and 100 raw TCP connections. The node stays up under its descriptor limit, keeps
    at most ``max_pending`` silent connections, answers an honest peer that redials as a node does
    (from the flood's own address: each try may be the pending connection closed at random), and
    once the stranger stops, closes the silent connections left. The old node held every connection until EMFILE
    killed it (within 5 s: ``benchmarks/idle_connection_flood.py``)."""
    data = tmp_path / "victim"
    limit = 512
    proc = _node(data, "--listen", LOOPBACK, "--mine", "--mine-every", "1", "--pending-timeout", "3",
                 preexec=_low_fd_limit(limit))
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, 4096)
    raw, idle = [], []
    try:
        s = _wait_status(data, proc, lambda s: s["listen"], 30)
        pub = load_or_create_keypair(data)[0]
        assert s["connections"]["max_connections"] == connection_cap(limit)
        max_pending = s["connections"]["max_pending"]
        idle = [_curve_client(ctx, pub, s["listen"])[0] for _ in range(600)]
        host, port = s["listen"][len("tcp://"):].rsplit(":", 1)
        for _ in range(100):
            try:
                raw.append(socket.create_connection((host, int(port)), timeout=2))
            except OSError:
                pass                                     # the listen backlog may be full for a moment
        time.sleep(2.0)
        assert proc.poll() is None                       # (libzmq accepts between two polls of the node: on a
                                                         # busy machine the count may touch the limit for a moment)

        # An honest peer from the flood's own address: while the flood fills the pending slots, a
        # pending connection of that address is closed at random (protocol.md 10.6), so a newcomer
        # from there gets through now and then, not always at the first try. Like a node's dialler
        # after a disconnect, it dials again (a fresh connection, its version sent again) every 4 s,
        # keeping the earlier tries open (on a busy machine an answer can take longer than that),
        # until one is answered: within 60 s. (One try with 15 s was not enough once: CI of 9fda373.)
        genesis = Chain("regtest").genesis.hash
        tries, poller, honest = [], zmq.Poller(), None
        deadline = time.monotonic() + 60
        while honest is None and time.monotonic() < deadline:
            sock, _ = _curve_client(ctx, pub, s["listen"])
            sock.send(m.encode(m.Version(genesis=genesis, nonce=77 + len(tries))))
            tries.append(sock)
            poller.register(sock, zmq.POLLIN)
            ready = dict(poller.poll(4_000))
            honest = next((t for t in tries if t in ready), None)
        assert honest is not None, f"the honest peer got no answer in {len(tries)} tries"
        for other in tries:
            if other is not honest:                      # (an open DEALER would redial: a silent connection again)
                other.close(linger=0)
        reply = m.decode(honest.recv())
        assert isinstance(reply, m.Version) and reply.genesis == genesis
        s = _wait_status(data, proc, lambda s: s["connections"]["closed"].get("pending-cap", 0) > 0, 10)
        assert s["connections"]["pending"] <= max_pending

        for d in idle:                                   # the stranger stops; his raw connections stay open
            d.close(linger=0)
        s = _wait_status(data, proc, lambda s: s["connections"]["pending"] == 0
                         and s["connections"]["inbound_connections"] <= 2, 30)
        assert proc.poll() is None and time.time() - s["time"] < 5      # still running, still writing its status
        assert len(os.listdir(f"/proc/{proc.pid}/fd")) < limit // 2
    finally:
        for d in idle:
            d.close(linger=0)
        for r in raw:
            r.close()
        _stop([proc])
        ctx.destroy(linger=0)


@pytest.mark.processes
@pytest.mark.slow
def test_unreachable_peers_are_reported_and_startup_mistakes_exit_2(tmp_path):
    """Every --peer out of reach: the node keeps running, warns, and shows why in status.json.
    Mistakes at start, each one line and exit 2: our own key as a --peer, a host name that does
    not exist, a p2p_key file that holds no key. (Five processes: about 15 s, more on a busy machine.)"""
    data = tmp_path / "lonely"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))                    # bound, never listening: connections are refused
    nowhere = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    other, _ = zmq.curve_keypair()
    proc = _node(data, "--peer", format_peer(nowhere, other))
    try:
        s = _wait_status(data, proc, lambda s: s["peer_links"] and s["peer_links"][0]["state"] == "unreachable", 20)
        link = s["peer_links"][0]
        assert link["peer"] == format_peer(nowhere, other) and link["direction"] == "outbound"
        warning = "none of the 1 peers this node dials is reachable"
        deadline = time.monotonic() + 30                 # the warning comes 3 s after dialling (later on a busy machine)
        while warning not in (tmp_path / "lonely.out").read_text() and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.2)
        assert proc.poll() is None
    finally:
        _stop([proc])
    out = (tmp_path / "lonely.out").read_text()
    assert warning in out and "unreachable" in out and "Traceback" not in out, out[-3000:]

    own = load_or_create_keypair(data)[0]
    r = subprocess.run([sys.executable, "-m", "gradientcoin_edu", "node", "--data-dir", str(data), "--peer",
                        format_peer(nowhere, own), "--duration", "5"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "own public key" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    closed.close()                                   # held until here: nobody else could take the port

    def one_line_exit_2(*args) -> str:
        r = subprocess.run([sys.executable, "-m", "gradientcoin_edu", "node", *args, "--duration", "5"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
        return r.stderr

    assert "no host named" in one_line_exit_2("--data-dir", str(tmp_path / "x"), "--peer",
                                              format_peer("tcp://no-such-host.invalid:5000", other))
    assert not (tmp_path / "x").exists()                  # refused before anything was written
    (data / "p2p_key").write_text("not a key\n")
    assert "p2p_key" in one_line_exit_2("--data-dir", str(data), "--listen", LOOPBACK)


# ----------------------------------------------------------------------------- a peer that vanishes

_FROZEN_PEER = r"""
import sys, time, zmq
server, address = sys.argv[1].encode(), sys.argv[2]
ctx = zmq.Context()
d = ctx.socket(zmq.DEALER)
pub, sec = zmq.curve_keypair()
d.curve_secretkey, d.curve_publickey, d.curve_serverkey = sec, pub, server
d.setsockopt(zmq.RECONNECT_IVL, -1)
d.connect(address)
d.send(b"hello")
print("sent", flush=True)
time.sleep(600)
"""


def test_a_peer_that_vanishes_without_a_goodbye_loses_its_connection_to_the_heartbeat(listening, monkeypatch):
    """A laptop closed mid-lesson sends no FIN: the TCP connection looks alive for ever and holds a
    descriptor. A peer process frozen with SIGSTOP plays it (its kernel keeps the socket open, its
    libzmq answers nothing). With ZMTP heartbeats the node closes that connection once the peer has
    answered nothing for the heartbeat timeout; without them (the old transport) it stays open."""
    import gradientcoin_edu.network.zmq_transport as zt
    monkeypatch.setattr(zt, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(zt, "HEARTBEAT_TIMEOUT", 3)
    pub, sec = zmq.curve_keypair()
    t = ZmqTransport(LOOPBACK, secret_key=sec, pending_seconds=600.0)
    t.node = _Recorder(t)
    peer = subprocess.Popen([sys.executable, "-c", _FROZEN_PEER, pub.decode(), t.listen],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout.readline().strip() == "sent"
        assert _poll_until(t, lambda: t.node.messages and len(t.conns) == 1, seconds=10)
        os.kill(peer.pid, signal.SIGSTOP)
        assert _poll_until(t, lambda: not t.conns, seconds=15), "the frozen peer's connection is still open"
        assert peer.poll() is None                   # the peer process is alive, only silent
    finally:
        peer.kill()
        peer.wait(10)
        t.close()
