"""Ticket grinding through the rounding allowance: valid tickets per gradient at every preset.

    python benchmarks/grinding.py                 # about a minute on one CPU core (the gpu preset: 2 gradients)
    python benchmarks/grinding.py --gpu-gradients 0   # skip the 10.7 M-parameter model

An element of a gradient whose ``g / Δ`` lies within δ of a rounding boundary is *free*: the
verifier accepts either rounding, each choice gives another ``grad_root``, hence another ticket.
With ``m`` free elements and the cap ``c`` a miner gets ``sum_{i <= min(m, c)} C(m, i)`` valid
tickets from one gradient (the grinding factor). For each preset we compute real clipped float64
gradients (the genesis weights, batches drawn from the built-in corpus) and report

* ``free``: free elements counted directly at the chain's δ (and, for comparison, at the old
  δ = 2^-20), summed over the gradients;
* ``density``: elements within a wide window ``w = 2^-8`` quanta of a boundary per unit window,
  ``count / (2 w N)`` (1.0 when fractional parts are uniform): the estimate of the expected free
  elements is ``λ = 2 δ N density``, needed because at the chain's δ the direct count is 0;
* ``G measured``: the mean grinding factor over the gradients from the direct count;
  ``G estimated``: ``E[sum_{i <= min(m, c)} C(m, i)]`` for ``m ~ Poisson(λ)``;
* the same two for the old parameters (δ = 2^-20, c = 8);
* ``noise``: the largest difference between the gradient computed with 1 and with 2 threads, in
  units of δ (the tolerance must cover it: < 1).

Prints a markdown table.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from gradientcoin_edu.model import GPTConfig, builtin_datasets
from gradientcoin_edu.proof_of_gradient import PoGParams, canonical_gradient
from gradientcoin_edu.proof_of_gradient.batch import batch_indices

WIDE_LOG2 = 8


def _expected_tickets(lam: float, cap: int) -> float:
    total, p_m = 0.0, math.exp(-lam)
    for m in range(0, 200):
        total += p_m * sum(math.comb(m, i) for i in range(min(m, cap) + 1))
        p_m *= lam / (m + 1)
    return total


def _distance(g: np.ndarray, k: int) -> np.ndarray:
    x = np.ldexp(g, k)
    return np.abs(np.abs(x - np.floor(x)) - 0.5)               # quanta from the nearest boundary n + 1/2


def measure(preset: str, n_gradients: int, n_lines: int) -> dict:
    cfg = GPTConfig.preset(preset)
    train, val = builtin_datasets(cfg.block_size, n_lines=n_lines)
    p = PoGParams.for_data(train, val, cfg)
    w = p.genesis_weights()
    n, k = p.n_params, p.quantum_log2
    free = free_old = wide = 0
    g_measured, g_old, noise = [], [], 0.0
    start = time.perf_counter()
    for i in range(n_gradients):
        idx = batch_indices(i.to_bytes(32, "little"), len(train), p.batch_size)
        x, y = train.batch(idx)
        torch.set_num_threads(1)
        g, _ = canonical_gradient(p, w, x, y)
        d = _distance(g, k)
        m, m_old = int(np.sum(d <= p.delta)), int(np.sum(d <= 2.0**-20))
        free, free_old, wide = free + m, free_old + m_old, wide + int(np.sum(d <= 2.0**-WIDE_LOG2))
        g_measured.append(sum(math.comb(m, j) for j in range(min(m, p.cap) + 1)))
        g_old.append(sum(math.comb(m_old, j) for j in range(min(m_old, 8) + 1)))
        if i == 0:                                              # honest noise: 1 vs 2 threads, in quanta / δ
            torch.set_num_threads(2)
            g2, _ = canonical_gradient(p, w, x, y)
            torch.set_num_threads(1)
            noise = float(np.max(np.abs(np.ldexp(g - g2, k)))) / p.delta
    density = wide / (n_gradients * 2 * 2.0**-WIDE_LOG2 * n)
    lam = 2 * p.delta * n * density
    lam_old = 2 * 2.0**-20 * n * density
    return dict(preset=preset, n=n, k=k, delta_log2=p.delta_log2, cap=p.cap, gradients=n_gradients,
                free=free, free_old=free_old, density=density, lam=lam, G=float(np.mean(g_measured)),
                G_est=_expected_tickets(lam, p.cap), G_old=float(np.mean(g_old)), G_old_est=_expected_tickets(lam_old, 8),
                noise=noise, seconds=time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--micro-gradients", type=int, default=200)
    ap.add_argument("--nano-gradients", type=int, default=30)
    ap.add_argument("--gpu-gradients", type=int, default=2)
    args = ap.parse_args(argv)
    rows = [measure("micro", args.micro_gradients, 600), measure("nano", args.nano_gradients, 4000)]
    if args.gpu_gradients:
        rows.append(measure("gpu", args.gpu_gradients, 2000))
    print("| preset | N | k | δ | c | gradients | free (chain δ) | density | λ = 2δN·density | G measured | "
          "G estimated | free at δ=2^-20 | G old (c=8) measured / estimated | noise / δ | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['n']:,} | {r['k']} | 2^-{r['delta_log2']} | {r['cap']} | {r['gradients']} | "
              f"{r['free']} | {r['density']:.2f} | {r['lam']:.1e} | {r['G']:.4f} | {r['G_est']:.5f} | {r['free_old']} | "
              f"{r['G_old']:.4g} / {r['G_old_est']:.4g} | {r['noise']:.1e} | {r['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
