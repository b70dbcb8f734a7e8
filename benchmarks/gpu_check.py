"""The GPU measurements the docs are waiting for, in a few minutes on one CUDA machine.

    python benchmarks/gpu_check.py noise             # CPU vs GPU gradients, float64 and float32
    python benchmarks/gpu_check.py blocks --blocks 3 # gpu-preset blocks mined on the GPU, verified on the CPU

``scripts/gpu_check.sh`` runs both after ``pytest -m gpu`` and ``gradientcoin bench --markdown``.
Nothing here has run on a GPU yet (no session had one): the script is prepared so that a session
with a device spends its minutes measuring.

1. **noise**: the canonical gradient of the ``gpu`` model (10.7 M parameters) on one batch,
   computed on the CPU in float64 and on the GPU in float64 and float32 (TF32 off). For each
   pair: how many elements differ at all, the largest difference, and - what consensus cares
   about - how many *quantized* elements differ at the chain's quantum ``2^-k`` and how many
   of the GPU's elements lie within ``delta`` quanta of a rounding boundary (the verifier's
   allowance).
2. **blocks**: one miner on the ``gpu`` preset at the easiest target computes its gradients on
   the GPU (float64); a second node on the CPU verifies every block in full (recomputes the
   gradient in float64 on the CPU). Each block either connects (the GPU's quantized gradient is
   within the tolerance) or is refused with its reason; both are printed with the times.
"""
from __future__ import annotations

import argparse
import functools
import sys
import time

import numpy as np
import torch


def _spec(preset: str):
    from gradientcoin_edu.llm import EASIEST_BITS, LLMSpec
    return LLMSpec.builtin(preset, bits=EASIEST_BITS)


def noise(preset: str = "gpu", device: str = "cuda") -> None:
    """Measurement 1 (see the module docstring)."""
    from gradientcoin_edu.proof_of_gradient import select_batch
    from gradientcoin_edu.proof_of_gradient.gradient import clip_gradient, compute_gradient
    from gradientcoin_edu.proof_of_gradient.quantize import quantize

    spec = _spec(preset)
    pog = spec.pog
    w = pog.genesis_weights()
    k, delta = pog.quantum_log2, pog.delta
    _, x, y = select_batch(spec.train, spec.genesis.hash(), bytes(32), pog.batch_size)
    runs = {}
    for label, dtype, dev in (("cpu float64", torch.float64, "cpu"), (f"{device} float64", torch.float64, device),
                              (f"{device} float32", torch.float32, device)):
        start = time.perf_counter()
        g, loss = compute_gradient(pog.model, w, x, y, scale_log2=pog.scale_log2, dtype=dtype, device=dev)
        if dev == "cuda":
            torch.cuda.synchronize()
        runs[label] = (clip_gradient(g, pog.clip_norm), loss, time.perf_counter() - start)
    print(f"noise: {preset} model, {pog.n_params:,} parameters, batch {pog.batch_size}, quantum 2^-{k}, "
          f"delta {delta:g} quanta; device {_name(device)}")
    ref, ref_loss, _ = runs["cpu float64"]
    q_ref = quantize(ref, k)
    for label, (g, loss, seconds) in runs.items():
        diff = np.abs(g - ref)
        q = quantize(g, k)
        frac = np.abs(np.ldexp(g, k) - np.floor(np.ldexp(g, k)) - 0.5)
        print(f"  {label:>12}: {seconds:6.2f} s, loss {loss:.12f} (cpu64 {ref_loss:.12f}); elements differing from "
              f"cpu float64: {int(np.count_nonzero(diff))}, largest {diff.max():.3e}; quantized elements differing: "
              f"{int(np.count_nonzero(q != q_ref))} (largest {int(np.abs(q.astype(np.int64) - q_ref).max())} quanta); "
              f"elements within delta of a boundary: {int(np.count_nonzero(frac <= delta))}")


def _name(device: str) -> str:
    return torch.cuda.get_device_name(0) if device == "cuda" else "CPU (a dry run of the script)"


def blocks(preset: str = "gpu", n: int = 3, device: str = "cuda") -> None:
    """Measurement 2 (see the module docstring)."""
    from gradientcoin_edu.errors import GradientCoinError
    from gradientcoin_edu.ledger import Wallet
    from gradientcoin_edu.llm import LLMChain
    from gradientcoin_edu.proof_of_gradient import mine as mine_module
    from gradientcoin_edu.proof_of_gradient.gradient import canonical_gradient

    spec = _spec(preset)
    # the miner's gradients on the GPU: only the mining module's reference is replaced; the
    # verifier (proof_of_gradient.verify) keeps the canonical CPU computation
    mine_module.canonical_gradient = functools.partial(canonical_gradient, device=device)
    miner, verifier = LLMChain(spec), LLMChain(spec)
    who = Wallet.from_seed("gpu miner")
    print(f"blocks: {preset} preset, {spec.pog.n_params:,} parameters; mined with gradients on "
          f"{_name(device)}, verified by a CPU node ({torch.get_num_threads()} threads)")
    for h in range(1, n + 1):
        start = time.perf_counter()
        block = miner.mine(who.address).block
        miner.add_block(block)
        mined = time.perf_counter() - start
        start = time.perf_counter()
        try:
            verifier.add_block(block)
            verdict = "connected"
        except GradientCoinError as err:
            verdict = f"REFUSED: {err.reason} ({err})"
        print(f"  block {h}: mined in {mined:.1f} s ({device} gradient), CPU verification {time.perf_counter() - start:.1f} s: "
              f"{verdict}")
        if verdict != "connected":
            break
    same = verifier.rule.weights_root() == miner.rule.weights_root()
    print(f"  CPU node and GPU miner agree on the committed state: {same}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["noise", "blocks"])
    parser.add_argument("--preset", default="gpu", choices=["tiny", "demo", "gpu"])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu: a dry run of the script itself")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (these figures need a GPU)", file=sys.stderr)
        return 2
    if args.what == "noise":
        noise(args.preset, args.device)
    else:
        blocks(args.preset, args.blocks, args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
