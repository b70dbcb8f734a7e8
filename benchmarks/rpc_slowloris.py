"""The node's JSON-RPC server under half-sent requests (slowloris): what stays open, and whether
an honest client is still served.

    python benchmarks/rpc_slowloris.py [--connections 300] [--wait 35] [--compare OLD_RPC_PY]

Opens N connections that send a request line and one header, never the end of the headers (no
cookie is needed for that), then measures: the server's descriptors and threads after 1 s, the
time an honest ``ping`` takes meanwhile, and how many of the N the server has closed after 3 s
and after ``--wait`` seconds. The server runs with its default settings. ``--compare FILE`` runs
the same against another version of ``gradientcoin_edu/rpc.py`` first (e.g. one extracted with
``git show COMMIT:gradientcoin_edu/rpc.py > /tmp/old_rpc.py``), in the same process.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import select
import socket
import sys
import tempfile
import threading
import time


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _load(path: str):
    """A copy of rpc.py from ``path``, importable beside the package (its relative imports made absolute)."""
    source = open(path).read().replace("from .datadir", "from gradientcoin_edu.datadir") \
                              .replace("from .errors", "from gradientcoin_edu.errors")
    spec = importlib.util.spec_from_loader("compared_rpc", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def measure(mod, label: str, n: int, wait: float) -> None:
    folder = tempfile.mkdtemp()
    server = mod.RpcServer({"ping": lambda: "pong"}, folder, inline=True)
    base, threads0 = _fds(), threading.active_count()
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        time.sleep(1.0)
        t0 = time.perf_counter()
        answer = mod.NodeClient(folder, timeout=30).call("ping")
        honest = time.perf_counter() - t0
        print(f"{label}: after 1 s, server descriptors {_fds() - base - n}, server threads "
              f"{threading.active_count() - threads0}; an honest ping answered {answer!r} in {honest * 1e3:.1f} ms")
        start = time.monotonic() - 1.0
        for at in (3.0, wait):
            time.sleep(max(0.0, at - (time.monotonic() - start)))
            closed = sum(bool(select.select([s], [], [], 0)[0]) for s in socks)
            print(f"{label}: {closed} of {n} closed by the server after {at:g} s")
    finally:
        for s in socks:
            s.close()
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--wait", type=float, default=35.0, help="seconds before the last count (default 35)")
    parser.add_argument("--compare", default=None, help="another rpc.py to measure first")
    args = parser.parse_args(argv)
    from gradientcoin_edu import rpc
    print(f"{args.connections} half-sent requests; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    if args.compare:
        measure(_load(args.compare), "compared", args.connections, args.wait)
    measure(rpc, "this rpc.py", args.connections, args.wait)
    return 0


if __name__ == "__main__":
    sys.exit(main())
