"""[consensus] Merkle trees: one 32-byte root that commits to a whole list, and short inclusion proofs.

Two trees live here (whitepaper sections 3 and 8):

* ``"bitcoin"`` — Bitcoin's own tree over txids: inner node = SHA-256d(left ‖ right),
  and an odd node at any level is paired with a copy of itself. It reproduces real
  Bitcoin merkle roots, and it has a known flaw (CVE-2012-2459): the lists
  ``[a, b, c]`` and ``[a, b, c, c]`` have the same root.
* ``"chain"`` — the tree gradientcoin_edu uses for its own blocks, gradients and
  weights. Leaves and inner nodes are hashed with different one-byte prefixes
  (leaf = SHA-256(0x00 ‖ item), node = SHA-256(0x01 ‖ left ‖ right)), and an odd node
  is carried up unchanged rather than duplicated, so no two different lists share a
  root and a leaf can never pass for an inner node. The empty list has root SHA-256(b"").

The GPU kernels in ``kernels/merkle_root.py`` compute the ``"chain"`` root bit-exactly.
Taught in notebook 03 (and used for weights in notebook 10).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .hashes import sha256, sha256d

__all__ = [
    "LEAF_PREFIX", "NODE_PREFIX", "EMPTY_ROOT",
    "leaf_hash", "node_hash", "merkle_root", "bitcoin_merkle_root",
    "MerkleProof", "merkle_proof", "verify_proof",
]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = sha256(b"")


def leaf_hash(item: bytes) -> bytes:
    """Chain tree: hash of one leaf item (domain-separated from inner nodes)."""
    return sha256(LEAF_PREFIX + item)


def node_hash(left: bytes, right: bytes) -> bytes:
    """Chain tree: hash of an inner node from its two children."""
    return sha256(NODE_PREFIX + left + right)


def _next_level(level: list[bytes], mode: str) -> list[bytes]:
    if mode == "bitcoin":
        if len(level) % 2:
            level = level + [level[-1]]          # Bitcoin duplicates the odd node
        return [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])                    # the chain tree carries it up unchanged
    return nxt


def _leaves(items: Sequence[bytes], mode: str) -> list[bytes]:
    if mode == "bitcoin":
        return [bytes(x) for x in items]          # txids are already hashes
    if mode == "chain":
        return [leaf_hash(bytes(x)) for x in items]
    raise ValueError(f"unknown merkle mode {mode!r}: use 'chain' or 'bitcoin'")


def merkle_root(items: Sequence[bytes], mode: str = "chain") -> bytes:
    """Root of the tree over ``items`` (any bytes for ``"chain"``, 32-byte txids for ``"bitcoin"``)."""
    level = _leaves(items, mode)
    if not level:
        if mode == "bitcoin":
            raise ValueError("a Bitcoin merkle tree needs at least one txid")
        return EMPTY_ROOT
    while len(level) > 1:
        level = _next_level(level, mode)
    return level[0]


def bitcoin_merkle_root(txids: Sequence[bytes]) -> bytes:
    """Bitcoin's merkle root over txids in internal byte order."""
    return merkle_root(txids, mode="bitcoin")


@dataclass(frozen=True)
class MerkleProof:
    """Inclusion proof: the sibling hashes from the leaf up to the root.

    ``siblings`` lists only levels where the node had a sibling (in the chain tree an
    odd last node is carried up without one); ``index`` and ``leaf_count`` say which.
    """

    index: int
    leaf_count: int
    siblings: tuple[bytes, ...]
    mode: str = "chain"


def merkle_proof(items: Sequence[bytes], index: int, mode: str = "chain") -> MerkleProof:
    """Build the proof that ``items[index]`` is in the tree."""
    if not 0 <= index < len(items):
        raise IndexError(f"leaf index {index} outside 0..{len(items) - 1}")
    level, i, siblings = _leaves(items, mode), index, []
    while len(level) > 1:
        sib = i ^ 1
        if sib < len(level):
            siblings.append(level[sib])
        elif mode == "bitcoin":
            siblings.append(level[i])             # paired with its own copy
        level, i = _next_level(level, mode), i // 2
    return MerkleProof(index, len(items), tuple(siblings), mode)


def verify_proof(item: bytes, proof: MerkleProof, root: bytes) -> bool:
    """True when ``item`` at ``proof.index`` hashes up to ``root``. Never raises on bad proofs."""
    try:
        n, i = proof.leaf_count, proof.index
        if not (isinstance(n, int) and isinstance(i, int) and 0 <= i < n):
            return False
        h = bytes(item) if proof.mode == "bitcoin" else leaf_hash(bytes(item))
        sibs = list(proof.siblings)
        while n > 1:
            if (i ^ 1) < n or proof.mode == "bitcoin":
                if not sibs:
                    return False
                s = bytes(sibs.pop(0))
                if proof.mode == "bitcoin":
                    h = sha256d(h + s) if i % 2 == 0 else sha256d(s + h)
                else:
                    h = node_hash(h, s) if i % 2 == 0 else node_hash(s, h)
            n, i = (n + 1) // 2, i // 2
        return not sibs and h == root
    except (TypeError, ValueError, AttributeError):
        return False
