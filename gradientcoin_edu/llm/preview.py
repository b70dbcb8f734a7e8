"""[tooling] The previewing miner: spend gradients only on batches rich in your own records.

A ticket's batch is cheap to compute (tens of µs) and its gradient is not (tens of ms), so a
miner who contributed records can look at many batches per gradient and compute the gradient
only of the one holding the most of its records. Tickets win independently of the batch, so
the share of its records among the gradients it computes is their share among the gradients
it gets applied. :func:`preview_share` plays that miner with the consensus batch selection
(``proof_of_gradient/batch.py``) on any dataset; ``lift`` divides by the share an honest miner
gets. On a plain dataset (uniform draws: the rule before strata) the lift is several-fold; on a
:class:`~gradientcoin_edu.proof_of_gradient.batch.StratifiedDataset` the number of slots each
stratum gets is fixed by the parent block, so previews buy nothing. Measured in
``benchmarks/preview.py``; specified in ``docs/protocol.md`` section 5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import Dataset
from ..proof_of_gradient.batch import StratifiedDataset, select_indices, template_seed

__all__ = ["PreviewResult", "expected_share", "preview_share", "previews_for_overhead"]


@dataclass(frozen=True)
class PreviewResult:
    """What the previewing miner got: its records' share of the batches it computed a gradient for."""

    share: float                # own records / batch slots, over the computed gradients
    expected: float             # the share the weights promise (an honest miner's expectation)
    previews: int               # batches looked at per gradient (1 = honest)
    gradients: int

    @property
    def lift(self) -> float:
        return self.share / self.expected


def expected_share(dataset: Dataset, own: np.ndarray) -> float:
    """The expected share of batch slots holding records in ``own`` (a (N,) bool mask)."""
    own = np.asarray(own, dtype=bool)
    if not isinstance(dataset, StratifiedDataset) or len(dataset.starts) == 1:
        return float(own.mean())
    total = sum(dataset.weights)
    per_stratum = [own[s:s + n].mean() * w for s, n, w in zip(dataset.starts, dataset.sizes, dataset.weights)]
    return float(sum(per_stratum) / total)


def previews_for_overhead(overhead: float, gradient_s: float, preview_s: float) -> int:
    """Batches a miner can look at per gradient when previews may cost ``overhead`` × a gradient."""
    return 1 + int(overhead * gradient_s / preview_s)


def preview_share(dataset: Dataset, own: np.ndarray, parents, miner_id: bytes, previews: int,
                  batch_size: int, gradients_per_parent: int = 1) -> PreviewResult:
    """Play the previewing miner: on each parent, for each gradient, look at the next ``previews``
    nonces' batches and compute the one with the most ``own`` records (the first on a tie)."""
    own = np.asarray(own, dtype=bool)
    hits = slots = 0
    for parent in parents:
        nonce = 0
        for _ in range(gradients_per_parent):
            best = max(_own_slots(dataset, own, parent, miner_id, nonce + k, batch_size) for k in range(previews))
            nonce += previews
            hits, slots = hits + best, slots + batch_size
    return PreviewResult(hits / slots, expected_share(dataset, own), previews, len(parents) * gradients_per_parent)


def _own_slots(dataset: Dataset, own: np.ndarray, parent: bytes, miner_id: bytes, nonce: int, batch_size: int) -> int:
    return int(own[select_indices(dataset, parent, template_seed(parent, miner_id, nonce), batch_size)].sum())
