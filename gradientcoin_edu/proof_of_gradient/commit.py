"""Committing to a gradient, and the lottery ticket it buys.

``grad_root`` is the ``"chain"`` Merkle root over SHA-256 digests of ``chunk_bytes``-sized
chunks of the payload (the quantized gradient's bytes): two lines of hashlib below; the
kernels compute the same root faster. The ticket
is ``SHA-256d(parent_hash ‖ miner_id ‖ nonce ‖ grad_root)``, read as a little-endian
256-bit number like a Bitcoin block hash, and wins when it is at most the target.

The ticket covers no free field: not the time, not the transactions. The only way to a new
ticket is a new nonce, which picks a new batch, which needs a new gradient - mining *is*
training. Naming the miner inside the ticket (and the batch seed) makes a copied gradient
worthless to anyone else. Taught in notebook 08.
"""
from __future__ import annotations

import hashlib

from ..crypto.hashes import sha256d
from ..crypto.merkle import merkle_root
from .batch import nonce_bytes

__all__ = ["grad_root", "ticket", "ticket_value", "ticket_wins"]


def grad_root(payload: bytes, chunk_bytes: int) -> bytes:
    """Merkle root of the payload's chunk digests (the definition; ``kernels.gradient_root``
    computes the same bits faster, tested against this)."""
    digests = [hashlib.sha256(payload[i:i + chunk_bytes]).digest() for i in range(0, len(payload), chunk_bytes)]
    return merkle_root(digests, "chain")        # leaf SHA-256(0x00 ‖ d), node SHA-256(0x01 ‖ l ‖ r)


def ticket(parent_hash: bytes, miner_id: bytes, nonce: int, grad_root: bytes) -> bytes:
    """``SHA-256d(parent_hash ‖ miner_id ‖ nonce (u32 LE) ‖ grad_root)``: 32 bytes."""
    return sha256d(bytes(parent_hash) + bytes(miner_id) + nonce_bytes(nonce) + bytes(grad_root))


def ticket_value(ticket_hash: bytes) -> int:
    """The ticket as the 256-bit number compared with the target (little-endian, as Bitcoin)."""
    return int.from_bytes(ticket_hash, "little")


def ticket_wins(ticket_hash: bytes, target: int) -> bool:
    return ticket_value(ticket_hash) <= target
