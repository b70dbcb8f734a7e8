"""[consensus] Checking someone else's gradient: every way a proof can fail, cheapest check first.

A block under proof-of-gradient publishes a :class:`GradientProof`: its header (parent, miner,
nonce, transactions root, time, bits, ``grad_root`` and ``weights_root`` after the update) and
its payload (the quantized gradient ``Q``, then the loss sheet). ``verify`` recomputes
everything from the chain's own data and raises ``InvalidProof(reason)`` at the first problem:

=========================  ===========================================================
``stale-parent``           the proof builds on other weights than the ones given
``bad-ticket``             the header hash (the ticket) is above the target
``payload-size``           the payload is not one int32 per parameter plus the loss sheet
``grad-root-mismatch``     the payload does not hash to the header's grad_root
``loss-sheet-mismatch``    a record's published loss is not the recomputed one: first for
                           a record the node picks at random (one forward pass), then for
                           all records from the gradient's own forward pass
``gradient-mismatch``      some element of Q is not round(g'/Δ) for the recomputed gradient
                           g' on the batch the header's seed selects (random, zero, scaled,
                           stale, stolen, re-dressed, other-batch, other-data or
                           low-precision gradients)
``too-many-deviations``    more than ``cap`` elements use the ±1 boundary allowance
``weights-root-mismatch``  W_parent - apply(Q) does not hash to the published weights_root
``validation-loss``        the update raises the validation loss by more than the margin
=========================  ===========================================================

The first four cost microseconds to a millisecond (:func:`check_body` is the part that needs
no state: a node runs it before it stores anything); then one record's forward pass (the spot
check of the loss sheet, ``sheet.py``); only then is the gradient recomputed.
The recomputed gradient is float64 on the verifier's machine; a published element may
differ from the verifier's rounding by ±1 only when ``g'/Δ`` lies within ``δ`` of a
rounding boundary (the fused kernel checks this while hashing). Taught in notebook 08.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import kernels
from ..chain.block import HeaderFields
from ..chain.work import header_target
from ..errors import InvalidProof, ModelError
from ..model.corpus import Dataset
from ..model.fixed_point import weights_root
from .batch import batch_seed, select_batch
from .commit import ticket, ticket_value
from .gradient import canonical_gradient, compute_loss, is_frozen, record_losses
from .params import PoGParams
from .quantize import q_from_payload
from .sheet import sheet_mismatches, split_payload, spot_order
from .update import apply_update

__all__ = ["GradientProof", "ModelState", "Verified", "check_ticket", "check_body", "verify", "spot_check",
           "compare_gradient", "freeze", "validation_loss", "check_validation"]


@dataclass(frozen=True)
class GradientProof(HeaderFields):
    """What a proof-of-gradient block publishes: its header and its payload (Q bytes + loss sheet)."""

    header: object                       # a chain.BlockHeader
    payload: bytes

    @classmethod
    def from_block(cls, block) -> "GradientProof":
        """From a ``chain.block.Block``."""
        return cls(block.header, block.payload)

    @property
    def parent_hash(self) -> bytes:
        return self.header.prev_hash

    @property
    def miner_id(self) -> bytes:
        return self.header.miner_id


@dataclass(frozen=True, eq=False)
class ModelState:
    """The model after block ``block_hash``: its integer weights (read-only)."""

    block_hash: bytes
    weights: np.ndarray

    def __post_init__(self):
        w = self.weights
        if not is_frozen(w):
            w = np.array(w, dtype=np.int64)              # a private, frozen copy
            w.setflags(write=False)
        object.__setattr__(self, "weights", w)


def freeze(w: np.ndarray) -> np.ndarray:
    """Make a freshly computed state read-only, in place; a ``ModelState`` then keeps it without a copy."""
    w.setflags(write=False)
    return w


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


def check_ticket(header, target: int) -> bytes:
    """The ticket (the header's hash), or ``InvalidProof("bad-ticket")`` when it is above ``target``."""
    t = ticket(header)
    if ticket_value(t) > target:
        raise InvalidProof("bad-ticket", f"ticket {t[::-1].hex()[:16]}... is above the target")
    return t


def check_body(params: PoGParams, header, payload: bytes) -> np.ndarray:
    """The payload against its header, without any state: size, ``grad_root`` (one pass over the
    payload: Q and the loss sheet). Returns Q (a read-only view of the payload, no copy); raises
    ``InvalidProof`` ("payload-size", "grad-root-mismatch"). A block failing here does not match
    its header: it is *mutated* (a relayer can make such a copy of any block), not proof that the
    header is bad."""
    q_bytes, _ = split_payload(payload, params.n_params, params.batch_size)
    if kernels.gradient_root(payload, params.chunk_bytes, backend="cpu") != header.grad_root:   # commit.grad_root's bits
        raise InvalidProof("grad-root-mismatch", "the payload does not hash to the published grad_root")
    return np.frombuffer(q_bytes, dtype="<i4")


def _validation_tensors(params: PoGParams, validation: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(validation) if params.max_validation_records <= 0 else min(len(validation), params.max_validation_records)
    return validation.batch(np.arange(n))


def validation_loss(params: PoGParams, validation: Dataset, weights: np.ndarray) -> float:
    """Mean float64 cross-entropy of ``weights`` on the chain's validation records."""
    x, y = _validation_tensors(params, validation)
    return compute_loss(params.model, weights, x, y, scale_log2=params.scale_log2)


def check_validation(params: PoGParams, validation: Dataset, before: np.ndarray, after: np.ndarray,
                     loss_before: float | None = None) -> tuple[float, float]:
    """The guard of docs/protocol.md §8: ``InvalidProof("validation-loss")`` when the update raises the
    validation loss by more than ``params.validation_margin``. Returns (before, after)."""
    if loss_before is None:
        loss_before = validation_loss(params, validation, before)
    loss_after = validation_loss(params, validation, after)
    if not loss_after - loss_before <= params.validation_margin:     # also rejects NaN
        raise InvalidProof("validation-loss", f"validation loss rises from {loss_before:.4f} to "
                           f"{loss_after:.4f}, more than the margin {params.validation_margin}")
    return loss_before, loss_after


def verify(params: PoGParams, dataset: Dataset, validation: Dataset | None, parent: ModelState,
           proof: GradientProof, target: int | None = None, *, parent_val_loss: float | None = None,
           body_q: np.ndarray | None = None, spot_rng=None) -> Verified:
    """Check ``proof`` against the parent state; returns the new weights or raises ``InvalidProof``.

    ``target`` defaults to the one the header's ``bits`` encode. ``validation=None`` skips the
    validation guard (for experiments; a node always passes it). ``parent_val_loss`` may pass a
    cached validation loss of the parent weights. ``body_q`` may pass the payload's Q when the caller
    has already run :func:`check_body` on this very header and payload (it is not hashed again).
    ``spot_rng`` (a ``random.Random``) replaces the node's own randomness in choosing the record
    it checks first (tests replay a choice; the verdict never depends on it).
    """
    if dataset.root != params.dataset_root:
        raise ModelError("dataset-mismatch", "this node's dataset is not the one the chain committed to")
    if validation is not None and validation.root != params.validation_root:
        raise ModelError("dataset-mismatch", "this node's validation set is not the one the chain committed to")
    header = proof.header
    target = header_target(header) if target is None else target
    # 1. cheap checks: no gradient needed
    if header.prev_hash != parent.block_hash:
        raise InvalidProof("stale-parent", "the proof builds on another block than these weights")
    t = check_ticket(header, target)
    q = check_body(params, header, proof.payload) if body_q is None else body_q
    sheet = split_payload(proof.payload, params.n_params, params.batch_size)[1]
    # 2. the loss sheet: first one record the node picks (a forward pass on it), then every record,
    #    from the gradient's own forward pass and before its backward pass (a false entry the spot
    #    missed costs the node a forward pass, not a gradient); then the gradient, compared with Q
    idx, x, y = select_batch(dataset, header.prev_hash, batch_seed(header), params.batch_size)
    spot_check(params, parent.weights, x, y, sheet, spot_rng)
    g, train_loss, _ = canonical_gradient(params, parent.weights, x, y, per_record=True,
                                          check_records=lambda losses: _check_sheet(sheet, losses, params,
                                                                                    range(params.batch_size)))
    deviations, disallowed = compare_gradient(params, g, q)
    if disallowed:
        raise InvalidProof("gradient-mismatch", f"{disallowed} of {q.size} elements are not "
                           "the rounding of the recomputed gradient")
    if deviations > params.cap:
        raise InvalidProof("too-many-deviations", f"{deviations} boundary deviations, the cap is {params.cap}")
    # 3. the update and its commitment
    new = freeze(apply_update(parent.weights, q, params))
    if weights_root(new, params.chunk_bytes) != header.weights_root:
        raise InvalidProof("weights-root-mismatch", "W_parent - apply(Q) does not hash to the published weights_root")
    # 4. the guard against unhealthy data
    before = after = None
    if validation is not None:
        before, after = check_validation(params, validation, parent.weights, new, parent_val_loss)
    return Verified(new, t, idx, deviations, train_loss, before, after)


def spot_check(params: PoGParams, parent_weights: np.ndarray, x, y, sheet: np.ndarray, rng=None) -> list[int]:
    """The loss sheet's spot check: the loss of ``SPOT_RECORDS`` records of the batch ``(x, y)``, chosen
    with ``rng`` (default: the node's own randomness), recomputed in one forward pass on those records
    alone and compared with ``sheet``. Returns the positions checked; ``InvalidProof("loss-sheet-mismatch")``."""
    spot = spot_order(params.batch_size, rng)
    _check_sheet(sheet[spot], record_losses(params.model, parent_weights, x[spot], y[spot],
                                            scale_log2=params.scale_log2), params, spot)
    return spot


def _check_sheet(published: np.ndarray, losses: np.ndarray, params: PoGParams, positions) -> None:
    bad = sheet_mismatches(published, losses, params.sheet_log2)
    if bad.size:
        i = list(positions)[int(bad[0])]
        raise InvalidProof("loss-sheet-mismatch", f"record {i} of the batch: published loss "
                           f"{published[bad[0]] / 2.0**params.sheet_log2:.6f}, recomputed {losses[bad[0]]:.6f} "
                           f"({bad.size} of {len(published)} checked entries differ)")


def compare_gradient(params: PoGParams, g, q: np.ndarray) -> tuple[int, int]:
    """(deviations, disallowed deviations) of the published ``Q`` from the recomputed gradient ``g``:
    the element rule of ``kernels.fused_verify``. ``verify`` has checked the payload against its
    ``grad_root`` already, so on the CPU path it is not hashed a second time and only the totals are
    counted (``kernels.cpu.verify_totals``)."""
    if kernels.backend_for(g, q) == "cpu":
        return kernels.cpu.verify_totals(g, q, params.quantum_log2, params.delta)
    report = kernels.fused_verify(g, q, params.quantum_log2, params.chunk_bytes, params.delta)
    return report.total_deviations, report.total_disallowed
