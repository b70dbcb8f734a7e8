"""Which data a lottery ticket trains on: the batch is chosen by the ticket's own inputs.

For nonce ``n`` the miner computes ``seed = SHA-256(parent_hash ‖ miner_id ‖ n)`` (nonce as
4 little-endian bytes, as in the block header) and draws ``batch_size`` record indices,
with replacement, from the committed dataset with :class:`HashRNG` - SHA-256 in counter
mode plus rejection sampling, never torch's or NumPy's generators, so every node on every
platform derives the same batch. The miner cannot pick its data: a new nonce is a new
batch, hence a new gradient. Taught in notebook 08.
"""
from __future__ import annotations

import numpy as np
import torch

from ..crypto.hashes import sha256
from ..model.corpus import Dataset
from ..model.rng import HashRNG

__all__ = ["nonce_bytes", "batch_seed", "batch_indices", "select_batch"]


def nonce_bytes(nonce: int) -> bytes:
    """The nonce as in the block header: 4 little-endian bytes."""
    if not 0 <= nonce < 2**32:
        raise ValueError("a nonce is an integer in [0, 2^32)")
    return nonce.to_bytes(4, "little")


def batch_seed(parent_hash: bytes, miner_id: bytes, nonce: int) -> bytes:
    """``SHA-256(parent_hash ‖ miner_id ‖ nonce)``: the seed of attempt ``nonce``."""
    return sha256(bytes(parent_hash) + bytes(miner_id) + nonce_bytes(nonce))


def batch_indices(seed: bytes, n_records: int, batch_size: int) -> np.ndarray:
    """``batch_size`` record indices in ``[0, n_records)`` drawn from ``seed``, shape (B,)."""
    return HashRNG(seed).below(n_records, batch_size)


def select_batch(dataset: Dataset, parent_hash: bytes, miner_id: bytes, nonce: int,
                 batch_size: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Indices (B,) and the inputs and targets (B, T) of attempt ``nonce``."""
    idx = batch_indices(batch_seed(parent_hash, miner_id, nonce), len(dataset), batch_size)
    x, y = dataset.batch(idx)
    return idx, x, y
