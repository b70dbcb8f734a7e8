"""[consensus] Committing to a gradient, and the lottery ticket it buys.

``grad_root`` is the ``"chain"`` Merkle root over SHA-256 digests of ``chunk_bytes``-sized
chunks of the quantized gradient's bytes: two lines of hashlib below (the kernels compute the
same root faster, tested against it). It goes into the block
header, with ``weights_root`` (the weights after the update), and the **ticket is the block's
own hash**: ``SHA-256d`` of all 180 header bytes, read as a little-endian 256-bit number like
a Bitcoin block hash. It wins when it is at most the target the header's ``bits`` encode.

The ticket covers every header field, and the batch the gradient was computed on was drawn
from every field but the two proof roots (``batch.py``). So nothing in a block can change
without a new batch, a new gradient and a new ticket: not the coinbase (a thief cannot pay
itself with someone else's proof), not the transactions or the time (a miner cannot make
conflicting siblings of one winning ticket for free). The only way to a new ticket is a new
gradient - mining *is* training (``docs/protocol.md`` section 2). Taught in notebook 08.
"""
from __future__ import annotations

import hashlib

from ..crypto.hashes import sha256d
from ..crypto.merkle import merkle_root

__all__ = ["grad_root", "ticket", "ticket_value", "ticket_wins"]


def grad_root(q_bytes: bytes, chunk_bytes: int) -> bytes:
    """Merkle root of the quantized gradient's chunk digests (the definition; ``kernels.gradient_root``
    computes the same bits faster, tested against this)."""
    digests = [hashlib.sha256(q_bytes[i:i + chunk_bytes]).digest() for i in range(0, len(q_bytes), chunk_bytes)]
    return merkle_root(digests, "chain")        # leaf SHA-256(0x00 ‖ d), node SHA-256(0x01 ‖ l ‖ r)


def ticket(header) -> bytes:
    """``SHA-256d(header bytes)``: the block hash of ``header`` (a ``chain.BlockHeader``), 32 bytes."""
    return sha256d(header.serialize())


def ticket_value(ticket_hash: bytes) -> int:
    """The ticket as the 256-bit number compared with the target (little-endian, as Bitcoin)."""
    return int.from_bytes(ticket_hash, "little")


def ticket_wins(ticket_hash: bytes, target: int) -> bool:
    return ticket_value(ticket_hash) <= target
