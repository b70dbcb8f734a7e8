"""[consensus] Hash functions: SHA-256 and Bitcoin's double SHA-256, with explicit byte order.

A hash function maps any bytes to a fixed 32-byte digest that is easy to compute and
infeasible to invert or collide. Bitcoin hashes twice (SHA-256d) and *displays* hashes
with the byte order reversed ("little-endian display"), which confuses everyone once;
the helpers here make that reversal explicit. Taught in notebook 01.
"""
from __future__ import annotations

import hashlib

__all__ = ["sha256", "sha256d", "hash_to_hex", "hex_to_hash", "bytes_to_hex_le", "hex_le_to_bytes"]


def sha256(data: bytes) -> bytes:
    """SHA-256 digest (32 bytes) of ``data``."""
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Double SHA-256, ``sha256(sha256(data))``: Bitcoin's hash for headers and txids."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_to_hex(digest: bytes) -> str:
    """Internal byte order -> Bitcoin display hex (bytes reversed), e.g. block hashes."""
    return digest[::-1].hex()


def hex_to_hash(display_hex: str) -> bytes:
    """Bitcoin display hex (reversed) -> internal byte order."""
    return bytes.fromhex(display_hex)[::-1]


# Plain aliases under the names used in the notebooks.
bytes_to_hex_le = hash_to_hex
hex_le_to_bytes = hex_to_hash
