"""Figures for docs/benchmarks.md, "The node, RPC and classroom network".

    python benchmarks/bench_node.py            # about a minute on 2 cores

1. RPC round trip: `status` and `getblock` through NodeClient against one regtest node.
2. Mining defaults: three regtest nodes with plain `--mine` versus `--mine-every 0` (flat out, the
   old default) for 40 s and 12 s: blocks per second and distinct tips at the end.
3. Start-up of one `gradientcoin node --chain llm --model tiny` (CPU seconds of the process).
"""
from __future__ import annotations


import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gradientcoin_edu.classroom import NodeProcess, listen_address, start_node_process, stop_processes
from gradientcoin_edu.network.keys import format_peer, load_or_create_keypair


def rpc_round_trip(root: Path) -> None:
    node = NodeProcess(start_node_process("tcp://127.0.0.1:0", root / "rpc", [], "--mine",
                                          "--mine-every", "0.5", "--quiet"), root / "rpc", "rpc").wait_ready()
    try:
        time.sleep(2)
        for method, args in (("status", ()), ("getblock", (1,))):
            times = []
            for _ in range(300):
                t0 = time.perf_counter()
                node.client.call(method, *args)
                times.append((time.perf_counter() - t0) * 1e3)
            times.sort()
            print(f"rpc {method}: median {statistics.median(times):.2f} ms, p95 {times[int(0.95 * len(times))]:.2f} ms "
                  f"(300 calls)")
    finally:
        node.leave()


def mining(root: Path, label: str, extra: list[str], seconds: float = 12.0) -> None:
    dirs = [root / f"{label}{i}" for i in range(3)]
    procs, peers = [], []
    for i, d in enumerate(dirs):             # each binds a port the OS picks and dials those started before it
        d.mkdir(parents=True, exist_ok=True)
        procs.append(start_node_process("tcp://127.0.0.1:0", d, list(peers), "--mine", "--quiet", "--seed", str(i),
                                        *extra))
        peers.append(format_peer(listen_address(d, procs[-1]), load_or_create_keypair(d)[0]))
    nodes = [NodeProcess(p, d, d.name) for p, d in zip(procs, dirs)]
    try:
        for n in nodes:
            n.wait_ready()
        h0, t0 = max(n.client.status()["height"] for n in nodes), time.monotonic()
        time.sleep(seconds)
        st = [n.client.status() for n in nodes]
        rate = (max(s["height"] for s in st) - h0) / (time.monotonic() - t0)
        known = sum(s["blocks_known"] for s in st) / 3
        print(f"mining {label} ({' '.join(extra) or 'defaults'}): {rate:.2f} blocks/s, {len({s['tip'] for s in st})} "
              f"distinct tips among 3 nodes, heights {[s['height'] for s in st]}, blocks known per node {known:.0f}")
    finally:
        stop_processes(procs, [n.client for n in nodes])


def startup(root: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gradientcoin_edu", "node", "--chain", "llm", "--model", "tiny", "--listen",
                    "tcp://127.0.0.1:0", "--data-dir", str(root / "start"), "--duration", "0.5",
                    "--quiet"], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"start-up of an llm-tiny node (run 0.5 s, then stop): {cpu:.1f} s CPU, {time.perf_counter() - t0:.1f} s wall")


if __name__ == "__main__":
    print(f"load average before: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        startup(root)
        rpc_round_trip(root)
        mining(root, "default", [], seconds=40)
        mining(root, "flatout", ["--mine-every", "0"])
    print(f"load average after: {os.getloadavg()[0]:.1f}")

