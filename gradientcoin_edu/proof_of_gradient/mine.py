"""Mining by proof-of-gradient: every lottery ticket costs one gradient of the model.

One *attempt* for nonce ``n``: derive the batch from ``(parent_hash, miner_id, n)``, compute the
float64 gradient at the parent weights, quantize it, hash it into ``grad_root`` and draw the
ticket ``SHA-256d(parent_hash ‖ miner_id ‖ n ‖ grad_root)``. ``mine`` repeats attempts until a
ticket is at most the target, applies the update and returns everything a block needs. A
winning update that would fail the validation guard is dropped (the block would be invalid)
and mining goes on with the next nonce. Taught in notebook 08.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import InvalidProof
from ..model.corpus import Dataset
from ..model.fixed_point import weights_root
from .batch import select_batch
from .commit import grad_root as compute_grad_root
from .commit import ticket, ticket_value
from .gradient import canonical_gradient
from .params import PoGParams
from .quantize import payload_from_q, quantize
from .update import apply_update
from .verify import GradientProof, check_validation

__all__ = ["Attempt", "MiningResult", "attempt", "mine", "proof_from_q"]


@dataclass(frozen=True, eq=False)
class Attempt:
    """One lottery ticket and the gradient it cost."""

    nonce: int
    batch_indices: np.ndarray       # (B,)
    gradient: np.ndarray            # (n_params,) float64
    q: np.ndarray                   # (n_params,) int32
    payload: bytes
    grad_root: bytes
    ticket: bytes
    loss: float                     # training loss on the batch

    def wins(self, target: int) -> bool:
        return ticket_value(self.ticket) <= target


class MiningResult(NamedTuple):
    """A winning attempt, ready to go into a block header (+ payload)."""

    nonce: int
    payload: bytes                  # Q as little-endian int32
    grad_root: bytes
    weights: np.ndarray             # W_new (int64)
    weights_root: bytes
    attempts: int                   # gradients computed, including the winning one
    ticket: bytes
    loss: float                     # training loss of the winning batch (before the update)


def attempt(params: PoGParams, dataset: Dataset, parent_hash: bytes, parent_weights: np.ndarray,
            miner_id: bytes, nonce: int) -> Attempt:
    """Compute one ticket: batch, gradient, quantization, commitment."""
    idx, x, y = select_batch(dataset, parent_hash, miner_id, nonce, params.batch_size)
    g, loss = canonical_gradient(params, parent_weights, x, y)
    q = quantize(g, params.quantum_log2)
    payload = payload_from_q(q)
    root = compute_grad_root(payload, params.chunk_bytes)
    return Attempt(nonce, idx, g, q, payload, root, ticket(parent_hash, miner_id, nonce, root), loss)


def mine(params: PoGParams, dataset: Dataset, parent_hash: bytes, parent_weights: np.ndarray,
         miner_id: bytes, target: int, start_nonce: int = 0, max_attempts: int = 1000,
         validation: Dataset | None = None, parent_val_loss: float | None = None) -> MiningResult | None:
    """Try nonces ``start_nonce, start_nonce + 1, ...`` (each a new gradient) until a ticket is at
    most ``target``; returns the block's ingredients, or None after ``max_attempts`` losers.

    With ``validation`` the miner also checks the validation guard before publishing.
    """
    for i in range(max_attempts):
        nonce = start_nonce + i
        if nonce >= 2**32:
            break
        a = attempt(params, dataset, parent_hash, parent_weights, miner_id, nonce)
        if not a.wins(target):
            continue
        new = apply_update(parent_weights, a.q, params)
        if validation is not None:
            try:
                check_validation(params, validation, parent_weights, new, parent_val_loss)
            except InvalidProof:
                continue                     # a harmful update: not worth publishing
        return MiningResult(nonce, a.payload, a.grad_root, new, weights_root(new, params.chunk_bytes),
                            i + 1, a.ticket, a.loss)
    return None


def proof_from_q(params: PoGParams, parent_hash: bytes, parent_weights: np.ndarray, miner_id: bytes,
                 nonce: int, q: np.ndarray) -> GradientProof:
    """A self-consistent proof for *any* ``Q`` (roots computed honestly from it). Honest miners get
    ``Q`` from ``attempt``; the attack demonstrations pass forged ones and watch ``verify`` refuse."""
    q = np.asarray(q, dtype=np.int32)
    payload = payload_from_q(q)
    new = apply_update(parent_weights, q, params)
    return GradientProof(parent_hash, miner_id, nonce, compute_grad_root(payload, params.chunk_bytes),
                         weights_root(new, params.chunk_bytes), payload)
