"""Checking someone else's gradient: every way a proof can fail, cheapest check first.

A block under proof-of-gradient publishes a :class:`GradientProof`: the parent it builds on,
the miner, the nonce, the quantized gradient ``Q`` (the payload), ``grad_root`` and the
``weights_root`` after the update. ``verify`` recomputes everything from the chain's own
data and raises ``InvalidProof(reason)`` at the first problem:

=========================  ===========================================================
``stale-parent``           the proof builds on other weights than the ones given
``bad-ticket``             SHA-256d(parent ‖ miner ‖ nonce ‖ grad_root) is above the target
``payload-size``           the payload is not one int32 per parameter
``grad-root-mismatch``     the payload does not hash to the published grad_root
``gradient-mismatch``      some element of Q is not round(g'/Δ) for the recomputed gradient
                           g' on the batch the ticket selects (random, zero, scaled, stale,
                           copied, other-batch, other-data or low-precision gradients)
``too-many-deviations``    more than ``cap`` elements use the ±1 boundary allowance
``weights-root-mismatch``  W_parent - apply(Q) does not hash to the published weights_root
``validation-loss``        the update raises the validation loss by more than the margin
=========================  ===========================================================

The recomputed gradient is float64 on the verifier's machine; a published element may
differ from the verifier's rounding by ±1 only when ``g'/Δ`` lies within ``δ`` of a
rounding boundary (the fused kernel checks this while hashing). Taught in notebook 08.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import kernels
from ..errors import InvalidProof, ModelError
from ..model.corpus import Dataset
from ..model.fixed_point import weights_root
from .batch import select_batch
from .commit import grad_root as compute_grad_root
from .commit import ticket, ticket_value
from .gradient import canonical_gradient, compute_loss
from .params import PoGParams
from .quantize import q_from_payload
from .update import apply_update

__all__ = ["GradientProof", "ModelState", "Verified", "check_ticket", "verify",
           "validation_loss", "check_validation"]


@dataclass(frozen=True)
class GradientProof:
    """What a proof-of-gradient block publishes (header fields + payload)."""

    parent_hash: bytes
    miner_id: bytes
    nonce: int
    grad_root: bytes
    weights_root: bytes
    payload: bytes

    @classmethod
    def from_block(cls, block) -> "GradientProof":
        """From a ``chain.block.Block`` (header fields and payload)."""
        h = block.header
        return cls(h.prev_hash, h.miner_id, h.nonce, h.grad_root, h.weights_root, block.payload)


@dataclass(frozen=True, eq=False)
class ModelState:
    """The model after block ``block_hash``: its integer weights (read-only)."""

    block_hash: bytes
    weights: np.ndarray

    def __post_init__(self):
        w = np.array(self.weights, dtype=np.int64)       # a private, frozen copy
        w.setflags(write=False)
        object.__setattr__(self, "weights", w)


@dataclass(frozen=True, eq=False)
class Verified:
    """A proof that checked out, and what the verifier learned on the way."""

    weights: np.ndarray                  # W_new
    ticket: bytes
    batch_indices: np.ndarray            # (B,) the records the gradient was computed on
    deviations: int                      # elements that used the ±1 boundary allowance
    train_loss: float                    # loss on the batch, before the update
    val_loss_before: float | None        # validation guard (None when not checked)
    val_loss_after: float | None


def check_ticket(parent_hash: bytes, miner_id: bytes, nonce: int, grad_root: bytes, target: int) -> bytes:
    """The ticket, or ``InvalidProof("bad-ticket")`` when it is above ``target``."""
    t = ticket(parent_hash, miner_id, nonce, grad_root)
    if ticket_value(t) > target:
        raise InvalidProof("bad-ticket", f"ticket {t[::-1].hex()[:16]}... is above the target")
    return t


def _validation_tensors(params: PoGParams, validation: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(validation) if params.max_validation_records <= 0 else min(len(validation), params.max_validation_records)
    return validation.batch(np.arange(n))


def validation_loss(params: PoGParams, validation: Dataset, weights: np.ndarray) -> float:
    """Mean float64 cross-entropy of ``weights`` on the chain's validation records."""
    x, y = _validation_tensors(params, validation)
    return compute_loss(params.model, weights, x, y, scale_log2=params.scale_log2)


def check_validation(params: PoGParams, validation: Dataset, before: np.ndarray, after: np.ndarray,
                     loss_before: float | None = None) -> tuple[float, float]:
    """The guard of DESIGN step 6: ``InvalidProof("validation-loss")`` when the update raises the
    validation loss by more than ``params.validation_margin``. Returns (before, after)."""
    if loss_before is None:
        loss_before = validation_loss(params, validation, before)
    loss_after = validation_loss(params, validation, after)
    if not loss_after - loss_before <= params.validation_margin:     # also rejects NaN
        raise InvalidProof("validation-loss", f"validation loss rises from {loss_before:.4f} to "
                           f"{loss_after:.4f}, more than the margin {params.validation_margin}")
    return loss_before, loss_after


def verify(params: PoGParams, dataset: Dataset, validation: Dataset | None, parent: ModelState,
           proof: GradientProof, target: int, *, parent_val_loss: float | None = None) -> Verified:
    """Check ``proof`` against the parent state; returns the new weights or raises ``InvalidProof``.

    ``validation=None`` skips the validation guard (for experiments; a node always passes it).
    ``parent_val_loss`` may pass a cached validation loss of the parent weights.
    """
    if dataset.root != params.dataset_root:
        raise ModelError("dataset-mismatch", "this node's dataset is not the one the chain committed to")
    if validation is not None and validation.root != params.validation_root:
        raise ModelError("dataset-mismatch", "this node's validation set is not the one the chain committed to")
    # 1. cheap checks: no gradient needed
    if proof.parent_hash != parent.block_hash:
        raise InvalidProof("stale-parent", "the proof builds on another block than these weights")
    t = check_ticket(proof.parent_hash, proof.miner_id, proof.nonce, proof.grad_root, target)
    q = q_from_payload(proof.payload, params.n_params)
    if compute_grad_root(proof.payload, params.chunk_bytes) != proof.grad_root:
        raise InvalidProof("grad-root-mismatch", "the payload does not hash to the published grad_root")
    # 2. recompute the gradient on the batch the ticket selects, compare while hashing
    idx, x, y = select_batch(dataset, proof.parent_hash, proof.miner_id, proof.nonce, params.batch_size)
    g, train_loss = canonical_gradient(params, parent.weights, x, y)
    report = kernels.fused_verify(g, q, params.quantum_log2, params.chunk_bytes, params.delta)
    if report.total_disallowed:
        raise InvalidProof("gradient-mismatch", f"{report.total_disallowed} of {q.size} elements are not "
                           "the rounding of the recomputed gradient")
    if report.total_deviations > params.cap:
        raise InvalidProof("too-many-deviations", f"{report.total_deviations} boundary deviations, "
                           f"the cap is {params.cap}")
    # 3. the update and its commitment
    new = apply_update(parent.weights, q, params)
    if weights_root(new, params.chunk_bytes) != proof.weights_root:
        raise InvalidProof("weights-root-mismatch", "W_parent - apply(Q) does not hash to the published weights_root")
    # 4. the guard against unhealthy data
    before = after = None
    if validation is not None:
        before, after = check_validation(params, validation, parent.weights, new, parent_val_loss)
    return Verified(new, t, idx, report.total_deviations, train_loss, before, after)
