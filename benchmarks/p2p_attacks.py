"""What each flood costs a node: the attacks of docs/protocol.md section 10, played against one real node.

For each attack (``gradientcoin_edu.network.attacks.p2p_attack``): the victim's CPU seconds spent on
the attacker's messages (how long its honest peers wait behind them), its peak and retained memory
(tracemalloc, the attacker's own message bytes not counted), the bytes it sent the attacker,
whether the attacker ends up banned, and whether the honest miner's next block still gets through
(and how long inv -> getdata -> block -> validation took).

    python benchmarks/p2p_attacks.py                          # all attacks, default sizes
    python benchmarks/p2p_attacks.py --attacks inv-flood --no-memory

The scenarios use only ``Node(...)``, ``on_connect`` and ``on_message``: to measure an older node,
copy ``gradientcoin_edu/network/attacks.py`` into its tree and run this script with it on PYTHONPATH.
"""
from __future__ import annotations

import argparse
import os
import platform

from gradientcoin_edu.network.attacks import P2P_ATTACKS, p2p_attack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attacks", nargs="*", default=list(P2P_ATTACKS))
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc (it slows the victim down)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("attack                 messages  cpu s  peak MB  held MB  sent MB  banned  honest block  honest s")
    for kind in args.attacks:
        r = p2p_attack(kind, trace_memory=not args.no_memory)
        print(f"{kind:22s} {r['messages']:8d} {r['cpu_s']:6.2f} {r['peak_mb']:8.1f} {r['held_mb']:8.1f} {r['sent_mb']:8.1f} "
              f"{str(r['banned']):>7} {str(r['honest_ok']):>13} {r['honest_s']:9.3f}", flush=True)


if __name__ == "__main__":
    main()
