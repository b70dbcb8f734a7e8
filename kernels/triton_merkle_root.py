"""[consensus] Merkle root on the GPU: the ``"chain"`` tree over chunk digests, one level per launch.

What it computes. Exactly ``crypto.merkle.merkle_root(digests, mode="chain")``: leaf =
SHA-256(0x00 ‖ digest), inner node = SHA-256(0x01 ‖ left ‖ right), an odd last node is carried up
unchanged, and the empty list has root SHA-256(b""). With the chunk digests of ``triton_chunk_hash.py``
this is the block header's ``grad_root``.

Why it is fast. Each level is one launch with one lane per output node, so the n leaves, then
n/2 nodes, n/4 ... are hashed in parallel, and the digests never leave the GPU until the final
32 bytes. A tree over n chunks costs about 2n short hashes, against n long ones for the chunks, so
it is a small share of the work, but copying the digests to the host and hashing them in
Python would not be (that is what the benchmark's "naive" column shows).

What you learn. Hashing messages that are *not* word-aligned: the 1-byte domain prefix shifts
every digest byte by 8 bits, so message word i is ``(D[i-1] << 24) | (D[i] >> 8)``: a funnel of two
neighbouring words. The leaf message is 33 bytes (one SHA-256 block), the node message 65 bytes
(two blocks: 0x01 ‖ 32 ‖ 32 does not fit in 55 bytes, the most one block can carry with padding).

Sections: reference -> kernel -> wrapper.
"""
from __future__ import annotations

import hashlib

import triton
import triton.language as tl

from gradientcoin_edu.errors import KernelError

from . import cpu
from .triton_chunk_hash import interpreted, lanes_per_program, warps
from .triton_sha256 import _compress, _iv, _load_digest, _store_digest, constants

__all__ = ["reference_merkle_root", "merkle_root_of_digests", "gradient_root"]

# ---------------------------------------------------------------------------------------------
# reference
# ---------------------------------------------------------------------------------------------


def reference_merkle_root(digests: list[bytes]) -> bytes:
    """Readable hashlib version of the chain tree."""
    level = [hashlib.sha256(b"\x00" + d).digest() for d in digests]
    if not level:
        return hashlib.sha256(b"").digest()
    while len(level) > 1:
        pairs = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------

@triton.jit
def _funnel(hi, lo):
    """Word i of a message shifted right by one byte: last byte of ``hi``, first 3 bytes of ``lo``."""
    return (hi << 24) | (lo >> 8)


@triton.jit
def merkle_leaf_kernel(
    SRC,                          # *int32 (n, 8): chunk digests (bytes = digest)
    DST,                          # *int32 (n, 8): leaf hashes SHA-256(0x00 ‖ digest)
    K,                            # *int32 (64,): SHA-256 round constants
    n,                            # number of digests
    BLOCK: tl.constexpr,          # lanes (leaves) per program
):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n
    d0, d1, d2, d3, d4, d5, d6, d7 = _load_digest(SRC, i, ok)
    zero = tl.full([BLOCK], 0, tl.uint32)
    h0, h1, h2, h3, h4, h5, h6, h7 = _iv(BLOCK)
    # 33-byte message 0x00 ‖ d, then 0x80, zeros, and the length 264 bits in the last word
    h0, h1, h2, h3, h4, h5, h6, h7 = _compress(
        h0, h1, h2, h3, h4, h5, h6, h7,
        _funnel(zero, d0), _funnel(d0, d1), _funnel(d1, d2), _funnel(d2, d3),
        _funnel(d3, d4), _funnel(d4, d5), _funnel(d5, d6), _funnel(d6, d7),
        (d7 << 24) | 0x00800000, zero, zero, zero, zero, zero, zero, zero + 264, K)
    _store_digest(DST, i, ok, h0, h1, h2, h3, h4, h5, h6, h7)


@triton.jit
def merkle_node_kernel(
    SRC,                          # *int32 (n, 8): one level of the tree
    DST,                          # *int32 (ceil(n / 2), 8): the level above
    K,                            # *int32 (64,): SHA-256 round constants
    n,                            # nodes in this level
    BLOCK: tl.constexpr,          # lanes (parent nodes) per program
):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = i < (n + 1) // 2
    has_right = ok & (2 * i + 1 < n)
    l0, l1, l2, l3, l4, l5, l6, l7 = _load_digest(SRC, 2 * i, ok)
    r0, r1, r2, r3, r4, r5, r6, r7 = _load_digest(SRC, 2 * i + 1, has_right)
    zero = tl.full([BLOCK], 0, tl.uint32)
    h0, h1, h2, h3, h4, h5, h6, h7 = _iv(BLOCK)
    # 65-byte message 0x01 ‖ left ‖ right: two blocks
    h0, h1, h2, h3, h4, h5, h6, h7 = _compress(
        h0, h1, h2, h3, h4, h5, h6, h7,
        _funnel(zero + 1, l0), _funnel(l0, l1), _funnel(l1, l2), _funnel(l2, l3),
        _funnel(l3, l4), _funnel(l4, l5), _funnel(l5, l6), _funnel(l6, l7),
        _funnel(l7, r0), _funnel(r0, r1), _funnel(r1, r2), _funnel(r2, r3),
        _funnel(r3, r4), _funnel(r4, r5), _funnel(r5, r6), _funnel(r6, r7), K)
    h0, h1, h2, h3, h4, h5, h6, h7 = _compress(
        h0, h1, h2, h3, h4, h5, h6, h7,
        (r7 << 24) | 0x00800000, zero, zero, zero, zero, zero, zero, zero,
        zero, zero, zero, zero, zero, zero, zero, zero + 520, K)
    # an odd last node is carried up unchanged (stored back byte-swapped, like every digest)
    h0 = tl.where(has_right, h0, l0)
    h1 = tl.where(has_right, h1, l1)
    h2 = tl.where(has_right, h2, l2)
    h3 = tl.where(has_right, h3, l3)
    h4 = tl.where(has_right, h4, l4)
    h5 = tl.where(has_right, h5, l5)
    h6 = tl.where(has_right, h6, l6)
    h7 = tl.where(has_right, h7, l7)
    _store_digest(DST, i, ok, h0, h1, h2, h3, h4, h5, h6, h7)


# ---------------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------------

BLOCK_NODES = 128


def _digest_words(digests, device):
    """(n, 32) uint8 digests (NumPy or torch) -> contiguous (n, 8) int32 tensor on ``device``."""
    import torch
    if not isinstance(digests, torch.Tensor):
        digests = torch.from_numpy(cpu.digest_array(digests).copy())
    if digests.dtype != torch.uint8 or digests.dim() != 2 or digests.shape[1] != 32:
        raise KernelError("bad-digests",
                          f"digests must be an (n, 32) uint8 tensor, got {digests.dtype} {tuple(digests.shape)}")
    if digests.shape[0] == 0:
        return torch.empty((0, 8), dtype=torch.int32, device=device)
    return digests.to(device).contiguous().view(torch.int32)


def merkle_root_of_digests(digests) -> bytes:
    """Chain root of (n, 32) uint8 digests; level by level on the kernel's device."""
    import torch
    device = torch.device("cpu") if interpreted(merkle_leaf_kernel) else torch.device("cuda")
    level = _digest_words(digests, device)
    n = level.shape[0]
    if n == 0:
        return cpu.EMPTY_ROOT
    k = constants(device)
    block = lanes_per_program(n, merkle_leaf_kernel, BLOCK_NODES)
    leaves = torch.empty_like(level)
    merkle_leaf_kernel[(triton.cdiv(n, block),)](level, leaves, k, n, BLOCK=block, num_warps=warps(block),
                                                 enable_fp_fusion=False)
    level = leaves
    while n > 1:
        parents = (n + 1) // 2
        block = lanes_per_program(parents, merkle_node_kernel, BLOCK_NODES)
        up = torch.empty((parents, 8), dtype=torch.int32, device=device)
        merkle_node_kernel[(triton.cdiv(parents, block),)](level, up, k, n, BLOCK=block, num_warps=warps(block),
                                                          enable_fp_fusion=False)
        level, n = up, parents
    return level[0].cpu().numpy().astype("<i4").tobytes()


def gradient_root(data, chunk_bytes: int, quantum_log2: int | None = None) -> bytes:
    """grad_root on the GPU: chunk digests (``triton_chunk_hash.py``) then this tree, no host round trip."""
    from .triton_chunk_hash import chunk_digests
    return merkle_root_of_digests(chunk_digests(data, chunk_bytes, quantum_log2))

