"""A `gradientcoin node` process under a flood of connections that never speak.

    python benchmarks/idle_connection_flood.py [--limit 512] [--curve 600] [--raw 100] [--at 1,5,25]
                                               [--compare OLD_TREE]

Starts one mining regtest node whose descriptor limit is ``--limit`` (soft = hard, so the node
cannot lift it), then opens ``--curve`` CURVE connections that finish the handshake and never send
a message (libzmq redials them when the node closes them, as an attacker's would) and ``--raw``
plain TCP connections that never say a byte. At each of ``--at`` seconds after the flood it
reports whether the node still runs, how many descriptors it holds, whether a fresh honest peer
(from the flood's own address) gets its ``version`` answered within 10 s, and the node's own
connection counts (``status.json``, where it has them). ``--compare OLD_TREE`` first runs the
same against another version of the package (a folder holding ``gradientcoin_edu/``, e.g.
``git archive COMMIT gradientcoin_edu | tar -x -C /tmp/old``). The old node only takes a numbered
port, so the listen port is one the OS had free a moment before.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.keys import load_or_create_keypair


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None


def _honest_answered(ctx, pub, address, genesis) -> bool:
    p, s = zmq.curve_keypair()
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    d.curve_secretkey, d.curve_publickey, d.curve_serverkey = s, p, pub
    d.connect(address)
    d.send(m.encode(m.Version(genesis=genesis, nonce=int.from_bytes(os.urandom(4), "little"))))
    ok = bool(d.poll(10_000))
    d.close(linger=0)
    return ok


def run(label: str, tree: str | None, limit: int, n_curve: int, n_raw: int, at_s=(1.0, 5.0, 25.0)) -> None:
    work = Path(tempfile.mkdtemp(prefix="flood-"))
    data = work / "node"
    pub = load_or_create_keypair(data)[0]
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")

    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    proc = subprocess.Popen([sys.executable, "-m", "gradientcoin_edu", "node", "--chain", "regtest", "--listen",
                             address, "--data-dir", str(data), "--mine", "--mine-every", "1"], env=env,
                            preexec_fn=set_limit,
                            cwd=work,                                   # (not a folder holding the package)
                            stdout=open(work / "node.out", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, n_curve + 100)
    socks, raw = [], []
    genesis = Chain("regtest").genesis.hash
    try:
        deadline = time.monotonic() + 60
        while not (data / "status.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        before = _fds(proc.pid)
        for _ in range(n_curve):
            p, s = zmq.curve_keypair()
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.LINGER, 0)
            d.curve_secretkey, d.curve_publickey, d.curve_serverkey = s, p, pub
            d.connect(address)
            socks.append(d)
        host, port = address[len("tcp://"):].rsplit(":", 1)
        for _ in range(n_raw):
            try:
                raw.append(socket.create_connection((host, int(port)), timeout=2))
            except OSError:
                pass
        t0 = time.monotonic()
        print(f"{label}: node descriptors before the flood {before}; {n_curve} silent CURVE + {len(raw)} raw TCP "
              f"connections opened; descriptor limit {limit}")
        for at in at_s:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            alive = proc.poll() is None
            answered = _honest_answered(ctx, pub, address, genesis) if alive else False
            try:
                conns = json.loads((data / "status.json").read_text()).get("connections")
            except (OSError, ValueError):
                conns = None
            print(f"  {at:>4.0f} s: running {alive}, descriptors {_fds(proc.pid) if alive else '-'}, "
                  f"honest version answered {answered}" + ("" if alive else f" (exit status {proc.returncode})")
                  + (f", node's count: {conns}" if conns else ""))
            if not alive:
                tail = [line for line in (work / "node.out").read_text().splitlines() if "Error" in line][-1:]
                print("        " + (tail[0] if tail else ""))
                break
    finally:
        for d in socks:
            d.close(linger=0)
        for r in raw:
            r.close()
        ctx.term()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=512)
    ap.add_argument("--curve", type=int, default=600)
    ap.add_argument("--raw", type=int, default=100)
    ap.add_argument("--compare", default=None, help="a folder holding another gradientcoin_edu/ to run first")
    ap.add_argument("--at", default="1,5,25", help="seconds after the flood at which to look (comma-separated)")
    args = ap.parse_args()
    at_s = tuple(float(x) for x in args.at.split(","))
    if args.compare:
        run("before", args.compare, args.limit, args.curve, args.raw, at_s)
    run("after", None, args.limit, args.curve, args.raw, at_s)


if __name__ == "__main__":
    main()
