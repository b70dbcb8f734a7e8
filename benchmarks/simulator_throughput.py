"""How fast is the network simulator? Blocks and node-blocks per CPU second at 10 to 500 nodes.

Every simulated block is a real block: each node receives it as bytes, parses it, validates it
(proof-of-work, merkle root, coinbase, UTXO update), stores it in its SQLite block store and
gossips it on. So the work grows with the number of nodes; "node-blocks" counts one block
validated by one node, and node-blocks per CPU second should stay flat as the network grows
(it fell 2.7x from 10 to 100 nodes while a handshake bug made neighbours bounce "version"
messages forever: 40,618 of them for 100 nodes and 20 blocks instead of 466).

    python benchmarks/simulator_throughput.py                       # 10, 50, 100, 200, 500 nodes
    python benchmarks/simulator_throughput.py --nodes 10 --blocks 2000
    python benchmarks/simulator_throughput.py --races 2000          # also: double-spend races vs the formula

Prints wall-clock and CPU seconds (on a shared machine the CPU figure is the stable one).
"""
from __future__ import annotations

import argparse
import platform
import time

from gradientcoin_edu.network.simulator import LinkSpec, Simulator


def throughput(nodes: int, blocks: int, seed: int = 1, degree: int = 4) -> dict:
    sim = Simulator(seed=seed, block_interval=600)
    sim.add_nodes(nodes)
    sim.connect_random(degree=degree, link=LinkSpec(latency=1.0, jitter=1.0))
    wall, cpu = time.perf_counter(), time.process_time()
    sim.run(blocks=blocks)
    sim.settle()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert sim.converged()
    mined = sim.stats["mined"]                        # (settling may mine a few more to break ties)
    versions = sum(sn.node.stats["recv-version"] for sn in sim.nodes.values())
    return {"nodes": nodes, "blocks": mined, "wall_s": wall, "cpu_s": cpu, "blocks_per_s": mined / wall,
            "blocks_per_cpu_s": mined / cpu, "node_blocks_per_cpu_s": nodes * mined / cpu,
            "messages": sim.stats["delivered"], "versions": versions,
            "stale": len(sim.stale_blocks()), "simulated_hours": sim.now / 3600}


def _default_blocks(nodes: int) -> int:
    return 200 if nodes <= 10 else 100 if nodes <= 50 else 50 if nodes <= 100 else 30 if nodes <= 200 else 20


def races(trials: int, seed: int = 2023) -> list[tuple]:
    """Double-spend races in the simulator vs the exact formula and the whitepaper's."""
    from gradientcoin_edu.calculations import attacker_success_probability, attacker_success_probability_exact
    from gradientcoin_edu.network.attacks import estimate_double_spend
    rows = []
    for q, zs in ((0.1, (1, 2, 3, 4, 5)), (0.3, (1, 2, 4, 6, 8)), (0.45, (2, 6))):
        for z in zs:
            t = time.perf_counter()
            e = estimate_double_spend(q, z, trials, seed=seed + 1000 * z + int(q * 100))
            rows.append((q, z, e, attacker_success_probability_exact(q, z), attacker_success_probability(q, z),
                         time.perf_counter() - t))
    return rows


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="*", default=[10, 50, 100, 200, 500])
    parser.add_argument("--blocks", type=int, default=None,
                        help="blocks per run (default: 200 at 10 nodes, 100 at 50, 50 at 100, 30 at 200, 20 at 500)")
    parser.add_argument("--races", type=int, default=0, help="also run this many double-spend races per point")
    args = parser.parse_args()
    import os
    print(f"machine: {platform.machine()}, {_cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("nodes  blocks  wall s  cpu s  blocks/cpu s  node-blocks/cpu s  messages  versions  stale  simulated h")
    for n in args.nodes:
        blocks = args.blocks or _default_blocks(n)
        r = throughput(n, blocks)
        print(f"{r['nodes']:5d} {r['blocks']:7d} {r['wall_s']:7.2f} {r['cpu_s']:6.2f} {r['blocks_per_cpu_s']:13.1f} "
              f"{r['node_blocks_per_cpu_s']:18.0f} {r['messages']:9d} {r['versions']:9d} {r['stale']:6d} "
              f"{r['simulated_hours']:12.1f}")
    if args.races:
        print(f"\ndouble-spend races in the simulator, {args.races} per point (95% Wilson intervals)")
        print("   q   z  successes   rate   interval          exact    whitepaper  exact in CI  paper in CI  seconds")
        for q, z, e, exact, paper, secs in races(args.races):
            print(f"{q:4.2f} {z:3d} {e.successes:6d}/{e.trials} {e.rate:7.4f} [{e.ci_low:.4f}, {e.ci_high:.4f}] "
                  f"{exact:8.4f} {paper:11.4f} {str(e.contains(exact)):>11} {str(e.contains(paper)):>12} {secs:8.1f}")


if __name__ == "__main__":
    main()
