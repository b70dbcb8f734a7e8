"""What a micro-batch commitment would cost an honest miner: one batch against m micro-batches.

    python benchmarks/microbatch_overhead.py [--preset demo] [--rounds 15]

The anti-DoS design "commit to m micro-batch gradients, recompute one at random first" needs the
canonical gradient to be the sum of m micro-batch gradients, so a miner runs m smaller forward and
backward passes instead of one. This times both on the same batch (weights loaded once), CPU time,
the sides taking turns in one process, minimum and median over the rounds, one torch thread.
docs/protocol.md section 4 uses the figures to compare with the loss sheet.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from gradientcoin_edu.llm.spec import LLMSpec
from gradientcoin_edu.model.fixed_point import load_weights
from gradientcoin_edu.proof_of_gradient.gradient import _lock_model, canonical_torch


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    spec = LLMSpec.builtin(args.preset)
    p = spec.pog
    w = p.genesis_weights()
    x, y = spec.train.batch(np.arange(p.batch_size))

    def micro(m):
        b = p.batch_size // m

        def run():
            with canonical_torch(), _lock_model(p.model, torch.float64, "cpu") as model:
                load_weights(model, w, p.scale_log2)
                for j in range(m):
                    model.zero_grad(set_to_none=True)
                    _, loss = model(x[j * b:(j + 1) * b], y[j * b:(j + 1) * b])
                    loss.backward()
                    torch.cat([q.grad.reshape(-1) for q in model.parameters()])
        return run
    ms = [m for m in (1, 2, 4, 8, 16) if p.batch_size % m == 0]
    times = {m: [] for m in ms}
    for r in range(args.rounds):
        for m in ms[r % len(ms):] + ms[:r % len(ms)]:
            t = time.process_time()
            micro(m)()
            times[m].append(time.process_time() - t)
    print(f"preset {args.preset}: batch {p.batch_size}, {args.rounds} rounds, CPU ms\n")
    print("| micro-batches m | min ms | median ms | vs m = 1 (min) |\n|---:|---:|---:|---:|")
    for m in ms:
        print(f"| {m} | {1e3 * min(times[m]):.1f} | {1e3 * statistics.median(times[m]):.1f} "
              f"| {min(times[m]) / min(times[1]):.2f}x |")


if __name__ == "__main__":
    main()
