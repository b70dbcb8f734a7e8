"""The Triton kernels themselves, run by Triton's CPU interpreter (TRITON_INTERPRET=1), so CI
checks the GPU code without a GPU. Inputs are small: the interpreter executes every vector
operation through NumPy, about 0.1 s per SHA-256 block per launch. Compared bit for bit with
hashlib, crypto.merkle and the CPU path.

``backend="interpret"`` makes the dispatcher import the kernel modules with TRITON_INTERPRET=1;
that works whether or not ``triton`` was imported before, because the kernels use no
``@triton.jit`` helper of Triton's standard library (see kernels/triton_sha256.py).
"""
from __future__ import annotations

import hashlib
import os
import struct

import numpy as np
import pytest
import torch

pytest.importorskip("triton")

from gradientcoin_edu import kernels as K  # noqa: E402
from gradientcoin_edu.crypto.merkle import merkle_root  # noqa: E402
from gradientcoin_edu.errors import KernelError  # noqa: E402
from gradientcoin_edu.kernels import cpu  # noqa: E402

from test_kernels import (GENESIS_HEADER76, GENESIS_NONCE, GENESIS_TARGET, hashlib_digests,  # noqa: E402
                           random_payload, reference_quantize, verify_case)

INTERP = {"backend": "interpret"}


def test_the_kernels_really_are_interpreted():
    m = K.triton_module("chunk_hash", interpret=True)
    assert type(m.chunk_hash_kernel).__name__ == "InterpretedFunction"
    assert os.environ.get("TRITON_INTERPRET") in (None, "0", "1")          # the env var is restored


@pytest.mark.parametrize("n", [0, 1, 13, 14, 16, 17, 47])
def test_chunk_hash_kernel_matches_hashlib_chunk_64(n):
    q = random_payload(n, seed=n)
    got = K.chunk_digests(q, 64, **INTERP)
    assert got.tobytes() == b"".join(hashlib_digests(q.tobytes(), 64))


def test_chunk_hash_kernel_chunk_128_partial_last_chunk_torch_and_bytes():
    q = random_payload(32 * 2 + 9, seed=1)                                  # 2 full chunks + 36 bytes
    want = b"".join(hashlib_digests(q.tobytes(), 128))
    assert K.chunk_digests(torch.from_numpy(q), 128, **INTERP).tobytes() == want
    assert K.chunk_digests(q.tobytes(), 128, **INTERP).tobytes() == want


def test_chunk_hash_kernel_chunk_4096():
    q = random_payload(1024 + 100, seed=2)                                  # one full 4 KiB chunk + a short one
    assert K.chunk_digests(q, 4096, **INTERP).tobytes() == b"".join(hashlib_digests(q.tobytes(), 4096))


def test_chunk_hash_kernel_non_contiguous_input():
    t = torch.from_numpy(random_payload(24 * 3, seed=3)).reshape(24, 3).T  # (3, 24), not contiguous
    assert not t.is_contiguous()
    assert np.array_equal(K.chunk_digests(t, 64, **INTERP), cpu.chunk_digests(t, 64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_quantization_rounding_boundaries_and_saturation(dtype):
    k = 3
    ties = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 7.5, 8.5]) / 2 ** k          # x.5 -> even
    near = np.array([np.nextafter(0.5, 1), np.nextafter(0.5, 0), np.nextafter(-1.5, -2)]) / 2 ** k
    sat = np.array([1e12, -1e12, 2.0 ** 28, -(2.0 ** 28), 3e38, -3e38])            # saturate at 2^31 - 1, -2^31
    g = np.concatenate([ties, near, sat, np.random.default_rng(4).standard_normal(20)]).astype(dtype)
    want = reference_quantize(g, k)
    assert np.array_equal(K.quantize(g, k, **INTERP), want)
    got = K.chunk_digests(g, 64, quantum_log2=k, **INTERP)
    assert got.tobytes() == b"".join(hashlib_digests(want.tobytes(), 64))


def test_quantize_kernel_keeps_shape_and_torch_type():
    g = torch.linspace(-3, 3, 60, dtype=torch.float64).reshape(6, 10)
    q = K.quantize(g, 1, **INTERP)
    assert isinstance(q, torch.Tensor) and q.dtype == torch.int32 and q.shape == (6, 10)
    assert np.array_equal(q.numpy(), reference_quantize(g.numpy(), 1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise_in_the_kernels(bad):
    g = np.ones(40, np.float32)
    g[33] = bad
    for call in (lambda: K.quantize(g, 4, **INTERP),
                 lambda: K.chunk_digests(g, 64, 4, **INTERP),
                 lambda: K.fused_verify(g.astype(np.float64), np.ones(40, np.int32), 4, 64, 0.1, **INTERP)):
        with pytest.raises(KernelError) as err:
            call()
        assert err.value.reason == "non-finite"


def test_wrong_dtype_is_rejected_by_the_triton_path():
    with pytest.raises(KernelError) as err:
        K.chunk_digests(np.zeros(4, np.int64), 64, **INTERP)
    assert err.value.reason == "bad-dtype"


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 6, 9])
def test_merkle_kernels_match_crypto_merkle(n):
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
    arr = np.frombuffer(b"".join(digests), np.uint8).reshape(n, 32)
    assert K.merkle_root_of_digests(arr, **INTERP) == merkle_root(digests)


def test_gradient_root_on_the_triton_path():
    g = np.random.default_rng(5).standard_normal(100).astype(np.float32)
    assert K.gradient_root(g, 64, 12, **INTERP) == K.gradient_root(g, 64, 12, backend="cpu")


def test_fused_verify_kernel_matches_the_cpu_path():
    g, q, k, delta = verify_case()
    r = K.fused_verify(g, q, k, 64, delta, **INTERP)
    c = K.fused_verify(g, q, k, 64, delta, backend="cpu")
    assert r.deviations.tolist() == c.deviations.tolist() == [2, 1, 1, 0, 1, 1]
    assert r.disallowed.tolist() == c.disallowed.tolist() == [0, 1, 1, 0, 1, 1]
    assert np.array_equal(r.digests, c.digests) and r.root == c.root


def test_fused_verify_kernel_float32_partial_chunk_and_boundaries():
    g = (np.array([0.5, 1.5, 2.5, 0.25, 1.0, 3.0, -2.5, 0.7, 5.0, 6.0]) / 4).astype(np.float32)
    q = np.array([1, 1, 3, 0, 1, 5, -3, 1, 20, 6], np.int32)   # ties flipped, +2, -1 at a tie, exact, huge
    r = K.fused_verify(g, q, 2, 64, 0.0, **INTERP)
    c = K.fused_verify(g, q, 2, 64, 0.0, backend="cpu")
    assert (r.total_deviations, r.total_disallowed) == (c.total_deviations, c.total_disallowed) == (6, 2)
    assert r.root == c.root


def test_nonce_search_kernel_finds_the_genesis_nonce():
    assert K.nonce_search(GENESIS_HEADER76, GENESIS_TARGET, GENESIS_NONCE - 100, 128, **INTERP) == GENESIS_NONCE
    assert K.nonce_search(GENESIS_HEADER76, GENESIS_TARGET, GENESIS_NONCE + 1, 64, **INTERP) is None


def test_nonce_search_kernel_returns_the_first_hit_and_compares_all_limbs():
    for target in (1 << 250, (1 << 248) + 12345, 2 ** 256 - 1, 0):
        want = cpu.nonce_search(GENESIS_HEADER76, target, 1000, 256)
        assert K.nonce_search(GENESIS_HEADER76, target, 1000, 256, **INTERP) == want
    header = b"\x07" * 76
    top = 2 ** 32 - 200                                                     # the range ends at the last nonce
    assert K.nonce_search(header, 1 << 249, top, 200, **INTERP) == cpu.nonce_search(header, 1 << 249, top, 200)


def test_nonce_search_kernel_on_our_180_byte_header():
    from gradientcoin_edu.chain import BlockHeader, compute_tx_root
    header = BlockHeader(1, b"\x01" * 32, compute_tx_root([]), time=1_700_000_000, bits=0x1F00FFFF,
                         miner_id=b"\x02" * 32)
    prefix, target = header.serialize()[:-4], 0xFFFF << (8 * (0x1F - 3))
    nonce = K.nonce_search(prefix, target, 0, 2 ** 20, backend="cpu")
    lo = max(0, nonce - 100)
    assert K.nonce_search(prefix, target, lo, nonce - lo + 28, **INTERP) == nonce
    assert K.nonce_search(prefix, target, nonce + 1, 128, **INTERP) == K.nonce_search(prefix, target, nonce + 1, 128,
                                                                                      backend="cpu")


def test_the_kernels_share_one_sha256_compression():
    sha = K.triton_module("sha256", interpret=True)
    for name in ("chunk_hash", "fused_verify", "merkle_root", "nonce_search"):
        assert K.triton_module(name, interpret=True)._compress is sha._compress
    assert struct.pack("<64i", *sha.K_TABLE.tolist())[:4] == struct.pack(">I", 0x428A2F98)[::-1]
