"""Reference solutions for notebook 01 (for instructors): ``SOLUTIONS = {"01.k": function}``."""
from __future__ import annotations

import hashlib
import struct


def bit_difference(a: bytes, b: bytes) -> int:
    """01.1: the number of bit positions in which a and b differ (Hamming distance)."""
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


def pad(message: bytes) -> bytes:
    """01.2: message + 0x80 + zeros (to 56 mod 64) + bit length as u64 big-endian."""
    zeros = (55 - len(message)) % 64
    return message + b"\x80" + bytes(zeros) + struct.pack(">Q", 8 * len(message))


def address_from_public_key(public_key: bytes) -> bytes:
    """01.3: the first 20 bytes of SHA-256 of the compressed public key."""
    return hashlib.sha256(public_key).digest()[:20]


SOLUTIONS = {"01.1": bit_difference, "01.2": pad, "01.3": address_from_public_key}
