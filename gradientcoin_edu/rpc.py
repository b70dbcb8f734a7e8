"""[tooling] A node's local control interface: JSON-RPC 2.0 over HTTP, as bitcoind offers.

``gradientcoin node`` starts an :class:`RpcServer` on ``127.0.0.1`` only (never another
interface: whoever reaches it can spend the node's coins). Every request must carry HTTP Basic
authentication with the *cookie* the node writes at start-up to ``DATA_DIR/.cookie`` (mode 0600,
a fresh random password each run, ``__cookie__:PASSWORD`` as bitcoind writes it): only a user who
can read the data dir can talk to the node. The port and the node's pid go to
``DATA_DIR/rpc.json``, so a client needs nothing but the data dir.

The HTTP server runs in its own threads (the standard library's ``ThreadingHTTPServer``), but
the node is single-threaded: a request is put on a queue, the node's event loop runs it between
messages (``RpcServer.serve_pending``), and the HTTP thread waits for the answer. The node's
state is therefore only ever touched by one thread.

No client can hold the server: each connection must deliver its request line and headers within
``HEADER_TIMEOUT`` (30 s, as Bitcoin Core's ``-rpcservertimeout``) and its body within
``BODY_TIMEOUT`` after them, however slowly it dribbles them; at most ``MAX_CONNECTIONS`` (32) are
open, a newcomer closing the oldest one still sending its request (never one the node is
running), or getting ``503`` when all of them wait for the node. Bodies are at most 1 MB.

:class:`NodeClient` is the client, for scripts and notebooks::

    node = NodeClient("/tmp/n1")           # reads rpc.json and the cookie
    node.status()["height"]
    node.send(address, 1.5)                # coins
    node.ask("\\n3+4=")                     # waits for the answer and its verification

Errors are :class:`RpcError` (a ``GradientCoinError``) with a sentence that says what to do: a
closed port, a wrong cookie, an unknown method, bad parameters, or the node's own rejection
(``reason`` is then the node's reason, e.g. ``insufficient-funds``).
"""
from __future__ import annotations

import base64
import hmac
import io
import json
import logging
import queue
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from .datadir import read_private, write_private
from .errors import GradientCoinError, NetworkError, UsageError

__all__ = ["RpcServer", "NodeClient", "RpcError", "COOKIE_NAME", "RPC_INFO_NAME", "PARSE_ERROR",
           "INVALID_REQUEST", "METHOD_NOT_FOUND", "INVALID_PARAMS", "NODE_ERROR"]

COOKIE_NAME = ".cookie"
RPC_INFO_NAME = "rpc.json"
COOKIE_USER = "__cookie__"
MAX_REQUEST_BYTES = 1_000_000
# Per-connection limits (Bitcoin Core's -rpcservertimeout is 30 s; its -rpcworkqueue bounds waiting work)
HEADER_TIMEOUT = 30.0        # seconds from a connection (or its previous reply) to the end of the headers
BODY_TIMEOUT = 30.0          # seconds from the end of the headers to the end of the body
WRITE_TIMEOUT = 30.0         # seconds one send of the reply may block on a client that does not read
MAX_CONNECTIONS = 32         # open RPC connections; beyond, the oldest one still sending its request goes

log = logging.getLogger("gradientcoin.rpc")

# JSON-RPC 2.0 error codes (the specification's, plus one for the node's own rejections)
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
NODE_ERROR = -32000


class RpcError(NetworkError):
    """An RPC call that did not succeed; ``code`` is the JSON-RPC error code (None: no answer)."""

    layer = "rpc"

    def __init__(self, reason: str, message: str | None = None, code: int | None = None):
        super().__init__(reason, message)
        self.code = code


# ============================================================================ the server

class _Call:
    """One request waiting for the node's thread."""

    def __init__(self, method: str, params):
        self.method, self.params = method, params
        self.done = threading.Event()
        self.result: Any = None
        self.error: dict | None = None


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side that fails with ``TimeoutError`` once ``deadline`` (monotonic) passes.

    A plain socket timeout bounds each ``recv``; a client that sends one byte every few seconds
    (slowloris) never trips it. Here every ``recv`` may only wait for what is left of the deadline,
    so the whole request line, headers and body must arrive in time, however they are dribbled."""

    def __init__(self, sock: socket.socket):
        super().__init__()
        self.sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive in time")
            self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Connection:
    """What the server knows of one open connection: its socket, when it opened, whether the
    node is working on its request (``busy``: never closed to make room)."""

    def __init__(self, sock: socket.socket):
        self.sock, self.opened, self.busy = sock, time.monotonic(), False


class _HttpServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a bound on open connections.

    Each connection has its own thread; at ``max_connections``, a newcomer makes room by closing
    the oldest connection that is still sending its request (a half-sent request is all a
    slowloris holds); if every connection is busy with the node, the newcomer gets ``503``."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128          # the listen backlog: a burst of connects is queued, not reset

    def __init__(self, address, handler, max_connections: int):
        self.max_connections = max_connections
        self.connections: dict[socket.socket, _Connection] = {}      # in arrival order
        self.lock = threading.Lock()
        self.evicted = self.refused = 0
        self.closing: list[tuple[float, socket.socket]] = []       # refused, answered 503, closed soon
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self.lock:
            if len(self.connections) >= self.max_connections:
                victim = next((c for c in self.connections.values() if not c.busy), None)
                if victim is None:
                    self.refused += 1
                    self._refuse(request)
                    return
                self.evicted += 1
                self.connections.pop(victim.sock)
                _hang_up(victim.sock)          # its thread wakes up on EOF, ends and closes the socket
            self.connections[request] = _Connection(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.lock:
            self.connections.pop(request, None)
        super().shutdown_request(request)

    def connection(self, sock) -> _Connection | None:
        with self.lock:
            return self.connections.get(sock)

    def _refuse(self, request) -> None:
        """Answer 503 without reading (never blocking this thread), then close a second later: closing
        at once, with the request unread, would reset the connection before the client reads the 503."""
        body = b'{"error": "the node\'s RPC is busy: every connection is waiting for the node; try again"}'
        try:
            request.setblocking(False)
            request.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.closing.append((time.monotonic() + 1.0, request))
        while len(self.closing) > self.max_connections:             # bounded, whatever the flood
            self.close_request(self.closing.pop(0)[1])

    def service_actions(self):
        """Called by ``serve_forever`` between connections: close the refused sockets whose second is up."""
        now = time.monotonic()
        while self.closing and self.closing[0][0] <= now:
            self.close_request(self.closing.pop(0)[1])

    def hang_up_all(self) -> None:
        with self.lock:
            conns, self.connections = list(self.connections), {}
        for sock in conns:
            _hang_up(sock)
        for _, sock in self.closing:
            self.close_request(sock)
        self.closing = []

    def handle_error(self, request, client_address):
        """A client that went away mid-request is not the node's error: log it, print nothing."""
        log.debug("RPC connection from %s ended: %s", client_address, sys.exc_info()[1])


def _hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class RpcServer:
    """JSON-RPC 2.0 on ``http://127.0.0.1:PORT/`` for the methods in ``methods`` (name -> callable).

    ``port=0`` picks a free port. The cookie and ``rpc.json`` are written to ``datadir``. Call
    :meth:`serve_pending` from the thread that owns the node (it runs the waiting requests);
    with ``inline=True`` requests run in the HTTP thread instead (for objects that are thread-safe).
    ``timeout``: how long a request waits for the node. Limits per connection, so that no client
    holds the server: the request line and headers must arrive within ``header_timeout`` seconds
    (counted from the connection, or from the previous reply on a kept-alive one), the body within
    ``body_timeout`` after them, a reply send may block ``write_timeout``; at most
    ``max_connections`` are open (beyond, the oldest one still sending its request is closed).
    """

    def __init__(self, methods: dict[str, Callable], datadir: str | Path, port: int = 0,
                 host: str = "127.0.0.1", inline: bool = False, timeout: float = 60.0,
                 header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT,
                 write_timeout: float = WRITE_TIMEOUT, max_connections: int = MAX_CONNECTIONS):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise UsageError("rpc-not-local", "the RPC server listens on localhost only")
        if min(header_timeout, body_timeout, write_timeout) <= 0 or max_connections < 1:
            raise UsageError("rpc-limits", "RPC timeouts are positive and at least one connection is allowed")
        self.methods = dict(methods)
        self.datadir = Path(datadir)
        self.inline, self.timeout = inline, timeout
        self.header_timeout, self.body_timeout, self.write_timeout = header_timeout, body_timeout, write_timeout
        self.calls: queue.Queue[_Call] = queue.Queue()
        self.password = secrets.token_hex(32)
        try:
            self.httpd = _HttpServer((host, port), self._handler_class(), max_connections)
        except OSError as err:
            raise UsageError("rpc-port-in-use",
                             f"cannot listen for RPC on {host}:{port}: {err.strerror}; "
                             "choose another --rpc-port (or 0 for any free port)") from None
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        write_private(self.datadir / COOKIE_NAME, f"{COOKIE_USER}:{self.password}".encode())
        write_private(self.datadir / RPC_INFO_NAME, json.dumps({"url": self.url, "port": self.port}).encode())
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="rpc", daemon=True)
        self._thread.start()

    @property
    def open_connections(self) -> int:
        """RPC connections open now (at most ``max_connections``)."""
        with self.httpd.lock:
            return len(self.httpd.connections)

    # -------------------------------------------------------------- node side
    def serve_pending(self, limit: int = 50) -> int:
        """Run up to ``limit`` waiting requests (in the calling thread); returns how many."""
        served = 0
        while served < limit:
            try:
                call = self.calls.get_nowait()
            except queue.Empty:
                break
            self._execute(call)
            served += 1
        return served

    def _execute(self, call: _Call) -> None:
        fn = self.methods.get(call.method)
        try:
            if fn is None:
                call.error = {"code": METHOD_NOT_FOUND, "message": f"unknown method {call.method!r}; "
                              f"known: {', '.join(sorted(self.methods))}"}
            elif isinstance(call.params, dict):
                call.result = fn(**call.params)
            else:
                call.result = fn(*call.params)
        except TypeError as err:
            call.error = {"code": INVALID_PARAMS, "message": f"{call.method}: {err}"}
        except (GradientCoinError, ValueError, KeyError) as err:
            reason = getattr(err, "reason", type(err).__name__)
            message = getattr(err, "message", str(err))
            call.error = {"code": NODE_ERROR, "message": message, "data": {"reason": reason}}
        except Exception as err:   # a bug must not kill the node: report it to the caller
            call.error = {"code": NODE_ERROR, "message": f"internal error: {type(err).__name__}: {err}",
                          "data": {"reason": "internal"}}
        finally:
            call.done.set()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.hang_up_all()                      # their threads end at once
        while True:                                   # answer whoever still waits
            try:
                call = self.calls.get_nowait()
            except queue.Empty:
                break
            call.error = {"code": NODE_ERROR, "message": "the node is shutting down", "data": {"reason": "stopping"}}
            call.done.set()
        for name in (COOKIE_NAME, RPC_INFO_NAME):
            try:
                (self.datadir / name).unlink()
            except FileNotFoundError:
                pass

    # -------------------------------------------------------------- HTTP side
    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):      # quiet: the node has its own log
                log.debug("RPC %s: " + fmt, self.client_address, *args)

            def setup(self):
                super().setup()
                self.reader = _DeadlineReader(self.connection)
                self.rfile = io.BufferedReader(self.reader)
                self.conn = server.httpd.connection(self.connection)

            def handle_one_request(self):
                # waiting for a request and reading its headers: closable to make room
                self._set_busy(False)
                self.reader.deadline = time.monotonic() + server.header_timeout
                super().handle_one_request()

            def _set_busy(self, busy: bool) -> bool:
                """Mark the connection (not) closable; False if it was already closed to make room."""
                with server.httpd.lock:
                    if self.conn is None or server.httpd.connections.get(self.connection) is not self.conn:
                        return False
                    self.conn.busy = busy
                    return True

            def do_POST(self):                      # noqa: N802 (http.server's naming)
                if not server._authorized(self.headers.get("Authorization", "")):
                    self._reply(401, b'{"error": "wrong or missing cookie"}',
                                {"WWW-Authenticate": 'Basic realm="gradientcoin"'}, close=True)
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_REQUEST_BYTES:
                    self._reply(413, json.dumps({"error": f"a request is at most {MAX_REQUEST_BYTES} bytes"}).encode(),
                                close=True)
                    return
                self.reader.deadline = time.monotonic() + server.body_timeout
                body = self.rfile.read(length)
                if len(body) < length:               # the client hung up (or was closed) mid-body
                    self.close_connection = True
                    return
                self.reader.deadline = None
                if not self._set_busy(True):         # closed to make room just now: never run it unanswered
                    self.close_connection = True
                    return
                self._reply(200, json.dumps(server._handle(body)).encode())

            def do_GET(self):                       # noqa: N802
                self._reply(405, b'{"error": "POST a JSON-RPC 2.0 request"}', close=True)

            def _reply(self, status: int, body: bytes, headers: dict | None = None, close: bool = False):
                self.connection.settimeout(server.write_timeout)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if close:                           # the body we did not read must not become a request
                    self.send_header("Connection", "close")
                    self.close_connection = True
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == COOKIE_USER and hmac.compare_digest(password.encode(), self.password.encode())

    def _handle(self, body: bytes) -> dict:
        try:
            request = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            return _error(None, PARSE_ERROR, f"not JSON: {err}")
        if not isinstance(request, dict):
            return _error(None, INVALID_REQUEST, "a request is a JSON object (batches are not supported)")
        rid = request.get("id")
        method, params = request.get("method"), request.get("params", [])
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(rid, INVALID_REQUEST, 'a request has "jsonrpc": "2.0" and a "method" string')
        if not isinstance(params, (list, dict)):
            return _error(rid, INVALID_REQUEST, '"params" is a list or an object')
        call = _Call(method, params)
        if self.inline:
            self._execute(call)
        else:
            self.calls.put(call)
            if not call.done.wait(self.timeout):
                return _error(rid, NODE_ERROR, f"the node did not answer within {self.timeout:.0f} s", "timeout")
        if call.error is not None:
            return {"jsonrpc": "2.0", "id": rid, "error": call.error}
        return {"jsonrpc": "2.0", "id": rid, "result": call.result}


def _error(rid, code: int, message: str, reason: str | None = None) -> dict:
    err = {"code": code, "message": message}
    if reason:
        err["data"] = {"reason": reason}
    return {"jsonrpc": "2.0", "id": rid, "error": err}


# ============================================================================ the client

class NodeClient:
    """Talk to a running node. ``NodeClient(data_dir)``, or ``NodeClient(url=..., cookie=...)``.

    Every method returns plain JSON data (dicts, lists, strings); a failure raises
    :class:`RpcError` with a sentence saying what to do.
    """

    def __init__(self, datadir: str | Path | None = None, *, url: str | None = None, cookie: str | None = None,
                 timeout: float = 30.0):
        self.datadir = Path(datadir) if datadir is not None else None
        self.timeout = timeout
        self._url, self._cookie = url, cookie
        self._id = 0
        if datadir is None and (url is None or cookie is None):
            raise UsageError("rpc-target", "give the node's data dir, or both url= and cookie=")

    # -------------------------------------------------------------- plumbing
    def _credentials(self) -> tuple[str, str]:
        if self._url is not None and self._cookie is not None:
            return self._url, self._cookie
        assert self.datadir is not None
        try:
            info = json.loads(read_private(self.datadir / RPC_INFO_NAME))
            cookie = read_private(self.datadir / COOKIE_NAME).decode().strip()
        except FileNotFoundError:
            raise RpcError("no-node", f"no node is running on data dir {self.datadir} (no {RPC_INFO_NAME} or "
                                      f"{COOKIE_NAME} there): start one with `gradientcoin node --data-dir "
                                      f"{self.datadir} ...`") from None
        except (OSError, ValueError) as err:
            raise RpcError("no-node", f"cannot read the RPC details in {self.datadir}: {err}") from None
        return self._url or info["url"], self._cookie or cookie

    def call(self, method: str, *args, **kwargs):
        """Call ``method`` with positional ``args`` or keyword ``kwargs``; returns the result."""
        if args and kwargs:
            raise UsageError("rpc-params", "use positional or keyword parameters, not both")
        url, cookie = self._credentials()
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method,
                           "params": kwargs if kwargs else list(args)}).encode()
        if len(body) > MAX_REQUEST_BYTES:          # the node would refuse it unread: say so before sending
            raise RpcError("too-large", f"the {method} request is {len(body):,} bytes; the node takes at most "
                                        f"{MAX_REQUEST_BYTES:,} bytes in one request", 413)
        auth = base64.b64encode(cookie.encode()).decode()
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Basic {auth}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                reply = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 401:
                raise RpcError("unauthorized", f"the node at {url} refused the cookie: use the cookie of this "
                                               "node's data dir (it changes each time the node starts)", 401) from None
            if err.code == 413:
                raise RpcError("too-large", f"the request is {len(body):,} bytes; the node takes at most "
                                            f"{MAX_REQUEST_BYTES:,} bytes in one request", 413) from None
            if err.code == 503:
                raise RpcError("busy", f"the node at {url} is busy (every RPC connection is waiting for it); "
                                       "try again in a moment", 503) from None
            raise RpcError("http-error", f"the node at {url} answered HTTP {err.code}", err.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            why = getattr(err, "reason", err)
            if isinstance(why, TimeoutError):
                raise RpcError("timeout", f"the node at {url} did not answer within {self.timeout:g} s: it is busy "
                                          "or stuck (a longer --timeout waits more)") from None
            raise RpcError("unreachable", f"cannot reach the node at {url} ({why}): is it running? "
                                          "(`gradientcoin node ...` writes a new rpc.json when it starts)") from None
        except json.JSONDecodeError:
            raise RpcError("bad-reply", f"the node at {url} did not answer JSON") from None
        if "error" in reply:
            e = reply["error"]
            reason = (e.get("data") or {}).get("reason") or {
                METHOD_NOT_FOUND: "unknown-method", INVALID_PARAMS: "invalid-params",
                INVALID_REQUEST: "invalid-request", PARSE_ERROR: "parse-error"}.get(e.get("code"), "error")
            raise RpcError(reason, e.get("message", "error"), e.get("code"))
        return reply.get("result")

    # -------------------------------------------------------------- the methods, by name
    def status(self) -> dict:
        """Height, tip, peers, mempool, mining, (LLM) validation loss: one dict."""
        return self.call("status")

    def getblock(self, block: str | int) -> dict:
        """A block by hash (hex) or height on the best chain."""
        return self.call("getblock", block)

    def gettx(self, txid: str) -> dict:
        return self.call("gettx", txid)

    def balance(self, wallet: str | None = None) -> dict:
        return self.call("balance", wallet) if wallet else self.call("balance")

    def address(self, wallet: str | None = None) -> str:
        return self.call("address", wallet) if wallet else self.call("address")

    def createwallet(self, name: str) -> dict:
        return self.call("createwallet", name)

    def send(self, address: str, amount, fee=None, wallet: str | None = None, max_fee=None) -> dict:
        """Pay ``amount`` coins (a number or a string such as "1.5") to ``address`` (gc1...).

        ``fee``: coins (default: what the node's mempool asks); refused above ``max_fee`` coins (default 0.1)."""
        return self.call("send", **_drop_none(address=address, amount=amount, fee=fee, wallet=wallet,
                                              max_fee=max_fee))

    def contribute(self, text: str, wallet: str | None = None, max_fee=None, dry_run: bool = False) -> dict:
        """Pay to add ``text``, every character, to the training data (the next blocks train on it).

        ``dry_run=True``: the number of records and transactions and the fee, nothing sent."""
        return self.call("contribute", **_drop_none(text=text, wallet=wallet, max_fee=max_fee,
                                                    dry_run=dry_run or None))

    def ask(self, prompt: str, tokens: int = 8, wallet: str | None = None, wait: float | None = 60.0,
            max_fee=None) -> dict:
        """Pay for a query; with ``wait`` (seconds), poll until a block answers it and return the answer."""
        sent = self.call("ask", **_drop_none(prompt=prompt, tokens=tokens, wallet=wallet, max_fee=max_fee))
        if not wait:
            return sent
        return self.wait_answer(sent["txid"], wait)

    def answer(self, txid: str) -> dict:
        """The answer to query ``txid`` (``answered`` False until a block holds it) and its verification."""
        return self.call("answer", txid)

    def wait_answer(self, txid: str, timeout: float = 60.0, poll: float = 0.5) -> dict:
        import time
        deadline = time.monotonic() + timeout
        while True:
            result = self.answer(txid)
            if result.get("answered"):
                return result
            if time.monotonic() >= deadline:
                raise RpcError("no-answer", f"query {txid} not answered within {timeout:g} s (is anyone "
                                            f"mining?); its answer later: answer({txid!r})")
            time.sleep(poll)

    def peers(self) -> list:
        return self.call("peers")

    def mempool(self) -> list:
        return self.call("mempool")

    def blocktree(self, since: int = 0) -> dict:
        """Every block the node knows (side branches too), for fork trees and dashboards."""
        return self.call("blocktree", since)

    def events(self, since: int = 0) -> dict:
        """Recent log events (new tips, reorgs, rejections with reasons, peers) after number ``since``."""
        return self.call("events", since)

    def setmining(self, on: bool | None = None) -> bool:
        """Turn the node's miner on or off (None: ask whether it is on)."""
        return self.call("setmining") if on is None else self.call("setmining", on)

    def stop(self) -> str:
        return self.call("stop")

    def __repr__(self) -> str:
        return f"NodeClient({str(self.datadir) if self.datadir else self._url!r})"


def _drop_none(**kwargs) -> dict:
    return {k: v for k, v in kwargs.items() if v is not None}
