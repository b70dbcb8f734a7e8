"""Reference solutions for notebook 11 (for instructors): ``SOLUTIONS = {"11.k": function}``."""
from __future__ import annotations

import numpy as np


def padded_words(message: bytes) -> list[int]:
    """11.1: message, 0x80, zeros, 64-bit big-endian bit length; then 4-byte big-endian words."""
    n = len(message)
    padded = message + b"\x80" + bytes((55 - n) % 64) + (8 * n).to_bytes(8, "big")
    return [int.from_bytes(padded[i:i + 4], "big") for i in range(0, len(padded), 4)]


def round_half_even(x: np.ndarray) -> np.ndarray:
    """11.2: floor, then go up past the half, and at exactly the half only from an odd floor."""
    r = np.floor(x)
    frac = x - r
    odd = (r - 2.0 * np.floor(r * 0.5)) == 1.0
    return np.where((frac > 0.5) | ((frac == 0.5) & odd), r + 1.0, r)


SOLUTIONS = {"11.1": padded_words, "11.2": round_half_even}
