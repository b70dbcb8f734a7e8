"""Reference solutions for notebook 08 (for instructors): ``SOLUTIONS = {"08.k": function}``."""
from __future__ import annotations

import hashlib

import numpy as np


def ticket(parent_hash: bytes, miner_id: bytes, nonce: int, grad_root: bytes) -> bytes:
    """08.1: SHA-256d(parent_hash ‖ miner_id ‖ nonce as 4 little-endian bytes ‖ grad_root)."""
    data = parent_hash + miner_id + nonce.to_bytes(4, "little") + grad_root
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def count_deviations(g: np.ndarray, q: np.ndarray, quantum_log2: int, delta: float) -> tuple[int, int]:
    """08.2: (elements where q is not the rounding of g / Δ, those of them not within delta of x.5)."""
    x = np.clip(np.ldexp(np.asarray(g, dtype=np.float64), quantum_log2), -2.0**31, 2.0**31 - 1)
    q = np.asarray(q, dtype=np.float64)
    deviates = q != np.rint(x)
    disallowed = deviates & (np.abs(q - x) > 0.5 + delta)
    return int(deviates.sum()), int(disallowed.sum())


SOLUTIONS = {"08.1": ticket, "08.2": count_deviations}
