"""Reference solutions for notebook 03 (for instructors): ``SOLUTIONS = {"03.k": function}``."""
from __future__ import annotations

import hashlib
import struct


def bits_to_target(bits: int) -> int:
    """03.2: size byte and 23-bit mantissa -> mantissa * 256^(size - 3) (0 for a zero mantissa)."""
    size, mantissa = bits >> 24, bits & 0x007FFFFF
    if size <= 3:
        return mantissa >> (8 * (3 - size))
    return mantissa << (8 * (size - 3))


def chain_merkle_root(items: list[bytes]) -> bytes:
    """03.1: leaves and inner nodes hashed with different prefixes; an odd node is carried up."""
    if not items:
        return hashlib.sha256(b"").digest()
    level = [hashlib.sha256(b"\x00" + item).digest() for item in items]
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def find_nonce(header) -> int:
    """03.3: the smallest nonce whose header hash is at most the target."""
    target = bits_to_target(header.bits)
    nonce = 0
    while header.with_nonce(nonce).hash_value() > target:
        nonce += 1
    return nonce


def parse(cls, data: bytes):
    """03.4: BlockHeader.parse - the fields in serialization order, integers little-endian."""
    version, prev_hash, tx_root, grad_root, weights_root, time, bits, miner_id, nonce = struct.unpack(
        "<I32s32s32s32sQI32sI", data)
    return cls(version, prev_hash, tx_root, grad_root, weights_root, time, bits, nonce, miner_id)


SOLUTIONS = {"03.1": chain_merkle_root, "03.2": bits_to_target, "03.3": find_nonce, "03.4": parse}
