"""Nonce search: Bitcoin's proof-of-work loop, SHA-256d over 80-byte headers, one nonce per lane.

What it computes. For a 76-byte header prefix (version, previous hash, merkle root, time, bits)
and a range of nonces, the first nonce whose SHA-256d(prefix ‖ nonce as 4 little-endian bytes),
read as a little-endian 256-bit integer, is ``<= target`` (Bitcoin's rule). It finds the real
genesis block's nonce, 2083236893.

Why it is fast. Every nonce is independent, so each lane tries one; and the first 64 of the 80
header bytes do not depend on the nonce, so their compression (the *midstate*) is computed once
on the host and shared: each nonce then costs 2 compressions instead of 3. That trick is why
early Bitcoin GPU miners beat CPUs by two orders of magnitude, and why proof-of-work says nothing
useful about the work: it is this loop and nothing else. Proof-of-gradient replaces it with a
gradient per ticket (the other kernels in this folder), so that mining *is* training.

What you learn. Midstates; the second SHA-256 of a 32-byte digest (one block, fixed padding);
comparing 256-bit integers lane by lane with eight uint32 limbs; and returning "the first hit"
from a parallel search without atomics (each program writes its smallest hit; the host takes
the minimum, and stops launching once a batch has one).

Sections: reference -> kernel -> wrapper.
"""
from __future__ import annotations

import hashlib
import struct

import numpy as np
import triton
import triton.language as tl

from . import cpu
from .chunk_hash import interpreted, lanes_per_program, warps
from .sha256_triton import _bswap, _compress, _iv, _u32, constants

__all__ = ["reference_nonce_search", "nonce_search", "BATCH"]

# ---------------------------------------------------------------------------------------------
# reference
# ---------------------------------------------------------------------------------------------


def reference_nonce_search(header76: bytes, target: int, start: int, count: int) -> int | None:
    """The plain loop: build each 80-byte header, hash it twice, compare."""
    for nonce in range(start, start + count):
        header = header76 + struct.pack("<I", nonce)
        if int.from_bytes(hashlib.sha256(hashlib.sha256(header).digest()).digest(), "little") <= target:
            return nonce
    return None


# ---------------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------------

@triton.jit
def _param(P, i):
    return _u32(tl.load(P + i))


@triton.jit
def _smaller(a, b):
    """Combine function for ``tl.reduce``: the program's first hit."""
    return tl.minimum(a, b)


@triton.jit
def nonce_search_kernel(
    P,                            # *int32 (19,): midstate[8], header words 16..18, target limbs[8] (little end first)
    K,                            # *int32 (64,): SHA-256 round constants
    FOUND,                        # *int64 (n_programs,): smallest hit offset in this program, or count
    start,                        # first nonce of the range
    count,                        # nonces in the range
    BLOCK: tl.constexpr,          # nonces (lanes) per program
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < count
    nonce = (offs + start).to(tl.uint32)
    zero = tl.full([BLOCK], 0, tl.uint32)
    # block 2 of the header: bytes 64..79 = 12 header bytes, the nonce, then padding (640 bits)
    m0, m1, m2, m3, m4, m5, m6, m7 = (zero + _param(P, 0), zero + _param(P, 1), zero + _param(P, 2),
                                      zero + _param(P, 3), zero + _param(P, 4), zero + _param(P, 5),
                                      zero + _param(P, 6), zero + _param(P, 7))
    h0, h1, h2, h3, h4, h5, h6, h7 = _compress(
        m0, m1, m2, m3, m4, m5, m6, m7,
        zero + _param(P, 8), zero + _param(P, 9), zero + _param(P, 10), _bswap(nonce),
        zero + 0x80000000, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero + 640, K)
    # SHA-256 of the 32-byte digest: one block, fixed padding (256 bits)
    s0, s1, s2, s3, s4, s5, s6, s7 = _iv(BLOCK)
    g0, g1, g2, g3, g4, g5, g6, g7 = _compress(
        s0, s1, s2, s3, s4, s5, s6, s7,
        h0, h1, h2, h3, h4, h5, h6, h7,
        zero + 0x80000000, zero, zero, zero, zero, zero, zero, zero + 256, K)
    # hash as a little-endian integer: limb j (bits 32j..32j+31) is byte-swapped word j.
    # hash <= target, decided from the least significant limb up: a higher limb overrides.
    le = _bswap(g0) <= _param(P, 11)
    le = (_bswap(g1) < _param(P, 12)) | ((_bswap(g1) == _param(P, 12)) & le)
    le = (_bswap(g2) < _param(P, 13)) | ((_bswap(g2) == _param(P, 13)) & le)
    le = (_bswap(g3) < _param(P, 14)) | ((_bswap(g3) == _param(P, 14)) & le)
    le = (_bswap(g4) < _param(P, 15)) | ((_bswap(g4) == _param(P, 15)) & le)
    le = (_bswap(g5) < _param(P, 16)) | ((_bswap(g5) == _param(P, 16)) & le)
    le = (_bswap(g6) < _param(P, 17)) | ((_bswap(g6) == _param(P, 17)) & le)
    le = (_bswap(g7) < _param(P, 18)) | ((_bswap(g7) == _param(P, 18)) & le)
    hit = tl.where(ok & le, offs, count)
    tl.store(FOUND + tl.program_id(0), tl.reduce(hit, 0, _smaller))


# ---------------------------------------------------------------------------------------------
# wrapper
# ---------------------------------------------------------------------------------------------

BLOCK_NONCES = 256
BATCH = 1 << 24              # nonces per launch on a GPU: stop early once a batch has a hit


def search_params(header76: bytes, target: int) -> np.ndarray:
    """The 19 uint32 words the kernel reads (as int32): midstate, 3 tail words, target limbs."""
    mid = cpu.sha256_midstate(header76[:64])
    tail = struct.unpack(">3I", header76[64:76])
    limbs = [(target >> (32 * j)) & 0xFFFFFFFF for j in range(8)]
    return np.array([*mid, *tail, *limbs], dtype=np.uint32).view(np.int32)


def nonce_search(header76: bytes, target: int, start: int, count: int) -> int | None:
    """First qualifying nonce in ``start .. start+count-1`` (None if none), on the kernel's device."""
    import torch
    header76 = cpu.check_nonce_args(header76, target, start, count)
    device = torch.device("cpu") if interpreted(nonce_search_kernel) else torch.device("cuda")
    prm = torch.from_numpy(search_params(header76, target)).to(device)
    k = constants(device)
    batch = count if interpreted(nonce_search_kernel) else BATCH
    for lo in range(start, start + count, max(batch, 1)):
        n = min(batch, start + count - lo)
        block = lanes_per_program(n, nonce_search_kernel, BLOCK_NONCES)
        grid = triton.cdiv(n, block)
        found = torch.empty(grid, dtype=torch.int64, device=device)
        nonce_search_kernel[(grid,)](prm, k, found, lo, n, BLOCK=block, num_warps=warps(block),
                                     enable_fp_fusion=False)
        best = int(found.min().item())
        if best < n:
            return lo + best
    return None
