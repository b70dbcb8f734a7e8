"""Reference solutions for notebook 08 (for instructors): ``SOLUTIONS = {"08.k": function}``."""
from __future__ import annotations

import hashlib

import numpy as np


def my_batch_seed(header_bytes: bytes) -> bytes:
    """08.1: SHA-256 of the 180 header bytes without grad_root (68..99) and weights_root (100..131)."""
    return hashlib.sha256(header_bytes[:68] + header_bytes[132:]).digest()


def count_deviations(g: np.ndarray, q: np.ndarray, quantum_log2: int, delta: float) -> tuple[int, int]:
    """08.2: (elements where q is not the rounding of g / Δ, those of them not within delta of x.5)."""
    x = np.clip(np.ldexp(np.asarray(g, dtype=np.float64), quantum_log2), -2.0**31, 2.0**31 - 1)
    q = np.asarray(q, dtype=np.float64)
    deviates = q != np.rint(x)
    disallowed = deviates & (np.abs(q - x) > 0.5 + delta)
    return int(deviates.sum()), int(disallowed.sum())


SOLUTIONS = {"08.1": my_batch_seed, "08.2": count_deviations}
