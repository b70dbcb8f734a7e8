"""Which data a lottery ticket trains on: the batch is drawn from everything the miner chose.

The seed of an attempt is ``SHA-256`` of the block header *without its two proof fields*::

    seed = SHA-256(version u32 | prev_hash | tx_root | time u64 | bits u32 | miner_id | nonce u32)

i.e. the 180 header bytes with ``grad_root`` and ``weights_root`` (which are computed *from*
the gradient) left out: 116 bytes. Everything else a miner can choose - the parent, the
transactions and so the coinbase and its reward address (through ``tx_root``), the time, the
difficulty bits, the version, the miner id and the nonce - picks the batch. Change any of them
and the batch changes, so the gradient must be computed again: a block cannot be re-dressed
(another coinbase, another transaction set, another time) without a fresh gradient
(``docs/protocol.md`` section 2).

From the seed, :func:`select_batch` draws ``batch_size`` record indices from the committed
dataset (:func:`batch_indices`: :class:`HashRNG`, SHA-256 in counter mode with rejection
sampling, never torch's or NumPy's generators, so every platform derives the same batch).
How indices are drawn from a seed is independent of how the seed is made. Taught in notebook 08.
"""
from __future__ import annotations

import numpy as np
import torch

from ..crypto.hashes import sha256
from ..model.corpus import Dataset
from ..model.rng import HashRNG

__all__ = ["nonce_bytes", "seed_bytes", "batch_seed", "batch_indices", "select_batch"]

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


def batch_indices(seed: bytes, n_records: int, batch_size: int) -> np.ndarray:
    """``batch_size`` record indices in ``[0, n_records)`` drawn from ``seed``, shape (B,)."""
    return HashRNG(seed).below(n_records, batch_size)


def select_batch(dataset: Dataset, seed: bytes, batch_size: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Indices (B,) and the inputs and targets (B, T) drawn from ``seed`` (see :func:`batch_seed`)."""
    idx = batch_indices(seed, len(dataset), batch_size)
    x, y = dataset.batch(idx)
    return idx, x, y
