"""[tooling] Why you cannot hash a float gradient: measuring the noise between honest computations.

The same gradient computed with another thread count, another BLAS or another device adds
its numbers in another order, and floating-point addition is not associative: the last bits
differ. A hash of the float bytes would then never match. This module measures how large
those differences are and what is left of them after quantizing with ``Δ = 2^-k``; the
chain's quantum, canonical precision and deviation cap are chosen from these numbers
(``docs/proof_of_gradient.md``). Taught in notebook 08.

The same module measures the validation guard (``measure_guard``): how much honest blocks
move the validation loss, how far two thread counts disagree on that number, and what a block
trained on spam does.

Run ``python -m gradientcoin_edu.proof_of_gradient.noise`` to print the noise table, and
``python -m gradientcoin_edu.proof_of_gradient.noise --guard 300`` for the guard.
"""
from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from .. import kernels
from ..model.corpus import builtin_datasets
from ..model.fixed_point import init_weights
from ..model.gpt import GPTConfig
from .gradient import compute_gradient
from .params import PoGParams

__all__ = ["NoiseComparison", "gradient_with", "compare", "measure_noise", "near_boundary",
           "GuardReport", "measure_guard"]


@contextlib.contextmanager
def _threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def gradient_with(cfg: GPTConfig, weights: np.ndarray, x, y, dtype: torch.dtype, threads: int) -> np.ndarray:
    """The gradient computed in ``dtype`` with ``threads`` intra-op threads (float64 result)."""
    with _threads(threads):
        return compute_gradient(cfg, weights, x, y, dtype=dtype)[0]


@dataclass(frozen=True)
class NoiseComparison:
    """Two computations of one gradient, compared element by element."""

    label: str
    n: int                               # number of gradient elements
    differing: int                       # elements whose float64 values differ at all
    max_abs_diff: float
    median_abs_grad: float
    quantized_diffs: dict[int, int]      # k -> elements whose round(g * 2^k) differ

    @property
    def differing_share(self) -> float:
        return self.differing / self.n

    def row(self) -> str:
        q = "  ".join(f"k={k}: {v}" for k, v in self.quantized_diffs.items())
        return (f"{self.label:<34} differ {self.differing_share:8.4%}  max|diff| {self.max_abs_diff:9.2e}  "
                f"| quantized diffs {q}")


def compare(label: str, a: np.ndarray, b: np.ndarray, ks=(16, 20, 24, 28)) -> NoiseComparison:
    """Compare two gradients: raw float differences and differences after quantizing."""
    qd = {k: int(np.count_nonzero(kernels.quantize(a, k) != kernels.quantize(b, k))) for k in ks}
    return NoiseComparison(label, a.size, int(np.count_nonzero(a != b)), float(np.max(np.abs(a - b))),
                           float(np.median(np.abs(a))), qd)


def near_boundary(g: np.ndarray, quantum_log2: int, delta: float) -> int:
    """How many elements lie within ``delta`` quanta of a rounding boundary (``x.5``): the ones
    whose rounding a miner may publish either way."""
    x = np.ldexp(g, quantum_log2)
    return int(np.count_nonzero(np.abs(np.abs(x - np.floor(x)) - 0.5) <= delta))


def measure_noise(cfg: GPTConfig | None = None, batch_size: int = 16, seed: int = 0,
                  ks=(16, 20, 24, 28)) -> list[NoiseComparison]:
    """The standard measurement: one nano-model gradient (initial weights, one batch) computed
    five ways - float64 and float32, 1 and 2 threads, and float64 with 1 thread twice."""
    cfg = cfg or GPTConfig.preset("nano")
    train, _ = builtin_datasets(cfg.block_size)
    w = init_weights(cfg, seed)
    x, y = train.batch(np.arange(batch_size))
    g = {(dt, t): gradient_with(cfg, w, x, y, dt, t)
         for dt in (torch.float64, torch.float32) for t in (1, 2)}
    again = gradient_with(cfg, w, x, y, torch.float64, 1)
    f64, f32 = torch.float64, torch.float32
    return [
        compare("float64, 1 thread, twice", g[f64, 1], again, ks),
        compare("float64, 1 vs 2 threads", g[f64, 1], g[f64, 2], ks),
        compare("float32, 1 vs 2 threads", g[f32, 1], g[f32, 2], ks),
        compare("float32 vs float64 (1 thread)", g[f64, 1], g[f32, 1], ks),
    ]


@dataclass(frozen=True)
class GuardReport:
    """Validation-loss changes along an honest chain, and what spam does at the same points."""

    deltas: np.ndarray               # (n_blocks,) validation loss after - before, honest blocks
    thread_disagreement: float       # largest |delta(1 thread) - delta(2 threads)|
    spam_deltas: dict[int, float]    # height -> delta of a block trained on spam at that height
    final_loss: float

    def summary(self, margin: float) -> str:
        d = self.deltas
        q50, q90, q99 = np.quantile(d, [0.5, 0.9, 0.99])
        spam = ", ".join(f"{h}: {v:+.3f}" for h, v in self.spam_deltas.items())
        return (f"{d.size} honest blocks: validation loss change median {q50:+.4f}, 90% {q90:+.4f}, "
                f"99% {q99:+.4f}, max {d.max():+.4f}; above the margin {margin}: {int((d > margin).sum())}\n"
                f"closest honest change to the margin: {np.min(np.abs(d - margin)):.4f} nats\n"
                f"1 vs 2 threads: largest disagreement on a change {self.thread_disagreement:.1e} nats "
                f"(decisions that differ: {int(self.thread_disagreement >= np.min(np.abs(d - margin)))})\n"
                f"spam block (all 'z') at height -> change: {spam}\n"
                f"validation loss after {d.size} blocks: {self.final_loss:.3f}")


def measure_guard(n_blocks: int = 300, params: PoGParams | None = None,
                  spam_at=(0, 10, 50, 100, 200)) -> GuardReport:
    """Run ``n_blocks`` honest blocks (easiest target, one miner) on the built-in data and measure
    each block's validation-loss change with 1 and with 2 threads; at the heights ``spam_at`` also
    measure a block trained on a dataset of spam records."""
    from dataclasses import replace

    from ..chain.block import BlockHeader
    from ..model.corpus import Dataset
    from ..model.tokenizer import CharTokenizer
    from .mine import attempt
    from .update import apply_update
    from .verify import validation_loss

    train, val = builtin_datasets(32)
    params = params or PoGParams.for_data(train, val)
    spam = Dataset(np.full((256, 33), CharTokenizer().encode("z")[0]))
    spam_params = params.replace(dataset_root=spam.root)
    w, template = params.genesis_weights(), BlockHeader(1, bytes(32), bytes(32), miner_id=b"\x01" * 32)
    deltas, worst, spam_deltas = [], 0.0, {}
    for height in range(n_blocks):
        if height in spam_at:
            bad = attempt(spam_params, spam, template, w, 0)
            spam_deltas[height] = (validation_loss(params, val, apply_update(w, bad.q, params))
                                   - validation_loss(params, val, w))
        a = attempt(params, train, template, w, height)
        new = apply_update(w, a.q, params)
        change = {}
        for n in (1, 2):
            with _threads(n):
                change[n] = validation_loss(params, val, new) - validation_loss(params, val, w)
        deltas.append(change[1])
        worst = max(worst, abs(change[1] - change[2]))
        w, template = new, replace(template, prev_hash=a.ticket)
    return GuardReport(np.array(deltas), worst, spam_deltas, validation_loss(params, val, w))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="nano")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guard", type=int, metavar="N", default=0,
                   help="instead: measure the validation guard along N honest blocks")
    p.add_argument("--clip", type=float, default=None, help="with --guard: clip_norm (0: no clipping)")
    args = p.parse_args(argv)
    if args.guard:
        train, val = builtin_datasets(32)
        params = PoGParams.for_data(train, val)
        if args.clip is not None:
            params = params.replace(clip_norm=args.clip)
        with _threads(1):
            print(measure_guard(args.guard, params).summary(params.validation_margin))
        return 0
    cfg = GPTConfig.preset(args.preset)
    rows = measure_noise(cfg, args.batch_size, args.seed)
    print(f"preset {args.preset}, batch {args.batch_size} x {cfg.block_size}, "
          f"{rows[0].n} gradient elements, median |g| {rows[0].median_abs_grad:.2e}")
    for r in rows:
        print(r.row())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
