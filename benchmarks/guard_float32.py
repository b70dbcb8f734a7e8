"""A cheaper guard? The validation loss in float32 against float64, over many chain states.

    python benchmarks/guard_float32.py                         # demo (108k), 0.8M, 3.2M; a few minutes
    python benchmarks/guard_float32.py --sizes demo --states 300
    python benchmarks/guard_float32.py --bound-cost            # what certifying float32 would cost at least

The guard (``docs/protocol.md`` section 8) computes the float64 mean cross-entropy of the first 16
validation records after each update and compares it with the best loss so far plus the margin
(0.1). A "float32 first" guard would compute the loss in float32 and fall back to float64 only
when the float32 value lies within a bound ``B`` of the threshold. This measures, for each model
(context 32, the demo network's rules and corpus), along an honest Lion chain of ``--states``
blocks and, at every state, for a *junk* candidate (the update of a gradient on random tokens,
what a poisoner's block looks like to the guard):

* the float64 loss (1 torch thread), the float32 loss with 1 and with 2 threads, each timed
  (CPU time, the three alternated in one process): min / median ms;
* ``|loss32 - loss64|``: max and median over all states and candidates, 1 and 2 threads;
* the anchored guard's decision quantity ``after - (best + margin)`` of every honest block and
  junk candidate, and how many lie within ``B`` of 0 for ``B`` = 10×, 1,000× and 10^5× the largest
  difference seen (those would need float64: the fallback rate if ``B`` were a proven bound).

Figures only; nothing is asserted. The analysis (what a bound would have to cover, why the
float64 loss is consensus state) is in ``docs/benchmarks_llm.md``, "The guard in float32".
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

SIZES = {"demo": (2, 64, 4), "0.8M": (4, 128, 4), "3.2M": (4, 256, 4)}


def run(size: str, states: int, seed: int = 0) -> dict:
    from gradientcoin_edu.chain.block import BlockHeader
    from gradientcoin_edu.llm.spec import EASIEST_BITS, POG_DEFAULTS
    from gradientcoin_edu.model import CharTokenizer, GPTConfig, builtin_datasets
    from gradientcoin_edu.proof_of_gradient import PoGParams, apply_update, attempt, quantize
    from gradientcoin_edu.proof_of_gradient.gradient import compute_gradient, clip_gradient, compute_loss
    from gradientcoin_edu.proof_of_gradient.verify import _validation_tensors
    n_layer, n_embd, n_head = SIZES[size]
    cfg = GPTConfig(block_size=32, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    tok = CharTokenizer()
    train, val = builtin_datasets(32, seed=seed, n_lines=4000, tokenizer=tok)
    pog = PoGParams.for_data(train, val, cfg, tokenizer=tok, **POG_DEFAULTS)
    vx, vy = _validation_tensors(pog, val)
    rng = np.random.default_rng(seed)

    def loss(w, dtype, threads):
        torch.set_num_threads(threads)
        try:
            start = time.process_time()
            v = compute_loss(cfg, w, vx, vy, scale_log2=pog.scale_log2, dtype=dtype)
            return v, time.process_time() - start
        finally:
            torch.set_num_threads(1)

    sides = [("f64", torch.float64, 1), ("f32", torch.float32, 1), ("f32 2 threads", torch.float32, 2)]
    times = {k: [] for k, _, _ in sides}
    diffs1, diffs2, decisions = [], [], {"honest": [], "junk": []}

    def measure(w, r):
        got = {}
        for k, dtype, threads in (sides if r % 2 == 0 else sides[::-1]):
            got[k], t = loss(w, dtype, threads)
            times[k].append(t)
        diffs1.append(abs(got["f32"] - got["f64"]))
        diffs2.append(abs(got["f32 2 threads"] - got["f64"]))
        return got["f64"]

    w = pog.genesis_weights()
    best = measure(w, 0)
    for i in range(states):
        header = BlockHeader(1, i.to_bytes(32, "little"), bytes(32), bits=EASIEST_BITS, miner_id=b"\1" * 32)
        # a junk candidate on this state: the clipped gradient of random tokens, quantized and applied
        x = torch.from_numpy(rng.integers(0, cfg.vocab_size, (pog.batch_size, 32))).long()
        g, _ = compute_gradient(cfg, w, x, torch.roll(x, 1, 1))
        junk = apply_update(w, quantize(clip_gradient(g, pog.clip_norm), pog.quantum_log2), pog)
        decisions["junk"].append(measure(junk, i + 1) - (best + pog.validation_margin))
        w = apply_update(w, attempt(pog, train, header, w).q, pog)
        after = measure(w, i)
        decisions["honest"].append(after - (best + pog.validation_margin))
        best = min(best, after)
    return dict(size=size, n=pog.n_params, states=states, times=times, diffs1=diffs1, diffs2=diffs2,
                decisions=decisions, last=best, margin=pog.validation_margin)


def bound_cost(size: str, repeats: int = 15) -> dict:
    """CPU time of the guard's forward in float64, in float32, and in float32 plus the one product a
    componentwise a-posteriori error bound cannot avoid: ``|x|·|W|`` for every linear layer (forward
    hooks; the attention products ``|q|·|k|`` and ``|p|·|v|`` and the propagation are left out, so this
    is a lower bound on the cost of a certified float32 guard). Alternated, min/median."""
    from gradientcoin_edu.llm.spec import POG_DEFAULTS
    from gradientcoin_edu.model import CharTokenizer, GPTConfig, builtin_datasets
    from gradientcoin_edu.model.fixed_point import load_weights
    from gradientcoin_edu.model.gpt import GPT
    from gradientcoin_edu.proof_of_gradient import PoGParams
    from gradientcoin_edu.proof_of_gradient.verify import _validation_tensors
    n_layer, n_embd, n_head = SIZES[size]
    cfg = GPTConfig(block_size=32, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    tok = CharTokenizer()
    train, val = builtin_datasets(32, seed=0, n_lines=4000, tokenizer=tok)
    pog = PoGParams.for_data(train, val, cfg, tokenizer=tok, **POG_DEFAULTS)
    vx, vy = _validation_tensors(pog, val)
    models = {}
    for name, dtype in (("f64", torch.float64), ("f32", torch.float32), ("f32 + |x||W|", torch.float32)):
        m = GPT(cfg, dtype=dtype)
        load_weights(m, pog.genesis_weights(), pog.scale_log2)
        if name.startswith("f32 +"):
            for mod in m.modules():
                if isinstance(mod, torch.nn.Linear):
                    absw = mod.weight.detach().abs()
                    mod.register_forward_hook(lambda mod, i, o, a=absw: torch.nn.functional.linear(i[0].abs(), a))
        models[name] = m
    times = {k: [] for k in models}
    order = list(models)
    with torch.no_grad():
        for r in range(repeats + 1):
            for k in (order if r % 2 == 0 else order[::-1]):
                start = time.process_time()
                models[k](vx, vy)
                if r:
                    times[k].append(time.process_time() - start)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--states", type=int, default=0, help="honest blocks (default: 200 demo, 40 0.8M, 15 3.2M)")
    ap.add_argument("--bound-cost", action="store_true",
                    help="instead: the guard's forward in float64, float32 and float32 + |x||W| (the core of a certificate)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    if args.bound_cost:
        for size in args.sizes.split(","):
            t = bound_cost(size)
            med = {k: statistics.median(v) for k, v in t.items()}
            print(f"{size}: " + ", ".join(f"{k} {1000 * min(v):.2f}/{1000 * med[k]:.2f} ms" for k, v in t.items())
                  + "; / f64 (medians): " + ", ".join(f"{k} {med[k] / med['f64']:.2f}" for k in t), flush=True)
        return 0
    for size in args.sizes.split(","):
        states = args.states or {"demo": 200, "0.8M": 40, "3.2M": 15}[size]
        r = run(size, states)
        t = {k: (1000 * min(v), 1000 * statistics.median(v)) for k, v in r["times"].items()}
        d1, d2 = np.array(r["diffs1"]), np.array(r["diffs2"])
        print(f"\n{size} ({r['n']:,} parameters), {states} honest blocks + {states} junk candidates, 16 records; "
              f"loss after: {r['last']:.3f}")
        print("   CPU ms min/median: " + ", ".join(f"{k} {a:.2f}/{b:.2f}" for k, (a, b) in t.items())
              + f"; float32 / float64 (medians) {t['f32'][1] / t['f64'][1]:.2f}")
        print(f"   |loss32 - loss64|: 1 thread max {d1.max():.3g} median {np.median(d1):.3g}; "
              f"2 threads max {d2.max():.3g} median {np.median(d2):.3g}")
        worst = max(d1.max(), d2.max())
        hon, junk = np.array(r["decisions"]["honest"]), np.array(r["decisions"]["junk"])
        print(f"   anchored decision after - (best + {r['margin']}): honest max {hon.max():+.4f} (closest to 0: "
              f"{np.abs(hon).min():.4f}), junk max {junk.max():+.4f} (closest: {np.abs(junk).min():.4f}), "
              f"junk refused {np.mean(junk > 0):.0%}")
        for f in (10, 1000, 100000):
            b = f * worst
            print(f"   B = {f:>6}x the largest difference = {b:.2e}: decisions within B of the threshold: "
                  f"honest {int(np.sum(np.abs(hon) <= b))}/{len(hon)}, junk {int(np.sum(np.abs(junk) <= b))}/{len(junk)}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
