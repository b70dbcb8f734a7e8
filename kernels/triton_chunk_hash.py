"""[consensus] Chunk hashing: SHA-256 of every fixed-size chunk of a gradient payload, quantized on the fly.

What it computes. The gradient commitment of ``docs/architecture.md``: quantize the gradient
(``Q = clamp(rint(float64(g) * 2^k))`` as int32, round half to even), read ``Q`` as little-endian
int32 bytes, cut them into ``chunk_bytes`` chunks (the last one may be short) and SHA-256 each
chunk. The 32-byte digests feed the Merkle tree of ``triton_merkle_root.py``.

Why it is fast. One lane (GPU thread) hashes one whole chunk, so a 1 GiB payload in 4 KiB chunks
is 262 144 independent SHA-256 computations running side by side; SHA-256 is compute-bound
(about 3 600 integer operations per 64-byte block), which is exactly what a GPU has most of.
Quantization is *fused*: the kernel reads the float gradient, rounds it in registers and hashes
the result, so the int32 payload is never written to memory and read back. Padding is computed,
not copied: each 64-byte block's words are a function of (chunk length, word index), so a short
last chunk costs nothing special.

What you learn. How SHA-256's sequential rounds become data-parallel (many messages, not one);
uint32 arithmetic and byte order in Triton (``triton_sha256.py``); why round-half-to-even is
written with ``floor`` and comparisons in float64 (bit-exact everywhere, including the
interpreter, while ``libdevice.rint`` exists only on CUDA); and the price of one lane per
chunk: a small payload with big chunks has too few chunks to fill a GPU.

Sections: reference -> kernels -> wrappers.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np
import triton
import triton.language as tl

from gradientcoin_edu.errors import KernelError

from . import cpu
from .triton_sha256 import _bswap, _compress, _iv, _store_digest, _u32, constants

__all__ = ["reference_chunk_digests", "chunk_digests", "quantize", "BLOCK_CHUNKS"]

# ---------------------------------------------------------------------------------------------
# reference: what the kernel must reproduce, bit for bit
# ---------------------------------------------------------------------------------------------


def reference_chunk_digests(grad_or_payload, chunk_bytes: int, quantum_log2: int | None = None) -> list[bytes]:
    """Readable hashlib version (NumPy in, list of 32-byte digests out)."""
    a = np.asarray(grad_or_payload)
    if quantum_log2 is not None:                                  # quantize: scale, saturate, rint
        x = np.clip(a.astype(np.float64) * 2.0 ** quantum_log2, -2 ** 31, 2 ** 31 - 1)
        a = np.rint(x).astype(np.int32)
    payload = a.astype("<i4").tobytes()                          # C order, little-endian int32
    return [hashlib.sha256(payload[i:i + chunk_bytes]).digest() for i in range(0, len(payload), chunk_bytes)]


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------

@triton.jit
def _round_half_even(x):
    """float64 x, already clamped to [-2^31, 2^31 - 1] -> int32, rounding ties to the even neighbour.

    ``floor``, subtraction and comparisons are exact in float64 for |x| <= 2^31, so this is
    bit-exact with NumPy's ``rint`` on every backend, the interpreter included.
    """
    r = tl.floor(x)
    frac = x - r                                             # in [0, 1), exact
    r_is_odd = (r - 2.0 * tl.floor(r * 0.5)) == 1.0
    up = (frac > 0.5) | ((frac == 0.5) & r_is_odd)           # ties go to the even neighbour
    return tl.where(up, r + 1.0, r).to(tl.int32)


@triton.jit
def _nonfinite(g, IS_F64: tl.constexpr):
    """NaN or ±inf, tested on the bits (exponent all ones): no float compare can be fooled."""
    if IS_F64:
        return (g.to(tl.int64, bitcast=True) & 0x7FF0000000000000) == 0x7FF0000000000000
    else:
        return (g.to(tl.int32, bitcast=True) & 0x7F800000) == 0x7F800000


@triton.jit
def _quantize_value(g, mask, SCALE, LO, HI, IS_F64: tl.constexpr):
    """Loaded gradient values -> (x = clamp(float64(g) * 2^k), Q = rint(x) as int32, 1 if NaN/inf)."""
    bad = _nonfinite(g, IS_F64) & mask
    x = tl.where(bad, 0.0, g.to(tl.float64)) * SCALE        # exact: scaling by a power of two
    # saturate to the int32 range. LO and HI are float64 values loaded from memory: a Python
    # literal 2147483647.0 would be typed float32 by Triton, and round to 2^31.
    x = tl.minimum(tl.maximum(x, LO), HI)
    return x, _round_half_even(x), bad.to(tl.int32)


@triton.jit
def _pad_word(q, left, tail, n_words, J: tl.constexpr):
    """Word ``J`` of a 64-byte block of the *padded* message, as a big-endian uint32.

    ``q`` holds the payload int32 for word ``J`` where ``J < left`` (``left`` = message words
    from the start of this block on). Padding of an n-word message: word n is 0x80000000 (the
    1 bit), then zeros, and the last two words of the last block (``tail``) hold the length in
    bits, n * 32, as a 64-bit number. Computed, never stored: a short chunk costs nothing extra.
    """
    w = tl.where(J < left, _bswap(_u32(q)), tl.where(left == J, 0x80000000, 0).to(tl.uint32))
    if J == 14:
        w = w | tl.where(tail, n_words >> 27, 0).to(tl.uint32)                 # (n * 32) >> 32
    if J == 15:
        w = w | tl.where(tail, n_words.to(tl.uint32) << 5, 0).to(tl.uint32)    # (n * 32) mod 2^32
    return w


@triton.jit
def _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI,
                  J: tl.constexpr, QUANTIZE: tl.constexpr, IS_F64: tl.constexpr):
    """Load (and quantize) word ``J`` of the current block of each lane's chunk; pad.

    ``base``: the block's first element; returns (the SHA-256 word, 1 where the input was NaN/inf).
    """
    in_msg = J < left
    if QUANTIZE:
        g = tl.load(SRC + base + J, mask=in_msg, other=0.0)
        x, q, bad = _quantize_value(g, in_msg, SCALE, LO, HI, IS_F64)
    else:
        q = tl.load(SRC + base + J, mask=in_msg, other=0)
        bad = tl.full(q.shape, 0, tl.int32)
    return _pad_word(q, left, tail, n_words, J), bad


@triton.jit
def _chunk_geometry(n_elements, n_chunks, CHUNK_WORDS: tl.constexpr, BLOCK: tl.constexpr):
    """Per lane: chunk index, valid?, first element, words in the chunk (0 for invalid lanes),
    and the index of the chunk's last 64-byte block (the one that carries the length)."""
    chunk = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # (BLOCK,) one chunk per lane
    lane_ok = chunk < n_chunks
    start = chunk.to(tl.int64) * CHUNK_WORDS                 # int64: payloads may pass 2^31 bytes
    n_words = tl.minimum(n_elements - start, CHUNK_WORDS).to(tl.int32)
    n_words = tl.where(lane_ok, n_words, 0)
    last = (n_words + 2) // 16                               # message + 0x80 + 8 length bytes
    return chunk, lane_ok, start, n_words, last


@triton.jit
def _absorb_block(live, h0, h1, h2, h3, h4, h5, h6, h7,
                  w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15, K):
    """Compress one 64-byte block into the state, kept only on ``live`` lanes (whose message is
    still running: a shorter last chunk has finished while the others hash on)."""
    n0, n1, n2, n3, n4, n5, n6, n7 = _compress(h0, h1, h2, h3, h4, h5, h6, h7,
                                               w0, w1, w2, w3, w4, w5, w6, w7,
                                               w8, w9, w10, w11, w12, w13, w14, w15, K)
    return (tl.where(live, n0, h0), tl.where(live, n1, h1), tl.where(live, n2, h2), tl.where(live, n3, h3),
            tl.where(live, n4, h4), tl.where(live, n5, h5), tl.where(live, n6, h6), tl.where(live, n7, h7))


@triton.jit
def chunk_hash_kernel(
    SRC,                          # *int32 payload, or *float32/*float64 gradient when QUANTIZE
    OUT,                          # *int32 (n_chunks, 8): digests, stored so their bytes are the digest
    BAD,                          # *int32 (n_chunks,): non-finite inputs seen per chunk
    K,                            # *int32 (64,): SHA-256 round constants
    PARAMS,                       # *float64 (3,): [2^k, -2^31, 2^31 - 1]
    n_elements,                   # payload length in int32 elements
    n_chunks,                     # ceil(n_elements / CHUNK_WORDS)
    CHUNK_WORDS: tl.constexpr,    # chunk_bytes // 4 (a multiple of 16)
    BLOCK: tl.constexpr,          # chunks (lanes) per program
    QUANTIZE: tl.constexpr,       # True: SRC is a float gradient, quantize it on the fly
    IS_F64: tl.constexpr,         # True: the gradient is float64
):
    chunk, lane_ok, start, n_words, last = _chunk_geometry(n_elements, n_chunks, CHUNK_WORDS, BLOCK)
    SCALE = tl.load(PARAMS + 0)
    LO = tl.load(PARAMS + 1)
    HI = tl.load(PARAMS + 2)
    h0, h1, h2, h3, h4, h5, h6, h7 = _iv(BLOCK)
    bad = tl.full([BLOCK], 0, tl.int32)

    for blk in range(0, CHUNK_WORDS // 16 + 1):              # a full chunk needs one padding block more
        base = start + blk * 16                              # first element of this 64-byte block
        left = n_words - blk * 16                            # message words from here on (<= 0: padding only)
        tail = blk == last                                   # this block ends with the length
        w0, b0 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 0, QUANTIZE, IS_F64)
        w1, b1 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 1, QUANTIZE, IS_F64)
        w2, b2 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 2, QUANTIZE, IS_F64)
        w3, b3 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 3, QUANTIZE, IS_F64)
        w4, b4 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 4, QUANTIZE, IS_F64)
        w5, b5 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 5, QUANTIZE, IS_F64)
        w6, b6 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 6, QUANTIZE, IS_F64)
        w7, b7 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 7, QUANTIZE, IS_F64)
        w8, b8 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 8, QUANTIZE, IS_F64)
        w9, b9 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 9, QUANTIZE, IS_F64)
        w10, b10 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 10, QUANTIZE, IS_F64)
        w11, b11 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 11, QUANTIZE, IS_F64)
        w12, b12 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 12, QUANTIZE, IS_F64)
        w13, b13 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 13, QUANTIZE, IS_F64)
        w14, b14 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 14, QUANTIZE, IS_F64)
        w15, b15 = _message_word(SRC, base, left, tail, n_words, SCALE, LO, HI, 15, QUANTIZE, IS_F64)
        bad += b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9 + b10 + b11 + b12 + b13 + b14 + b15
        h0, h1, h2, h3, h4, h5, h6, h7 = _absorb_block(blk <= last, h0, h1, h2, h3, h4, h5, h6, h7,
                                                       w0, w1, w2, w3, w4, w5, w6, w7,
                                                       w8, w9, w10, w11, w12, w13, w14, w15, K)

    _store_digest(OUT, chunk, lane_ok, h0, h1, h2, h3, h4, h5, h6, h7)
    tl.store(BAD + chunk, bad, mask=lane_ok)


@triton.jit
def _add(a, b):
    """Combine function for ``tl.reduce`` (our own: see ``triton_sha256.py`` on why not ``tl.sum``)."""
    return a + b


@triton.jit
def quantize_kernel(
    SRC,                          # *float32 or *float64 gradient (flat, contiguous)
    DST,                          # *int32 quantized payload
    BAD,                          # *int32 (n_programs,): non-finite inputs seen per program
    PARAMS,                       # *float64 (3,): [2^k, -2^31, 2^31 - 1]
    n_elements,                   # number of elements
    BLOCK: tl.constexpr,          # elements per program
    IS_F64: tl.constexpr,         # True: the gradient is float64
):
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elements
    g = tl.load(SRC + offs, mask=mask, other=0.0)
    x, q, bad = _quantize_value(g, mask, tl.load(PARAMS + 0), tl.load(PARAMS + 1), tl.load(PARAMS + 2), IS_F64)
    tl.store(DST + offs, q, mask=mask)
    tl.store(BAD + pid, tl.reduce(bad, 0, _add))


# ---------------------------------------------------------------------------------------------
# wrappers (called by gradientcoin_edu.kernels for CUDA tensors, or under TRITON_INTERPRET=1)
# ---------------------------------------------------------------------------------------------

BLOCK_CHUNKS = 64          # lanes per program: 2 warps; enough registers for the 24 live words
QUANTIZE_BLOCK = 1024


def interpreted(kernel) -> bool:
    """True when ``kernel`` was decorated under TRITON_INTERPRET=1 (it then runs on CPU tensors)."""
    return type(kernel).__name__ == "InterpretedFunction"


def lanes_per_program(n_lanes: int, kernel, gpu_block: int = BLOCK_CHUNKS) -> int:
    """``gpu_block`` lanes per program on a GPU; in the interpreter, which runs programs one
    after another, as few programs as possible (each costs a full Python pass over the code)."""
    if interpreted(kernel):
        return min(triton.next_power_of_2(max(n_lanes, 1)), 1024)
    return gpu_block


def warps(block: int) -> int:
    """One lane per GPU thread: ``BLOCK // 32`` warps. (With fewer threads than lanes each thread
    would run several SHA-256s at once: more registers, up to 237 per thread for the nonce search.)"""
    return max(1, min(block // 32, 32))


def _device():
    import torch
    return torch.device("cpu") if interpreted(chunk_hash_kernel) else torch.device("cuda")


def as_tensor(data, device, float_ok: bool):
    """NumPy / bytes / torch -> flat contiguous torch tensor on ``device`` (int32, or float for gradients)."""
    import torch
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = cpu.payload_view(data)
    if not isinstance(data, torch.Tensor):
        arr = np.asarray(data)
        if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
        arr = np.ascontiguousarray(arr)
        data = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    t = data.detach()
    if t.is_floating_point():
        if not float_ok:
            raise KernelError("bad-dtype", f"expected an int32 payload, got {t.dtype}")
        if t.dtype not in (torch.float32, torch.float64):
            t = t.to(torch.float32)                          # float16 / bfloat16: exact in float32
    elif t.dtype != torch.int32:
        raise KernelError("bad-dtype", f"expected int32 (payload) or float (gradient), got {t.dtype}")
    return t.to(device).contiguous().reshape(-1)


def params(quantum_log2, device):
    """The float64 constants the kernels load: the scale 2^k and the int32 bounds."""
    import torch
    scale = 1.0 if quantum_log2 is None else cpu._scale(quantum_log2)
    return torch.tensor([scale, float(cpu.INT32_MIN), float(cpu.INT32_MAX)], dtype=torch.float64, device=device)


def _raise_if_bad(bad):
    n = int(bad.sum().item()) if bad.numel() else 0
    if n:
        raise KernelError("non-finite", f"the gradient holds {n} NaN or inf value(s)")


def chunk_digests(data, chunk_bytes: int, quantum_log2: int | None = None):
    """(n_chunks, 32) uint8 torch tensor of chunk digests, on the kernel's device."""
    import torch
    chunk_bytes = cpu.check_chunk_bytes(chunk_bytes)
    device = _device()
    src = as_tensor(data, device, float_ok=quantum_log2 is not None)
    quant = src.is_floating_point()
    if quant and quantum_log2 is None:
        raise KernelError("bad-dtype", "a float gradient needs quantum_log2 to be quantized")
    if not quant and quantum_log2 is not None:
        raise KernelError("bad-dtype", f"quantum_log2 given, but the input is {src.dtype}, not a float gradient")
    chunk_words = chunk_bytes // 4
    n_chunks = math.ceil(src.numel() / chunk_words)
    out = torch.empty((n_chunks, 8), dtype=torch.int32, device=device)
    bad = torch.zeros(n_chunks, dtype=torch.int32, device=device)
    if n_chunks:
        block = lanes_per_program(n_chunks, chunk_hash_kernel)
        chunk_hash_kernel[(triton.cdiv(n_chunks, block),)](
            src, out, bad, constants(device), params(quantum_log2, device),
            src.numel(), n_chunks,
            CHUNK_WORDS=chunk_words, BLOCK=block, QUANTIZE=quant,
            IS_F64=src.dtype == torch.float64, num_warps=warps(block), enable_fp_fusion=False,
        )
    _raise_if_bad(bad)
    return out.view(torch.uint8).reshape(n_chunks, 32)


def quantize(grad, quantum_log2: int):
    """Q as an int32 torch tensor with ``grad``'s shape (on the kernel's device)."""
    import torch
    shape = tuple(grad.shape) if hasattr(grad, "shape") else np.shape(grad)
    device = _device()
    src = as_tensor(grad, device, float_ok=True)
    if not src.is_floating_point():
        raise KernelError("bad-dtype", f"a gradient must be a float tensor, got {src.dtype}")
    out = torch.empty(src.numel(), dtype=torch.int32, device=device)
    n_prog = triton.cdiv(src.numel(), QUANTIZE_BLOCK)
    bad = torch.zeros(max(n_prog, 1), dtype=torch.int32, device=device)
    if n_prog:
        quantize_kernel[(n_prog,)](src, out, bad, params(quantum_log2, device), src.numel(),
                                   BLOCK=QUANTIZE_BLOCK, IS_F64=src.dtype == torch.float64,
                                   enable_fp_fusion=False)
    _raise_if_bad(bad)
    out = out.reshape(shape)
    return out.to(grad.device) if isinstance(grad, torch.Tensor) else out.cpu().numpy()
