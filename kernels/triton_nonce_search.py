"""[policy] Nonce search: the proof-of-work loop, SHA-256d of a header across nonces, one nonce per lane.

What it computes. For a header prefix (every header byte before the nonce: 76 for Bitcoin's
80-byte header, 176 for our 180-byte one, any length works) and a range of nonces, the first
nonce whose SHA-256d(prefix ‖ nonce as 4 little-endian bytes), read as a little-endian 256-bit
integer, is ``<= target`` (Bitcoin's rule). It finds the real genesis block's nonce, 2083236893.

Why it is fast. Every nonce is independent, so each lane tries one; and the complete 64-byte
blocks of the prefix do not depend on the nonce, so their compression (the *midstate*) is done
once on the host and shared. A lane then hashes only the rest: the tail of the prefix (0..63
bytes), the nonce, the padding and the length, which fill one 64-byte block, or two when the tail
is longer than 51 bytes, and then the second SHA-256, of the 32-byte digest (one block). A Bitcoin
header costs 2 compressions per nonce instead of 3, ours 2 instead of 4. That trick is why early
Bitcoin GPU miners beat CPUs by two orders of magnitude, and why proof-of-work says nothing useful
about the work: it is this loop and nothing else. Proof-of-gradient replaces it with a gradient
per ticket (the other kernels in this folder), so that mining *is* training.

What you learn. Midstates; building the last block(s) of a message where the changing bytes sit
at any byte offset (``TAIL_BYTES`` is a compile-time constant, so the position of the nonce, of the
0x80 byte and of the zero words is resolved when the kernel compiles, and the zeros fold away);
the second SHA-256 of a 32-byte digest (one block, fixed padding); comparing 256-bit integers lane
by lane with eight uint32 limbs; and returning "the first hit" from a parallel search without
atomics (each program writes its smallest hit; the host takes the minimum, and stops launching
once a batch has one).

Sections: reference -> kernel -> wrapper.
"""
from __future__ import annotations

import hashlib
import struct

import numpy as np
import triton
import triton.language as tl

from . import cpu
from .triton_chunk_hash import interpreted, lanes_per_program, warps
from .triton_sha256 import _bswap, _compress, _iv, _u32, constants

__all__ = ["reference_nonce_search", "nonce_search", "search_params", "tail_geometry", "BATCH"]

# ---------------------------------------------------------------------------------------------
# reference
# ---------------------------------------------------------------------------------------------


def reference_nonce_search(prefix: bytes, target: int, start: int, count: int) -> int | None:
    """The plain loop: build each header, hash it twice, compare."""
    for nonce in range(start, start + count):
        header = prefix + struct.pack("<I", nonce)
        if int.from_bytes(hashlib.sha256(hashlib.sha256(header).digest()).digest(), "little") <= target:
            return nonce
    return None


# ---------------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------------

# P, the kernel's parameters (int32 words, read as uint32): midstate P[0:8], tail words P[8:24],
# message length in bits P[24] (high) and P[25] (low), target limbs P[26:34] (least significant first).
N_PARAMS = 34


@triton.jit
def _param(P, i):
    return _u32(tl.load(P + i))


@triton.jit
def _smaller(a, b):
    """Combine function for ``tl.reduce``: the program's first hit."""
    return tl.minimum(a, b)


@triton.jit
def _word(P, nonce_be, zero, J: tl.constexpr, TAIL_BYTES: tl.constexpr, N_BLOCKS: tl.constexpr):
    """Word ``J`` (0..31, counted over the last one or two blocks) of the padded message.

    Bytes: the ``TAIL_BYTES`` prefix bytes after the midstate, the nonce (4 bytes, from byte
    ``TAIL_BYTES`` on, so at any byte offset in a word), 0x80, zeros, and the message length in
    bits in the last 8 bytes. ``nonce_be`` is the nonce's 4 bytes read as a big-endian word.
    """
    NONCE_WORD: tl.constexpr = TAIL_BYTES // 4                 # the word where the nonce starts
    SHIFT: tl.constexpr = (TAIL_BYTES % 4) * 8                 # bits of tail bytes before it there
    LAST: tl.constexpr = 16 * N_BLOCKS - 1                     # the low length word
    if J < NONCE_WORD:                                         # prefix tail bytes only
        w = zero + _param(P, 8 + J)
    elif J == NONCE_WORD:                                      # [tail bytes] + first nonce bytes
        if SHIFT == 0:
            w = nonce_be
        else:
            w = (zero + _param(P, 8 + J)) | (nonce_be >> SHIFT)
    elif J == NONCE_WORD + 1:                                  # [last nonce bytes] + 0x80, zeros
        if SHIFT == 0:
            w = zero + 0x80000000
        else:
            w = (nonce_be << (32 - SHIFT)) | (0x80 << (24 - SHIFT))
    elif J == LAST - 1:                                        # length in bits, high word
        w = zero + _param(P, 24)
    elif J == LAST:                                            # length in bits, low word
        w = zero + _param(P, 25)
    else:                                                      # padding zeros: folded away
        w = zero
    return w


@triton.jit
def nonce_search_kernel(
    P,                            # *int32 (34,): midstate[8], tail words[16], length hi/lo, target limbs[8]
    K,                            # *int32 (64,): SHA-256 round constants
    FOUND,                        # *int64 (n_programs,): smallest hit offset in this program, or count
    start,                        # first nonce of the range
    count,                        # nonces in the range
    TAIL_BYTES: tl.constexpr,     # prefix bytes after the midstate (prefix length mod 64)
    N_BLOCKS: tl.constexpr,       # 64-byte blocks left to hash per nonce: 1, or 2 if TAIL_BYTES > 51
    BLOCK: tl.constexpr,          # nonces (lanes) per program
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < count
    nonce = (offs + start).to(tl.uint32)
    nb = _bswap(nonce)                                         # the nonce's bytes as a big-endian word
    zero = tl.full([BLOCK], 0, tl.uint32)
    # the last block(s) of the header, from the midstate
    h0, h1, h2, h3, h4, h5, h6, h7 = _compress(
        zero + _param(P, 0), zero + _param(P, 1), zero + _param(P, 2), zero + _param(P, 3),
        zero + _param(P, 4), zero + _param(P, 5), zero + _param(P, 6), zero + _param(P, 7),
        _word(P, nb, zero, 0, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 1, TAIL_BYTES, N_BLOCKS),
        _word(P, nb, zero, 2, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 3, TAIL_BYTES, N_BLOCKS),
        _word(P, nb, zero, 4, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 5, TAIL_BYTES, N_BLOCKS),
        _word(P, nb, zero, 6, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 7, TAIL_BYTES, N_BLOCKS),
        _word(P, nb, zero, 8, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 9, TAIL_BYTES, N_BLOCKS),
        _word(P, nb, zero, 10, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 11, TAIL_BYTES, N_BLOCKS),
        _word(P, nb, zero, 12, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 13, TAIL_BYTES, N_BLOCKS),
        _word(P, nb, zero, 14, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 15, TAIL_BYTES, N_BLOCKS), K)
    if N_BLOCKS == 2:                                          # a long tail: the padding spills over
        h0, h1, h2, h3, h4, h5, h6, h7 = _compress(
            h0, h1, h2, h3, h4, h5, h6, h7,
            _word(P, nb, zero, 16, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 17, TAIL_BYTES, N_BLOCKS),
            _word(P, nb, zero, 18, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 19, TAIL_BYTES, N_BLOCKS),
            _word(P, nb, zero, 20, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 21, TAIL_BYTES, N_BLOCKS),
            _word(P, nb, zero, 22, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 23, TAIL_BYTES, N_BLOCKS),
            _word(P, nb, zero, 24, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 25, TAIL_BYTES, N_BLOCKS),
            _word(P, nb, zero, 26, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 27, TAIL_BYTES, N_BLOCKS),
            _word(P, nb, zero, 28, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 29, TAIL_BYTES, N_BLOCKS),
            _word(P, nb, zero, 30, TAIL_BYTES, N_BLOCKS), _word(P, nb, zero, 31, TAIL_BYTES, N_BLOCKS), K)
    # SHA-256 of the 32-byte digest: one block, fixed padding (256 bits)
    s0, s1, s2, s3, s4, s5, s6, s7 = _iv(BLOCK)
    g0, g1, g2, g3, g4, g5, g6, g7 = _compress(
        s0, s1, s2, s3, s4, s5, s6, s7,
        h0, h1, h2, h3, h4, h5, h6, h7,
        zero + 0x80000000, zero, zero, zero, zero, zero, zero, zero + 256, K)
    # hash as a little-endian integer: limb j (bits 32j..32j+31) is byte-swapped word j.
    # hash <= target, decided from the least significant limb up: a higher limb overrides.
    le = _bswap(g0) <= _param(P, 26)
    le = (_bswap(g1) < _param(P, 27)) | ((_bswap(g1) == _param(P, 27)) & le)
    le = (_bswap(g2) < _param(P, 28)) | ((_bswap(g2) == _param(P, 28)) & le)
    le = (_bswap(g3) < _param(P, 29)) | ((_bswap(g3) == _param(P, 29)) & le)
    le = (_bswap(g4) < _param(P, 30)) | ((_bswap(g4) == _param(P, 30)) & le)
    le = (_bswap(g5) < _param(P, 31)) | ((_bswap(g5) == _param(P, 31)) & le)
    le = (_bswap(g6) < _param(P, 32)) | ((_bswap(g6) == _param(P, 32)) & le)
    le = (_bswap(g7) < _param(P, 33)) | ((_bswap(g7) == _param(P, 33)) & le)
    hit = tl.where(ok & le, offs, count)
    tl.store(FOUND + tl.program_id(0), tl.reduce(hit, 0, _smaller))


# ---------------------------------------------------------------------------------------------
# wrapper
# ---------------------------------------------------------------------------------------------

BLOCK_NONCES = 256
BATCH = 1 << 24              # nonces per launch on a GPU: stop early once a batch has a hit


def tail_geometry(prefix_len: int) -> tuple[int, int, int]:
    """(bytes covered by the midstate, TAIL_BYTES, N_BLOCKS) for a prefix of ``prefix_len`` bytes.

    The tail, the 4 nonce bytes, the 0x80 byte and the 8 length bytes fit one block when
    ``tail + 13 <= 64``; a longer tail spills the padding into a second block.
    """
    tail = prefix_len % 64
    return prefix_len - tail, tail, 1 if tail + 13 <= 64 else 2


def search_params(prefix: bytes, target: int) -> np.ndarray:
    """The 34 uint32 words the kernel reads (as int32): midstate, the tail as 16 big-endian words
    (zero from the nonce on), the message length in bits (high, low), target limbs (low first)."""
    full, tail, _ = tail_geometry(len(prefix))
    mid = cpu.sha256_midstate(prefix[:full])
    words = struct.unpack(">16I", prefix[full:] + bytes(64 - tail))
    bits = 8 * (len(prefix) + 4)
    limbs = [(target >> (32 * j)) & 0xFFFFFFFF for j in range(8)]
    prm = np.array([*mid, *words, bits >> 32, bits & 0xFFFFFFFF, *limbs], dtype=np.uint32)
    assert prm.size == N_PARAMS
    return prm.view(np.int32)


def nonce_search(prefix: bytes, target: int, start: int, count: int) -> int | None:
    """First qualifying nonce in ``start .. start+count-1`` (None if none), on the kernel's device."""
    import torch
    prefix = cpu.check_nonce_args(prefix, target, start, count)
    device = torch.device("cpu") if interpreted(nonce_search_kernel) else torch.device("cuda")
    prm = torch.from_numpy(search_params(prefix, target)).to(device)
    _, tail, n_blocks = tail_geometry(len(prefix))
    k = constants(device)
    batch = count if interpreted(nonce_search_kernel) else BATCH
    for lo in range(start, start + count, max(batch, 1)):
        n = min(batch, start + count - lo)
        block = lanes_per_program(n, nonce_search_kernel, BLOCK_NONCES)
        grid = triton.cdiv(n, block)
        found = torch.empty(grid, dtype=torch.int64, device=device)
        nonce_search_kernel[(grid,)](prm, k, found, lo, n, TAIL_BYTES=tail, N_BLOCKS=n_blocks, BLOCK=block,
                                     num_warps=warps(block), enable_fp_fusion=False)
        best = int(found.min().item())
        if best < n:
            return lo + best
    return None
