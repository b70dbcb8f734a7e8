"""How verification and mining grow with the model, against a bare forward+backward of the same batch.

    python benchmarks/verify_scaling.py                       # 108k .. 7.1M parameters, 5 repeats
    python benchmarks/verify_scaling.py --repeats 3 --gpu     # also the `gpu` preset (10.7M, context 128)
    python benchmarks/verify_scaling.py --guard 40            # the guard in float32 against float64
    python benchmarks/verify_scaling.py --formulas            # blocked update and norm against the formulas
    python benchmarks/verify_scaling.py --profile 3.2,7.1     # where verify's time goes beyond fb64 (cProfile)
    python benchmarks/verify_scaling.py --presets --gpu       # the chain's presets: micro (tiny), nano (demo), gpu

For each model (context 32, batch 16, the demo preset's rules: Lion, clip 1, guard on 16 records,
the payload ends with the loss sheet, which a verifier spot-checks on one record before the
gradient), in one process, one torch thread, sides
alternated within every repeat, CPU process time of

* **fb64** a bare float64 forward+backward on the block's batch (a model already holding the weights),
* **fb32** the same in float32,
* **verify** ``verify(...)`` without the guard (``validation=None``): batch, gradient, clipping norm,
  comparison with Q, Lion update, state root,
* **verify+guard** ``verify(...)`` with the guard, the parent's validation loss cached (as a node has it),
* **ticket** one mining attempt (``attempt``: batch, gradient, quantize, update, both roots, header hash;
  the stamp is not part of a ticket).

Prints min and median per size and side, verify / fb64, and the exponent of each side fitted by
least squares on log(time) against log(parameters). Figures only; nothing is asserted.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

SIZES = [(2, 64, 4), (2, 128, 4), (4, 128, 4), (4, 192, 6), (4, 256, 4), (6, 256, 4), (4, 384, 6)]


def _cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def setup(model):
    from gradientcoin_edu.chain.block import BlockHeader
    from gradientcoin_edu.llm.spec import EASIEST_BITS, POG_DEFAULTS
    from gradientcoin_edu.model.corpus import builtin_datasets
    from gradientcoin_edu.model.tokenizer import CharTokenizer
    from gradientcoin_edu.proof_of_gradient import ModelState, PoGParams, attempt, batch_seed, select_batch
    from gradientcoin_edu.proof_of_gradient.verify import GradientProof, validation_loss

    tok = CharTokenizer()
    train, val = builtin_datasets(model.block_size, seed=0, n_lines=4000, tokenizer=tok)
    pog = PoGParams.for_data(train, val, model, tokenizer=tok, **POG_DEFAULTS)
    w = pog.genesis_weights()
    parent = bytes(range(32))
    header = BlockHeader(1, parent, bytes(32), bits=EASIEST_BITS, miner_id=b"\1" * 32)
    a = attempt(pog, train, header, w)
    proof = GradientProof(a.header, a.payload)
    state = ModelState(parent, w)
    _, x, y = select_batch(train, parent, batch_seed(a.header), pog.batch_size)
    return dict(pog=pog, train=train, val=val, w=w, header=header, proof=proof, state=state, x=x, y=y,
                val_before=validation_loss(pog, val, w))


def bare(model_cfg, w, pog, x, y, dtype):
    from gradientcoin_edu.model.fixed_point import load_weights
    from gradientcoin_edu.model.gpt import GPT
    m = GPT(model_cfg, dtype=dtype)
    load_weights(m, w, pog.scale_log2)

    def run():
        m.zero_grad(set_to_none=True)
        _, loss = m(x, y)
        loss.backward()
    return run


def forget_loaded(model) -> None:
    """Outside the timer: the thread's cached model no longer claims to hold any weights. Every call here
    reuses one parent state, which a node never verifies twice; without this, a ``verify`` that follows
    another would find the parent's weights loaded already and skip the spot check's load too."""
    from gradientcoin_edu.proof_of_gradient.gradient import _lock_model
    with _lock_model(model, torch.float64, "cpu"):
        pass


def measure(model, repeats: int) -> dict:
    from gradientcoin_edu.proof_of_gradient import attempt, verify
    s = setup(model)
    pog = s["pog"]
    sides = {
        "fb64": bare(model, s["w"], pog, s["x"], s["y"], torch.float64),
        "fb32": bare(model, s["w"], pog, s["x"], s["y"], torch.float32),
        "verify": lambda: verify(pog, s["train"], None, s["state"], s["proof"]),
        "verify+guard": lambda: verify(pog, s["train"], s["val"], s["state"], s["proof"],
                                       parent_val_loss=s["val_before"]),
        "ticket": lambda: attempt(pog, s["train"], s["header"], s["w"], 1),
    }
    for fn in sides.values():                     # warm-up: caches, model construction
        fn()
    times = {k: [] for k in sides}
    order = list(sides)
    for r in range(repeats):
        for k in (order if r % 2 == 0 else order[::-1]):     # alternate the order of the sides
            forget_loaded(model)
            times[k].append(_cpu(sides[k]))
    return dict(n=pog.n_params, times=times)


def guard_study(states: int, repeats: int) -> None:
    """The validation guard (16 records, demo preset) in float64 and float32 on ``states`` states of an
    honest Lion chain: CPU time of each, and the largest |loss32 - loss64| seen."""
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.llm.spec import EASIEST_BITS
    from gradientcoin_edu.chain.block import BlockHeader
    from gradientcoin_edu.proof_of_gradient import apply_update, attempt
    from gradientcoin_edu.proof_of_gradient.gradient import compute_loss
    from gradientcoin_edu.proof_of_gradient.verify import _validation_tensors
    spec = LLMSpec.builtin("demo")
    pog = spec.pog
    x, y = _validation_tensors(pog, spec.validation)
    w = pog.genesis_weights()
    diffs, t64, t32 = [], [], []
    for i in range(states):
        for r in range(repeats):
            pair = [("64", torch.float64), ("32", torch.float32)]
            for name, dtype in (pair if r % 2 == 0 else pair[::-1]):
                start = time.process_time()
                loss = compute_loss(pog.model, w, x, y, scale_log2=pog.scale_log2, dtype=dtype)
                (t64 if name == "64" else t32).append(time.process_time() - start)
                if name == "64":
                    l64 = loss
                else:
                    l32 = loss
        diffs.append(abs(l32 - l64))
        header = BlockHeader(1, i.to_bytes(32, "little"), bytes(32), bits=EASIEST_BITS, miner_id=b"\1" * 32)
        w = apply_update(w, attempt(pog, spec.train, header, w).q, pog)
    print(f"guard, demo preset, {x.shape[0]} records: float64 min/median {1000 * min(t64):.2f}/"
          f"{1000 * statistics.median(t64):.2f} ms, float32 {1000 * min(t32):.2f}/{1000 * statistics.median(t32):.2f} ms; "
          f"|loss32 - loss64| over {states} chain states: max {max(diffs):.3g}, median {statistics.median(diffs):.3g} "
          f"(last loss {l64:.4f})")


def formulas(repeats: int) -> None:
    """The blocked Lion update and clipping norm against the whole-vector formulas that define them
    (the reference implementations of tests/test_update_exact.py), at 7.1M parameters."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from test_update_exact import ref_apply_update, ref_sum_of_squares
    from gradientcoin_edu.model.gpt import GPTConfig
    from gradientcoin_edu.proof_of_gradient import PoGParams, apply_update
    from gradientcoin_edu.proof_of_gradient.gradient import sum_of_squares
    p = PoGParams(model=GPTConfig(block_size=32, n_layer=4, n_head=6, n_embd=384), optimizer=1, lr_shift=10)
    n, rng = p.n_params, np.random.default_rng(0)
    state = np.concatenate([rng.integers(-2**40, 2**40, n), rng.integers(-2**39, 2**39, n), [5]]).astype(np.int64)
    q, g = rng.integers(-1000, 1000, n).astype(np.int32), rng.standard_normal(n)
    sides = [("update blocked", lambda: apply_update(state, q, p)), ("update formula", lambda: ref_apply_update(state, q, p)),
             ("norm blocked", lambda: sum_of_squares(g)), ("norm formula", lambda: ref_sum_of_squares(g))]
    times = {k: [] for k, _ in sides}
    for r in range(repeats):
        for k, fn in (sides if r % 2 == 0 else sides[::-1]):
            times[k].append(1000 * _cpu(fn))
    print(f"{n:,} parameters: " + "; ".join(f"{k} min/median {min(v):.1f}/{statistics.median(v):.1f} ms"
                                            for k, v in times.items()))


def profile(sizes_m: list[float], calls: int = 3, top: int = 14) -> None:
    """cProfile of ``verify(...)`` without the guard (``calls`` calls after a warm-up) at the models of
    ``SIZES`` nearest to each size in millions of parameters: the functions by own time, and what is
    left once the forward+backward pass (the autograd engine and the model's modules) is taken out."""
    import cProfile
    import pstats
    from gradientcoin_edu.model.gpt import GPTConfig
    from gradientcoin_edu.proof_of_gradient import verify
    from gradientcoin_edu.proof_of_gradient.params import num_params
    models = [GPTConfig(block_size=32, n_layer=L, n_head=h, n_embd=d) for L, d, h in SIZES]
    for want in sizes_m:
        model = min(models, key=lambda m: abs(num_params(m) - want * 1e6))
        s = setup(model)
        pog = s["pog"]
        fb = bare(model, s["w"], pog, s["x"], s["y"], torch.float64)
        fn = lambda: verify(pog, s["train"], None, s["state"], s["proof"])     # noqa: E731
        fn(), fb()
        t_fb = statistics.median(_cpu(fb) for _ in range(calls))
        prof = cProfile.Profile(time.process_time)
        prof.enable()
        for _ in range(calls):
            fn()
        prof.disable()
        st = pstats.Stats(prof)
        total = sum(v[2] for v in st.stats.values()) / calls              # own times add up to the whole
        rows = sorted(((v[2] / calls, k) for k, v in st.stats.items()), reverse=True)
        print(f"\n{pog.n_params:,} parameters: verify {1000 * total:.0f} ms per call under cProfile (CPU), "
              f"bare fb64 {1000 * t_fb:.0f} ms (not profiled); own time per call, ms:")
        for t, (file, line, name) in rows[:top]:
            where = file.split("gradientcoin_edu/")[-1] if "gradientcoin_edu" in file else os.path.basename(file)
            print(f"   {1000 * t:8.1f}  {name} ({where}:{line})")
        groups: dict[str, float] = {}
        for t, key in rows:
            groups[_group(*key)] = groups.get(_group(*key), 0.0) + t
        print("   by kind, ms per call: " + ", ".join(f"{k} {1000 * v:.1f}" for k, v in
                                                      sorted(groups.items(), key=lambda kv: -kv[1])))


def _group(file: str, line: int, name: str) -> str:
    """The kind of work a profiled function does (for ``profile``)."""
    if "sha256" in name or "digest" in name or "hashlib" in name or file.endswith("kernels/cpu.py") \
            or "merkle" in file or "crypto" in file:
        return "hashing (roots, kernels.cpu)"
    if file.endswith("update.py"):
        return "update"
    if file.endswith("fixed_point.py") or name in ("copy_", "numpy", "from_numpy", "tobytes", "frombuffer"):
        return "weights in/out"
    if file.endswith("proof_of_gradient/gradient.py") and name in ("sum_of_squares", "_level_tree", "clip_gradient"):
        return "norm and clipping"
    if "torch" in file or "torch" in name or file.endswith("gpt.py") or name.startswith("<built-in method torch") \
            or "_EngineBase" in name or "TensorBase" in name or "_C." in name:
        return "forward+backward (torch, model)"
    if file.endswith("batch.py") or "corpus" in file:
        return "batch"
    return "other"


def fit(ns, ts) -> float:
    """Least-squares slope of log t against log n."""
    lx, ly = np.log(ns), np.log(ts)
    return float(np.polyfit(lx, ly, 1)[0])


def main(argv=None) -> None:
    from gradientcoin_edu.model.gpt import GPTConfig
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gpu", action="store_true", help="also the gpu preset (10.7M parameters, context 128)")
    ap.add_argument("--presets", action="store_true",
                    help="the models of the chain's presets (micro: tiny, nano: demo; gpu with --gpu) "
                         "instead of the context-32 sizes")
    ap.add_argument("--max-params", type=float, default=float("inf"), help="skip models above this size")
    ap.add_argument("--guard", type=int, default=0, metavar="STATES",
                    help="instead: the guard in float32 and float64 on STATES states of an honest chain")
    ap.add_argument("--formulas", action="store_true", help="instead: blocked update and norm against the formulas")
    ap.add_argument("--profile", default=None, metavar="M,M",
                    help="instead: cProfile of verify at the models nearest these sizes (millions of parameters)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.profile:
        return profile([float(v) for v in args.profile.split(",")])
    if args.formulas:
        return formulas(args.repeats)
    if args.guard:
        return guard_study(args.guard, args.repeats)
    if args.presets:
        models = [GPTConfig.preset("micro"), GPTConfig.preset("nano")]
    else:
        models = [GPTConfig(block_size=32, n_layer=L, n_head=h, n_embd=d) for L, d, h in SIZES]
    if args.gpu:
        models.append(GPTConfig.preset("gpu"))
    rows = []
    sides = ("fb64", "fb32", "verify", "verify+guard", "ticket")
    print(f"{'params':>10} {'ctx':>4} " + " ".join(f"{s + ' min/med ms':>22}" for s in sides)
          + f" {'verify/fb64':>12} {'+guard/fb64':>12}", flush=True)
    for model in models:
        from gradientcoin_edu.proof_of_gradient.params import num_params
        if num_params(model) > args.max_params:
            continue
        r = measure(model, args.repeats)
        rows.append((model, r))
        med = {k: statistics.median(v) for k, v in r["times"].items()}
        cells = " ".join(f"{1000 * min(r['times'][k]):>10.1f}/{1000 * med[k]:<11.1f}" for k in sides)
        print(f"{r['n']:>10,} {model.block_size:>4} {cells} {med['verify'] / med['fb64']:>12.2f} "
              f"{med['verify+guard'] / med['fb64']:>12.2f}", flush=True)
    same_ctx = [(m, r) for m, r in rows if m.block_size == 32]
    if len(same_ctx) >= 2:
        ns = [r["n"] for _, r in same_ctx]
        print("fitted exponents (median time ~ N^e, context-32 models): " + ", ".join(
            f"{k} {fit(ns, [statistics.median(r['times'][k]) for _, r in same_ctx]):.2f}" for k in sides))


if __name__ == "__main__":
    main()
