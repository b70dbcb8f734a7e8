"""Reference solutions for notebook 11 (for instructors): ``SOLUTIONS = {"11.k": function}``."""
from __future__ import annotations

import hashlib

import numpy as np


def my_chunk_digests(q: np.ndarray, chunk_bytes: int) -> list[bytes]:
    """11.1: the payload is Q as little-endian int32 bytes; one SHA-256 per chunk_bytes slice (the last may be
    short)."""
    payload = np.asarray(q).astype("<i4").tobytes()
    return [hashlib.sha256(payload[i:i + chunk_bytes]).digest() for i in range(0, len(payload), chunk_bytes)]


def padded_words(message: bytes) -> list[int]:
    """11.2: message, 0x80, zeros, 64-bit big-endian bit length; then 4-byte big-endian words."""
    n = len(message)
    padded = message + b"\x80" + bytes((55 - n) % 64) + (8 * n).to_bytes(8, "big")
    return [int.from_bytes(padded[i:i + 4], "big") for i in range(0, len(padded), 4)]


def round_half_even(x: np.ndarray) -> np.ndarray:
    """11.3: floor, then go up past the half, and at exactly the half only from an odd floor."""
    r = np.floor(x)
    frac = x - r
    odd = (r - 2.0 * np.floor(r * 0.5)) == 1.0
    return np.where((frac > 0.5) | ((frac == 0.5) & odd), r + 1.0, r)


SOLUTIONS = {"11.1": my_chunk_digests, "11.2": padded_words, "11.3": round_half_even}
