"""What the LLM demo's memory holds, block by block, and where its CPU goes.

    python benchmarks/demo_memory.py [--blocks 500] [--every 50] [--tracemalloc] [--profile out.prof]

Runs ``run_llm_demo`` (the job behind ``gradientcoin demo``) and prints, every ``--every``
blocks of the first node, the process's resident memory (``/proc/self/status`` VmRSS; VmHWM is
the peak), the payload bytes the nodes hold in memory (block indexes; payloads left on disk
not counted) and the states their rules keep to replay from, and at the end
the CPU time (user + sys of this process, ``os.times``) and the peak RSS. ``--tracemalloc``
also prints the 15 source lines holding the most Python/numpy memory at the end (slower; torch's
own allocations are not traced). ``--profile`` writes a cProfile of the whole run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=500)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--profile", default=None)
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    from gradientcoin_edu import demo
    from gradientcoin_edu.chain.store import PayloadOnDisk
    from gradientcoin_edu.llm import network

    if args.tracemalloc:
        import tracemalloc
        tracemalloc.start(8)

    sims = []
    real = network.LLMSimulator

    def spy(*a, **k):                                   # keep a handle on the simulator the demo builds
        sim = real(*a, **k)
        sims.append(sim)
        return sim
    demo_network = sys.modules["gradientcoin_edu.llm.network"]
    demo_network.LLMSimulator = spy

    marks: list[tuple[int, float]] = []
    state = {"next": args.every}

    def held_payload_mb(sim) -> float:
        total = 0
        for sn in sim.nodes.values():
            if sn.node is not None:
                total += sum(len(e.block.payload) for e in sn.node.chain.entries()
                             if not isinstance(e.block, PayloadOnDisk))
        return total / 2**20

    def held_states(sim) -> tuple[int, float]:
        """States (weights and optimizer) the nodes' rules keep to replay from (Lion): count, MB."""
        states = [s for sn in sim.nodes.values() if sn.node is not None
                  for s in getattr(sn.node.chain.rule, "_states", {}).values()]
        return len(states), sum(s.nbytes for s in states) / 2**20

    def echo(line: str) -> None:
        print(line, flush=True)

    import gradientcoin_edu.network.simulator as simmod
    run_blocks = simmod.Simulator.run

    def run_spy(self, *a, **k):
        out = run_blocks(self, *a, **k)
        first = next(iter(self.nodes.values())).node
        h = first.chain.height if first is not None else 0
        if h >= state["next"]:
            state["next"] = h + args.every
            marks.append((h, rss_mb()))
            n_states, states_mb = held_states(self)
            print(f"  block {h:4d}: RSS {rss_mb():7.1f} MB (peak {rss_mb('VmHWM'):7.1f}), payloads in the nodes' "
                  f"memory {held_payload_mb(self):6.1f} MB, states kept by their rules {n_states} "
                  f"({states_mb:.0f} MB), CPU {sum(os.times()[:2]):6.1f} s", flush=True)
        return out
    simmod.Simulator.run = run_spy

    prof = None
    if args.profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    t0, c0 = time.perf_counter(), os.times()
    result = demo.run_llm_demo(blocks=args.blocks, progress=False, echo=echo)
    wall, c1 = time.perf_counter() - t0, os.times()
    if prof is not None:
        prof.disable()
        prof.dump_stats(args.profile)
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(f"\nblocks {result.height}: wall {wall:.1f} s, CPU (user+sys) {cpu:.1f} s, peak RSS {rss_mb('VmHWM'):.0f} MB, "
          f"RSS now {rss_mb():.0f} MB")
    if args.tracemalloc:
        import tracemalloc
        snap = tracemalloc.take_snapshot()
        print(f"tracemalloc: current {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MB, "
              f"peak {tracemalloc.get_traced_memory()[1] / 2**20:.1f} MB; top lines:")
        for stat in snap.statistics("lineno")[:15]:
            print(f"  {stat.size / 2**20:8.1f} MB  {stat.count:7d} blocks  {stat.traceback}")


if __name__ == "__main__":
    main()
