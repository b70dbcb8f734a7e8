"""[consensus] Fused verify: hash a published gradient payload and check it against a recomputed gradient, in one pass.

What it computes. A verifier has the miner's published payload ``Q`` (int32) and its own
recomputed gradient ``g'``. Per chunk of ``Q``'s bytes it produces, in one read of both arrays:
the SHA-256 digest (to rebuild ``grad_root``), the number of elements that *deviate*
(``Q != clamp(rint(x))`` with ``x = clamp(float64(g') * 2^k)``) and the number of deviations that
are *disallowed* (``|Q - x| > 0.5 + delta``: not the other neighbour of a value within ``delta``
of a rounding boundary). The contract is the "Fused verify" paragraph of ``docs/architecture.md``.

Why it is fast. Verification reads 8 bytes per element (4 of ``Q``, 4 or 8 of ``g'``) and hashes
4; done as three separate passes (hash ``Q``; quantize ``g'``; compare) it would read the arrays
three times and write a temporary. Here one lane per chunk loads a word of each, feeds ``Q``'s word
to SHA-256 and compares it with ``g'`` in registers, so memory traffic is the minimum and the
comparison hides under the hash's arithmetic.

What you learn. Kernel fusion (the same loop carries a hash state and two counters); why the
tolerance and the scale come in as float64 *values in memory* (Triton types Python float
literals as float32); and how one kernel reuses another's building blocks (``_chunk_geometry``,
``_pad_word``, ``_quantize_value`` from ``triton_chunk_hash.py``, ``_compress`` from ``triton_sha256.py``).

Sections: reference -> kernel -> wrapper.
"""
from __future__ import annotations

import math

import numpy as np
import triton
import triton.language as tl

from gradientcoin_edu.errors import KernelError

from . import cpu
from .triton_chunk_hash import (_absorb_block, _chunk_geometry, _pad_word, _quantize_value, as_tensor, interpreted,
                         lanes_per_program, reference_chunk_digests, warps)
from .triton_sha256 import _compress, _iv, _store_digest, constants  # noqa: F401 (_compress: used via _absorb_block)

__all__ = ["reference_fused_verify", "fused_verify"]

# ---------------------------------------------------------------------------------------------
# reference
# ---------------------------------------------------------------------------------------------


def reference_fused_verify(grad, payload, quantum_log2: int, chunk_bytes: int, delta: float):
    """Readable NumPy version: (digests as list of bytes, deviations per chunk, disallowed per chunk)."""
    q = np.asarray(payload, dtype=np.int32).reshape(-1)
    x = np.clip(np.asarray(grad).astype(np.float64).reshape(-1) * 2.0 ** quantum_log2, -2 ** 31, 2 ** 31 - 1)
    deviates = q != np.rint(x)
    disallowed = deviates & (np.abs(q - x) > 0.5 + delta)
    per = chunk_bytes // 4
    starts = range(0, q.size, per)
    return (reference_chunk_digests(q, chunk_bytes),
            [int(deviates[s:s + per].sum()) for s in starts], [int(disallowed[s:s + per].sum()) for s in starts])


# ---------------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------------

@triton.jit
def _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, J: tl.constexpr, IS_F64: tl.constexpr):
    """Word ``J`` of the current block: the padded SHA-256 word of Q, and (deviates, disallowed, bad)."""
    in_msg = J < left
    q = tl.load(Q + base + J, mask=in_msg, other=0)                  # published payload
    g = tl.load(G + base + J, mask=in_msg, other=0.0)                # recomputed gradient
    x, r, bad = _quantize_value(g, in_msg, SCALE, LO, HI, IS_F64)    # x clamped, r = rint(x)
    deviates = in_msg & (q != r)
    disallowed = deviates & (tl.abs(q.to(tl.float64) - x) > TOL)
    w = _pad_word(q, left, tail, n_words, J)
    return w, deviates.to(tl.int32), disallowed.to(tl.int32), bad


@triton.jit
def fused_verify_kernel(
    Q,                            # *int32 published payload (flat)
    G,                            # *float32/*float64 recomputed gradient (flat, same length)
    OUT,                          # *int32 (n_chunks, 8): payload chunk digests (bytes = digest)
    DEV,                          # *int32 (n_chunks,): deviating elements per chunk
    DIS,                          # *int32 (n_chunks,): disallowed deviations per chunk
    BAD,                          # *int32 (n_chunks,): NaN/inf values of G per chunk
    K,                            # *int32 (64,): SHA-256 round constants
    PARAMS,                       # *float64 (4,): [2^k, -2^31, 2^31 - 1, 0.5 + delta]
    n_elements,                   # payload length in elements
    n_chunks,                     # ceil(n_elements / CHUNK_WORDS)
    CHUNK_WORDS: tl.constexpr,    # chunk_bytes // 4
    BLOCK: tl.constexpr,          # chunks (lanes) per program
    IS_F64: tl.constexpr,         # True: G is float64
):
    chunk, lane_ok, start, n_words, last = _chunk_geometry(n_elements, n_chunks, CHUNK_WORDS, BLOCK)
    SCALE = tl.load(PARAMS + 0)
    LO = tl.load(PARAMS + 1)
    HI = tl.load(PARAMS + 2)
    TOL = tl.load(PARAMS + 3)
    h0, h1, h2, h3, h4, h5, h6, h7 = _iv(BLOCK)
    dev = tl.full([BLOCK], 0, tl.int32)
    dis = tl.full([BLOCK], 0, tl.int32)
    bad = tl.full([BLOCK], 0, tl.int32)

    for blk in range(0, CHUNK_WORDS // 16 + 1):
        base = start + blk * 16
        left = n_words - blk * 16
        tail = blk == last
        # w: SHA-256 word, d: deviates, x: disallowed, b: NaN/inf
        w0, d0, x0, b0 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 0, IS_F64)
        w1, d1, x1, b1 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 1, IS_F64)
        w2, d2, x2, b2 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 2, IS_F64)
        w3, d3, x3, b3 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 3, IS_F64)
        w4, d4, x4, b4 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 4, IS_F64)
        w5, d5, x5, b5 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 5, IS_F64)
        w6, d6, x6, b6 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 6, IS_F64)
        w7, d7, x7, b7 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 7, IS_F64)
        w8, d8, x8, b8 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 8, IS_F64)
        w9, d9, x9, b9 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 9, IS_F64)
        w10, d10, x10, b10 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 10, IS_F64)
        w11, d11, x11, b11 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 11, IS_F64)
        w12, d12, x12, b12 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 12, IS_F64)
        w13, d13, x13, b13 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 13, IS_F64)
        w14, d14, x14, b14 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 14, IS_F64)
        w15, d15, x15, b15 = _verify_word(Q, G, base, left, tail, n_words, SCALE, LO, HI, TOL, 15, IS_F64)
        dev += d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + d9 + d10 + d11 + d12 + d13 + d14 + d15
        dis += x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + x13 + x14 + x15
        bad += b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9 + b10 + b11 + b12 + b13 + b14 + b15
        h0, h1, h2, h3, h4, h5, h6, h7 = _absorb_block(blk <= last, h0, h1, h2, h3, h4, h5, h6, h7,
                                                       w0, w1, w2, w3, w4, w5, w6, w7,
                                                       w8, w9, w10, w11, w12, w13, w14, w15, K)

    _store_digest(OUT, chunk, lane_ok, h0, h1, h2, h3, h4, h5, h6, h7)
    tl.store(DEV + chunk, dev, mask=lane_ok)
    tl.store(DIS + chunk, dis, mask=lane_ok)
    tl.store(BAD + chunk, bad, mask=lane_ok)


# ---------------------------------------------------------------------------------------------
# wrapper
# ---------------------------------------------------------------------------------------------

def fused_verify(grad, payload, quantum_log2: int, chunk_bytes: int, delta: float):
    """(digests (n, 32) uint8, deviations (n,), disallowed (n,), root bytes), tensors on the kernel's device."""
    import torch
    from .triton_merkle_root import merkle_root_of_digests

    chunk_bytes = cpu.check_chunk_bytes(chunk_bytes)
    tol = cpu.check_delta(delta) + 0.5
    scale = cpu._scale(quantum_log2)
    device = torch.device("cpu") if interpreted(fused_verify_kernel) else torch.device("cuda")
    g = as_tensor(grad, device, float_ok=True)
    q = as_tensor(payload, device, float_ok=False)
    if not g.is_floating_point():
        raise KernelError("bad-dtype", f"the recomputed gradient must be float, got {g.dtype}")
    if g.numel() != q.numel():
        raise KernelError("shape-mismatch", f"gradient has {g.numel()} elements, payload {q.numel()}")
    chunk_words = chunk_bytes // 4
    n_chunks = math.ceil(q.numel() / chunk_words)
    out = torch.empty((n_chunks, 8), dtype=torch.int32, device=device)
    dev, dis, bad = (torch.zeros(n_chunks, dtype=torch.int32, device=device) for _ in range(3))
    prm = torch.tensor([scale, float(cpu.INT32_MIN), float(cpu.INT32_MAX), tol], dtype=torch.float64, device=device)
    if n_chunks:
        block = lanes_per_program(n_chunks, fused_verify_kernel)
        fused_verify_kernel[(triton.cdiv(n_chunks, block),)](
            q, g, out, dev, dis, bad, constants(device), prm, q.numel(), n_chunks,
            CHUNK_WORDS=chunk_words, BLOCK=block, IS_F64=g.dtype == torch.float64, num_warps=warps(block),
            enable_fp_fusion=False,
        )
    n_bad = int(bad.sum().item()) if n_chunks else 0
    if n_bad:
        raise KernelError("non-finite", f"the recomputed gradient holds {n_bad} NaN or inf value(s)")
    digests = out.view(torch.uint8).reshape(n_chunks, 32)
    return digests, dev, dis, merkle_root_of_digests(digests)
