"""How much of what the demo learns is the seed: central training with the chain's own optimizer, many seeds.

    python benchmarks/learning_seeds.py                              # 12 seeds, Lion peak 2^-10 and 2^-9
    python benchmarks/learning_seeds.py --seeds 0-3 --lr-shift 10    # quicker

Each run is ``llm.baseline.central_training`` of the ``demo`` network's model for ``--steps`` steps (540:
the demo's 500 blocks and its story's few extra), float64, with the chain's rules - Lion with its betas,
warm-up and schedule, clipping, batch size - changed only in the peak learning rate ``2^-lr_shift``;
``seed`` picks the genesis corpus and the batches. Scored with ``llm.evaluation.evaluate``, as the demo
scores its chain: valid corpus sentences of 40 greedy openings, and right sums of the validation text.
About 33 s of CPU per run on one core. Prints one row per seed and the mean and range per rate.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def seeds_arg(text: str) -> list[int]:
    """``0-11`` or ``0,3,5``."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=seeds_arg, default=list(range(12)), help="0-11 (default) or 0,3,5")
    parser.add_argument("--lr-shift", default="10,9", help="peak learning rates 2^-k to compare (default 10,9)")
    parser.add_argument("--steps", type=int, default=540, help="training steps (default 540, the demo's)")
    args = parser.parse_args(argv)
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.llm.baseline import central_training
    from gradientcoin_edu.llm.evaluation import evaluate

    torch.set_num_threads(1)
    shifts = [int(k) for k in args.lr_shift.split(",")]
    sums: dict[int, list[float]] = {k: [] for k in shifts}
    print(f"| seed | {' | '.join(f'2^-{k}: loss, sentences, sums' for k in shifts)} |")
    print("|---:|" + "---|" * len(shifts))
    for seed in args.seeds:
        cells = []
        for k in shifts:
            start = time.process_time()
            spec = LLMSpec.builtin("demo", seed=seed, pog=dict(lr_shift=k))
            run = central_training(spec, args.steps, seed=seed)
            ev = evaluate(spec, run.weights)
            sums[k].append(ev.sums_correct)
            cells.append(f"{run.final_loss:.3f}, {ev.sentences_valid:.0%}, **{ev.sums_correct:.0%}** "
                         f"({time.process_time() - start:.0f} s)")
        print(f"| {seed} | {' | '.join(cells)} |", flush=True)
    for k in shifts:
        s = sums[k]
        print(f"\n2^-{k}: held-out sums right, mean {statistics.mean(s):.1%}, range {min(s):.0%}-{max(s):.0%}, "
              f"seeds below 20 %: {sum(v < 0.2 for v in s)} of {len(s)}")


if __name__ == "__main__":
    main()
