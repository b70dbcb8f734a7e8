"""What the LLM demo's memory holds, block by block, and where its CPU goes.

    python benchmarks/demo_memory.py [--blocks 500] [--every 50] [--tracemalloc] [--profile out.prof]

Runs ``run_llm_demo`` (the job behind ``gradientcoin demo``) and prints, every ``--every``
blocks of the first node, the process's resident memory (``/proc/self/status`` VmRSS; VmHWM is
the peak), the payload bytes the nodes hold in memory (block indexes; payloads left on disk
not counted) and the states their rules keep to replay from, and at the end
the CPU time (user + sys of this process, ``os.times``) and the peak RSS. ``--tracemalloc``
also prints the 15 source lines holding the most Python/numpy memory at the end (slower; torch's
own allocations are not traced). ``--profile`` writes a cProfile of the whole run.

    python benchmarks/demo_memory.py --node [--model demo] [--blocks 200] [--rounds 2]

measures a real node's chain instead (``gradientcoin node --chain llm``: opened by node_cli's own
path, ``DATA_DIR/blocks.sqlite``), mining ``--blocks`` blocks on it, each side in a fresh child
process, the sides alternated ``--rounds`` times: *before* is the chain as node_cli opened it until
``llm.network.keep_payloads_on_disk`` (``LLMChain(spec, store=store)``, every payload kept in
memory), *after* is node_cli's path now. Each child prints its resident memory (VmRSS) growth per
block from block ``query_window + 12`` to the last, the payload bytes the chain holds in memory,
and then a restart: another child reopens the same store and prints its RSS after the replay, its
peak RSS (during the replay), the payloads the chain holds, and its RSS growth per block while it
mines ``--blocks / 2`` blocks more (from the 10th of them). Each side restarts twice, each time
on its own copy of the store, in alternated order: with the replay as it is (*new*: the payloads
stay on disk, ``chain/replay.py``) and with the replay as it was (*old*: ``BlockStore.rows`` made
to read every payload into memory, which is what the replay did before it left them on disk).
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
    ap.add_argument("--node", action="store_true", help="a real node's chain, before/after (see above)")
    ap.add_argument("--model", default="demo", choices=["tiny", "demo"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--side", choices=["before", "after"], help=argparse.SUPPRESS)      # a child's job
    ap.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reopen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--replay", choices=["old", "new"], default="new", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side is not None:
        return node_side(args)
    if args.node:
        return node_memory(args)

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


def open_node_chain(side: str, model: str, data_dir: str):
    """A real node's chain on ``data_dir``: node_cli's own open path (after), or the chain as that
    path built it before ``keep_payloads_on_disk`` was plugged in (before)."""
    from pathlib import Path
    from gradientcoin_edu import node_cli
    namespace = argparse.Namespace(chain="llm", model=model, corpus_seed=0, threads=1)
    if side == "after":
        return node_cli._open_chain(namespace, Path(data_dir))
    import torch
    from gradientcoin_edu.chain.store import BlockStore
    from gradientcoin_edu.llm import LLMChain, LLMSpec
    torch.set_num_threads(1)
    return LLMChain(LLMSpec.builtin(model, seed=0), store=BlockStore(str(Path(data_dir) / "blocks.sqlite")))


def held_mb(chain) -> float:
    from gradientcoin_edu.chain.store import PayloadOnDisk
    return sum(len(e.block.payload) for e in chain.entries() if not isinstance(e.block, PayloadOnDisk)) / 2**20


def node_side(args) -> None:
    """One child: mine ``--blocks`` on a fresh chain (or ``--reopen`` the stored one); one JSON line."""
    import json
    from pathlib import Path
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    if args.reopen and args.replay == "old":           # the replay as it was: every payload read into memory
        from gradientcoin_edu.chain.store import BlockStore
        rows = BlockStore.rows
        BlockStore.rows = lambda self, payloads=True: rows(self, True)
    chain = open_node_chain(args.side, args.model, args.data_dir)
    out = {"side": args.side, "replay": args.replay}
    if args.reopen:
        out.update(rss_mb=rss_mb(), peak_mb=rss_mb("VmHWM"), height=chain.height, held_mb=held_mb(chain))
        more, warm = args.blocks // 2, 10       # and the node goes on (its first blocks mined: warm-up)
        for i in range(more):
            chain.mine_and_add(bytes(20))
            if i + 1 == warm:
                start = rss_mb()
        out.update(per_block_kb=(rss_mb() - start) * 1024 / (more - warm), end_rss_mb=rss_mb())
    else:
        warm, start, c0 = chain.spec.params.query_window + 12, None, os.times()
        for _ in range(args.blocks):
            chain.mine_and_add(bytes(20))
            if chain.height == warm:
                start = rss_mb()
        c1 = os.times()
        out.update(height=chain.height, per_block_kb=(rss_mb() - start) * 1024 / (chain.height - warm),
                   rss_mb=rss_mb(), held_mb=held_mb(chain),
                   cpu_per_block_s=((c1.user - c0.user) + (c1.system - c0.system)) / args.blocks)
    chain.close()
    print(json.dumps(out), flush=True)


def node_memory(args) -> None:
    """Both sides, each in fresh child processes, alternated ``--rounds`` times."""
    import json
    import shutil
    import subprocess
    import tempfile

    def child(side: str, data_dir: str, *extra: str) -> dict:
        cmd = [sys.executable, __file__, "--side", side, "--model", args.model, "--blocks", str(args.blocks),
               "--data-dir", data_dir, *extra]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    results: dict[str, list[dict]] = {"before": [], "after": []}
    restarts: dict[tuple[str, str], list[dict]] = {}
    for r in range(args.rounds):
        for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
            with tempfile.TemporaryDirectory() as tmp:
                grow = child(side, tmp + "/mined")
                results[side].append(grow)
                print(f"round {r + 1} {side:6s}: {grow['height']} blocks, RSS growth {grow['per_block_kb']:7.1f} "
                      f"KB/block (RSS at the end {grow['rss_mb']:.0f} MB), payloads in memory "
                      f"{grow['held_mb']:6.1f} MB, CPU {grow['cpu_per_block_s']:.3f} s/block", flush=True)
                for replay in (("old", "new") if r % 2 == 0 else ("new", "old")):
                    copy = f"{tmp}/{replay}"                          # each restart on its own copy
                    shutil.copytree(tmp + "/mined", copy)
                    again = child(side, copy, "--reopen", "--replay", replay)
                    restarts.setdefault((side, replay), []).append(again)
                    print(f"round {r + 1} {side:6s} restart, {replay} replay: RSS after the replay "
                          f"{again['rss_mb']:.0f} MB (peak {again['peak_mb']:.0f} MB), payloads in memory "
                          f"{again['held_mb']:6.1f} MB; {args.blocks // 2} blocks more: RSS growth "
                          f"{again['per_block_kb']:6.1f} KB/block (RSS at the end {again['end_rss_mb']:.0f} MB)",
                          flush=True)
    for side, runs in results.items():
        growth = sorted(x["per_block_kb"] for x in runs)
        print(f"{side:6s}: RSS growth per block min {growth[0]:.1f} KB, median {growth[len(growth) // 2]:.1f} KB")
    for (side, replay), runs in sorted(restarts.items()):
        print(f"{side:6s} restart, {replay} replay: RSS after the replay min {min(x['rss_mb'] for x in runs):.0f} MB, "
              f"peak min {min(x['peak_mb'] for x in runs):.0f} MB max {max(x['peak_mb'] for x in runs):.0f} MB, "
              f"then RSS growth per block min {min(x['per_block_kb'] for x in runs):.1f} KB")


if __name__ == "__main__":
    main()
