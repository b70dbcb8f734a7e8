"""Reference solutions for notebook 08 (for instructors): ``SOLUTIONS = {"08.k": function}``."""
from __future__ import annotations

import hashlib

import numpy as np

from gradientcoin_edu.crypto.merkle import merkle_root


def my_quantize(g, quantum_log2: int) -> np.ndarray:
    """08.1: Q = rint(g * 2^k), half to even, clamped to the int32 range; NaN or inf refused."""
    x = np.asarray(g, dtype=np.float64) * 2.0**quantum_log2            # exact: a power of two
    if not np.isfinite(x).all():
        raise ValueError("the gradient holds NaN or infinity")
    return np.rint(np.clip(x, -2.0**31, 2.0**31 - 1)).astype(np.int32)


def my_grad_root(q: np.ndarray, chunk_bytes: int) -> bytes:
    """08.2: the "chain" Merkle root over SHA-256 digests of the payload's chunk_bytes chunks."""
    payload = np.asarray(q).astype("<i4").tobytes()
    digests = [hashlib.sha256(payload[i:i + chunk_bytes]).digest() for i in range(0, len(payload), chunk_bytes)]
    return merkle_root(digests, "chain")


def my_batch_seed(header_bytes: bytes) -> bytes:
    """08.3: SHA-256 of the 180 header bytes without grad_root (68..99) and weights_root (100..131)."""
    return hashlib.sha256(header_bytes[:68] + header_bytes[132:]).digest()


def count_deviations(g: np.ndarray, q: np.ndarray, quantum_log2: int, delta: float) -> tuple[int, int]:
    """08.4: (elements where q is not the rounding of g / Δ, those of them not within delta of x.5)."""
    x = np.clip(np.ldexp(np.asarray(g, dtype=np.float64), quantum_log2), -2.0**31, 2.0**31 - 1)
    q = np.asarray(q, dtype=np.float64)
    deviates = q != np.rint(x)
    disallowed = deviates & (np.abs(q - x) > 0.5 + delta)
    return int(deviates.sum()), int(disallowed.sum())


SOLUTIONS = {"08.1": my_quantize, "08.2": my_grad_root, "08.3": my_batch_seed, "08.4": count_deviations}
