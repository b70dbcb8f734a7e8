"""[consensus] Which data a lottery ticket trains on: the batch is drawn from everything the miner chose.

The seed of an attempt is ``SHA-256`` of the block header *without its two proof fields*::

    seed = SHA-256(version u32 | prev_hash | tx_root | time u64 | bits u32 | miner_id | nonce u32)

i.e. the 180 header bytes with ``grad_root`` and ``weights_root`` (which are computed *from*
the gradient) left out: 116 bytes (:func:`batch_seed`). Everything else a miner can choose -
the parent, the transactions and so the coinbase and its reward address (through ``tx_root``),
the time, the difficulty bits, the version, the miner id and the nonce - picks the batch. Change
any of them and the batch changes, so the gradient must be computed again: a block cannot be
re-dressed (another coinbase, another transaction set, another time) without a fresh gradient
(``docs/protocol.md`` section 2). From the seed, ``batch_size`` record indices are drawn from the
committed dataset with :class:`HashRNG` - SHA-256 in counter mode plus rejection sampling, never
torch's or NumPy's generators, so every node on every platform derives the same batch. How
indices are drawn from a seed (below) is independent of how the seed is made.

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

__all__ = ["nonce_bytes", "seed_bytes", "batch_seed", "template_seed", "allocation_seed", "batch_indices", "slot_strata",
           "stratified_indices", "StratifiedDataset", "select_indices", "select_batch"]

ALLOCATION_TAG = b"gradientcoin batch strata"
_GRAD_ROOT_AT, _PROOF_END = 68, 132         # header bytes 68..131: grad_root and weights_root


def nonce_bytes(nonce: int) -> bytes:
    """The nonce as in the block header: 4 little-endian bytes."""
    if not 0 <= nonce < 2**32:
        raise ValueError("a nonce is an integer in [0, 2^32)")
    return nonce.to_bytes(4, "little")


def seed_bytes(header) -> bytes:
    """The header's 180 bytes minus ``grad_root`` and ``weights_root``: 116 bytes, every field a
    miner chooses before computing the gradient. ``header`` is a ``chain.BlockHeader`` (its two
    proof fields are ignored, so a template with zero roots gives the same bytes)."""
    raw = header.serialize()
    return raw[:_GRAD_ROOT_AT] + raw[_PROOF_END:]


def batch_seed(header) -> bytes:
    """``SHA-256(seed_bytes(header))``: the seed of the attempt this header describes."""
    return sha256(seed_bytes(header))


def template_seed(parent_hash: bytes, miner_id: bytes, nonce: int) -> bytes:
    """The seed of a bare template - version 1 on ``parent_hash``, no transactions, time and bits 0 -
    for experiments and previews that vary only the nonce (a real miner's header has more fields)."""
    from ..chain.block import BlockHeader              # chain sits below; imported late to keep batch light
    return batch_seed(BlockHeader(1, bytes(parent_hash), bytes(32), miner_id=bytes(miner_id).ljust(32, b"\0")[:32],
                                  nonce=nonce))


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


def select_batch(dataset: Dataset, parent_hash: bytes, seed: bytes,
                 batch_size: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Indices (B,) and the inputs and targets (B, T) of the ticket with batch ``seed`` (see
    :func:`batch_seed`) on ``parent_hash``."""
    idx = select_indices(dataset, parent_hash, seed, batch_size)
    x, y = dataset.batch(idx)
    return idx, x, y
