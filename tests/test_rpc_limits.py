"""The RPC server against a local attacker who holds connections open (slowloris).

No cookie is needed to open a connection and send half a request, so these limits protect the
node from any local process: each test plays that process with raw sockets, with small timeouts
given to ``RpcServer`` so that it runs in seconds."""
from __future__ import annotations

import os
import select
import socket
import threading
import time

import pytest

from gradientcoin_edu.rpc import MAX_REQUEST_BYTES, NodeClient, RpcError, RpcServer


def _open(server: RpcServer, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.settimeout(0.5)
    if data:
        s.sendall(data)
    return s


def _closed_by_server(s: socket.socket) -> bool:
    """True when the server hung up on ``s`` (EOF or reset), without waiting."""
    if not select.select([s], [], [], 0)[0]:
        return False
    try:
        while s.recv(4096):                     # an error reply, then EOF, is a hang-up too
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:                        # data but no EOF: still open
        return False
    return True


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


HALF_HEADERS = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"   # no blank line


@pytest.fixture
def ping_server(tmp_path):
    servers = []

    def make(**limits):
        server = RpcServer({"ping": lambda: "pong"}, tmp_path, inline=True, **limits)
        servers.append(server)
        return server, NodeClient(tmp_path, timeout=5)
    yield make
    for server in servers:
        server.close()


def test_half_sent_and_dribbled_requests_are_closed_within_the_timeout(ping_server):
    """Requests whose headers never end, whose body never comes, or that arrive one byte at a
    time (so that no single read waits long): all are hung up on within the deadline, while an
    honest client is served at once."""
    server, client = ping_server(header_timeout=1.0, body_timeout=1.0, max_connections=64)
    cookie = (server.datadir / ".cookie").read_text()
    import base64
    auth = base64.b64encode(cookie.encode())
    half_body = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\nAuthorization: Basic " + auth
                 + b"\r\n\r\n" + b'{"jsonrpc"')
    t0 = time.monotonic()
    headers = [_open(server, HALF_HEADERS) for _ in range(20)]
    bodies = [_open(server, half_body) for _ in range(10)]
    drips = [_open(server, b"POST / HTTP/1.1\r\n") for _ in range(5)]
    attackers = headers + bodies + drips
    try:
        start = time.monotonic()
        assert client.call("ping") == "pong"                       # served while all of them are open
        assert time.monotonic() - start < 2.0                      # (slack for a loaded 2-core machine)
        closed_at: dict[int, float] = {}
        while len(closed_at) < len(attackers) and time.monotonic() - t0 < 10:
            for s in drips:                                        # one header byte every 0.1 s
                if id(s) not in closed_at:
                    try:
                        s.send(b"X")
                    except OSError:
                        closed_at[id(s)] = time.monotonic() - t0
            for s in attackers:
                if id(s) not in closed_at and _closed_by_server(s):
                    closed_at[id(s)] = time.monotonic() - t0
            time.sleep(0.1)
        assert len(closed_at) == len(attackers), f"{len(attackers) - len(closed_at)} still open after 10 s"
        assert max(closed_at.values()) < 1.0 + 1.0 + 4.0          # header (or body) deadline + slack
        assert min(closed_at[id(s)] for s in drips) > 0.8          # the dribblers did get their second
        deadline = time.monotonic() + 2
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.open_connections == 0
        assert client.call("ping") == "pong"
    finally:
        for s in attackers:
            s.close()


def test_a_flood_of_half_sent_requests_is_capped_and_an_honest_client_gets_in(ping_server):
    """300 connections that never finish their request, with timeouts too long to help: the
    server keeps at most ``max_connections`` of them (closing the oldest), holds a bounded number
    of descriptors, and an honest client is served promptly."""
    server, client = ping_server(header_timeout=30.0, body_timeout=30.0, max_connections=8)
    before = _fds()
    attackers = []
    try:
        for _ in range(300):
            attackers.append(_open(server, HALF_HEADERS))
        deadline = time.monotonic() + 10
        while server.httpd.evicted < 300 - 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.httpd.evicted == 300 - 8
        assert server.open_connections <= 8
        # our 300 client sockets, plus at most 8 of the server's (+ a few for the honest call)
        assert _fds() - before <= 300 + 8 + 4
        start = time.monotonic()
        assert client.call("ping") == "pong"
        assert time.monotonic() - start < 3.0
        assert sum(_closed_by_server(s) for s in attackers) >= 300 - 8
    finally:
        for s in attackers:
            s.close()


def test_connections_waiting_for_the_node_are_never_closed_and_a_full_house_gets_a_busy_answer(tmp_path):
    """The node's loop is busy (nobody calls ``serve_pending``): two clients' requests wait on
    the queue; a third connection finds both slots busy and is told so at once, instead of
    closing a request the node is about to answer. When the loop runs, both get their answers."""
    server = RpcServer({"ping": lambda: "pong"}, tmp_path, timeout=10, max_connections=2)
    try:
        results = []
        threads = [threading.Thread(target=lambda: results.append(NodeClient(tmp_path, timeout=10).call("ping")))
                   for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while server.calls.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.calls.qsize() == 2
        with pytest.raises(RpcError) as err:
            NodeClient(tmp_path, timeout=5).call("ping")
        assert err.value.reason == "busy" and "try again" in err.value.message
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline + 5:
            server.serve_pending()                                   # the node loop, at last
            time.sleep(0.01)
        assert results == ["pong", "pong"]
    finally:
        server.close()


def test_a_request_over_the_size_limit_says_what_the_limit_is(ping_server):
    server, client = ping_server()
    with pytest.raises(RpcError) as err:
        client.call("ping", "x" * MAX_REQUEST_BYTES)
    assert err.value.reason == "too-large" and f"{MAX_REQUEST_BYTES:,} bytes" in err.value.message
    assert client.call("ping") == "pong"


def test_a_node_that_does_not_answer_in_time_is_called_busy_not_down(tmp_path):
    """The node's loop never runs the request (nobody calls ``serve_pending``): the client's
    timeout says the node did not answer, not that it is not running."""
    server = RpcServer({"ping": lambda: "pong"}, tmp_path, timeout=10)
    try:
        with pytest.raises(RpcError) as err:
            NodeClient(tmp_path, timeout=0.5).call("ping")
        assert err.value.reason == "timeout" and "did not answer within 0.5 s" in err.value.message
    finally:
        server.close()
