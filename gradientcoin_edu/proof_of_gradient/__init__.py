"""Proof-of-gradient: every lottery ticket costs one real gradient of the model.

Read in this order (each file is one step of the protocol, ``docs/proof_of_gradient.md``):

* ``params.py``   - :class:`PoGParams`, the chain parameters fixed at genesis
* ``batch.py``    - the ticket's inputs pick the batch (SHA-256 counter mode)
* ``gradient.py`` - the canonical float64 gradient (TF32 off, deterministic algorithms)
* ``noise.py``    - how much honest computations disagree (why floats cannot be hashed)
* ``quantize.py`` - ``Q = round(g / Δ)``, the block payload
* ``commit.py``   - ``grad_root`` and the ticket: the block's header hash
* ``sheet.py``    - the loss sheet: a junk block is refused for one record's forward pass
* ``update.py``   - ``W_new = W_parent - apply(Q)`` in exact integer arithmetic
* ``mine.py``     - attempts and the miner loop
* ``verify.py``   - every check, each failure an ``InvalidProof(reason)``
* ``rule.py``     - :class:`ProofOfGradient`, the chain's work rule, and its two seams for a rule that holds it

Taught in notebook 08.
"""
from .batch import batch_indices, batch_seed, seed_bytes, select_batch
from .commit import grad_root, ticket, ticket_value, ticket_wins
from .gradient import (CANONICAL_DTYPE, canonical_gradient, canonical_torch, clip_gradient,
                       compute_gradient, compute_loss)
from .mine import Attempt, MiningResult, attempt, complete_header, honest_sheet, mine, proof_from_q
from .params import PoGParams
from .quantize import dequantize, payload_from_q, q_from_payload, quantize
from .rule import ProofOfGradient, Undo
from .sheet import join_payload, sheet_from_losses, sheet_mismatches, split_payload
from .update import apply, apply_update, undo_update
from .verify import (GradientProof, ModelState, Verified, check_body, check_ticket, check_validation,
                     validation_loss, verify)

__all__ = [
    "PoGParams", "seed_bytes", "batch_seed", "batch_indices", "select_batch",
    "CANONICAL_DTYPE", "canonical_torch", "compute_gradient", "compute_loss", "clip_gradient",
    "canonical_gradient",
    "quantize", "dequantize", "payload_from_q", "q_from_payload",
    "grad_root", "ticket", "ticket_value", "ticket_wins",
    "apply", "apply_update", "undo_update",
    "Attempt", "MiningResult", "attempt", "mine", "proof_from_q", "complete_header", "honest_sheet",
    "join_payload", "sheet_from_losses", "sheet_mismatches", "split_payload",
    "GradientProof", "ModelState", "Verified", "check_body", "check_ticket", "check_validation", "validation_loss",
    "verify",
    "ProofOfGradient", "Undo",
]
