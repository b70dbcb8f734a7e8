"""Batch preview: how much a miner lifts its own records' share of the applied gradients.

    python benchmarks/preview.py                  # demo preset (nano GPT), one to three minutes on a CPU
    python benchmarks/preview.py --parents 50     # quicker, noisier

A batch costs tens of µs to draw, its gradient tens of ms. A miner who contributed records may
spend an *overhead* (a fraction of its gradient time) looking at batches before it computes a
gradient, and compute only the batch richest in its records (``llm/preview.py``). We time both
on this machine, turn each overhead 0-100 % into previews per gradient, and play the miner on
the `demo` genesis corpus plus 20 honest contributions of 32 records and the miner's own
contribution(s), under

* the old rule: uniform draws from the whole dataset (the dataset as a plain ``Dataset``);
* the new rule: the dataset the chain builds (``StratifiedDataset``: one stratum per
  contribution, contributions capped at ``data_share_pct`` = 25 % of a batch, slots allocated
  per parent block).

``lift`` = the miner's share of the computed batches / its share when it does not preview (the
0 % row: same parents, same miner); ``vs weights`` divides by the share the weights promise
instead (it also carries the sampling noise of ``--parents`` parents). The preview cost used
for both rules is the old rule's (the cheaper), so the attacker gets the most previews. Prints
a markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

OVERHEADS = (0.0, 0.1, 0.25, 0.5, 1.0)


def timings(spec, dataset, n: int = 200, rounds: int = 7) -> tuple[float, float]:
    """(seconds per batch preview on the old rule, seconds per gradient) on this machine: CPU time
    (``time.process_time``), the two sides alternated over ``rounds`` rounds after a warm-up, medians
    (the minimum of each is printed by ``main``)."""
    from gradientcoin_edu.model import Dataset
    from gradientcoin_edu.proof_of_gradient import canonical_gradient
    from gradientcoin_edu.proof_of_gradient.batch import select_batch, select_indices, template_seed

    plain = Dataset(dataset.records)
    w = spec.pog.genesis_weights()
    params = spec.pog.replace(dataset_root=plain.root)

    def previews():
        for k in range(n):
            select_indices(plain, b"p" * 32, template_seed(b"p" * 32, b"m" * 32, k), spec.pog.batch_size)

    batch = {}

    def gradient(k):
        if k not in batch:
            batch[k] = select_batch(plain, b"p" * 32, template_seed(b"p" * 32, b"m" * 32, k), spec.pog.batch_size)[1:]
        canonical_gradient(params, w, *batch[k])

    times = {"preview": [], "gradient": []}
    sides = [("preview", lambda r: previews()), ("gradient", gradient)]
    for r in range(rounds + 1):
        for name, fn in (sides if r % 2 == 0 else sides[::-1]):
            start = time.process_time()
            fn(r)
            if r:                                              # round 0 warms up
                times[name].append((time.process_time() - start) / (n if name == "preview" else 1))
    timings.last = times
    return statistics.median(times["preview"]), statistics.median(times["gradient"])


def scenario(spec, own_contributions: int):
    """The demo genesis corpus, 20 honest contributions of 32 records, then the miner's 64-record ones."""
    from gradientcoin_edu.llm.data import extend_dataset

    d = spec.train
    honest = [d.records[32 * i:32 * (i + 1)] for i in range(20)]
    mine = [d.records[1000 + 64 * i:1064 + 64 * i] for i in range(own_contributions)]
    new = extend_dataset(d, honest + mine, spec.params)
    own = np.zeros(len(new), dtype=bool)
    own[len(new) - 64 * own_contributions:] = True
    return new, own


def run(parents: int, preset: str = "demo") -> dict:
    from gradientcoin_edu.crypto.hashes import sha256
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.llm.preview import preview_share, previews_for_overhead
    from gradientcoin_edu.model import Dataset

    torch.set_num_threads(1)
    spec = LLMSpec.builtin(preset)
    new, _ = scenario(spec, 1)
    preview_s, gradient_s = timings(spec, new)
    tops = [sha256(b"preview parent %d" % i) for i in range(parents)]
    rows = []
    for own_contributions in (1, 4):
        new, own = scenario(spec, own_contributions)
        for rule, dataset in (("old (uniform)", Dataset(new.records)), ("new (strata)", new)):
            honest = None
            for overhead in OVERHEADS:
                k = previews_for_overhead(overhead, gradient_s, preview_s)
                r = preview_share(dataset, own, tops, b"\x07" * 32, k, spec.pog.batch_size)
                honest = honest or r.share
                rows.append(dict(own=64 * own_contributions, rule=rule, overhead=overhead, previews=k,
                                 share=r.share, expected=r.expected, lift=r.share / honest, vs_weights=r.lift))
    return dict(preview_s=preview_s, gradient_s=gradient_s, rows=rows, parents=parents,
                records=len(new), preset=preset)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parents", type=int, default=100, help="parent blocks (one gradient each) per cell")
    parser.add_argument("--preset", default="demo", choices=["tiny", "demo"])
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args.parents, args.preset)
    t = getattr(timings, "last", None) or {"preview": [out["preview_s"]], "gradient": [out["gradient_s"]]}
    print(f"preset {out['preset']}: CPU time, alternated, min/median: preview {min(t['preview']) * 1e6:.0f}/"
          f"{out['preview_s'] * 1e6:.0f} µs, gradient {min(t['gradient']) * 1e3:.1f}/{out['gradient_s'] * 1e3:.1f} ms; "
          f"{out['parents']} parents x 1 gradient per cell")
    print("| miner's records | rule | overhead | previews per gradient | share of applied slots | expected | "
          "lift | vs weights |")
    print("|---|---|---|---|---|---|---|---|")
    for r in out["rows"]:
        print(f"| {r['own']} | {r['rule']} | {r['overhead']:.0%} | {r['previews']} | {r['share']:.4f} | "
              f"{r['expected']:.4f} | {r['lift']:.2f}x | {r['vs_weights']:.2f}x |")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
