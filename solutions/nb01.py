"""Reference solutions for notebook 01 (for instructors): ``SOLUTIONS = {"01.k": function}``."""
from __future__ import annotations

import hashlib
import struct


def differing_bits(a: bytes, b: bytes) -> list[int]:
    """01.1: the positions 8*i + j (j from the most significant bit) where a and b differ."""
    if len(a) != len(b):
        raise ValueError("the two strings must have the same length")
    return [8 * i + j for i, (x, y) in enumerate(zip(a, b, strict=True)) for j in range(8) if (x ^ y) >> (7 - j) & 1]


def pad(message: bytes) -> bytes:
    """01.2: message + 0x80 + zeros (to 56 mod 64) + bit length as u64 big-endian."""
    zeros = (55 - len(message)) % 64
    return message + b"\x80" + bytes(zeros) + struct.pack(">Q", 8 * len(message))


def address_from_public_key(public_key: bytes) -> bytes:
    """01.3: the first 20 bytes of SHA-256 of the compressed public key (an uncompressed one is compressed first)."""
    if len(public_key) == 65 and public_key[0] == 4:
        x, y = public_key[1:33], int.from_bytes(public_key[33:], "big")
        public_key = bytes([2 + (y & 1)]) + x
    return hashlib.sha256(public_key).digest()[:20]


SOLUTIONS = {"01.1": differing_bits, "01.2": pad, "01.3": address_from_public_key}
