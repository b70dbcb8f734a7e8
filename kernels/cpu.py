"""[consensus] The CPU path: every kernel operation in NumPy + hashlib, bit-exact with the Triton kernels.

This is the reference the GPU kernels are tested against, and the path every machine without
a CUDA device uses. It follows the "Gradient commitment" contract of ``docs/architecture.md``
literally: quantize with round-half-to-even and saturation, cut the little-endian int32 payload
into ``chunk_bytes`` slices, SHA-256 each slice, and build the ``"chain"`` Merkle tree.

Why it is not slow: the work goes slab by slab (about 1 MiB each): quantize a slab with NumPy,
hash its chunks with hashlib (OpenSSL, SHA-NI on modern x86), go on, so the temporaries stay in
cache and the int32 payload of a float gradient is never materialised whole. hashlib and NumPy
release the GIL, so with 4 or more cores the slabs are spread over a thread pool
(``GRADIENTCOIN_CPU_THREADS`` sets the count; on 2 vCPUs one thread was measured faster).
Taught in notebook 11.
"""
from __future__ import annotations

import hashlib
import math
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

# Midstates only speed up mining, not consensus: a found nonce is re-checked with hashlib.
from gradientcoin_edu.crypto.teaching import SHA256_H0 as SHA256_IV, SHA256_K, sha256_compress
from gradientcoin_edu.errors import KernelError

__all__ = [
    "INT32_MIN", "INT32_MAX", "EMPTY_ROOT",
    "check_chunk_bytes", "quantize", "payload_view", "chunk_digests", "quantize_and_digest",
    "digest_array", "merkle_root_of_digests", "fused_verify_counts", "verify_totals", "sha256_compress",
    "sha256_midstate", "header_hash_value", "nonce_search",
]

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
EMPTY_ROOT = hashlib.sha256(b"").digest()
SLAB_BYTES = 1 << 20          # work unit: big enough to amortise Python, small enough for the cache
THREADS_ENV = "GRADIENTCOIN_CPU_THREADS"
_pool: ThreadPoolExecutor | None = None


def n_threads() -> int:
    """Threads for the CPU path: ``GRADIENTCOIN_CPU_THREADS`` if set, else the usable cores when
    there are at least 4 of them, else 1. (On 2 vCPUs, e.g. Colab or a shared CI box, two threads
    handing the GIL back and forth between 4 KiB hashes were measured *slower* than one.)"""
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        cores = os.cpu_count() or 1
    return min(cores, 16) if cores >= 4 else 1


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    if _pool is None or _pool._max_workers != workers:
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="gradientcoin-hash")
    return _pool


# ---------------------------------------------------------------------------------------------
# quantization: x = float64(g) * 2^k, Q = clamp(rint(x)) as int32
# ---------------------------------------------------------------------------------------------

def check_chunk_bytes(chunk_bytes) -> int:
    """``chunk_bytes`` must be a positive multiple of 64 (one SHA-256 block)."""
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, (int, np.integer)) \
            or chunk_bytes <= 0 or chunk_bytes % 64:
        raise KernelError("bad-chunk-size",
                          f"chunk_bytes must be a positive multiple of 64, got {chunk_bytes!r}")
    return int(chunk_bytes)


def _scale(quantum_log2) -> float:
    if isinstance(quantum_log2, bool) or not isinstance(quantum_log2, (int, np.integer)):
        raise KernelError("bad-quantum", f"quantum_log2 must be an int (Δ = 2^-k), got {quantum_log2!r}")
    if not -1000 <= quantum_log2 <= 1000:
        raise KernelError("bad-quantum", f"quantum_log2={quantum_log2} is outside -1000..1000")
    return math.ldexp(1.0, int(quantum_log2))


def _check_finite(g: np.ndarray, what: str = "the gradient") -> None:
    """Raise on NaN/inf. min and max propagate NaN and reach ±inf, without a temporary array."""
    if g.size and not (np.isfinite(g.min()) and np.isfinite(g.max())):
        bad = int(np.flatnonzero(~np.isfinite(g))[0])
        raise KernelError("non-finite", f"{what} holds NaN or inf (first at flat index +{bad} of its slab)")


def _scaled(g: np.ndarray, scale: float) -> np.ndarray:
    """x = clamp(float64(g) * 2^k) to [-2^31, 2^31 - 1]; exact (a power-of-two scaling)."""
    x = np.multiply(g, scale, dtype=np.float64)
    np.minimum(x, INT32_MAX, out=x)
    np.maximum(x, INT32_MIN, out=x)                       # saturate (before rint: same result)
    return x


def _quantize_slab(g: np.ndarray, scale: float) -> np.ndarray:
    """Quantize one contiguous slab; raises on NaN/inf. (n,) float -> (n,) int32."""
    _check_finite(g)
    x = _scaled(g, scale)
    np.rint(x, out=x)                                     # round half to even
    return x.astype(np.int32)


def _float_array(grad) -> np.ndarray:
    """Any float array / tensor -> flat C-order NumPy float32 or float64 (no copy when possible)."""
    if _is_torch(grad):
        import torch
        if not grad.is_floating_point():
            raise KernelError("bad-dtype", f"a gradient must be a float tensor, got {grad.dtype}")
        t = grad.detach()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.to(torch.float32)                       # float16 / bfloat16 -> float32 is exact
        return t.cpu().contiguous().numpy().reshape(-1)
    a = np.asarray(grad)
    if a.dtype.kind != "f":
        raise KernelError("bad-dtype", f"a gradient must be a float array, got {a.dtype}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32 if a.dtype.itemsize < 4 else np.float64)
    return np.ascontiguousarray(a).reshape(-1)


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def quantize(grad, quantum_log2: int) -> np.ndarray:
    """Q = clamp(rint(float64(grad) * 2^k)) as int32, same shape as ``grad`` (NumPy result)."""
    shape = tuple(grad.shape) if hasattr(grad, "shape") else np.shape(grad)
    g = _float_array(grad)
    scale = _scale(quantum_log2)
    return _map_slabs(g.size, lambda lo, hi: _quantize_slab(g[lo:hi], scale), 8, concat=True).reshape(shape)


def payload_view(data) -> np.ndarray:
    """An int32 payload (NumPy, torch or bytes) -> flat C-order little-endian int32 NumPy array."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        buf = memoryview(data).cast("B")
        if len(buf) % 4:
            raise KernelError("bad-length", f"a payload is int32 elements: {len(buf)} bytes is not a multiple of 4")
        return np.frombuffer(buf, dtype="<i4")
    if _is_torch(data):
        import torch
        if data.dtype != torch.int32:
            raise KernelError("bad-dtype", f"a payload must be int32, got {data.dtype}")
        return data.detach().cpu().contiguous().numpy().reshape(-1)
    a = np.asarray(data)
    if a.dtype.kind != "i" or a.dtype.itemsize != 4:
        raise KernelError("bad-dtype", f"a payload must be int32, got {a.dtype}")
    return np.ascontiguousarray(a, dtype="<i4").reshape(-1)


# ---------------------------------------------------------------------------------------------
# chunk digests: SHA-256 of consecutive chunk_bytes slices, threads over contiguous slabs
# ---------------------------------------------------------------------------------------------

def _map_slabs(n_items: int, work: Callable[[int, int], object], itemsize: int, concat: bool = False,
               align: int = 1):
    """Run ``work(lo, hi)`` over consecutive slabs of ``range(n_items)``, in order.

    Slabs hold about ``SLAB_BYTES`` (``itemsize`` bytes per item) and start at multiples of
    ``align`` items (a whole number of chunks). With more than one thread the slabs are spread
    over a persistent pool. Returns the list of results, or their concatenation when ``concat``.
    """
    per = max(1, SLAB_BYTES // max(1, itemsize * align)) * align
    bounds = [(lo, min(lo + per, n_items)) for lo in range(0, n_items, per)] or [(0, 0)]
    workers = min(n_threads(), len(bounds))
    if workers == 1:
        parts = [work(lo, hi) for lo, hi in bounds]
    else:
        parts = list(_executor(n_threads()).map(lambda b: work(*b), bounds))
    if concat:
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
    return parts


def _hash_chunks(buf: memoryview, chunk_bytes: int) -> bytes:
    """Concatenated 32-byte SHA-256 digests of the chunks of ``buf``."""
    sha = hashlib.sha256
    return b"".join([sha(buf[i:i + chunk_bytes]).digest() for i in range(0, len(buf), chunk_bytes)])


def _digest_array(parts: list[bytes]) -> np.ndarray:
    out = np.frombuffer(b"".join(parts), dtype=np.uint8)
    return out.reshape(-1, 32).copy()


def chunk_digests(data, chunk_bytes: int) -> np.ndarray:
    """(n_chunks, 32) uint8: SHA-256 of each ``chunk_bytes`` slice of the int32 payload bytes."""
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    q = payload_view(data)
    per_chunk = chunk_bytes // 4
    buf = memoryview(q.view(np.uint8))
    return _digest_array(_map_slabs(
        q.size, lambda lo, hi: _hash_chunks(buf[4 * lo:4 * hi], chunk_bytes), 4, align=per_chunk))


def quantize_and_digest(grad, quantum_log2: int, chunk_bytes: int) -> np.ndarray:
    """Fused CPU path: quantize slab by slab (in threads) and hash each slab's chunks."""
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    g = _float_array(grad)
    scale = _scale(quantum_log2)

    def work(lo: int, hi: int) -> bytes:
        q = _quantize_slab(g[lo:hi], scale)
        return _hash_chunks(memoryview(q.view(np.uint8)), chunk_bytes)

    return _digest_array(_map_slabs(g.size, work, 8, align=chunk_bytes // 4))


# ---------------------------------------------------------------------------------------------
# the "chain" Merkle tree over 32-byte digests
# ---------------------------------------------------------------------------------------------

def digest_array(digests) -> np.ndarray:
    """(n, 32) uint8 from an array/tensor of digests or a list of 32-byte strings."""
    if isinstance(digests, (list, tuple)) and all(isinstance(x, (bytes, bytearray)) for x in digests):
        if any(len(x) != 32 for x in digests):
            raise KernelError("bad-digests", "every digest must be 32 bytes")
        return np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 32)
    if _is_torch(digests):
        digests = digests.detach().cpu().numpy()
    d = np.asarray(digests)
    if d.dtype != np.uint8 or d.ndim != 2 or d.shape[1] != 32:
        raise KernelError("bad-digests", f"digests must be an (n, 32) uint8 array, got {d.dtype} {d.shape}")
    return np.ascontiguousarray(d)


def merkle_root_of_digests(digests) -> bytes:
    """``"chain"`` root: leaf = SHA-256(0x00 ‖ d), node = SHA-256(0x01 ‖ L ‖ R), odd carried up."""
    d = digest_array(digests)
    if d.shape[0] == 0:
        return EMPTY_ROOT
    sha, flat = hashlib.sha256, d.tobytes()
    level = [sha(b"\x00" + flat[i:i + 32]).digest() for i in range(0, len(flat), 32)]   # no NumPy row per leaf
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# ---------------------------------------------------------------------------------------------
# fused verify: deviations of a published payload from round(g'/Δ), per chunk
# ---------------------------------------------------------------------------------------------

def _verify_inputs(grad, payload, quantum_log2: int, delta: float):
    """(g, Q, 2^k, tolerance) for the verify passes; the gradient and the payload must have one size."""
    g, q = _float_array(grad), payload_view(payload)
    if g.size != q.size:
        raise KernelError("shape-mismatch", f"gradient has {g.size} elements, payload {q.size}")
    return g, q, _scale(quantum_log2), check_delta(delta) + 0.5


def _deviation_masks(g: np.ndarray, q: np.ndarray, scale: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """The element rule of a slab: (deviations, disallowed) masks. An element deviates when the
    published value is not ``rint(x)``; a deviation is disallowed unless ``|Q - x| <= tol``. A slab
    without a deviation (an honest payload's) skips the second test: both masks are the same
    all-False array (read-only use)."""
    _check_finite(g, "the recomputed gradient")
    x = _scaled(g, scale)                                 # x clamped to the int32 range
    qf = q.astype(np.float64)
    dev = qf != np.rint(x)
    if not dev.any():
        return dev, dev
    np.subtract(qf, x, out=qf)
    return dev, dev & (np.abs(qf, out=qf) > tol)          # same as not (|Q - x| <= tol): x is finite


def _verify_slab(g: np.ndarray, q: np.ndarray, scale: float, tol: float, per_chunk: int):
    dev, bad = _deviation_masks(g, q, scale, tol)
    starts = np.arange(0, g.size, per_chunk)
    if starts.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (np.add.reduceat(dev, starts, dtype=np.int64), np.add.reduceat(bad, starts, dtype=np.int64))


def fused_verify_counts(grad, payload, quantum_log2: int, chunk_bytes: int, delta: float):
    """(digests, deviations, disallowed) per chunk; see docs/architecture.md 'Fused verify'."""
    chunk_bytes = check_chunk_bytes(chunk_bytes)
    g, q, scale, tol = _verify_inputs(grad, payload, quantum_log2, delta)
    per_chunk = chunk_bytes // 4
    buf = memoryview(q.view(np.uint8))

    def work(lo: int, hi: int):
        dev, bad = _verify_slab(g[lo:hi], q[lo:hi], scale, tol, per_chunk)
        return _hash_chunks(buf[4 * lo:4 * hi], chunk_bytes), dev, bad

    parts = _map_slabs(q.size, work, 12, align=per_chunk)
    return (_digest_array([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def verify_totals(grad, payload, quantum_log2: int, delta: float) -> tuple[int, int]:
    """(deviations, disallowed) over the whole payload: the totals of :func:`fused_verify_counts`
    without per-chunk counts or digests, for a caller that has already checked the payload against
    its ``grad_root`` and needs the totals only (``proof_of_gradient.verify``). The same element
    rule (``_deviation_masks``), slab by slab: no payload-sized temporaries."""
    g, q, scale, tol = _verify_inputs(grad, payload, quantum_log2, delta)

    def work(lo: int, hi: int) -> tuple[int, int]:
        dev, bad = _deviation_masks(g[lo:hi], q[lo:hi], scale, tol)
        return int(np.count_nonzero(dev)), int(np.count_nonzero(bad))

    parts = _map_slabs(q.size, work, 12)
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def check_delta(delta) -> float:
    """``delta`` (how close to a rounding boundary a value must be to allow ±1) in [0, 0.5]."""
    try:
        d = float(delta)
    except (TypeError, ValueError):
        raise KernelError("bad-delta", f"delta must be a number, got {delta!r}") from None
    if not (0.0 <= d <= 0.5):
        raise KernelError("bad-delta", f"delta must lie in [0, 0.5], got {delta!r}")
    return d


# ---------------------------------------------------------------------------------------------
# SHA-256 midstates for the nonce search (compression from crypto/teaching.py; taught in nb 11)
# ---------------------------------------------------------------------------------------------

__all__ += ["SHA256_K", "SHA256_IV"]


def sha256_midstate(blocks: bytes) -> tuple[int, ...]:
    """The SHA-256 state after absorbing ``blocks`` (a whole number of 64-byte blocks; none gives
    the initial state). For a header prefix: shared by every nonce of that header."""
    if len(blocks) % 64:
        raise KernelError("bad-length", f"a midstate covers whole 64-byte blocks, got {len(blocks)} bytes")
    state = SHA256_IV
    for i in range(0, len(blocks), 64):
        state = sha256_compress(state, blocks[i:i + 64])
    return state


# ---------------------------------------------------------------------------------------------
# nonce search: first nonce whose SHA-256d(prefix ‖ nonce_le) <= target
# ---------------------------------------------------------------------------------------------

def header_hash_value(header: bytes) -> int:
    """SHA-256d of a header (80-byte Bitcoin, 180-byte ours, any length) read as a little-endian
    256-bit integer: the number proof-of-work compares with the target (Bitcoin's rule)."""
    return int.from_bytes(hashlib.sha256(hashlib.sha256(header).digest()).digest(), "little")


def check_nonce_args(prefix, target, start, count) -> bytes:
    """Validate a nonce search: ``prefix`` the header bytes before the nonce (any length: 76 for
    Bitcoin, 176 for our headers), ``target`` in [0, 2^256), ``start .. start+count-1`` 32-bit."""
    if not isinstance(prefix, (bytes, bytearray, memoryview)):
        raise KernelError("bad-prefix", f"the header prefix must be bytes, got {type(prefix).__name__}")
    prefix = bytes(prefix)
    if not (isinstance(target, int) and 0 <= target < 2 ** 256):
        raise KernelError("bad-target", f"target must be an int in [0, 2^256), got {target!r}")
    if not (isinstance(start, int) and isinstance(count, int) and start >= 0 and count >= 0
            and start + count <= 2 ** 32):
        raise KernelError("bad-range", f"nonces are 32-bit: need 0 <= start and start + count <= 2^32, "
                                       f"got start={start!r}, count={count!r}")
    return prefix


__all__ += ["check_nonce_args", "check_delta"]


def nonce_search(prefix: bytes, target: int, start: int, count: int) -> int | None:
    """Scan nonces ``start .. start+count-1`` of the header ``prefix ‖ nonce`` (u32 little-endian).

    ``hashlib.sha256(prefix)`` is the midstate: it has compressed every complete 64-byte block
    of the prefix and holds the partial tail block, so each nonce costs a copy, the last one or
    two compressions and the second SHA-256 (as in the Triton kernel).
    """
    prefix = check_nonce_args(prefix, target, start, count)
    mid, sha, pack = hashlib.sha256(prefix), hashlib.sha256, struct.Struct("<I").pack
    from_bytes = int.from_bytes
    for nonce in range(start, start + count):
        h = mid.copy()
        h.update(pack(nonce))
        if from_bytes(sha(h.digest()).digest(), "little") <= target:
            return nonce
    return None
