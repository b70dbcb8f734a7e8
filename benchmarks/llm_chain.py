"""What the decentralized LLM costs: loss per step, mining vs verification, the decentralization tax.

    python benchmarks/llm_chain.py                    # all four measurements (a few minutes on a CPU)
    python benchmarks/llm_chain.py --blocks 100 --skip-demo

1. **Loss**: the validation loss at genesis and after N blocks of one miner, against central
   training (same model, data, batch, learning rate and clipping; float64 SGD) after N steps.
2. **Mining vs verification** per block (``demo`` difficulty: about two tickets per block): the
   miner's time (tickets, guard, block assembly) and a second node's time to verify the block
   (recompute the gradient, hash, guard) - what every node pays for every block.
3. **The decentralization tax**: one miner at the easiest target (a ticket wins with probability
   1 - 2^-16), wall time per applied gradient step, mining and connecting its own block, against
   central training of the same model for the same steps (float64, and float32 for reference);
   with a breakdown of where the chain's time goes.
4. **The demo's wall time**: ``gradientcoin demo`` (3 miners, 100 blocks, simulated network).
5. ``--guard-study``: the measurements behind the chain's learning rate and guard
   (``docs/decentralized_llm.md``): how much one honest SGD step raises the validation loss at
   learning rates 1/4 and 1/8, and a flood of poison (the corpus written backwards, 72 % of the
   dataset) against no guard, the per-block guard of DESIGN.md and the anchored guard.

Timings are wall-clock on whatever machine runs this, with one torch thread (the tiny model gains
nothing from more); they are noisy on shared machines - run it when the machine is quiet and say so.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def loss_and_timing(preset: str, blocks: int, checkpoints: list[int]) -> dict:
    """Measurements 1 and 2 on one miner's chain at the demo difficulty."""
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import LLMChain, LLMSpec
    from gradientcoin_edu.llm.baseline import central_training

    spec = LLMSpec.builtin(preset)
    miner = Wallet.from_seed("bench miner")
    chain, verifier = LLMChain(spec), LLMChain(spec)
    chain.val_loss(), verifier.val_loss()                       # warm caches (model, genesis loss)
    mine_s, verify_s, attempts = [], [], []
    for _ in range(blocks):
        start = time.perf_counter()
        block, proof, _ = chain.mine(miner.address)
        chain.add_block(block)
        mine_s.append(time.perf_counter() - start)
        attempts.append(proof.attempts)
        start = time.perf_counter()
        verifier.add_block(block)
        verify_s.append(time.perf_counter() - start)
    assert verifier.rule.weights_root() == chain.rule.weights_root()
    central = central_training(spec, blocks, seed=0, eval_every=1)
    losses = {h: (chain.val_loss(h), central.val_losses[h]) for h in checkpoints if h <= blocks}
    return dict(losses=losses, mine_s=_median(mine_s), verify_s=_median(verify_s),
                mine_mean=statistics.mean(mine_s), verify_mean=statistics.mean(verify_s),
                attempts=statistics.mean(attempts), blocks=blocks)


def _template(parent: bytes, miner_id: bytes, nonce: int = 0):
    """A block header template on ``parent`` for ``miner_id`` (no transactions)."""
    from gradientcoin_edu.chain.block import BlockHeader
    return BlockHeader(1, parent, bytes(32), miner_id=miner_id, nonce=nonce)


def tax(preset: str, steps: int) -> dict:
    """Measurement 3: one miner at the easiest target against central training, plus a breakdown."""
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import EASIEST_BITS, LLMChain, LLMSpec
    from gradientcoin_edu.llm.baseline import central_training
    from gradientcoin_edu.model.fixed_point import weights_root
    from gradientcoin_edu.proof_of_gradient import (apply_update, batch_seed, canonical_gradient, grad_root,
                                                    payload_from_q, quantize, select_batch, validation_loss)

    out: dict = {}
    for guarded in (True, False):
        spec = LLMSpec.builtin(preset, bits=EASIEST_BITS)
        chain = LLMChain(spec, check_validation=guarded)
        miner = Wallet.from_seed("bench miner")
        chain.val_loss()
        chain.mine_and_add(miner.address)                       # warm-up
        start = time.perf_counter()
        for _ in range(steps):
            chain.mine_and_add(miner.address)
        out["chain_guarded" if guarded else "chain_unguarded"] = (time.perf_counter() - start) / steps
    for dtype, key in ((torch.float64, "central64"), (torch.float32, "central32")):
        central_training(spec, 3, dtype=dtype)                  # warm-up
        out[key] = central_training(spec, steps, dtype=dtype).seconds_per_step
    # where the chain's time goes: the steps of one block, timed one by one
    pog, w = spec.pog, chain.weights
    parts: dict[str, list[float]] = {k: [] for k in ("batch", "gradient", "quantize", "grad_root", "update",
                                                     "weights_root", "guard")}
    for n in range(20):
        t0 = time.perf_counter()
        _, x, y = select_batch(chain.dataset, chain.tip.hash, batch_seed(_template(chain.tip.hash, b"\1" * 32, n)), pog.batch_size)
        t1 = time.perf_counter()
        g, _ = canonical_gradient(chain.rule.params, w, x, y)
        t2 = time.perf_counter()
        q = quantize(g, pog.quantum_log2)
        t3 = time.perf_counter()
        grad_root(payload_from_q(q), pog.chunk_bytes)
        t4 = time.perf_counter()
        new = apply_update(w, q, pog)
        t5 = time.perf_counter()
        weights_root(new, pog.chunk_bytes)
        t6 = time.perf_counter()
        validation_loss(pog, spec.validation, new)
        t7 = time.perf_counter()
        for k, a, b in zip(parts, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7)):
            parts[k].append(b - a)
    out["parts"] = {k: _median(v) for k, v in parts.items()}
    out["steps"] = steps
    return out


def guard_study(steps: int = 200, warm: int = 50, blocks: int = 25, max_tickets: int = 100) -> dict:
    """Measurement 5 (see the module docstring), with the proof-of-gradient functions directly."""
    from gradientcoin_edu.model import CharTokenizer, Dataset, builtin_datasets, generate_corpus
    from gradientcoin_edu.proof_of_gradient import PoGParams, apply_update, attempt, validation_loss

    tok = CharTokenizer()
    train, val = builtin_datasets(32, tokenizer=tok)
    out: dict = {"honest": {}, "flood": {}}
    for shift in (2, 3):                                     # learning rate 1/4 and 1/8
        p = PoGParams.for_data(train, val, tokenizer=tok, lr_num=1, lr_shift=shift)
        w, parent = p.genesis_weights(), bytes(32)
        v = validation_loss(p, val, w)
        rises, history = [], [v]
        for n in range(steps):
            a = attempt(p, train, _template(parent, b"\1" * 32), w, n)
            w, parent = apply_update(w, a.q, p), a.ticket
            v2 = validation_loss(p, val, w)
            rises.append(v2 - v)
            history.append(v2)
            v = v2
            if shift == 3 and n + 1 == warm:
                trained, start_loss, start_parent = w, v, parent
                best0 = min(history)             # the anchored guard's reference: the best loss so far
        r = np.array(rises)
        out["honest"][f"1/{2 ** shift}"] = dict(final=v, max_rise=float(r.max()), share_above_0_1=float(np.mean(r > 0.1)),
                                                 share_above_0_05=float(np.mean(r > 0.05)))
    p = PoGParams.for_data(train, val, tokenizer=tok, lr_num=1, lr_shift=3)
    text = "".join(line[::-1] + "\n" for line in generate_corpus(b"poison", 12000).splitlines())
    data = train.extend(Dataset.from_text(text, tok, 32).records[:4096])
    p = p.replace(dataset_root=data.root)
    w0 = trained
    for mode in ("none", "per-block", "anchored"):
        w, v, best, parent, nonce, refused, curve, stalled = w0, start_loss, best0, start_parent, 0, 0, [], False
        for _ in range(blocks):
            for _ in range(max_tickets):
                a = attempt(p, data, _template(parent, b"\2" * 32), w, nonce)
                nonce += 1
                new = apply_update(w, a.q, p)
                v2 = validation_loss(p, val, new)
                limit = {"none": float("inf"), "per-block": v + 0.1, "anchored": best + 0.1}[mode]
                if v2 <= limit:
                    break
                refused += 1
            else:
                stalled = True                            # no ticket in max_tickets passes: the chain stalls
                break
            w, v, parent, best = new, v2, a.ticket, min(best, v2)
            curve.append(v)
        out["flood"][mode] = dict(worst=max(curve, default=start_loss), final=curve[-1] if curve else start_loss,
                                  refused_tickets=refused, start=start_loss, blocks=len(curve), stalled=stalled)
    return out


def demo_time() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gradientcoin_edu", "demo", "--no-progress"], check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} thread), "
            f"GPU: {gpu}, load average before: {load:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="demo", choices=["tiny", "demo"])
    parser.add_argument("--blocks", type=int, default=200, help="blocks for the loss curve (default 200)")
    parser.add_argument("--tax-steps", type=int, default=100, help="steps for the tax measurement (default 100)")
    parser.add_argument("--skip-demo", action="store_true", help="do not time `gradientcoin demo`")
    parser.add_argument("--guard-study", action="store_true", help="also run measurement 5 (about 2 minutes)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("machine:", machine())
    print(f"command: python benchmarks/llm_chain.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())

    checkpoints = sorted({0, 25, 50, 100, args.blocks})
    r = loss_and_timing(args.preset, args.blocks, checkpoints)
    print(f"\n1. validation loss, one miner on the chain vs central SGD (float64), same number of steps")
    print(f"   {'steps':>6} {'chain':>8} {'central':>8}")
    for h, (c, z) in sorted(r["losses"].items()):
        print(f"   {h:>6} {c:>8.3f} {z:>8.3f}")
    print(f"\n2. per block at the demo difficulty ({r['attempts']:.2f} tickets per block on average):")
    print(f"   mining {1000 * r['mine_s']:.0f} ms (median; mean {1000 * r['mine_mean']:.0f}), "
          f"verification by another node {1000 * r['verify_s']:.0f} ms (median; mean {1000 * r['verify_mean']:.0f})")

    t = tax(args.preset, args.tax_steps)
    p = t["parts"]
    print(f"\n3. decentralization tax: one miner at the easiest target, {t['steps']} steps")
    print(f"   chain (guard on)  {1000 * t['chain_guarded']:.1f} ms per applied step = "
          f"{t['chain_guarded'] / t['central64']:.2f}x central float64 ({1000 * t['central64']:.1f} ms), "
          f"{t['chain_guarded'] / t['central32']:.2f}x central float32 ({1000 * t['central32']:.1f} ms)")
    print(f"   chain (guard off) {1000 * t['chain_unguarded']:.1f} ms per applied step = "
          f"{t['chain_unguarded'] / t['central64']:.2f}x central float64")
    total = sum(p.values())
    print("   where a block's time goes (median ms): " + ", ".join(f"{k} {1000 * v:.1f}" for k, v in p.items())
          + f"; other (tx selection, block assembly, header checks, store) "
            f"{1000 * max(0.0, t['chain_guarded'] - total):.1f}")
    result = dict(machine=machine(), loss=r, tax=t)
    if not args.skip_demo:
        result["demo_seconds"] = demo_time()
        print(f"\n4. `gradientcoin demo` (3 miners, 100 blocks, simulated network): {result['demo_seconds']:.1f} s wall")
    if args.guard_study:
        g = result["guard_study"] = guard_study()
        print("\n5. one honest SGD step, 200 steps from genesis: rise of the validation loss")
        for lr, h in g["honest"].items():
            print(f"   lr {lr}: largest rise {h['max_rise']:+.3f}, steps rising > 0.05: {h['share_above_0_05']:.0%}, "
                  f"> 0.1: {h['share_above_0_1']:.0%}; loss after 200 steps {h['final']:.3f}")
        print("   flood of backwards text (72 % of the dataset) after 50 honest steps (lr 1/8), 25 blocks, margin 0.1:")
        for mode, f in g["flood"].items():
            print(f"   {mode:>9}: start {f['start']:.3f}, worst {f['worst']:.3f}, after {f['blocks']} blocks "
                  f"{f['final']:.3f}, tickets refused by the guard {f['refused_tickets']}"
                  + (" (stalled: 100 tickets in a row refused)" if f["stalled"] else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
