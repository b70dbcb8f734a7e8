"""[consensus] SHA-256 in Triton: the compression function, shared by every hashing kernel in this folder.

SHA-256 turns a 64-byte block and an 8-word state into a new state with 64 rounds of 32-bit
additions, xors and rotations. On a GPU one *lane* (thread) runs one whole SHA-256, and a
program runs ``BLOCK`` lanes side by side, so every value below is a vector of ``BLOCK`` uint32
words, one per independent message: the hash itself is sequential, the parallelism comes from
hashing many messages (chunks, tree nodes, nonces) at once.

What you learn here:

* 32-bit words must be ``tl.uint32``: ``>>`` on ``int32`` is an *arithmetic* shift that copies
  the sign bit, which would silently corrupt every rotation. Additions wrap mod 2^32 for free.
* A rotation is ``(x >> n) | (x << (32 - n))`` with a constant ``n``, written out in place, e.g.
  ``(e >> 6) | (e << 26)`` for rotr(e, 6) (a helper function would cost the interpreter a call per
  rotation, 576 per block). The compiler turns each into one funnel-shift instruction (``shf`` in
  the PTX); the interpreter runs the same code on the CPU with NumPy.
* The message schedule W[16..63] needs only the last 16 words, so it is kept as a sliding
  window of 16 named values (``w0`` oldest ... ``w15`` newest) instead of a 64-word array; with
  ``tl.static_range`` the 64 rounds unroll and the window costs no moves at all, only renaming.
* SHA-256 reads its message as big-endian words, while our payload is little-endian int32, so
  each loaded word is byte-swapped (``_bswap``), and each digest word again on the way out
  (``_store_digest``), so the bytes in memory are exactly hashlib's digest.

The round constants live in a small int32 tensor (:data:`K_TABLE`, built by
:func:`constants`) that each kernel loads as scalars: Triton treats a Python float/int literal
above 2^31 as a typed constant, but a table keeps the code short and the values in one place.
No inline assembly is used, so ``TRITON_INTERPRET=1`` runs everything here on a CPU. The kernels
also avoid the helpers of Triton's standard library that are themselves ``@triton.jit``
functions (``tl.zeros``, ``tl.sum``, ``tl.min`` ...): those are decorated once, when ``triton`` is
imported, so they would stay compiled-only if the interpreter is switched on later; ``tl.full`` and
``tl.reduce`` with our own combine function work in both modes.
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from .cpu import SHA256_IV, SHA256_K

__all__ = ["constants", "K_TABLE", "IV"]

K_TABLE = np.array(SHA256_K, dtype=np.uint32).view(np.int32)      # (64,) round constants
IV = SHA256_IV                                                   # initial state H0..H7


def constants(device):
    """The 64 round constants as an int32 tensor on ``device`` (cached per device)."""
    import torch
    key = str(device)
    if key not in _CONST_CACHE:
        _CONST_CACHE[key] = torch.from_numpy(K_TABLE.copy()).to(device)
    return _CONST_CACHE[key]


_CONST_CACHE: dict = {}


@triton.jit
def _bswap(x):
    """Reverse the 4 bytes of a uint32 (little-endian int32 <-> big-endian SHA-256 word)."""
    return ((x & 0xFF) << 24) | ((x & 0xFF00) << 8) | ((x >> 8) & 0xFF00) | (x >> 24)


@triton.jit
def _u32(x):
    """Reinterpret int32 bits as uint32 (no conversion of the value)."""
    return x.to(tl.uint32, bitcast=True)


@triton.jit
def _compress(s0, s1, s2, s3, s4, s5, s6, s7,
              w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15,
              K):
    """One SHA-256 compression: state (s0..s7) and message words (w0..w15) -> new state.

    All arguments are uint32 vectors of the same shape (or scalars that broadcast); ``K`` points
    to the 64 round constants.
    """
    a, b, c, d, e, f, g, h = s0, s1, s2, s3, s4, s5, s6, s7
    for t in tl.static_range(64):
        if t < 16:
            wt = w0                                                       # W[t] = message word t
        else:                                                             # W[t] from W[t-16..t-1]
            sig0 = ((w1 >> 7) | (w1 << 25)) ^ ((w1 >> 18) | (w1 << 14)) ^ (w1 >> 3)
            sig1 = ((w14 >> 17) | (w14 << 15)) ^ ((w14 >> 19) | (w14 << 13)) ^ (w14 >> 10)
            wt = w0 + sig0 + w9 + sig1
        # slide the 16-word window: afterwards w0..w15 hold W[t-15..t]
        w0, w1, w2, w3, w4, w5, w6, w7 = w1, w2, w3, w4, w5, w6, w7, w8
        w8, w9, w10, w11, w12, w13, w14, w15 = w9, w10, w11, w12, w13, w14, w15, wt
        kt = tl.load(K + t).to(tl.uint32, bitcast=True)
        # Sigma1(e) = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
        big_sigma1 = ((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7))
        choose = (e & f) ^ (~e & g)                                       # e picks bits of f or g
        t1 = h + big_sigma1 + choose + kt + wt
        # Sigma0(a) = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
        big_sigma0 = ((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10))
        majority = (a & b) ^ (a & c) ^ (b & c)                            # bitwise vote of a, b, c
        t2 = big_sigma0 + majority
        h, g, f, e = g, f, e, d + t1
        d, c, b, a = c, b, a, t1 + t2
    return s0 + a, s1 + b, s2 + c, s3 + d, s4 + e, s5 + f, s6 + g, s7 + h


@triton.jit
def _iv(BLOCK: tl.constexpr):
    """The SHA-256 initial state H0..H7, one copy per lane."""
    return (tl.full([BLOCK], 0x6A09E667, tl.uint32), tl.full([BLOCK], 0xBB67AE85, tl.uint32),
            tl.full([BLOCK], 0x3C6EF372, tl.uint32), tl.full([BLOCK], 0xA54FF53A, tl.uint32),
            tl.full([BLOCK], 0x510E527F, tl.uint32), tl.full([BLOCK], 0x9B05688C, tl.uint32),
            tl.full([BLOCK], 0x1F83D9AB, tl.uint32), tl.full([BLOCK], 0x5BE0CD19, tl.uint32))


@triton.jit
def _store_digest(OUT, row, mask, h0, h1, h2, h3, h4, h5, h6, h7):
    """Write each lane's digest to ``OUT[row, 0:8]`` (int32 words) so that the bytes in memory
    are the 32 digest bytes: SHA-256 outputs big-endian words, memory is little-endian."""
    out = OUT + row.to(tl.int64) * 8
    tl.store(out + 0, _bswap(h0).to(tl.int32, bitcast=True), mask=mask)
    tl.store(out + 1, _bswap(h1).to(tl.int32, bitcast=True), mask=mask)
    tl.store(out + 2, _bswap(h2).to(tl.int32, bitcast=True), mask=mask)
    tl.store(out + 3, _bswap(h3).to(tl.int32, bitcast=True), mask=mask)
    tl.store(out + 4, _bswap(h4).to(tl.int32, bitcast=True), mask=mask)
    tl.store(out + 5, _bswap(h5).to(tl.int32, bitcast=True), mask=mask)
    tl.store(out + 6, _bswap(h6).to(tl.int32, bitcast=True), mask=mask)
    tl.store(out + 7, _bswap(h7).to(tl.int32, bitcast=True), mask=mask)


@triton.jit
def _load_digest(SRC, row, mask):
    """Read 32-byte digests stored as in :func:`_store_digest` back as 8 big-endian words."""
    src = SRC + row.to(tl.int64) * 8
    return (_bswap(_u32(tl.load(src + 0, mask=mask, other=0))), _bswap(_u32(tl.load(src + 1, mask=mask, other=0))),
            _bswap(_u32(tl.load(src + 2, mask=mask, other=0))), _bswap(_u32(tl.load(src + 3, mask=mask, other=0))),
            _bswap(_u32(tl.load(src + 4, mask=mask, other=0))), _bswap(_u32(tl.load(src + 5, mask=mask, other=0))),
            _bswap(_u32(tl.load(src + 6, mask=mask, other=0))), _bswap(_u32(tl.load(src + 7, mask=mask, other=0))))
