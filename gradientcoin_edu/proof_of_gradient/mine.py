"""[policy] Mining by proof-of-gradient: every lottery ticket costs one gradient of the model.

A miner first fixes everything it chooses in a *template* header: parent, transactions root
(so the coinbase that pays it), time, bits, version, miner id. One *attempt* for nonce ``n``:
draw the batch from the template with nonce ``n`` (``batch.batch_seed``: every header field but
the two proof roots), compute the float64 gradient at the parent weights, quantize it, hash it
into ``grad_root``, apply the update and hash the new weights into ``weights_root``; the ticket
is the hash of the completed header. The same forward pass gives each record's loss: the
block's loss sheet (``sheet.py``), published after ``Q`` and covered by ``grad_root``, which
lets a node refuse a junk block for one record's forward pass. ``mine`` repeats attempts until
a ticket is at most the target and returns everything a block needs. A winning update that would fail the
validation guard is dropped (the block would be invalid) and mining goes on with the next
nonce. Taught in notebook 08.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..chain.block import HeaderFields
from ..chain.work import header_target
from ..errors import InvalidProof
from ..model.corpus import Dataset
from ..model.fixed_point import weights_root
from .batch import batch_seed, select_batch
from .commit import grad_root as compute_grad_root
from .commit import ticket, ticket_value
from .gradient import canonical_gradient, record_losses
from .params import PoGParams
from .quantize import payload_from_q, quantize
from .sheet import join_payload, sheet_from_losses
from .update import apply_update
from .verify import GradientProof, check_validation, freeze

__all__ = ["Attempt", "MiningResult", "attempt", "mine", "proof_from_q", "complete_header", "honest_sheet"]


@dataclass(frozen=True, eq=False)
class Attempt(HeaderFields):
    """One lottery ticket and the gradient it cost."""

    header: object                  # the completed header (grad_root, weights_root, nonce filled in)
    batch_indices: np.ndarray       # (B,)
    gradient: np.ndarray            # (n_params,) float64
    q: np.ndarray                   # (n_params,) int32
    payload: bytes                  # Q as little-endian int32, then the loss sheet (int64 LE)
    weights: np.ndarray             # W_new = W_parent - apply(Q)
    ticket: bytes                   # the header's hash
    loss: float                     # training loss on the batch
    sheet: np.ndarray               # (B,) int64: each record's loss, quantized

    def wins(self, target: int) -> bool:
        return ticket_value(self.ticket) <= target

    @property
    def q_bytes(self) -> bytes:
        """Q as little-endian int32 (the payload before the loss sheet)."""
        return self.payload[:4 * self.q.size]


@dataclass(frozen=True, eq=False)
class MiningResult(HeaderFields):
    """A winning attempt: the block's header and payload."""

    header: object                  # the block header (chain.BlockHeader)
    payload: bytes                  # Q as little-endian int32, then the loss sheet
    weights: np.ndarray             # W_new (int64)
    attempts: int                   # gradients computed, including the winning one
    loss: float                     # training loss of the winning batch (before the update)

    @property
    def ticket(self) -> bytes:
        return self.header.hash()


def complete_header(params: PoGParams, template, parent_weights: np.ndarray, q: np.ndarray, nonce: int | None = None,
                    sheet: np.ndarray | None = None):
    """``template`` with ``nonce`` and the roots of the payload and of ``W_parent - apply(Q)`` filled
    in. The payload is ``Q`` then ``sheet`` (the loss sheet, int64); with ``sheet=None`` it is ``Q``
    alone (the rules of ``naive_rules.py``, which have no sheet). Returns (header, payload bytes,
    new weights - read-only)."""
    payload = payload_from_q(q) if sheet is None else join_payload(payload_from_q(q), sheet)
    new = freeze(apply_update(parent_weights, q, params))            # read-only: a ModelState keeps it as is
    header = replace(template, nonce=template.nonce if nonce is None else nonce,
                     grad_root=compute_grad_root(payload, params.chunk_bytes),
                     weights_root=weights_root(new, params.chunk_bytes))
    return header, payload, new


def honest_sheet(params: PoGParams, dataset: Dataset, header, parent_weights: np.ndarray) -> np.ndarray:
    """The loss sheet an honest miner publishes for ``header``'s batch (a forward pass): for the
    attack demonstrations, which pair it with a forged ``Q``."""
    _, x, y = select_batch(dataset, header.prev_hash, batch_seed(header), params.batch_size)
    return sheet_from_losses(record_losses(params.model, parent_weights, x, y, scale_log2=params.scale_log2),
                             params.sheet_log2)


def attempt(params: PoGParams, dataset: Dataset, template, parent_weights: np.ndarray,
            nonce: int | None = None) -> Attempt:
    """Compute one ticket for ``template`` with ``nonce`` (default: the template's): batch,
    gradient, quantization, update, the two roots, the header hash."""
    header = template if nonce is None else replace(template, nonce=nonce)
    idx, x, y = select_batch(dataset, header.prev_hash, batch_seed(header), params.batch_size)
    g, loss, losses = canonical_gradient(params, parent_weights, x, y, per_record=True)
    q = quantize(g, params.quantum_log2)
    sheet = sheet_from_losses(losses, params.sheet_log2)
    header, payload, new = complete_header(params, header, parent_weights, q, sheet=sheet)
    return Attempt(header, idx, g, q, payload, new, ticket(header), loss, sheet)


def mine(params: PoGParams, dataset: Dataset, template, parent_weights: np.ndarray, target: int | None = None,
         start_nonce: int = 0, max_attempts: int = 1000, validation: Dataset | None = None,
         parent_val_loss: float | None = None) -> MiningResult | None:
    """Try nonces ``start_nonce, start_nonce + 1, ...`` of ``template`` (each a new gradient) until a
    ticket is at most ``target`` (default: the target of the template's bits); returns the block's
    header and payload, or None after ``max_attempts`` losers.

    With ``validation`` the miner also checks the validation guard before publishing.
    """
    target = header_target(template) if target is None else target
    for i in range(max_attempts):
        nonce = start_nonce + i
        if nonce >= 2**32:
            break
        a = attempt(params, dataset, template, parent_weights, nonce)
        if not a.wins(target):
            continue
        if validation is not None:
            try:
                check_validation(params, validation, parent_weights, a.weights, parent_val_loss)
            except InvalidProof:
                continue                     # a harmful update: not worth publishing
        return MiningResult(a.header, a.payload, a.weights, i + 1, a.loss)
    return None


def proof_from_q(params: PoGParams, template, parent_weights: np.ndarray, q: np.ndarray,
                 nonce: int | None = None, *, dataset: Dataset | None = None,
                 sheet: np.ndarray | None = None) -> GradientProof:
    """A self-consistent proof for *any* ``Q`` (roots computed honestly from it). Honest miners get
    ``Q`` from ``attempt``; the attack demonstrations pass forged ones and watch ``verify`` refuse.
    The loss sheet: ``sheet`` if given, else the honest one of the batch when ``dataset`` is given
    (a forger who ran the forward pass), else zeros (a junk sheet)."""
    q = np.asarray(q, dtype=np.int32)
    if sheet is None:
        if dataset is None:
            sheet = np.zeros(params.batch_size, dtype=np.int64)
        else:
            h = template if nonce is None else replace(template, nonce=nonce)
            sheet = honest_sheet(params, dataset, h, parent_weights)
    header, payload, _ = complete_header(params, template, parent_weights, q, nonce, sheet=sheet)
    return GradientProof(header, payload)
