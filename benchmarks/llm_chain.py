"""What the decentralized LLM costs and how well it learns: parity, the decentralization tax, the guard.

    python benchmarks/llm_chain.py                          # 1-4 (several minutes on a 2-core CPU)
    python benchmarks/llm_chain.py --guard-study            # also 5
    python benchmarks/llm_chain.py --steps 100,300 --skip-demo   # a quick run
    python benchmarks/llm_chain.py --tax-only                # only 2, at 108k, 0.8M and 4.8M parameters

1. **Learning parity** (one run, side by side): one miner at the easiest target mines N blocks
   (one applied gradient each); its validation loss after 100, 300, 1,000 blocks against
   central training of the same model for the same number of steps - with the chain's own
   optimizer in float64 (Lion, same betas, schedule and clipping), with nanoGPT-like AdamW in
   float32, and with the old rule (plain SGD, lr 1/8) in float64 - plus the greedy samples'
   share of valid corpus sentences and of right sums (``llm/evaluation.py``).
2. **The decentralization tax**, every configuration measured directly (``tax_table``): per round,
   a miner of each configuration - the network's rule; guard off; no stamp (``stamp_log2 = 0``);
   neither - mines and connects its next block at the easiest target (one gradient per block);
   a second node verifies the network-rule block; central training takes one step on that block's
   batch with Lion and AdamW in float64 and in float32. The sides alternate (order reversed every
   other round) in one process. The **miner's tax** is the miner's median over a central step's;
   the **network's tax** adds the ``n - 1`` other nodes that verify each block (``--nodes``).
3. **Where a block's time goes**: the steps of one block, timed one by one; and mining vs
   verification per block at the ``demo`` difficulty (about two tickets per block).
4. **The demo**: ``gradientcoin demo`` with its defaults: wall time and the evidence it prints.
5. ``--guard-study``: how much one honest step raises the guard's validation loss, and a flood
   of poison (the corpus written backwards, 72 % of the dataset) against no guard and the
   anchored guard on 64, 16 and 8 validation records - the damage always measured on all 64.

Timings are CPU time of the process (``time.process_time``), one torch thread, min and median
(the demo's wall time in 4 is wall time); the load average is printed: on a shared machine other
jobs still slow the caches, so compare ratios taken in the same run.
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


BASELINES = {"lion64": ("central Lion float64", dict(optimizer="chain", dtype=torch.float64)),
             "adamw32": ("central AdamW float32", dict(optimizer="adamw", dtype=torch.float32)),
             "lion32": ("central Lion float32", dict(optimizer="chain", dtype=torch.float32)),
             "sgd64": ("central SGD 1/8 float64", dict(optimizer="sgd", dtype=torch.float64))}


def parity(preset: str, checkpoints: list[int],
                   baselines: tuple[str, ...] = tuple(BASELINES)) -> dict:
    """Measurement 1: one chain run to max(checkpoints), central runs beside it (losses only: their
    times are separate runs; measurement 2 times the configurations alternated)."""
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import EASIEST_BITS, LLMChain, LLMSpec
    from gradientcoin_edu.llm.baseline import central_training
    from gradientcoin_edu.llm.evaluation import evaluate

    spec = LLMSpec.builtin(preset, bits=EASIEST_BITS)
    miner = Wallet.from_seed("bench miner")
    n = max(checkpoints)
    out: dict = {"checkpoints": checkpoints, "loss": {}, "eval": {}, "seconds": {}}
    chain = LLMChain(spec)
    chain.val_loss()
    elapsed, losses = 0.0, {0: chain.val_loss()}
    for h in range(1, n + 1):
        start = time.process_time()
        chain.mine_and_add(miner.address)
        elapsed += time.process_time() - start
        if h in checkpoints:
            losses[h] = chain.val_loss()
    out["loss"]["chain"], out["seconds"]["chain"] = losses, elapsed / n
    out["eval"]["chain"] = evaluate(spec, chain.weights)
    runs = dict(BASELINES[b] for b in baselines)
    for name, kw in runs.items():
        central_training(spec, 3, **kw)                                   # warm-up
        run = central_training(spec, n, eval_at=checkpoints, **kw)
        out["loss"][name] = dict(zip(run.steps, run.val_losses))
        out["seconds"][name] = run.seconds_per_step
        if run.weights is not None and "SGD" not in name and "Lion float32" not in name:
            out["eval"][name] = evaluate(spec, run.weights)
    return out


# ---------------------------------------------------------------- the tax table (measured directly)
SIZES = {"demo": None,                                   # the built-in demo network (nano GPT, 108k parameters)
         "0.8M": (4, 128, 4),                           # (n_layer, n_embd, n_head), context 32, the demo rules
         "4.8M": (6, 256, 4)}


def spec_for(size: str, bits: int, **pog):
    """The demo network's rules and corpus on the model ``size`` (``SIZES``); ``pog``: changed
    proof-of-gradient parameters (``stamp_log2=0``: no stamp)."""
    from gradientcoin_edu.llm import LLMSpec
    if SIZES[size] is None:
        return LLMSpec.builtin("demo", bits=bits, pog=pog or None)
    from gradientcoin_edu.llm.params import LLMParams
    from gradientcoin_edu.llm.spec import POG_DEFAULTS, chain_params_for
    from gradientcoin_edu.model import CharTokenizer, GPTConfig, builtin_datasets
    from gradientcoin_edu.proof_of_gradient import PoGParams
    n_layer, n_embd, n_head = SIZES[size]
    model = GPTConfig(block_size=32, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    tok = CharTokenizer()
    train, val = builtin_datasets(32, seed=0, n_lines=4000, tokenizer=tok)
    params = LLMParams(PoGParams.for_data(train, val, model, tokenizer=tok, **{**POG_DEFAULTS, **pog}))
    return LLMSpec(params, chain_params_for(params, bits, size), train, val, tok, size)


def central_step(spec, optimizer: str, dtype):
    """One central training step of ``spec``'s model on a given batch ``(x, y)``: zero_grad, forward,
    backward, clipping, optimizer step (``llm.baseline``'s loop body; the step counter is the chain's)."""
    from gradientcoin_edu.llm.baseline import make_optimizer
    from gradientcoin_edu.model import to_model
    pog = spec.pog
    model = to_model(pog.model, pog.genesis_weights(), pog.scale_log2, dtype=dtype)
    opt, lr_at = make_optimizer(pog, model, optimizer)
    state = {"t": 0}

    def step(x, y):
        state["t"] += 1
        for group in opt.param_groups:
            group["lr"] = lr_at(state["t"])
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), pog.clip_norm)
        opt.step()
    return step


def tax_table(size: str, rounds: int) -> dict:
    """Each configuration timed directly, all of them alternated round by round in one process.

    One round: a miner of each chain configuration mines and connects its next block at the easiest
    target (one gradient per block: one applied step); a second node of the full-rule network
    verifies the full-rule block (``add_block``); four central trainers each take one step on the
    batch of that block. The order of the sides is reversed every other round. CPU time
    (``time.process_time``), one torch thread; a warm-up round is not counted."""
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import EASIEST_BITS, LLMChain
    from gradientcoin_edu.proof_of_gradient import batch_seed, select_batch

    miner = Wallet.from_seed("bench miner").address
    full = spec_for(size, EASIEST_BITS)
    nostamp = spec_for(size, EASIEST_BITS, stamp_log2=0)
    chains = {"miner": LLMChain(full), "miner, guard off": LLMChain(full, check_validation=False),
              "miner, no stamp": LLMChain(nostamp), "miner, no stamp, guard off": LLMChain(nostamp, check_validation=False)}
    verifier = LLMChain(full)
    for c in (*chains.values(), verifier):
        c.val_loss()
    central = {"central Lion float64": central_step(full, "chain", torch.float64),
               "central AdamW float64": central_step(full, "adamw", torch.float64),
               "central Lion float32": central_step(full, "chain", torch.float32),
               "central AdamW float32": central_step(full, "adamw", torch.float32)}
    times: dict[str, list[float]] = {k: [] for k in (*chains, "verifier", *central)}
    parent = [full.genesis.hash()]
    block = [None]

    def mined(name):
        def run():
            b = chains[name].mine_and_add(miner)
            if name == "miner":
                block[0] = b
        return run

    def verify():
        verifier.add_block(block[0])

    sides = [(k, mined(k)) for k in chains]
    for r in range(rounds + 1):
        order = sides if r % 2 == 0 else sides[::-1]
        spent = {}
        for k, fn in order:                     # the miners first (the verifier needs the block) ...
            start = time.process_time()
            fn()
            spent[k] = time.process_time() - start
        b = block[0]
        _, x, y = select_batch(full.train, b.header.prev_hash, batch_seed(b.header), full.pog.batch_size)
        rest = [("verifier", verify)] + [(k, (lambda f=f: f(x, y))) for k, f in central.items()]
        for k, fn in (rest if r % 2 == 0 else rest[::-1]):   # ... then the verifier and central steps, alternated
            start = time.process_time()
            fn()
            spent[k] = time.process_time() - start
        if r > 0:
            for k, v in spent.items():
                times[k].append(v)
    assert verifier.rule.weights_root() == chains["miner"].rule.weights_root()
    return dict(size=size, n_params=full.pog.n_params, stamp_log2=full.pog.stamp_log2, rounds=rounds, times=times)


def print_tax(t: dict, nodes: tuple[int, ...]) -> None:
    med = {k: _median(v) for k, v in t["times"].items()}
    mn = {k: min(v) for k, v in t["times"].items()}
    central = [k for k in med if k.startswith("central")]
    print(f"\n   {t['size']} ({t['n_params']:,} parameters, stamp 2^{t['stamp_log2']}), {t['rounds']} rounds, "
          f"CPU ms min / median; miner's tax = miner / central step (medians)")
    print("   " + f"{'side':>28} {'min':>8} {'median':>8}  " + " ".join(f"{'/' + c[8:]:>16}" for c in central))
    for k in med:
        cells = " ".join(f"{med[k] / med[c]:>15.2f}x" for c in central) if not k.startswith("central") else ""
        print("   " + f"{k:>28} {1000 * mn[k]:>8.1f} {1000 * med[k]:>8.1f}  {cells}")
    for n in nodes:
        net = med["miner"] + (n - 1) * med["verifier"]
        label = f"network of {n} (miner + {n - 1} verifiers)"
        print("   " + f"{label:>37}"
              f"{1000 * net:>8.1f}  " + " ".join(f"{net / med[c]:>15.2f}x" for c in central))


def per_block(preset: str, blocks: int) -> dict:
    """Mining vs verification per block at the demo difficulty (about two tickets per block)."""
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import LLMChain, LLMSpec

    spec = LLMSpec.builtin(preset)
    miner = Wallet.from_seed("bench miner")
    chain, verifier = LLMChain(spec), LLMChain(spec)
    chain.val_loss(), verifier.val_loss()
    mine_s, verify_s, attempts = [], [], []
    for _ in range(blocks):
        start = time.process_time()
        block, proof, _ = chain.mine(miner.address)
        chain.add_block(block)
        mine_s.append(time.process_time() - start)
        attempts.append(proof.attempts)
        start = time.process_time()
        verifier.add_block(block)
        verify_s.append(time.process_time() - start)
    assert verifier.rule.weights_root() == chain.rule.weights_root()
    return dict(mine=_median(mine_s), verify=_median(verify_s), attempts=statistics.mean(attempts))


def _template(parent: bytes, miner_id: bytes, nonce: int = 0):
    """A block header template on ``parent`` for ``miner_id`` (no transactions)."""
    from gradientcoin_edu.chain.block import BlockHeader
    return BlockHeader(1, parent, bytes(32), miner_id=miner_id, nonce=nonce)


def parts(preset: str) -> dict:
    """Where one block's time goes: each step of a block timed alone (medians over 20, ms)."""
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.model.fixed_point import weights_root
    from gradientcoin_edu.proof_of_gradient import (apply_update, batch_seed, grad_root, payload_from_q, quantize,
                                                    select_batch, validation_loss)
    from gradientcoin_edu.proof_of_gradient.gradient import clip_gradient, compute_gradient

    spec = LLMSpec.builtin(preset)
    pog, w = spec.pog, spec.pog.genesis_weights()
    from gradientcoin_edu.llm import EASIEST_BITS
    from gradientcoin_edu.chain.bits import bits_to_target
    from gradientcoin_edu.proof_of_gradient.stamp import find_stamp

    names = ("batch", "forward+backward", "clipping norm", "quantize", "grad_root", "update", "state root",
             "guard (16 records)", "guard (64 records)", f"stamp (2^{pog.stamp_log2}, easiest target)")
    easiest = bits_to_target(EASIEST_BITS)
    t: dict[str, list[float]] = {k: [] for k in names}
    for n in range(20):
        marks = [time.process_time()]
        parent = spec.genesis.hash()
        _, x, y = select_batch(spec.train, parent, batch_seed(_template(parent, b"\1" * 32, n)), pog.batch_size)
        marks.append(time.process_time())
        g, _ = compute_gradient(pog.model, w, x, y)
        marks.append(time.process_time())
        g = clip_gradient(g, pog.clip_norm)
        marks.append(time.process_time())
        q = quantize(g, pog.quantum_log2)
        marks.append(time.process_time())
        grad_root(payload_from_q(q), pog.chunk_bytes)
        marks.append(time.process_time())
        new = apply_update(w, q, pog)
        marks.append(time.process_time())
        weights_root(new, pog.chunk_bytes)
        marks.append(time.process_time())
        validation_loss(pog.replace(max_validation_records=16), spec.validation, new)
        marks.append(time.process_time())
        validation_loss(pog.replace(max_validation_records=64), spec.validation, new)
        marks.append(time.process_time())
        find_stamp(bytes([n]) * 32, pog.stamp_log2, easiest)
        marks.append(time.process_time())
        for k, a, b in zip(names, marks, marks[1:]):
            t[k].append(b - a)
    # medians, except the stamp: its search time is geometric (median = 0.69 x mean), so its mean
    return {k: 1000 * (statistics.mean(v) if k.startswith("stamp") else _median(v)) for k, v in t.items()}


def stamp_mean_seconds(preset: str, searches: int = 40) -> float:
    """Mean CPU seconds of one stamp search on ``preset`` at the easiest target, over ``searches``
    fresh random block hashes (the search time is geometric: the mean, not the median)."""
    from gradientcoin_edu.chain.bits import bits_to_target
    from gradientcoin_edu.llm import EASIEST_BITS, LLMSpec
    from gradientcoin_edu.proof_of_gradient.stamp import find_stamp
    log2, target = LLMSpec.builtin(preset).pog.stamp_log2, bits_to_target(EASIEST_BITS)
    times = []
    for _ in range(searches):
        start = time.process_time()
        find_stamp(os.urandom(32), log2, target)
        times.append(time.process_time() - start)
    return statistics.mean(times)


def guard_study(records=(64, 16, 8), steps: int = 200, warm: int = 50, blocks: int = 25,
                max_tickets: int = 100, margin: float = 0.1) -> dict:
    """Measurement 5, with the chain's optimizer (``demo`` preset) and the proof-of-gradient functions."""
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.model import Dataset, generate_corpus
    from gradientcoin_edu.proof_of_gradient import apply_update, attempt, validation_loss

    spec = LLMSpec.builtin("demo")
    train, val, tok = spec.train, spec.validation, spec.tokenizer
    full = spec.pog.replace(max_validation_records=64)
    loss = {n: (lambda w, p=spec.pog.replace(max_validation_records=n): validation_loss(p, val, w)) for n in records}
    p, w, parent = spec.pog, spec.pog.genesis_weights(), bytes(32)
    rises = {n: [] for n in records}
    before = {n: loss[n](w) for n in records}
    for i in range(steps):
        a = attempt(p, train, _template(parent, b"\1" * 32), w, i)
        w, parent = apply_update(w, a.q, p), a.ticket
        for n in records:
            v = loss[n](w)
            rises[n].append(v - before[n])
            before[n] = v
        if i + 1 == warm:
            trained, start_parent = w, parent
    out: dict = {"honest": {n: dict(max_rise=float(np.max(r)), above_half_margin=float(np.mean(np.array(r) > margin / 2)))
                            for n, r in rises.items()}, "flood": {}}
    text = "".join(line[::-1] + "\n" for line in generate_corpus(b"poison", 12000).splitlines())
    data = train.extend(Dataset.from_text(text, tok, spec.pog.model.block_size).records[:4096])
    p = p.replace(dataset_root=data.root)
    for mode in ("none", *records):
        guard = None if mode == "none" else loss[mode]
        w, parent, nonce, refused, curve, stalled = trained, start_parent, 0, 0, [], False
        best = guard(w) if guard else None
        start = validation_loss(full, val, w)
        for _ in range(blocks):
            for _ in range(max_tickets):
                a = attempt(p, data, _template(parent, b"\2" * 32), w, nonce)
                nonce += 1
                new = apply_update(w, a.q, p)
                v = guard(new) if guard else None
                if v is None or v <= best + margin:
                    break
                refused += 1
            else:
                stalled = True
                break
            w, parent = new, a.ticket
            best = min(best, v) if guard else None
            curve.append(validation_loss(full, val, w))
        out["flood"][mode] = dict(start=start, worst=max(curve, default=start), final=curve[-1] if curve else start,
                                  refused=refused, blocks=len(curve), stalled=stalled)
    return out


def demo_run() -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "gradientcoin_edu", "demo", "--no-progress"], check=True,
                       capture_output=True, text=True)
    return time.perf_counter() - start, r.stdout


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
    parser.add_argument("--steps", default="100,300,1000", help="checkpoints of the parity run (default 100,300,1000)")
    parser.add_argument("--tax-rounds", type=int, default=100,
                        help="rounds of the tax table at the demo size (default 100; 0.8M: a tenth, 4.8M: a 30th, at least 3)")
    parser.add_argument("--nodes", default="3,10", help="network sizes of the network's tax (default 3,10)")
    parser.add_argument("--tax-only", action="store_true", help="only the tax table, at the sizes of --sizes")
    parser.add_argument("--sizes", default="demo,0.8M,4.8M", help=f"model sizes of --tax-only ({', '.join(SIZES)})")
    parser.add_argument("--baselines", default=",".join(BASELINES),
                        help=f"central runs beside the chain (default: all of {', '.join(BASELINES)})")
    parser.add_argument("--skip-blocks", action="store_true", help="skip measurement 3 (per block, parts)")
    parser.add_argument("--verify-blocks", type=int, default=50, help="blocks for mining vs verification (default 50)")
    parser.add_argument("--skip-demo", action="store_true", help="do not run `gradientcoin demo`")
    parser.add_argument("--guard-study", action="store_true", help="also run measurement 5 (a few minutes)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("machine:", machine())
    print(f"command: python benchmarks/llm_chain.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    checkpoints = sorted({int(x) for x in args.steps.split(",")})
    result: dict = dict(machine=machine())

    if args.tax_only:
        for size in args.sizes.split(","):
            t = result.setdefault("tax", {})[size] = tax_table(size, args.tax_rounds if size == "demo" else
                                                                max(3, args.tax_rounds // (10 if size == "0.8M" else 30)))
            print_tax(t, tuple(int(n) for n in args.nodes.split(",")))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1, default=str)
        return 0
    r = result["parity"] = parity(args.preset, checkpoints, tuple(b for b in args.baselines.split(",") if b))
    names = list(r["loss"])
    print("\n1. validation loss after the same number of applied steps (chain: one miner, its own blocks)")
    print("   " + f"{'steps':>6} " + " ".join(f"{n:>24}" for n in names))
    for h in [0, *checkpoints]:
        ref = r["loss"]["chain"][h]
        cells = [f"{r['loss'][n][h]:>8.3f}" + ("" if n == "chain" else f" ({ref / r['loss'][n][h] - 1:+6.1%})")
                 for n in names]
        print("   " + f"{h:>6} " + " ".join(f"{c:>24}" for c in cells))
    print("   (in brackets: the chain's loss relative to that run's)")
    for n, e in r["eval"].items():
        print(f"   {n} after {checkpoints[-1]} steps: valid sentences {e.sentences_valid:.0%}, sums {e.sums_correct:.0%}; "
              + "; ".join(f"{p!r} -> {t!r}" for p, t in list(e.samples.items())[:2]))
    print("\n2. decentralization tax: each configuration timed directly, alternated in one process")
    t = result["tax"] = tax_table("demo", args.tax_rounds)
    print_tax(t, tuple(int(n) for n in args.nodes.split(",")))

    if not args.skip_blocks:
        b = result["per_block"] = per_block(args.preset, args.verify_blocks)
        pt = result["parts"] = parts(args.preset)
        print(f"\n3. per block at the demo difficulty ({b['attempts']:.2f} tickets per block): mining {1000 * b['mine']:.0f} ms, "
              f"verification by another node {1000 * b['verify']:.0f} ms (medians)")
        print("   one block's steps (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in pt.items()))
    if not args.skip_demo:
        seconds, text = demo_run()
        result["demo"] = dict(seconds=seconds, output=text)
        print(f"\n4. `gradientcoin demo` (defaults): {seconds:.1f} s wall; its last lines:")
        print("\n".join("   " + line for line in text.strip().splitlines()[-12:]))
    if args.guard_study:
        g = result["guard_study"] = guard_study()
        print("\n5. one honest step (the chain's optimizer, 200 steps from genesis): rise of the guard's loss")
        for n, h in g["honest"].items():
            print(f"   {n:>2} records: largest rise {h['max_rise']:+.3f}, steps rising > half the margin "
                  f"{h['above_half_margin']:.0%}")
        print("   flood of backwards text (72 % of the dataset) after 50 honest steps, 25 blocks, margin 0.1; "
              "loss on all 64 records:")
        for mode, f in g["flood"].items():
            label = "no guard" if mode == "none" else f"anchored guard on {mode} records"
            print(f"   {label:>32}: start {f['start']:.3f}, worst {f['worst']:.3f}, after {f['blocks']} blocks "
                  f"{f['final']:.3f}, tickets refused {f['refused']}" + (" (stalled)" if f["stalled"] else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
