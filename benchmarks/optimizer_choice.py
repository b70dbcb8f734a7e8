"""The quick side-by-side that chose the chain's optimizer: central float64 training of the
``demo`` model with plain SGD, AdamW and Lion at a few learning rates.

    python benchmarks/optimizer_choice.py 600 sgd:0.125 adam:0.003 adam:0.01 lion:0.001 lion:0.0003

Each argument ``kind:lr`` is one run of STEPS steps (batch 16, clipping 1.0, 20 linear warm-up
steps for AdamW and Lion, constant after; AdamW betas 0.9/0.99, no weight decay; Lion betas
0.9/0.99), the same genesis weights and seeded batches for all. Printed at 100, 300, 600 and
1,000 steps: validation loss (the guard's first 64 records) / share of valid corpus sentences /
share of right sums (``llm/evaluation.py``). Wall time is printed but noisy (shared machine).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

from gradientcoin_edu.llm import LLMSpec
from gradientcoin_edu.llm.baseline import Lion
from gradientcoin_edu.llm.evaluation import evaluate
from gradientcoin_edu.model import to_model
from gradientcoin_edu.model.fixed_point import from_model


def run(spec, name: str, make, steps: int, warm: int = 0, batch: int = 16) -> None:
    pog = spec.pog
    vx, vy = spec.validation.batch(np.arange(64))
    model = to_model(pog.model, pog.genesis_weights(), pog.scale_log2)
    opt = make(model.parameters())
    base = [g["lr"] for g in opt.param_groups]
    rng, out, start = np.random.default_rng(0), [], time.perf_counter()
    for step in range(1, steps + 1):
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * (min(1.0, step / warm) if warm else 1.0)
        x, y = spec.train.batch(rng.integers(0, len(spec.train), batch))
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step in (100, 300, 600, 1000):
            with torch.no_grad():
                _, v = model(vx, vy)
            e = evaluate(spec, from_model(model))
            out.append(f"{step}: {float(v):.3f}/{e.sentences_valid:.0%}/{e.sums_correct:.0%}")
    print(f"{name:16s}", "  ".join(out), f"({time.perf_counter() - start:.0f} s)", flush=True)


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    spec = LLMSpec.builtin("demo")
    steps = int(argv[0]) if argv else 600
    for arg in argv[1:] or ["sgd:0.125", "adam:0.003", "lion:0.001"]:
        kind, lr = arg.split(":")
        lr = float(lr)
        if kind == "sgd":
            run(spec, arg, lambda p: torch.optim.SGD(p, lr=lr), steps)
        elif kind == "adam":
            run(spec, arg, lambda p: torch.optim.AdamW(p, lr=lr, betas=(0.9, 0.99), weight_decay=0.0), steps, warm=20)
        elif kind == "lion":
            run(spec, arg, lambda p: Lion(p, lr, (0.9, 0.99)), steps, warm=20)
        else:
            print(f"unknown optimizer {kind!r}: sgd, adam or lion", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
