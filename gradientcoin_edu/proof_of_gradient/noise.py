"""Why you cannot hash a float gradient: measuring the noise between honest computations.

The same gradient computed with another thread count, another BLAS or another device adds
its numbers in another order, and floating-point addition is not associative: the last bits
differ. A hash of the float bytes would then never match. This module measures how large
those differences are and what is left of them after quantizing with ``Δ = 2^-k``; the
chain's quantum, canonical precision and deviation cap are chosen from these numbers
(``docs/proof_of_gradient.md``). Taught in notebook 08.

Run ``python -m gradientcoin_edu.proof_of_gradient.noise`` to print the table.
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

__all__ = ["NoiseComparison", "gradient_with", "compare", "measure_noise", "near_boundary"]


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="nano")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = GPTConfig.preset(args.preset)
    rows = measure_noise(cfg, args.batch_size, args.seed)
    print(f"preset {args.preset}, batch {args.batch_size} x {cfg.block_size}, "
          f"{rows[0].n} gradient elements, median |g| {rows[0].median_abs_grad:.2e}")
    for r in rows:
        print(r.row())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
