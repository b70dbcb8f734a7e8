"""A class that survives ordinary life: real node processes under kills, restarts, leavers, late
joiners, a partition and hostile visitors, then one tip for everyone.

Runs ``gradientcoin_edu.network.hostile.chaos_class``: two listening relays and students that only
dial out (``--nodes`` in all) mine concurrently for ``--minutes`` while the drill kills nodes with
SIGKILL and restarts them on the same data dir, stops others with SIGTERM, adds late joiners, cuts
the class in two and heals it, and a crowd of hostile clients works on the relays (version then
hang up, silent CURVE connections, raw TCP, slowloris on the RPC, key churn, garbage messages,
zero-fee payment floods). Then mining stops and it prints what it measured: events, the largest
RSS, descriptor and thread counts of any node, the final tips, and the time the class took to agree.

    python benchmarks/classroom_chaos.py --minutes 5 --nodes 8 --seed 1
    python benchmarks/classroom_chaos.py --minutes 5 --chain llm --model tiny
    python benchmarks/classroom_chaos.py --crowd 400 --fd-limit 256 --trials 4   # the crowd alone

``--crowd N --fd-limit L`` measures one thing instead: a relay whose descriptor limit is L receives N
CURVE connections (fresh keys) that never speak; how long does a student joining 5 s later take to
get a block to it (up to 40 s), and how long after the crowd leaves?

Exit status 1 when anything failed (each failure is printed with the node's last log lines).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from gradientcoin_edu.network.hostile import ChaosConfig, chaos_class


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of chaos (then mining stops)")
    parser.add_argument("--nodes", type=int, default=8, help="honest nodes at the start (at least 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chain", choices=["regtest", "llm"], default="regtest")
    parser.add_argument("--model", choices=["tiny", "demo"], default="tiny", help="llm: the model size")
    parser.add_argument("--no-hostile", action="store_true", help="only kills, restarts, leavers, joiners, partitions")
    parser.add_argument("--event-every", type=float, default=3.0, help="mean seconds between chaos events")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs (printed) for reading the logs")
    parser.add_argument("--crowd", type=int, default=None, help="instead: N silent CURVE connections against one relay")
    parser.add_argument("--fd-limit", type=int, default=1024, help="with --crowd: the relay's RLIMIT_NOFILE")
    parser.add_argument("--trials", type=int, default=3, help="with --crowd: how many times")
    args = parser.parse_args()
    if args.crowd is not None:
        return crowd_against_limit(args.crowd, args.fd_limit, args.trials)
    if args.nodes < 4 or args.minutes <= 0:
        print("classroom_chaos: --nodes is at least 4 and --minutes is positive", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="classroom-chaos-"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"data dirs in {work}")
    cfg = ChaosConfig(workdir=work, nodes=args.nodes, seconds=60.0 * args.minutes, seed=args.seed, chain=args.chain,
                      model=args.model, hostile=not args.no_hostile, event_every=args.event_every,
                      settle_seconds=180.0 if args.chain == "llm" else 90.0)
    cpu0 = os.times()
    report = chaos_class(cfg)
    cpu1 = os.times()
    print()
    print(report.table())
    print(f"{'drill process CPU (s)':<42}  {cpu1.user - cpu0.user + cpu1.system - cpu0.system:.1f}; "
          f"node processes CPU (s): "
          f"{cpu1.children_user - cpu0.children_user + cpu1.children_system - cpu0.children_system:.1f}")
    for name, use in sorted(report.max_by_node.items()):
        print(f"  {name:10s} max RSS {use['rss_mb']:6.1f} MB  max fds {use['fds']:4d}  max threads {use['threads']:3d}")
    for line in report.failures:
        print("FAILURE", line)
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    return 1 if report.failures else 0


def crowd_against_limit(n: int, limit: int, trials: int, patience: float = 40.0) -> int:
    """One regtest relay with RLIMIT_NOFILE ``limit``, ``n`` silent CURVE connections, one student."""
    import resource
    import shutil

    from gradientcoin_edu.classroom import NodeProcess, listen_address, start_node_process, stop_all
    from gradientcoin_edu.network.hostile import HostileCrowd, proc_usage
    from gradientcoin_edu.network.keys import format_peer, load_or_create_keypair, parse_peer
    from gradientcoin_edu.rpc import RpcError
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"relay RLIMIT_NOFILE {limit}, {n} silent CURVE connections; a student (a block per ~1 s) joins 5 s later")
    print("trial  relay fds (5 s)  student's block at the relay  after the crowd left  relay alive")

    def reached(relay, student, until):
        while time.monotonic() < until:
            try:
                if student.client.status()["height"] >= 1 and relay.client.status()["height"] >= 1:
                    return True
            except RpcError:
                pass
            time.sleep(0.5)
        return False

    for trial in range(trials):
        work = Path(tempfile.mkdtemp(prefix="crowd-"))
        crowd = HostileCrowd(seed=trial, max_held=n)
        try:
            (work / "relay").mkdir()
            relay = NodeProcess(start_node_process("tcp://127.0.0.1:0", work / "relay", [], "--chain", "regtest",
                                                   "--name", "relay"), work / "relay", "relay")
            resource.prlimit(relay.process.pid, resource.RLIMIT_NOFILE, (limit, limit))
            relay.wait_ready()
            listen = listen_address(work / "relay", relay.process)       # the port the OS gave it
            line = format_peer(listen, load_or_create_keypair(work / "relay")[0])
            crowd.silent_connections(listen, parse_peer(line)[1], n)
            time.sleep(5.0)
            fds = (proc_usage(relay.process.pid) or {}).get("fds")
            student_args = ("--chain", "regtest", "--name", "student", "--mine", "--mine-every", "1")
            student = NodeProcess(start_node_process(None, work / "student", [line], *student_args),
                                  work / "student", "student")
            student.wait_ready()
            t0 = time.monotonic()
            during = reached(relay, student, t0 + patience)
            first = f"{time.monotonic() - t0:.1f} s" if during else f"not within {patience:.0f} s"
            after = "-"
            if not during:
                crowd.release()
                t1 = time.monotonic()
                after = f"{time.monotonic() - t1:.1f} s" if reached(relay, student, t1 + patience) else "never"
            print(f"{trial:5d}  {fds!s:>15}  {first:>28}  {after:>19}  {relay.alive()!s:>11}", flush=True)
        finally:
            crowd.close()
            stop_all()
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
