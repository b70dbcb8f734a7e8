"""[consensus] A random number generator that every computer agrees on: SHA-256 in counter mode.

Consensus code may only use randomness that every node reproduces bit for bit, on any
operating system, CPU, Python, NumPy or PyTorch version. ``torch.manual_seed`` and NumPy's
``Generator`` are platform-independent in practice but their streams may change between
library versions (NumPy's NEP 19 reserves the right; PyTorch promises nothing across
versions or devices). SHA-256 is specified by a standard (FIPS 180-4), so block ``i`` of the
stream, ``SHA-256(seed ‖ i as 8 little-endian bytes)``, is the same everywhere, forever.

Integers below ``n`` are drawn by rejection sampling (no modulo bias). Used for the built-in
corpus, the initial weights and - most importantly - the choice of each mining batch.
Taught in notebooks 07 and 08.
"""
from __future__ import annotations

import hashlib
from typing import Sequence, TypeVar

import numpy as np

__all__ = ["HashRNG", "as_seed", "hash_stream"]

T = TypeVar("T")


def as_seed(seed: bytes | str | int) -> bytes:
    """Canonical seed bytes: bytes as is, str as UTF-8, int as 8 little-endian bytes (signed)."""
    if isinstance(seed, (bytes, bytearray)):
        return bytes(seed)
    if isinstance(seed, str):
        return seed.encode("utf-8")
    if isinstance(seed, (int, np.integer)):
        return int(seed).to_bytes(8, "little", signed=True)
    raise TypeError(f"seed must be bytes, str or int, not {type(seed).__name__}")


def hash_stream(seed: bytes, n_blocks: int, start: int = 0) -> bytes:
    """Blocks ``start .. start+n_blocks-1`` of the stream, 32 bytes each."""
    return b"".join(hashlib.sha256(seed + i.to_bytes(8, "little")).digest()
                    for i in range(start, start + n_blocks))


class HashRNG:
    """Deterministic generator: ``HashRNG(b"seed").below(10, 3)`` is the same on every machine."""

    def __init__(self, seed: bytes | str | int):
        self.seed = as_seed(seed)
        self._counter = 0                       # next stream block to hash
        self._buffer = np.empty(0, dtype="<u8")

    def uint64(self, count: int) -> np.ndarray:
        """The next ``count`` 64-bit words of the stream (little-endian), shape (count,)."""
        while len(self._buffer) < count:
            n_blocks = max(64, (count - len(self._buffer) + 3) // 4)
            fresh = np.frombuffer(hash_stream(self.seed, n_blocks, self._counter), dtype="<u8")
            self._counter += n_blocks
            self._buffer = np.concatenate([self._buffer, fresh])
        out, self._buffer = self._buffer[:count].copy(), self._buffer[count:]
        return out.astype(np.uint64)

    def below(self, n: int, count: int) -> np.ndarray:
        """``count`` integers uniform in ``[0, n)`` as int64, by rejection sampling."""
        if not 0 < n <= 2**63:
            raise ValueError("n must be in 1 .. 2^63")
        limit = (2**64 // n) * n                # accept words below the largest multiple of n
        out: list[np.ndarray] = []
        need = count
        while need > 0:
            words = self.uint64(need)
            ok = words if limit == 2**64 else words[words < np.uint64(limit)]
            out.append((ok % np.uint64(n)).astype(np.int64))
            need -= len(ok)
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)

    def randbelow(self, n: int) -> int:
        """One integer uniform in ``[0, n)``."""
        return int(self.below(n, 1)[0])

    def choice(self, items: Sequence[T]) -> T:
        """One element of ``items``, uniformly."""
        return items[self.randbelow(len(items))]

    def bits(self, n_bits: int, count: int) -> np.ndarray:
        """``count`` integers uniform in ``[0, 2^n_bits)`` (the top bits of each word), int64."""
        if not 0 < n_bits <= 63:
            raise ValueError("n_bits must be in 1..63")
        return (self.uint64(count) >> np.uint64(64 - n_bits)).astype(np.int64)
