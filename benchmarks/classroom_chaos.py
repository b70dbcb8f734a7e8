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
    args = parser.parse_args()
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
          f"node processes CPU (s): {cpu1.children_user - cpu0.children_user + cpu1.children_system - cpu0.children_system:.1f}")
    for name, use in sorted(report.max_by_node.items()):
        print(f"  {name:10s} max RSS {use['rss_mb']:6.1f} MB  max fds {use['fds']:4d}  max threads {use['threads']:3d}")
    for line in report.failures:
        print("FAILURE", line)
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
