"""[tooling] INSECURE ON PURPOSE: GradientCoin's rules as they were before they were attacked, for teaching only.

Notebook 14 (the attack lab) runs every attack twice: against these naive rules, where it works,
and against the real rules (``chain/``, ``proof_of_gradient/``, ``llm/``), where it fails with a
reason. Nothing else in the package uses this module; never build a node on it. Where the real
code keeps the old rule behind a switch, the lab uses the switch and this module only names it:

====================  ==================================================  =====================================
attack                naive rule                                           real rule (``docs/protocol.md``)
====================  ==================================================  =====================================
mutated copy          :class:`NaiveInvalidCache`: any failure marks the    rule 0: body checked against header
                      header hash, the body is never blamed                first, ``MutatedBlock`` leaves no mark
theft, equivocation   :func:`naive_batch_seed`, :func:`naive_ticket`:      seed over every header field, ticket =
                      parent, miner id, nonce (and ``grad_root``); the     block hash, coinbase pays the miner id
                      transactions and the time are free                   (section 2)
ticket grinding       :data:`NAIVE_DELTA_LOG2` = 20, :data:`NAIVE_CAP` = 8  δ and cap derived from the model (3)
forged block cost     no loss sheet: the payload is ``Q`` alone            loss sheet: junk costs a forward (4)
batch preview,        uniform draws: the dataset as a plain ``Dataset``    strata, contributions capped at 25 %
slow poisoning        (``llm.poisoning.run_blocks(defended=False)``)       of every batch (5, 6)
time warp             ``params.with_changes(enforce_timewarp=False)``      BIP 94 (section 9)
light-client proof    :func:`naive_verify_weights_chunk`: trusts the leaf  chunk count pinned by the parameters
                      count written in the proof
====================  ==================================================  =====================================

:func:`naive_check_block` is the old proof-of-gradient check of a block (cheapest first, no
loss sheet, no coinbase payee rule, no validation guard - the guard is not what these attacks are
about) and :func:`naive_mine` the old miner, both written with the real package's gradient,
quantization and commitment functions, so only the rules differ.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import kernels
from .chain.block import Block, compute_tx_root
from .crypto.hashes import sha256, sha256d
from .crypto.merkle import verify_proof
from .errors import InvalidBlock, InvalidProof
from .proof_of_gradient.batch import batch_indices, nonce_bytes
from .proof_of_gradient.commit import grad_root as compute_grad_root
from .proof_of_gradient.gradient import canonical_gradient
from .proof_of_gradient.mine import complete_header
from .proof_of_gradient.quantize import q_from_payload, quantize
from .proof_of_gradient.update import apply_update
from .model.fixed_point import weights_root

__all__ = ["NAIVE_DELTA_LOG2", "NAIVE_CAP", "NaiveInvalidCache", "NaiveAttempt", "naive_batch_seed", "naive_ticket",
           "naive_attempt", "naive_mine", "naive_check_block", "naive_verify_weights_chunk"]

NAIVE_DELTA_LOG2 = 20      # the old fixed tolerance: ±1 allowed within 2^-20 quanta of a rounding boundary ...
NAIVE_CAP = 8              # ... at most 8 times per block, whatever the model's size


class NaiveInvalidCache:
    """The old node's memory of bad blocks, in front of a real ``Chain``: keyed by header hash and
    filled by *any* rule failure (except an unknown parent), the body's included - so a relayer's
    mutated copy makes the genuine block ``known-invalid`` and its children ``invalid-parent``."""

    def __init__(self, chain):
        self.chain = chain
        self.invalid: set[bytes] = set()

    def add_block(self, block):
        """Refuse a remembered hash or a child of one; otherwise ask the chain and remember a failure."""
        h = block.hash()
        if h in self.invalid:
            raise InvalidBlock("known-invalid", "this block hash failed before")
        if block.header.prev_hash in self.invalid:
            self.invalid.add(h)
            raise InvalidBlock("invalid-parent", "the parent of this block failed before")
        try:
            return self.chain.add_block(block)
        except InvalidBlock as err:
            if err.reason != "unknown-parent":
                self.invalid.add(h)
            raise


def naive_batch_seed(header) -> bytes:
    """The old seed: ``SHA-256(parent ‖ miner_id ‖ nonce)`` - the transactions and the time pick nothing."""
    return sha256(bytes(header.prev_hash) + bytes(header.miner_id) + nonce_bytes(header.nonce))


def naive_ticket(header) -> bytes:
    """The old ticket: ``SHA-256d(parent ‖ miner_id ‖ nonce ‖ grad_root)`` - not the block hash."""
    return sha256d(bytes(header.prev_hash) + bytes(header.miner_id) + nonce_bytes(header.nonce)
                   + bytes(header.grad_root))


def _wins(ticket: bytes, target: int) -> bool:
    return int.from_bytes(ticket, "little") <= target


@dataclass(frozen=True, eq=False)
class NaiveAttempt:
    """One ticket under the naive rules: the completed header, the gradient and its quantization."""

    header: object
    gradient: np.ndarray
    q: np.ndarray
    q_bytes: bytes
    ticket: bytes


def naive_attempt(params, dataset, template, parent_weights, nonce: int) -> NaiveAttempt:
    """One gradient on the batch the naive seed draws (uniformly: no strata), roots filled in."""
    header = replace(template, nonce=nonce)
    x, y = dataset.batch(batch_indices(naive_batch_seed(header), len(dataset), params.batch_size))
    g, _ = canonical_gradient(params, parent_weights, x, y)
    q = quantize(g, params.quantum_log2)
    header, q_bytes, _ = complete_header(params, header, parent_weights, q)
    return NaiveAttempt(header, g, q, q_bytes, naive_ticket(header))


def naive_mine(params, dataset, template, txs, parent_weights, target: int, max_attempts: int = 1000) -> Block | None:
    """The old miner: nonces 0, 1, ... of ``template`` (its ``tx_root`` set from ``txs``) until a naive
    ticket is at most ``target``; the block's payload is ``Q`` alone (no loss sheet)."""
    template = replace(template, tx_root=compute_tx_root(tuple(txs)))
    for nonce in range(max_attempts):
        a = naive_attempt(params, dataset, template, parent_weights, nonce)
        if _wins(a.ticket, target):
            return Block(a.header, tuple(txs), a.q_bytes)
    return None


def naive_check_block(params, dataset, parent_weights, block, target: int, *,
                      delta_log2: int = NAIVE_DELTA_LOG2, cap: int = NAIVE_CAP) -> bytes:
    """The old check of a proof-of-gradient block, cheapest first; returns the naive ticket or raises
    ``InvalidBlock``/``InvalidProof`` with the old reasons. ``params`` supplies the model, quantum,
    chunk size and update; the tolerance is the old fixed one unless given."""
    header = block.header
    if compute_tx_root(block.txs) != header.tx_root:
        raise InvalidBlock("bad-tx-root", "tx_root is not the merkle root of the block's transactions")
    ticket = naive_ticket(header)
    if not _wins(ticket, target):
        raise InvalidProof("bad-ticket", "the naive ticket is above the target")
    if len(block.payload) != 4 * params.n_params:
        raise InvalidProof("payload-size", f"the payload must be {4 * params.n_params} bytes")
    if compute_grad_root(block.payload, params.chunk_bytes) != header.grad_root:
        raise InvalidProof("grad-root-mismatch", "the payload does not hash to the published grad_root")
    q = q_from_payload(block.payload, params.n_params)
    x, y = dataset.batch(batch_indices(naive_batch_seed(header), len(dataset), params.batch_size))
    g, _ = canonical_gradient(params, parent_weights, x, y)
    report = kernels.fused_verify(g, q, params.quantum_log2, params.chunk_bytes, 2.0 ** -delta_log2)
    if report.total_disallowed:
        raise InvalidProof("gradient-mismatch", f"{report.total_disallowed} elements are not the rounding of the "
                           "recomputed gradient")
    if report.total_deviations > cap:
        raise InvalidProof("too-many-deviations", f"{report.total_deviations} deviations, the cap is {cap}")
    if weights_root(apply_update(parent_weights, q, params), params.chunk_bytes) != header.weights_root:
        raise InvalidProof("weights-root-mismatch", "W_parent - apply(Q) does not hash to the published weights_root")
    return ticket


def naive_verify_weights_chunk(header, p) -> bool:
    """The old light-client check: the chunk hashes up to ``weights_root`` *with the leaf count the
    proof itself states* - so a shorter tree can pass a real chunk off as another index."""
    return p.proof.index == p.index and verify_proof(sha256(p.chunk), p.proof, header.weights_root)
