"""How fast is the network simulator? Blocks and node-blocks per CPU second at 10 to 500 nodes.

Every simulated block is a real block: each node receives it as bytes, parses it, validates it
(proof-of-work, merkle root, coinbase, UTXO update), stores it in its SQLite block store and
gossips it on. So the work grows with the number of nodes; "node-blocks" counts one block
validated by one node, and node-blocks per CPU second should stay flat as the network grows
(it fell 2.7x from 10 to 100 nodes while a handshake bug made neighbours bounce "version"
messages forever: 40,618 of them for 100 nodes and 20 blocks instead of 466). "messages" counts
every message delivered; "(ping+pong)" the pings and their answers among them (one of each per
link and ping interval, from the inbound side: they were twice that while both sides pinged).

    python benchmarks/simulator_throughput.py                       # 10, 50, 100, 200, 500 nodes
    python benchmarks/simulator_throughput.py --nodes 10 --blocks 2000
    python benchmarks/simulator_throughput.py --races 2000          # also: double-spend races vs the formula
    python benchmarks/simulator_throughput.py --llm --nodes 3 5 10 --blocks 20   # the LLM chain (demo preset)

``--llm``: the same network of the decentralized LLM (``LLMSimulator``, the ``demo`` preset: real
gradients, every block recomputed by every node that receives it, the guard on; verification one node
after the other, ``parallel_verify=0``, and one torch thread, so that CPU time is the work).

Each network size is run ``--repeats`` times, the sizes alternated (forward, then backward) in one
process; printed: CPU seconds (``time.process_time``, min / median over the repeats; the rates are
from the median) and wall seconds of the median run (on a shared machine the CPU figure is the
stable one).
"""
from __future__ import annotations

import argparse
import platform
import time

from gradientcoin_edu.network.simulator import LinkSpec, Simulator


def _llm_simulator(seed: int):
    from gradientcoin_edu.llm.network import LLMSimulator
    return LLMSimulator(_llm_spec(), seed=seed, block_interval=600, parallel_verify=0)


_SPEC = []


def _llm_spec():
    if not _SPEC:                                  # built once: the corpus and genesis weights are not the benchmark
        from gradientcoin_edu.llm import LLMSpec
        _SPEC.append(LLMSpec.builtin("demo"))
    return _SPEC[0]


def throughput(nodes: int, blocks: int, seed: int = 1, degree: int = 4, llm: bool = False) -> dict:
    sim = _llm_simulator(seed) if llm else Simulator(seed=seed, block_interval=600)
    sim.add_nodes(nodes)
    sim.connect_random(degree=min(degree, nodes - 1), link=LinkSpec(latency=1.0, jitter=1.0))
    wall, cpu = time.perf_counter(), time.process_time()
    sim.run(blocks=blocks)
    sim.settle()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert sim.converged()
    if llm:
        sim.close()
    mined = sim.stats["mined"]                        # (settling may mine a few more to break ties)
    versions = sum(sn.node.stats["recv-version"] for sn in sim.nodes.values())
    pings = sum(sn.node.stats["recv-ping"] + sn.node.stats["recv-pong"] for sn in sim.nodes.values())
    return {"nodes": nodes, "blocks": mined, "wall_s": wall, "cpu_s": cpu, "blocks_per_s": mined / wall,
            "blocks_per_cpu_s": mined / cpu, "node_blocks_per_cpu_s": nodes * mined / cpu,
            "messages": sim.stats["delivered"], "versions": versions, "pings": pings,
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
    parser.add_argument("--nodes", type=int, nargs="*", default=None,
                        help="network sizes (default 10 50 100 200 500; with --llm 3 5 10)")
    parser.add_argument("--blocks", type=int, default=None,
                        help="blocks per run (default: 200 at 10 nodes, 100 at 50, 50 at 100, 30 at 200, 20 at 500; "
                             "with --llm 20)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each size, sizes alternated (default 3)")
    parser.add_argument("--llm", action="store_true", help="the decentralized LLM's network (demo preset)")
    parser.add_argument("--races", type=int, default=0, help="also run this many double-spend races per point")
    args = parser.parse_args()
    import os
    import statistics
    nodes = args.nodes if args.nodes is not None else ([3, 5, 10] if args.llm else [10, 50, 100, 200, 500])
    if args.llm:
        import torch
        torch.set_num_threads(1)
        _llm_spec()
    print(f"machine: {platform.machine()}, {_cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}; {'LLM chain, demo preset' if args.llm else 'proof-of-work chain'}")
    runs: dict[int, list[dict]] = {n: [] for n in nodes}
    for r in range(args.repeats):
        for n in (nodes if r % 2 == 0 else nodes[::-1]):
            runs[n].append(throughput(n, args.blocks or (20 if args.llm else _default_blocks(n)), llm=args.llm))
    print("nodes  blocks  cpu s min/median  wall s  blocks/cpu s  node-blocks/cpu s  messages  (ping+pong)  versions  "
          "stale  simulated h")
    for n in nodes:
        cpus = [x["cpu_s"] for x in runs[n]]
        r = sorted(runs[n], key=lambda x: x["cpu_s"])[len(cpus) // 2]     # the median run (by CPU)
        print(f"{r['nodes']:5d} {r['blocks']:7d} {min(cpus):8.2f}/{statistics.median(cpus):<8.2f} {r['wall_s']:7.2f} "
              f"{r['blocks'] / r['cpu_s']:13.2f} {r['nodes'] * r['blocks'] / r['cpu_s']:18.1f} {r['messages']:9d} "
              f"{r['pings']:12d} {r['versions']:9d} {r['stale']:6d} {r['simulated_hours']:12.1f}")
    if args.races:
        print(f"\ndouble-spend races in the simulator, {args.races} per point (95% Wilson intervals)")
        print("   q   z  successes   rate   interval          exact    whitepaper  exact in CI  paper in CI  seconds")
        for q, z, e, exact, paper, secs in races(args.races):
            print(f"{q:4.2f} {z:3d} {e.successes:6d}/{e.trials} {e.rate:7.4f} [{e.ci_low:.4f}, {e.ci_high:.4f}] "
                  f"{exact:8.4f} {paper:11.4f} {str(e.contains(exact)):>11} {str(e.contains(paper)):>12} {secs:8.1f}")


if __name__ == "__main__":
    main()
