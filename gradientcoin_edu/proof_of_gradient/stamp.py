"""[consensus] The block stamp: a forged block must cost its sender about what checking it costs us.

A proof-of-gradient block is checked by recomputing its gradient. Winning the ticket lottery
with a *junk* payload costs only hashes (the ticket is a header hash: grind any field until it
is below the target), so without more a forger spends far less than the node that rejects the
block. The stamp closes that gap. After a miner has found its block (header final), it grinds a
4-byte ``stamp`` until ::

    SHA-256d(STAMP_TAG ‖ block_hash ‖ stamp u32 LE)  <=  2^(256 - stamp_log2) - 1

which takes ``2^stamp_log2`` hashes on average; ``PoGParams.stamp_log2`` is sized so that this
costs about one verification of the block on the same machine (``params.py``). The winning header
itself already cost a forger ``D`` hashes (``D`` = 2^256 / ticket target), so the stamp asks only
for the rest, ``2^stamp_log2 - D`` hashes (:func:`stamp_target`): at a real difficulty the stamp
costs nothing, and at every difficulty header and stamp together cost ``2^stamp_log2`` hashes. The stamp
travels as the last 4 bytes of the block's payload (after the quantized gradient) and is
checked *before* anything else about the payload - one hash. An honest miner pays it once per
block; a forger pays it for every block it wants a node to recompute (``docs/protocol.md``
section 4).

The header does not commit to the stamp (it is computed from the header's hash), so a relayer
can replace it: a block with a bad stamp is *mutated*, not invalid - a node drops it without
remembering its hash as invalid and will accept the genuine copy. Taught in notebook 08.
"""
from __future__ import annotations

import struct

from .. import kernels
from ..crypto.hashes import sha256d
from ..errors import InvalidProof

__all__ = ["STAMP_TAG", "STAMP_BYTES", "stamp_target", "stamp_prefix", "stamp_hash", "check_stamp", "find_stamp",
           "split_payload", "join_payload"]

STAMP_TAG = b"GradientCoin/stamp/v1\x00\x00\x00"     # 24 bytes: prefix + hash = 56 bytes, one SHA-256 block + 4
STAMP_BYTES = 4
_SEARCH_CHUNK = 1 << 16


def stamp_target(stamp_log2: int, ticket_target: int = 2**256 - 1) -> int:
    """The largest stamp hash value accepted. A forger already pays ``D = 2^256 / (ticket_target + 1)``
    hashes for a winning header, so the stamp asks for the rest: ``k = 2^stamp_log2 - D`` expected
    hashes, i.e. a target ``2^256 / k - 1 = 2^256 (T + 1) / (2^stamp_log2 (T + 1) - 2^256) - 1``. Header
    and stamp together then cost a forger ``2^stamp_log2`` hashes whatever the difficulty; once
    ``D >= 2^stamp_log2 - 1`` the header alone costs that much and the stamp is free.

    (An earlier rule divided the stamp's cost by ``D`` instead of subtracting ``D``: the forger's total
    ``D + 2^stamp_log2 / D`` is smallest at ``D = 2^(stamp_log2 / 2)``, e.g. 768 hashes instead of
    131,072 at ``D = 2^8``, ``stamp_log2 = 17``; ``tests/test_consensus_pog.py`` plays that forger.)"""
    t1 = ticket_target + 1
    rest = (t1 << stamp_log2) - 2**256          # k * (T + 1)
    if rest <= t1:                              # k <= 1: the winning header already cost the stamp
        return 2**256 - 1
    return min(2**256 - 1, (t1 << 256) // rest - 1)


def stamp_prefix(block_hash: bytes) -> bytes:
    """The bytes before the stamp nonce: ``STAMP_TAG ‖ block_hash``."""
    return STAMP_TAG + bytes(block_hash)


def stamp_hash(block_hash: bytes, stamp: int) -> int:
    """``SHA-256d(STAMP_TAG ‖ block_hash ‖ stamp u32 LE)`` as a little-endian 256-bit number."""
    return int.from_bytes(sha256d(stamp_prefix(block_hash) + struct.pack("<I", stamp)), "little")


def check_stamp(block_hash: bytes, stamp: int, stamp_log2: int, ticket_target: int = 2**256 - 1) -> None:
    """``InvalidProof("bad-stamp")`` unless the stamp hashes at most to the stamp target (one hash)."""
    if stamp_hash(block_hash, stamp) > stamp_target(stamp_log2, ticket_target):
        raise InvalidProof("bad-stamp", f"the stamp does not meet the stamp target (2^{stamp_log2} hashes expected)")


def find_stamp(block_hash: bytes, stamp_log2: int, ticket_target: int = 2**256 - 1, start: int = 0) -> int:
    """The first stamp from ``start`` on that meets the target (``kernels.nonce_search``: a GPU when
    there is one). About ``2^stamp_log2`` hashes; raises ``InvalidProof("no-stamp")`` if none of the
    2^32 values works (probability ``exp(-2^(32 - stamp_log2))``)."""
    prefix, target = stamp_prefix(block_hash), stamp_target(stamp_log2, ticket_target)
    for lo in range(start, 2**32, _SEARCH_CHUNK):
        found = kernels.nonce_search(prefix, target, lo, min(_SEARCH_CHUNK, 2**32 - lo))
        if found is not None:
            return found
    raise InvalidProof("no-stamp", "no 32-bit stamp meets the target")


def split_payload(payload: bytes, n_params: int) -> tuple[bytes, int]:
    """A block's payload -> (quantized gradient bytes, stamp). ``InvalidProof("payload-size")``
    unless it is exactly ``4 * n_params + 4`` bytes."""
    expected = 4 * n_params + STAMP_BYTES
    if len(payload) != expected:
        raise InvalidProof("payload-size", f"payload has {len(payload)} bytes, the model needs {expected} "
                           f"({n_params} int32 values and a {STAMP_BYTES}-byte stamp)")
    return bytes(payload[:-STAMP_BYTES]), struct.unpack("<I", payload[-STAMP_BYTES:])[0]


def join_payload(q_bytes: bytes, stamp: int) -> bytes:
    """The payload of a block: the quantized gradient's bytes, then the stamp (u32 LE)."""
    return bytes(q_bytes) + struct.pack("<I", stamp)
