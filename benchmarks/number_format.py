"""The canonical gradient's number format, by measurement: float64 (the chain's), float32, or integers.

    python benchmarks/number_format.py                 # nano (108k), 0.8M, 3.2M parameters; a few minutes
    python benchmarks/number_format.py --gpu           # also the `gpu` preset (10.7M, context 128)
    python benchmarks/number_format.py --sizes nano    # a quick run

Three measurements, one torch thread unless said otherwise, CPU time (``time.process_time``), the
sides alternated in one process:

1. **Float noise** of one clipped gradient (the demo rules: batch 16, clip 1) at the genesis weights,
   on ``--batches`` batches: float64 and float32, each computed with 1 and with 2 torch threads
   (``torch.set_num_threads``; another summation order, as another machine would use), and float32
   against float64. From the largest float32 difference, the **float32 quantum**: the chain's
   tolerance rule (``delta_log2 = bit_length(N) + 11``: at most 2^-10 free elements per gradient, so
   the grinding factor stays <= 1.001) needs ``noise <= δ·Δ``, so ``Δ >= noise · 2^delta_log2``;
   printed with the share of gradient elements that such a quantum rounds to zero. And the other
   way round: at the chain's quantum, the expected number ``λ = 2·N·noise/Δ`` of elements within the
   float32 noise of a rounding boundary, and the grinding factor a float32
   tolerance wide enough for that noise would give: ``E[2^m] = e^λ`` tickets per gradient once the cap
   lets honest nodes agree (a cap below ``m`` rejects honest blocks instead).
1b. **Another BLAS build** on the same machine: every linear layer's weight gradient ``g^T x`` of one
   float64 pass, recomputed by torch (MKL) and by NumPy (OpenBLAS) in float32 and in float64; the
   largest difference after clipping (as a CPU with another BLAS would see it; a GPU not measured).
1c. The **whole clipped gradient** with every ``nn.Linear`` (forward, input and weight gradient)
   computed by NumPy's OpenBLAS instead of torch's MKL - the rest of the pass stays in torch - so
   that the differences propagate through the layers as they would between two CPU builds; max
   |difference| against the chain's float64 noise bound ``2^NOISE_LOG2 = 2^-52`` (units of the clip).
2. **Integer matmuls, exact in any order.** The model's linear layers on integer operands (int8
   range, |v| <= 127) carried in float32: a product is below 2^14 and every partial sum of up to
   1,024 of them below 2^24, so float32 BLAS adds them *exactly* in whatever order it likes; longer
   sums are split into 1,024-long slices whose exact results are added in float64 (exact below
   2^53). Checked against NumPy int64 (bit for bit) with 1 and 2 threads; then the CPU time of the
   model's matmuls (forward, input gradient, weight gradient of every ``nn.Linear``) in float64 (the
   chain now), float32 and the exact-integer float32 path, beside one whole float64 forward+backward.
3. **What int8 costs in gradient quality.** The weight gradients ``x^T · g`` of every linear layer
   recomputed from int8-quantized activations and output gradients (per tensor, power-of-two
   scales), against the float64 gradient: relative L2 error and cosine; also with int16 operands in
   float64 (products < 2^30: exact for sums of up to 2^23). Only the weight gradients of the linear
   layers are prototyped here; the softmax, layer norm, GELU and cross-entropy would need integer
   definitions too (not built).

Figures only; nothing is asserted except the exactness of the integer path.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

SIZES = {"nano": (2, 64, 4), "0.8M": (4, 128, 4), "3.2M": (4, 256, 4)}
INT8_SLICE = 1024                  # 1,024 · 127² < 2^24: float32 sums of int8 products are exact


def _cpu(fn):
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def setup(cfg, seed: int = 0):
    from gradientcoin_edu.llm.spec import POG_DEFAULTS
    from gradientcoin_edu.model import CharTokenizer, builtin_datasets
    from gradientcoin_edu.proof_of_gradient import PoGParams
    tok = CharTokenizer()
    train, val = builtin_datasets(cfg.block_size, seed=seed, n_lines=4000, tokenizer=tok)
    pog = PoGParams.for_data(train, val, cfg, tokenizer=tok, **POG_DEFAULTS)
    return pog, train


def clipped(g: np.ndarray, clip: float) -> np.ndarray:
    norm = math.sqrt(float(np.dot(g, g)))
    return g * (clip / norm) if norm > clip else g


def noise(cfg, batches: int) -> dict:
    from gradientcoin_edu.proof_of_gradient.noise import gradient_with
    pog, train = setup(cfg)
    w = pog.genesis_weights()
    rng = np.random.default_rng(1)
    out = {"n": pog.n_params, "delta_log2": pog.delta_log2, "k": pog.quantum_log2, "clip": pog.clip_norm,
           "f64": 0.0, "f32": 0.0, "f32_vs_f64": 0.0, "abs_g": []}
    for _ in range(batches):
        x, y = train.batch(rng.integers(0, len(train), pog.batch_size))
        g = {}
        sides = [(torch.float64, 1), (torch.float64, 2), (torch.float32, 1), (torch.float32, 2)]
        for dtype, threads in sides:
            g[dtype, threads] = clipped(gradient_with(pog.model, w, x, y, dtype, threads), pog.clip_norm)
        out["f64"] = max(out["f64"], float(np.max(np.abs(g[torch.float64, 1] - g[torch.float64, 2]))))
        out["f32"] = max(out["f32"], float(np.max(np.abs(g[torch.float32, 1] - g[torch.float32, 2]))))
        out["f32_vs_f64"] = max(out["f32_vs_f64"], float(np.max(np.abs(g[torch.float32, 1] - g[torch.float64, 1]))))
        out["abs_g"].append(np.abs(g[torch.float64, 1]))
    a = np.concatenate(out.pop("abs_g"))
    out["median_abs_g"] = float(np.median(a))
    for name in ("f32", "f32_vs_f64"):
        dq = out[name] * 2.0 ** out["delta_log2"]               # the float32 quantum: noise <= δ·Δ
        out[f"{name}_quantum_log2"] = -math.log2(dq) if dq > 0 else float("inf")
        out[f"{name}_zero_share"] = float(np.mean(a < dq / 2))  # elements that quantum rounds to 0
        lam = 2 * out["n"] * out[name] * 2.0 ** out["k"]        # within the noise of a boundary at the chain's Δ
        out[f"{name}_lambda"] = lam
        out[f"{name}_grind_log2"] = lam / math.log(2)         # E[2^m], m ~ Poisson(λ), a cap >= m: e^λ
    return out


# ----------------------------------------------------------------- 2. exact integer matmuls
def exact_int_matmul(a: torch.Tensor, b: torch.Tensor, slice_k: int = INT8_SLICE) -> torch.Tensor:
    """``a @ b`` for float32 tensors holding integers |v| <= 127: exact (float64 result)."""
    k = a.shape[-1]
    if k <= slice_k:
        return (a @ b).double()
    out = None
    for s in range(0, k, slice_k):
        part = (a[..., s:s + slice_k] @ b[s:s + slice_k]).double()
        out = part if out is None else out + part
    return out


def linear_shapes(cfg) -> list[tuple[int, int, int]]:
    """(tokens, in, out) of every nn.Linear in a forward pass of a batch of 16."""
    t, d = 16 * cfg.block_size, cfg.n_embd
    per_layer = [(t, d, 3 * d), (t, d, d), (t, d, 4 * d), (t, 4 * d, d)]
    return per_layer * cfg.n_layer + [(t, d, 96)]


def matmul_cost(cfg, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    shapes = linear_shapes(cfg)
    mats = []
    for t, i, o in shapes:
        x = rng.integers(-127, 128, (t, i)).astype(np.float32)
        w = rng.integers(-127, 128, (i, o)).astype(np.float32)
        g = rng.integers(-127, 128, (t, o)).astype(np.float32)
        mats.append((x, w, g))
    # exactness: against int64, with 1 and 2 threads, and with the K order reversed
    x, w, g = (torch.from_numpy(m) for m in mats[-2 if len(mats) > 1 else 0])
    ref = x.numpy().astype(np.int64).T @ g.numpy().astype(np.int64)        # a weight gradient: K = tokens
    exact = True
    for threads in (1, 2):
        torch.set_num_threads(threads)
        got = exact_int_matmul(x.T.contiguous(), g).numpy()
        rev = exact_int_matmul(x.T.flip(1).contiguous(), g.flip(0).contiguous()).numpy()
        exact &= bool(np.array_equal(got.astype(np.int64), ref) and np.array_equal(rev, got))
    torch.set_num_threads(1)

    def run(kind):
        def fn():
            for xn, wn, gn in tm[kind]:
                if kind == "int8 exact (float32)":
                    exact_int_matmul(xn, wn), exact_int_matmul(gn, wn.T), exact_int_matmul(xn.T, gn)
                else:
                    xn @ wn, gn @ wn.T, xn.T @ gn
        return fn
    tm = {"float64": [tuple(torch.from_numpy(m.astype(np.float64)) for m in t) for t in mats],
          "float32": [tuple(torch.from_numpy(m) for m in t) for t in mats],
          "int8 exact (float32)": [tuple(torch.from_numpy(m) for m in t) for t in mats]}
    fb = fb64(cfg)
    sides = [("float64", run("float64")), ("float32", run("float32")),
             ("int8 exact (float32)", run("int8 exact (float32)")), ("fwd+bwd float64", fb)]
    for _, fn in sides:
        fn()
    times = {k: [] for k, _ in sides}
    for r in range(repeats):
        for k, fn in (sides if r % 2 == 0 else sides[::-1]):
            times[k].append(_cpu(fn)[0])
    return dict(exact=exact, times=times)


def fb64(cfg):
    from gradientcoin_edu.model.fixed_point import load_weights
    from gradientcoin_edu.model.gpt import GPT
    pog, train = setup(cfg)
    m = GPT(cfg, dtype=torch.float64)
    load_weights(m, pog.genesis_weights(), pog.scale_log2)
    x, y = train.batch(np.arange(16))

    def fn():
        m.zero_grad(set_to_none=True)
        _, loss = m(x, y)
        loss.backward()
    return fn


# ----------------------------------------------------------------- 3. int8 gradient quality
def _quantize(t: torch.Tensor, bits: int) -> torch.Tensor:
    """Integers |v| <= 2^(bits-1) - 1 with a power-of-two scale (exact to undo), times that scale."""
    top = 2 ** (bits - 1) - 1
    m = float(t.abs().max())
    if m == 0:
        return t
    e = math.ceil(math.log2(m / top))
    return torch.round(t * 2.0**-e).clamp(-top, top) * 2.0**e


def capture(cfg):
    """The inputs and output gradients of every nn.Linear in one float64 forward+backward of a batch of
    16 at the genesis weights, and the factor that clipping applies to this gradient."""
    from gradientcoin_edu.model.fixed_point import load_weights
    from gradientcoin_edu.model.gpt import GPT
    pog, train = setup(cfg)
    m = GPT(cfg, dtype=torch.float64)
    load_weights(m, pog.genesis_weights(), pog.scale_log2)
    x, y = train.batch(np.arange(16))
    seen = {}
    hooks = []
    for name, mod in m.named_modules():
        if isinstance(mod, torch.nn.Linear):
            hooks.append(mod.register_forward_hook(lambda mod, i, o, n=name: seen.setdefault(n, {}).update(x=i[0].detach())))
            hooks.append(mod.register_full_backward_hook(lambda mod, gi, go, n=name: seen[n].update(g=go[0].detach())))
    _, loss = m(x, y)
    loss.backward()
    for h in hooks:
        h.remove()
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in m.parameters() if p.grad is not None))
    return seen, min(1.0, pog.clip_norm / norm)


def blas_noise(cfg) -> dict:
    """Another BLAS build on the same machine: every linear layer's weight gradient ``g^T x`` by
    torch (MKL) and by NumPy (OpenBLAS), in float32 and in float64; max |difference| after clipping."""
    seen, clip = capture(cfg)
    out = {}
    for name, dt, npdt in (("f32", torch.float32, np.float32), ("f64", torch.float64, np.float64)):
        worst = 0.0
        for s in seen.values():
            xs, gs = s["x"].reshape(-1, s["x"].shape[-1]), s["g"].reshape(-1, s["g"].shape[-1])
            a = (gs.to(dt).T @ xs.to(dt)).double().numpy()
            b = (gs.numpy().astype(npdt).T @ xs.numpy().astype(npdt)).astype(np.float64)
            worst = max(worst, float(np.max(np.abs(a - b))) * clip)
        out[name] = worst
    return out


class _NumpyLinear(torch.autograd.Function):
    """``x W^T + b`` with all three matmuls (forward, input gradient, weight gradient) in NumPy's BLAS."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        xs = x.detach().reshape(-1, x.shape[-1]).numpy()
        y = torch.from_numpy(xs @ w.detach().numpy().T).reshape(*x.shape[:-1], w.shape[0])
        return y + b if b is not None else y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gs = g.reshape(-1, g.shape[-1]).numpy()
        xs = x.reshape(-1, x.shape[-1]).numpy()
        gx = torch.from_numpy(gs @ w.numpy()).reshape(x.shape)
        gw = torch.from_numpy(gs.T @ xs)
        return gx, gw, (g.reshape(-1, g.shape[-1]).sum(0) if ctx.has_bias else None)


def full_blas_noise(cfg, batches: int) -> dict:
    """The whole clipped gradient with every nn.Linear computed by NumPy (OpenBLAS) instead of torch
    (MKL), the rest (attention products, norms, softmax) by torch: max |difference|, float32 and float64."""
    from gradientcoin_edu.model.fixed_point import load_weights
    from gradientcoin_edu.model.gpt import GPT
    pog, train = setup(cfg)
    rng = np.random.default_rng(1)
    out = {"f32": 0.0, "f64": 0.0}
    for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
        m = GPT(cfg, dtype=dtype)
        load_weights(m, pog.genesis_weights(), pog.scale_log2)
        linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
        for _ in range(batches):
            x, y = train.batch(rng.integers(0, len(train), pog.batch_size))
            grads = []
            for use_numpy in (False, True):
                for mod in linears:
                    mod.forward = ((lambda inp, mod=mod: _NumpyLinear.apply(inp, mod.weight, mod.bias))
                                   if use_numpy else torch.nn.Linear.forward.__get__(mod))
                m.zero_grad(set_to_none=True)
                _, loss = m(x, y)
                loss.backward()
                g = torch.cat([p.grad.reshape(-1) for p in m.parameters()]).double().numpy()
                grads.append(clipped(g, pog.clip_norm))
            out[name] = max(out[name], float(np.max(np.abs(grads[0] - grads[1]))))
    return out


def int_quality(cfg) -> dict:
    seen, _ = capture(cfg)
    out = {}
    for bits in (8, 16):
        num = den = dot = nq = 0.0
        for name, s in seen.items():
            xs, gs = s["x"].reshape(-1, s["x"].shape[-1]), s["g"].reshape(-1, s["g"].shape[-1])
            ref = gs.T @ xs                                  # this layer's weight gradient in float64
            q = _quantize(gs, bits).T @ _quantize(xs, bits)
            num += float(((q - ref) ** 2).sum())
            den += float((ref ** 2).sum())
            dot += float((q * ref).sum())
            nq += float((q ** 2).sum())
        out[bits] = dict(rel_err=math.sqrt(num / den), cosine=dot / math.sqrt(den * nq))
    return out


def main(argv=None) -> int:
    from gradientcoin_edu.model.gpt import GPTConfig
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(SIZES), help=f"models ({', '.join(SIZES)})")
    ap.add_argument("--gpu", action="store_true", help="also the gpu preset (10.7M parameters, context 128)")
    ap.add_argument("--batches", type=int, default=3, help="batches of the noise measurement (default 3)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the matmul timing (default 5)")
    ap.add_argument("--parts", default="1,1b,1c,2,3", help="which measurements (default 1,1b,1c,2,3)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    models = {s: GPTConfig(block_size=32, n_layer=L, n_head=h, n_embd=d)
              for s, (L, d, h) in SIZES.items() if s in args.sizes.split(",")}
    if args.gpu:
        models["gpu"] = GPTConfig.preset("gpu")
    parts = args.parts.split(",")
    if "1" in parts:
        noise_table(models, args.batches)
    if "1b" in parts:
        print("\n1b. another BLAS build: each linear layer's weight gradient by torch (MKL) and NumPy (OpenBLAS), "
              "max |difference| after clipping")
        for s, cfg in models.items():
            r = blas_noise(cfg)
            print(f"{s:>6}: float32 {r['f32']:.2e}, float64 {r['f64']:.2e}", flush=True)
    if "1c" in parts:
        print("\n1c. the whole clipped gradient with every linear layer by NumPy (OpenBLAS) instead of torch (MKL), "
              "max |difference|; the chain's float64 noise bound is 2^-52 = 2.2e-16")
        for s, cfg in models.items():
            r = full_blas_noise(cfg, args.batches)
            print(f"{s:>6}: float32 {r['f32']:.2e}, float64 {r['f64']:.2e} (= 2^{math.log2(r['f64']):.1f})"
                  if r["f64"] > 0 else f"{s:>6}: float32 {r['f32']:.2e}, float64 0", flush=True)
    if "2" in parts:
        matmul_table(models, args.repeats)
    if "3" in parts:
        print("\n3. weight gradients of the linear layers from quantized operands, against float64")
        for s, cfg in models.items():
            r = int_quality(cfg)
            print(f"{s:>6}: " + "; ".join(f"int{b}: relative error {v['rel_err']:.2e}, cosine {v['cosine']:.6f}"
                                          for b, v in r.items()), flush=True)
    return 0


def noise_table(models, batches) -> None:
    print("\n1. float noise of one clipped gradient (max |difference| over the batches; genesis weights)")
    print(f"{'model':>6} {'N':>11} {'k':>3} {'δ':>6} {'median|g|':>10} {'f64 1v2 thr':>12} {'f32 1v2 thr':>12} "
          f"{'f32 vs f64':>11} | {'f32 quantum (1v2)':>18} {'rounds to 0':>11} | {'λ at 2^-k':>10} {'G = 2^':>10}")
    for s, cfg in models.items():
        r = noise(cfg, batches)
        print(f"{s:>6} {r['n']:>11,} {r['k']:>3} {'2^-' + str(r['delta_log2']):>6} {r['median_abs_g']:>10.2e} "
              f"{r['f64']:>12.2e} {r['f32']:>12.2e} {r['f32_vs_f64']:>11.2e} | "
              f"{'2^' + format(-r['f32_quantum_log2'], '.1f'):>18} {r['f32_zero_share']:>11.1%} | "
              f"{r['f32_lambda']:>10.3g} {r['f32_grind_log2']:>10.3g}", flush=True)


def matmul_table(models, repeats) -> None:
    print("\n2. the model's linear-layer matmuls (forward, input gradient, weight gradient), batch 16; CPU ms min/median")
    for s, cfg in models.items():
        r = matmul_cost(cfg, repeats)
        med = {k: statistics.median(v) for k, v in r["times"].items()}
        print(f"{s:>6}: exact against int64 with 1 and 2 threads and reversed order: {r['exact']}; " + "; ".join(
            f"{k} {1000 * min(v):.1f}/{1000 * med[k]:.1f}" for k, v in r["times"].items())
              + f"; int8-exact / float64 {med['int8 exact (float32)'] / med['float64']:.2f}, "
                f"float64 matmuls / whole fwd+bwd {med['float64'] / med['fwd+bwd float64']:.2f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
