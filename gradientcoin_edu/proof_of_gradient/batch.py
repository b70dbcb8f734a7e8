"""Which data a lottery ticket trains on: the batch is chosen by the ticket's own inputs.

For nonce ``n`` the miner computes ``seed = SHA-256(parent_hash ‖ miner_id ‖ n)`` (nonce as
4 little-endian bytes, as in the block header) and draws ``batch_size`` record indices from
the committed dataset with :class:`HashRNG` - SHA-256 in counter mode plus rejection sampling,
never torch's or NumPy's generators, so every node on every platform derives the same batch.
The miner cannot pick its data: a new nonce is a new batch, hence a new gradient.

**Strata (batch preview).** A batch costs about 60 µs to compute and its gradient about a
thousand times more, so a miner can *preview* hundreds of batches per gradient and spend its
gradients only on batches rich in records it likes (its own contributions): with uniform draws
that lifts their share of the applied gradients several-fold (``benchmarks/preview.py``). A
:class:`StratifiedDataset` therefore groups its records into *strata* (the genesis corpus, then
one per data contribution) with integer weights, and a batch is drawn in two stages:

1. **slots to strata** - systematic sampling: ``u = HashRNG(allocation_seed(parent)).below(W)``
   with ``W`` the sum of the weights, slot ``j`` goes to the stratum holding position
   ``(u + j·W) // batch_size`` of the cumulative weights. A stratum of weight ``w`` gets
   ``floor`` or ``ceil`` of ``batch_size·w/W`` slots, ``batch_size·w/W`` on average. The
   allocation depends on the **parent block only**, never on the nonce: every nonce a miner
   can try on one parent gives each stratum the same number of slots;
2. **records within a stratum** - uniform, with replacement, from the nonce's ``seed``.

A previewing miner can still choose *which* of a stratum's records fill its slots, but not how
many slots any stratum gets, so its records' share of the applied gradients is what the weights
say, whatever it spends on previews. A plain :class:`Dataset` is one stratum: the batch is
``HashRNG(seed).below(len(dataset), batch_size)``, exactly as before strata existed.
Taught in notebook 08; specified in ``docs/protocol.md`` section 5.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..crypto.hashes import sha256
from ..errors import ModelError
from ..model.corpus import Dataset
from ..model.rng import HashRNG

__all__ = ["nonce_bytes", "batch_seed", "allocation_seed", "batch_indices", "slot_strata",
           "stratified_indices", "StratifiedDataset", "select_indices", "select_batch"]

ALLOCATION_TAG = b"gradientcoin batch strata"


def nonce_bytes(nonce: int) -> bytes:
    """The nonce as in the block header: 4 little-endian bytes."""
    if not 0 <= nonce < 2**32:
        raise ValueError("a nonce is an integer in [0, 2^32)")
    return nonce.to_bytes(4, "little")


def batch_seed(parent_hash: bytes, miner_id: bytes, nonce: int) -> bytes:
    """``SHA-256(parent_hash ‖ miner_id ‖ nonce)``: the seed of attempt ``nonce``."""
    return sha256(bytes(parent_hash) + bytes(miner_id) + nonce_bytes(nonce))


def allocation_seed(parent_hash: bytes) -> bytes:
    """``SHA-256("gradientcoin batch strata" ‖ parent_hash)``: the same for every ticket on one parent."""
    return sha256(ALLOCATION_TAG + bytes(parent_hash))


def batch_indices(seed: bytes, n_records: int, batch_size: int) -> np.ndarray:
    """``batch_size`` record indices uniform in ``[0, n_records)`` drawn from ``seed``, shape (B,)."""
    return HashRNG(seed).below(n_records, batch_size)


@dataclass(frozen=True, eq=False)
class StratifiedDataset(Dataset):
    """A :class:`Dataset` whose records are grouped into strata with integer batch weights.

    ``starts[s]`` is the first record of stratum ``s`` (``starts[0] == 0``, increasing, each
    stratum non-empty); ``weights[s] > 0`` its weight in batch selection. The Merkle ``root``
    covers the records only: the strata are derived by every node from the chain.
    """

    starts: tuple = (0,)
    weights: tuple = (1,)

    def __post_init__(self):
        super().__post_init__()
        starts, weights = tuple(int(s) for s in self.starts), tuple(int(w) for w in self.weights)
        n = len(self)
        ok = (len(starts) == len(weights) >= 1 and starts[0] == 0 and starts[-1] < n
              and all(a < b for a, b in zip(starts, starts[1:])) and min(weights) > 0 and sum(weights) <= 2**62)
        if not ok:
            raise ModelError("bad-strata", "strata need increasing non-empty starts from 0 and positive weights")
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "weights", weights)

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        """Records in each stratum."""
        ends = self.starts[1:] + (len(self),)
        return tuple(e - s for s, e in zip(self.starts, ends))

    @cached_property
    def cumulative(self) -> np.ndarray:
        """Cumulative weights, (S,) int64: stratum ``s`` holds positions ``[C[s-1], C[s])`` of ``[0, W)``."""
        return np.cumsum(np.asarray(self.weights, dtype=np.int64))

    def stratum_of(self, index: int) -> int:
        """The stratum record ``index`` belongs to."""
        return int(np.searchsorted(np.asarray(self.starts), index, side="right") - 1)


def slot_strata(alloc_seed: bytes, weights, batch_size: int) -> np.ndarray:
    """Stage 1: the stratum of each of the ``batch_size`` slots (systematic sampling), shape (B,)."""
    return _slots(alloc_seed, np.cumsum(np.asarray([int(w) for w in weights], dtype=np.int64)), batch_size)


def _slots(alloc_seed: bytes, cumulative: np.ndarray, batch_size: int) -> np.ndarray:
    total = int(cumulative[-1])
    u = int(HashRNG(alloc_seed).below(total, 1)[0])
    positions = [(u + j * total) // batch_size for j in range(batch_size)]    # B points in [0, W), increasing
    return np.searchsorted(cumulative, positions, side="right")               # (B,) non-decreasing


def stratified_indices(alloc_seed: bytes, seed: bytes, dataset: "StratifiedDataset", batch_size: int) -> np.ndarray:
    """Stage 1 from ``alloc_seed``, stage 2 (uniform within each stratum) from ``seed``: (B,) indices."""
    strata = _slots(alloc_seed, dataset.cumulative, batch_size).tolist()
    rng, out, j = HashRNG(seed), [], 0
    while j < batch_size:                                                    # runs of one stratum, ascending
        s, k = strata[j], strata.count(strata[j])
        out.append(dataset.starts[s] + rng.below(dataset.sizes[s], k))
        j += k
    return np.concatenate(out)


def select_indices(dataset: Dataset, parent_hash: bytes, seed: bytes, batch_size: int) -> np.ndarray:
    """The (B,) record indices of the ticket with batch ``seed`` on ``parent_hash`` (strata if any)."""
    if isinstance(dataset, StratifiedDataset) and len(dataset.starts) > 1:
        return stratified_indices(allocation_seed(parent_hash), seed, dataset, batch_size)
    return batch_indices(seed, len(dataset), batch_size)


def select_batch(dataset: Dataset, parent_hash: bytes, miner_id: bytes, nonce: int,
                 batch_size: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Indices (B,) and the inputs and targets (B, T) of attempt ``nonce``."""
    idx = select_indices(dataset, parent_hash, batch_seed(parent_hash, miner_id, nonce), batch_size)
    x, y = dataset.batch(idx)
    return idx, x, y
