"""The fixed per-block cost of the decentralized LLM that is not the gradient, the guard or the spot check.

    python benchmarks/block_overhead.py                     # demo preset, 30 blocks (~10 s)
    python benchmarks/block_overhead.py --blocks 60 --profile

One miner's chain at ``EASIEST_BITS`` (one ticket per block) mines blocks with ``mine`` and
connects each with ``add_block``; a second node (another ``LLMChain``) verifies every block
with its own ``add_block``. Per block, the median CPU process time (one torch thread) of

* **mining** (``LLMChain.mine``), **own connect** (the miner's ``add_block`` of its block) and
  **foreign verification** (the other node's ``add_block``),
* and inside each, the time spent in the gradient (``canonical_gradient``: forward + backward),
  the guard (``validation_loss``: the validation forward passes) and the loss sheet's spot check (``record_losses``: one record's forward pass; payload version 2 has no stamp),
  so that "rest" - everything else - is visible.

``--profile`` adds the top functions by own time of the rest (cProfile). Prints figures only.
"""
from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import pstats
import statistics
import time
from collections import defaultdict

import torch

PARTS = ("gradient", "guard", "spot")


def _instrument(spent: dict) -> None:
    """Wrap the gradient, guard and spot-check functions where they are looked up, adding their time to ``spent``."""
    mine, rule, verify, llm_chain = (importlib.import_module(f"gradientcoin_edu.{m}") for m in (
        "proof_of_gradient.mine", "proof_of_gradient.rule", "proof_of_gradient.verify", "llm.chain"))

    def timed(part, fn):
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[part] += time.process_time() - start
        return wrapper

    for module, name, part in [(mine, "canonical_gradient", "gradient"), (verify, "canonical_gradient", "gradient"),
                               (verify, "validation_loss", "guard"), (rule, "validation_loss", "guard"),
                               (llm_chain, "validation_loss", "guard"), (verify, "record_losses", "spot")]:
        setattr(module, name, timed(part, getattr(module, name)))


def measure(preset: str, n_blocks: int, warmup: int = 2, profile: bool = False) -> dict:
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import EASIEST_BITS, LLMChain, LLMSpec

    spent: dict = defaultdict(float)
    _instrument(spent)
    spec = LLMSpec.builtin(preset, bits=EASIEST_BITS)
    miner, other = LLMChain(spec), LLMChain(spec)
    address = Wallet.from_seed("overhead miner").address
    rows: dict = defaultdict(list)
    prof = cProfile.Profile() if profile else None

    def step(kind: str, fn):
        spent.clear()
        if prof is not None:
            prof.enable()
        start = time.process_time()
        out = fn()
        total = time.process_time() - start
        if prof is not None:
            prof.disable()
        rows[kind].append({"total": total, **{p: spent[p] for p in PARTS}})
        return out

    for i in range(warmup + n_blocks):
        if i == warmup:
            rows.clear()
            if prof is not None:
                prof = cProfile.Profile()
        block = step("mining", lambda: miner.mine(address).block)
        step("own connect", lambda: miner.add_block(block))
        step("foreign verification", lambda: other.add_block(block))
    assert miner.tip_hash == other.tip_hash and miner.rule.weights_root() == other.rule.weights_root()
    return {"rows": rows, "profile": prof, "tip": miner.tip_hash, "root": miner.rule.weights_root()}


def _ms(xs) -> float:
    return 1000 * statistics.median(xs)


def report(result: dict) -> None:
    print(f"{'per block, median ms':<22} {'total':>7} {'gradient':>9} {'guard':>7} {'spot':>7} {'rest':>7}")
    for kind, rows in result["rows"].items():
        rest = [r["total"] - sum(r[p] for p in PARTS) for r in rows]
        cols = [_ms([r["total"] for r in rows])] + [_ms([r[p] for r in rows]) for p in PARTS] + [_ms(rest)]
        print(f"{kind:<22} " + " ".join(f"{c:>{w}.2f}" for c, w in zip(cols, (7, 9, 7, 7, 7))))
    print(f"tip {result['tip'][::-1].hex()[:16]}.., weights root {result['root'].hex()[:16]}..")
    if result["profile"] is not None:
        print("\ntop functions by own time (all three steps, all blocks):")
        pstats.Stats(result["profile"]).sort_stats("tottime").print_stats(25)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--blocks", type=int, default=30)
    ap.add_argument("--profile", action="store_true", help="also print the top functions by own time")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"preset {args.preset}, {args.blocks} blocks at EASIEST_BITS, CPU process time, 1 torch thread, "
          f"load average {os.getloadavg()[0]:.2f}")
    report(measure(args.preset, args.blocks, profile=args.profile))


if __name__ == "__main__":
    main()
