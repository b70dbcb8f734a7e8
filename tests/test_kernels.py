"""The kernel API on the CPU path: bit-exact against hashlib and crypto.merkle, on awkward inputs.

The Triton kernels are checked against the same oracles in ``test_kernels_interpret.py`` (Triton's
CPU interpreter) and ``test_kernels_gpu.py`` (compiled, needs CUDA).
"""
from __future__ import annotations

import hashlib
import logging
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from gradientcoin_edu import kernels as K
from gradientcoin_edu.crypto.merkle import merkle_root
from gradientcoin_edu.errors import KernelError
from gradientcoin_edu.kernels import cpu

CPU = {"backend": "cpu"}

# the genesis block: version 1, no parent, its merkle root (display order reversed), time, bits
GENESIS_MERKLE = bytes.fromhex("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")[::-1]
GENESIS_HEADER76 = struct.pack("<I32s32sII", 1, bytes(32), GENESIS_MERKLE, 1231006505, 0x1D00FFFF)
GENESIS_TARGET = 0xFFFF << (8 * (0x1D - 3))
GENESIS_NONCE = 2083236893


def hashlib_digests(payload: bytes, chunk_bytes: int) -> list[bytes]:
    return [hashlib.sha256(payload[i:i + chunk_bytes]).digest() for i in range(0, len(payload), chunk_bytes)]


def random_payload(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-2 ** 31, 2 ** 31, n, dtype=np.int64).astype(np.int32)


# ---------------------------------------------------------------------------------------------
# chunk digests of int32 payloads
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk_bytes", [64, 128, 4096])
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1023, 1024, 1025, 5000])
def test_chunk_digests_match_hashlib(n, chunk_bytes):
    q = random_payload(n, seed=n)
    want = hashlib_digests(q.astype("<i4").tobytes(), chunk_bytes)
    got = K.chunk_digests(q, chunk_bytes, **CPU)
    assert got.dtype == np.uint8 and got.shape == (len(want), 32)
    assert got.tobytes() == b"".join(want)


def test_empty_payload_has_no_chunks_and_the_empty_root():
    assert K.chunk_digests(np.zeros(0, np.int32), 64, **CPU).shape == (0, 32)
    assert K.chunk_digests(b"", 64, **CPU).shape == (0, 32)
    assert K.gradient_root(b"", 64, **CPU) == hashlib.sha256(b"").digest()


def test_numpy_torch_and_bytes_inputs_agree():
    q = random_payload(777)
    want = K.chunk_digests(q, 128, **CPU)
    assert np.array_equal(K.chunk_digests(torch.from_numpy(q), 128, **CPU), want)
    assert np.array_equal(K.chunk_digests(q.tobytes(), 128, **CPU), want)
    assert np.array_equal(K.chunk_digests(bytearray(q.tobytes()), 128, **CPU), want)


def test_non_contiguous_inputs_are_read_in_c_order():
    q = random_payload(40 * 30).reshape(40, 30)
    want = K.chunk_digests(np.ascontiguousarray(q.T), 64, **CPU)
    assert np.array_equal(K.chunk_digests(q.T, 64, **CPU), want)
    assert np.array_equal(K.chunk_digests(torch.from_numpy(q).T, 64, **CPU), want)
    strided = torch.from_numpy(random_payload(200))[::2]
    assert np.array_equal(K.chunk_digests(strided, 64, **CPU), K.chunk_digests(strided.contiguous(), 64, **CPU))


def test_big_payload_16_mb_is_bit_exact():
    q = random_payload(4 << 20, seed=16)                      # 16 MiB: the threaded path
    assert K.chunk_digests(q, 4096, **CPU).tobytes() == b"".join(hashlib_digests(q.tobytes(), 4096))


# ---------------------------------------------------------------------------------------------
# quantization (round half to even, saturating) and the fused float path
# ---------------------------------------------------------------------------------------------

def reference_quantize(g, k):
    return np.rint(np.clip(np.asarray(g, np.float64) * 2.0 ** k, -2 ** 31, 2 ** 31 - 1)).astype(np.int32)


def test_ties_round_to_even():
    g = np.array([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 2.5 / 2, np.nextafter(0.25, 1), np.nextafter(0.25, 0)])
    assert K.quantize(g, 1, **CPU).tolist() == [0, 2, 2, 0, -2, -2, 2, 1, 0]


def test_saturation_at_the_int32_bounds():
    g = np.array([2.0 ** 30, -2.0 ** 30, -2.0 ** 30 - 1, 1e300, -1e300, (2 ** 31 - 0.5) / 2, 2 ** 30 - 0.75])
    q = K.quantize(g, 1, **CPU)
    assert q.tolist() == [2 ** 31 - 1, -2 ** 31, -2 ** 31, 2 ** 31 - 1, -2 ** 31, 2 ** 31 - 1, 2 ** 31 - 2]
    assert K.quantize(np.float32([3.4e38, -3.4e38]), 20, **CPU).tolist() == [2 ** 31 - 1, -2 ** 31]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantize_matches_reference_and_keeps_shape(dtype):
    g = (np.random.default_rng(3).standard_normal((7, 11)) * 1e-3).astype(dtype)
    q = K.quantize(g, 20, **CPU)
    assert q.dtype == np.int32 and q.shape == (7, 11)
    assert np.array_equal(q, reference_quantize(g, 20))
    t = K.quantize(torch.from_numpy(g), 20, **CPU)
    assert t.dtype == torch.int32 and torch.equal(t, torch.from_numpy(q))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 33, 3000])
def test_fused_quantize_and_hash_equals_quantize_then_hash(dtype, n):
    g = (np.random.default_rng(n).standard_normal(n) * 0.01).astype(dtype)
    g[: min(n, 4)] = [0.5 / 2 ** 10, 1.5 / 2 ** 10, -2.5 / 2 ** 10, 1e9][: min(n, 4)]   # ties and saturation
    want = hashlib_digests(reference_quantize(g, 10).tobytes(), 128)
    assert K.chunk_digests(g, 128, quantum_log2=10, **CPU).tobytes() == b"".join(want)
    assert K.gradient_root(torch.from_numpy(g), 128, 10, **CPU) == merkle_root(want)


def test_fused_path_on_16_mb_matches():
    g = np.random.default_rng(4).standard_normal(4 << 20).astype(np.float32)
    want = K.chunk_digests(reference_quantize(g, 20), 4096, **CPU)
    assert np.array_equal(K.chunk_digests(g, 4096, quantum_log2=20, **CPU), want)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradients_are_rejected(bad):
    g = np.zeros(5000, np.float32)
    g[4321] = bad
    for call in (lambda: K.quantize(g, 20, **CPU),
                 lambda: K.chunk_digests(g, 64, 20, **CPU),
                 lambda: K.gradient_root(torch.from_numpy(g), 64, 20, **CPU),
                 lambda: K.fused_verify(g, np.zeros(5000, np.int32), 20, 64, 0.01, **CPU)):
        with pytest.raises(KernelError) as err:
            call()
        assert err.value.reason == "non-finite"


# ---------------------------------------------------------------------------------------------
# bad arguments
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk_bytes", [0, -64, 32, 100, 64.0, True, None])
def test_chunk_bytes_must_be_a_positive_multiple_of_64(chunk_bytes):
    with pytest.raises(KernelError) as err:
        K.chunk_digests(np.zeros(4, np.int32), chunk_bytes)
    assert err.value.reason == "bad-chunk-size"


@pytest.mark.parametrize("call", [
    lambda: K.chunk_digests(np.zeros(4, np.int64), 64, **CPU),           # payload must be int32
    lambda: K.chunk_digests(np.zeros(4, np.float32), 64, **CPU),         # float needs quantum_log2
    lambda: K.chunk_digests(torch.zeros(4, dtype=torch.int16), 64, **CPU),
    lambda: K.quantize(np.zeros(4, np.int32), 20, **CPU),                # gradient must be float
    lambda: K.quantize(torch.zeros(4, dtype=torch.int64), 20, **CPU),
    lambda: K.fused_verify(np.zeros(4), np.zeros(4, np.float32), 20, 64, 0.1, **CPU),
])
def test_wrong_dtypes_are_rejected(call):
    with pytest.raises(KernelError) as err:
        call()
    assert err.value.reason == "bad-dtype"


def test_other_bad_arguments():
    cases = {
        "bad-length": lambda: K.chunk_digests(b"abcde", 64, **CPU),
        "shape-mismatch": lambda: K.fused_verify(np.zeros(5), np.zeros(4, np.int32), 20, 64, 0.1, **CPU),
        "bad-delta": lambda: K.fused_verify(np.zeros(4), np.zeros(4, np.int32), 20, 64, 0.7, **CPU),
        "bad-quantum": lambda: K.quantize(np.zeros(4), 2.5, **CPU),
        "bad-digests": lambda: K.merkle_root_of_digests(np.zeros((3, 31), np.uint8), **CPU),
        "bad-backend": lambda: K.chunk_digests(b"", 64, backend="gpu"),
        "bad-range": lambda: K.nonce_search(GENESIS_HEADER76, 1, 2 ** 32 - 1, 2, **CPU),
        "bad-target": lambda: K.nonce_search(GENESIS_HEADER76, 2 ** 256, 0, 1, **CPU),
    }
    for reason, call in cases.items():
        with pytest.raises(KernelError) as err:
            call()
        assert err.value.reason == reason


# ---------------------------------------------------------------------------------------------
# Merkle root over digests
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 33])
def test_merkle_root_matches_crypto_merkle(n):
    digests = [hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(n)]
    arr = np.frombuffer(b"".join(digests), np.uint8).reshape(n, 32)
    assert K.merkle_root_of_digests(arr, **CPU) == merkle_root(digests)
    assert K.merkle_root_of_digests(digests, **CPU) == merkle_root(digests)
    assert K.merkle_root_of_digests(torch.from_numpy(arr.copy()), **CPU) == merkle_root(digests)


def test_gradient_root_is_the_chain_root_of_the_chunk_digests():
    q = random_payload(3333)
    assert K.gradient_root(q, 256, **CPU) == merkle_root(hashlib_digests(q.tobytes(), 256))


# ---------------------------------------------------------------------------------------------
# fused verify
# ---------------------------------------------------------------------------------------------

def verify_case():
    """A recomputed gradient and a published payload with every kind of deviation, k = 4."""
    k, delta = 4, 0.01
    g = np.random.default_rng(5).uniform(-3, 3, 96) / 16           # x = g * 16 in (-3, 3)
    g[np.abs(g * 16 - np.round(g * 16)) > 0.49] = 0.1              # no accidental near-ties
    q = reference_quantize(g, k)
    g[1], q[1] = 0.5 / 16, 1                  # exact tie: rint -> 0, published 1: allowed
    g[2], q[2] = (2.5 + 0.005) / 16, 2        # within delta above the boundary: 3 -> 2 allowed
    g[20], q[20] = 0.2 / 16, 1                # far from a boundary: disallowed
    q[40] += 2                                # +2: disallowed
    q[70] -= 2                                # -2: disallowed
    g[90], q[90] = (1.5 - 0.02) / 16, 2       # 0.02 from the boundary > delta: disallowed
    return g, q, k, delta


def test_fused_verify_counts_every_kind_of_deviation():
    g, q, k, delta = verify_case()
    r = K.fused_verify(g, q, k, 64, delta, **CPU)                   # 16 elements per chunk
    assert r.deviations.tolist() == [2, 1, 1, 0, 1, 1]
    assert r.disallowed.tolist() == [0, 1, 1, 0, 1, 1]
    assert (r.total_deviations, r.total_disallowed, r.n_chunks) == (6, 4, 6)
    assert r.digests.tobytes() == b"".join(hashlib_digests(q.tobytes(), 64))
    assert r.root == merkle_root(hashlib_digests(q.tobytes(), 64))


def test_verify_totals_count_what_the_fused_pass_counts(monkeypatch):
    """``verify`` has checked the payload's grad_root already: on the CPU it asks for the totals only,
    slab by slab; they are the fused pass's per-chunk counts summed, every kind of deviation included,
    and a slab with a deviation after a clean slab is counted too."""
    g, q, k, delta = verify_case()
    assert cpu.verify_totals(g, q, k, delta) == (6, 4)
    digests, dev, bad = cpu.fused_verify_counts(g, q, k, 64, delta)
    assert (int(dev.sum()), int(bad.sum())) == (6, 4)
    monkeypatch.setattr(cpu, "SLAB_BYTES", 12 * 8)               # 8 elements a slab: 12 slabs
    assert cpu.verify_totals(g, q, k, delta) == (6, 4)
    honest = reference_quantize(g, k)
    honest[1] = 0                                                 # the exact tie, published as rint
    assert cpu.verify_totals(g, honest, k, delta) == (0, 0)
    with pytest.raises(KernelError, match="shape-mismatch|elements"):
        cpu.verify_totals(g, q[:-1], k, delta)
    bad = g.copy()
    bad[50] = np.nan
    with pytest.raises(KernelError, match="NaN"):
        cpu.verify_totals(bad, q, k, delta)


def test_fused_verify_honest_payload_has_no_deviation():
    g = np.random.default_rng(6).standard_normal(1000).astype(np.float32) * 1e-3
    r = K.fused_verify(torch.from_numpy(g), K.quantize(g, 20, **CPU), 20, 128, 0.05, **CPU)
    assert r.total_deviations == 0 and r.total_disallowed == 0 and r.n_chunks == 32


def test_fused_verify_allowed_boundary_deviation_and_delta_zero():
    g = np.array([0.5, 1.5, 2.5, -0.5]) / 4
    q = np.array([1, 1, 3, -1], np.int32)       # every element is the *other* neighbour of a tie
    r = K.fused_verify(g, q, 2, 64, 0.0, **CPU)
    assert (r.total_deviations, r.total_disallowed) == (4, 0)   # |Q - x| = 0.5 exactly: allowed


def test_fused_verify_on_16_mb_is_consistent():
    g = np.random.default_rng(7).standard_normal(4 << 20).astype(np.float32)
    q = reference_quantize(g, 20)
    q[[5, 123456, 4_000_000]] += [1, 2, -1]
    r = K.fused_verify(g, q, 20, 4096, 0.01, **CPU)
    assert r.total_deviations == 3 and r.total_disallowed == 3
    assert np.flatnonzero(r.deviations).tolist() == [0, 123456 // 1024, 4_000_000 // 1024]
    assert np.array_equal(r.digests, K.chunk_digests(q, 4096, **CPU))


# ---------------------------------------------------------------------------------------------
# nonce search
# ---------------------------------------------------------------------------------------------

def test_nonce_search_finds_the_genesis_nonce():
    header = GENESIS_HEADER76 + struct.pack("<I", GENESIS_NONCE)
    assert hashlib.sha256(hashlib.sha256(header).digest()).digest()[::-1].hex() == \
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    assert K.nonce_search(GENESIS_HEADER76, GENESIS_TARGET, GENESIS_NONCE - 3000, 4000, **CPU) == GENESIS_NONCE
    assert K.nonce_search(GENESIS_HEADER76, GENESIS_TARGET, GENESIS_NONCE + 1, 500, **CPU) is None
    assert K.nonce_search(GENESIS_HEADER76, GENESIS_TARGET, 0, 0, **CPU) is None


def test_nonce_search_returns_the_first_hit():
    target = 1 << 250                                               # about 1 nonce in 64 qualifies
    hits = [n for n in range(600) if cpu.header_hash_value(GENESIS_HEADER76 + struct.pack("<I", n)) <= target]
    assert len(hits) >= 2
    assert K.nonce_search(GENESIS_HEADER76, target, 0, 600, **CPU) == hits[0]
    assert K.nonce_search(GENESIS_HEADER76, target, hits[0] + 1, 600, **CPU) == hits[1]


# prefix lengths: Bitcoin (76), ours (176), and the awkward ones: empty, a tail that just fits one
# block (51) or spills into two (52, 55, 56, 60), a nonce straddling two blocks (63), whole blocks
# (0, 64), and the same tails after a midstate (119, 120)
PREFIX_LENGTHS = [76, 176, 0, 51, 52, 55, 56, 60, 63, 64, 119, 120]


def awkward_prefix(n: int) -> bytes:
    return bytes((31 * i + 7 * n + 1) % 256 for i in range(n))


def first_hits(prefix: bytes, target: int, start: int, count: int) -> list[int]:
    """The hashlib oracle: every qualifying nonce in the range, in order."""
    return [n for n in range(start, start + count)
            if int.from_bytes(hashlib.sha256(hashlib.sha256(prefix + struct.pack("<I", n)).digest()).digest(),
                              "little") <= target]


def _has_triton() -> bool:
    import importlib.util
    return importlib.util.find_spec("triton") is not None


# the nonce search on each path a CPU-only machine can run: NumPy + hashlib, and the Triton kernel
# in Triton's CPU interpreter (test_kernels_gpu.py compiles it on a GPU)
NONCE_BACKENDS = ["cpu", pytest.param("interpret", marks=pytest.mark.skipif(
    not _has_triton(), reason="the Triton kernel's interpreter needs triton (the [gpu] extra)"))]


@pytest.mark.parametrize("backend", NONCE_BACKENDS)
@pytest.mark.parametrize("n", PREFIX_LENGTHS)
def test_nonce_search_any_prefix_length_matches_hashlib(n, backend):
    """One or two blocks after the midstate, the nonce at any byte offset (even across blocks).

    In Triton's interpreter each call is a full Python pass over the kernel (3-4 s on 2 cores), so
    the interpreter gets the two calls that reach different kernel outcomes (the first hit of a
    range, and no hit: ``None``); a second range start and a ``bytearray`` prefix are host code
    that both backends share (``cpu.check_nonce_args``, the launch's ``lo``), checked on "cpu"."""
    prefix, target = awkward_prefix(n), 1 << 251                    # about 1 nonce in 32 qualifies
    hits = first_hits(prefix, target, 7000, 192)
    assert len(hits) >= 2
    assert K.nonce_search(prefix, target, 7000, 192, backend=backend) == hits[0]
    assert K.nonce_search(prefix, target, hits[0] + 1, hits[1] - hits[0] - 1, backend=backend) is None
    if backend == "cpu":
        assert K.nonce_search(prefix, target, hits[0] + 1, 7192 - hits[0] - 1, backend=backend) == hits[1]
        assert K.nonce_search(bytearray(prefix), target, 7000, 192, backend=backend) == hits[0]


def test_nonce_search_on_our_180_byte_header():
    from gradientcoin_edu.chain import BlockHeader, compute_tx_root
    header = BlockHeader(1, b"\x01" * 32, compute_tx_root([]), time=1_700_000_000, bits=0x1F00FFFF,
                         miner_id=b"\x02" * 32)
    target = 0xFFFF << (8 * (0x1F - 3))                             # about 1 nonce in 2^16
    prefix = header.serialize()[:-4]
    assert len(prefix) == 176
    nonce = K.nonce_search(prefix, target, 0, 2 ** 20, **CPU)
    assert nonce is not None and header.with_nonce(nonce).hash_value() <= target
    assert first_hits(prefix, target, max(0, nonce - 3000), nonce - max(0, nonce - 3000) + 1)[0] == nonce
    assert K.nonce_search(prefix, target, 0, nonce, **CPU) is None


def test_nonce_search_kernel_parameters_rebuild_the_padded_message():
    """The kernel's view of the message (host words + nonce + padding), rebuilt in Python, is
    exactly SHA-256's padding of prefix ‖ nonce."""
    pytest.importorskip("triton")
    ns = K.triton_module("nonce_search", interpret=True)
    for n in PREFIX_LENGTHS + list(range(0, 130)):
        prefix = awkward_prefix(n)
        full, tail, n_blocks = ns.tail_geometry(n)
        assert full % 64 == 0 and tail == n - full and n_blocks == (1 if tail <= 51 else 2)
        msg = prefix + struct.pack("<I", 0xA1B2C3D4)
        padded = msg + b"\x80" + bytes((55 - len(msg)) % 64) + struct.pack(">Q", 8 * len(msg))
        assert len(padded) == full + 64 * n_blocks
        prm = ns.search_params(prefix, 5).view(np.uint32)
        assert tuple(prm[:8]) == cpu.sha256_midstate(prefix[:full])
        assert bytes(struct.pack(">16I", *prm[8:24]))[:tail] == prefix[full:]
        assert (int(prm[24]) << 32 | int(prm[25])) == 8 * len(msg) and prm[26] == 5 and not prm[27:].any()


def test_nonce_search_rejects_a_prefix_that_is_not_bytes():
    with pytest.raises(KernelError) as err:
        K.nonce_search("not bytes", 1, 0, 1, **CPU)
    assert err.value.reason == "bad-prefix"


def test_midstate_of_several_blocks_and_of_none():
    data = bytes(range(256)) * 2
    assert cpu.sha256_midstate(b"") == cpu.SHA256_IV
    state = cpu.sha256_midstate(data[:192])
    pad = b"\x80" + bytes(55) + (192 * 8).to_bytes(8, "big")
    assert struct.pack(">8I", *cpu.sha256_compress(state, pad)) == hashlib.sha256(data[:192]).digest()
    with pytest.raises(KernelError) as err:
        cpu.sha256_midstate(data[:100])
    assert err.value.reason == "bad-length"


def test_midstate_matches_hashlib():
    block = bytes(range(64))
    state = cpu.sha256_compress(cpu.sha256_midstate(block), b"\x80" + bytes(55) + (512).to_bytes(8, "big"))
    assert struct.pack(">8I", *state) == hashlib.sha256(block).digest()


# ---------------------------------------------------------------------------------------------
# dispatch: choice, announcement, fallback, optional Triton
# ---------------------------------------------------------------------------------------------

def test_env_var_forces_the_cpu_path(monkeypatch):
    monkeypatch.setenv(K.ENV_VAR, "cpu")
    assert K.backend_for(torch.zeros(1)) == "cpu"
    monkeypatch.setenv(K.ENV_VAR, "bogus")
    with pytest.raises(KernelError) as err:
        K.backend_for(torch.zeros(1))
    assert err.value.reason == "bad-backend"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a CUDA device")
def test_without_cuda_cpu_path_is_announced_once_and_triton_refused(monkeypatch, caplog):
    monkeypatch.delenv(K.ENV_VAR, raising=False)
    monkeypatch.setattr(K, "_announced", set())
    with caplog.at_level(logging.INFO, logger="gradientcoin_edu.kernels"):
        assert K.backend_for(np.zeros(1)) == "cpu"
        K.gradient_root(np.zeros(3, np.int32), 64)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["gradientcoin_edu.kernels: Triton not available (no CUDA device): using the CPU path"]
    with pytest.raises(KernelError) as err:
        K.backend_for(np.zeros(1), backend="triton")
    assert err.value.reason == "backend-unavailable"


def test_a_failing_triton_kernel_falls_back_to_the_cpu_path_once(monkeypatch, caplog):
    class Broken:
        @staticmethod
        def chunk_digests(*args):
            raise RuntimeError("no kernel image is available for execution on the device (sm_75)")

    monkeypatch.setattr(K, "_triton", lambda name, interpret: Broken)
    monkeypatch.setattr(K, "_triton_broken", None)
    monkeypatch.setattr(K, "_announced", set())
    q = random_payload(100)
    with caplog.at_level(logging.WARNING, logger="gradientcoin_edu.kernels"):
        got = K._run("triton", False, "chunk_hash", "chunk_digests", lambda: cpu.chunk_digests(q, 64), q, 64, None)
    assert np.array_equal(got, cpu.chunk_digests(q, 64))
    assert K._triton_broken is not None and "sm_75" in caplog.text and "using the CPU path" in caplog.text
    with pytest.raises(RuntimeError):                                # forced: no silent fallback
        K._run("triton", True, "chunk_hash", "chunk_digests", lambda: None, q, 64, None)


def test_package_imports_and_works_without_triton():
    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import numpy as np\n"
        "from gradientcoin_edu import kernels as K\n"
        "from gradientcoin_edu.errors import KernelError\n"
        "assert not K.triton_available()\n"
        "assert len(K.gradient_root(np.arange(100, dtype=np.int32), 64)) == 32\n"
        "try:\n"
        "    K.chunk_digests(b'', 64, backend='interpret')\n"
        "except KernelError as e:\n"
        "    assert e.reason == 'backend-unavailable'\n"
        "else:\n"
        "    raise SystemExit('interpret without triton did not fail')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_api_names_survive_importing_the_kernel_modules():
    pytest.importorskip("triton")
    K.triton_module("fused_verify", interpret=True)
    K.triton_module("nonce_search", interpret=True)
    assert callable(K.fused_verify) and callable(K.nonce_search)
    from gradientcoin_edu.kernels import fused_verify, nonce_search
    assert fused_verify is K.fused_verify and nonce_search is K.nonce_search


# ---------------------------------------------------------------------------------------------
# the kernels against the definitions a student reads (proof_of_gradient/quantize.py, commit.py)
# ---------------------------------------------------------------------------------------------

def test_the_quantize_kernel_is_the_three_line_definition():
    from gradientcoin_edu.proof_of_gradient.quantize import quantize as definition
    rng = np.random.default_rng(7)
    awkward = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.0**-25, -2.0**-25, 3 * 2.0**-25, 1e300, -1e300, 0.0, -0.0,
                        (2**31 - 0.5) / 2**24, (2**31 - 1.5) / 2**24, -(2**31 + 0.5) / 2**24])
    for g in (awkward, rng.standard_normal(10_001) * 1e-3, rng.standard_normal((3, 7)).astype(np.float32), awkward[:0]):
        for k in (0, 24):
            assert np.array_equal(K.quantize(g, k, backend="cpu"), definition(g, k))
    with pytest.raises(KernelError):
        definition(np.array([0.0, np.nan]), 24)


def test_the_gradient_root_kernel_is_the_hashlib_definition():
    from gradientcoin_edu.proof_of_gradient.commit import grad_root as definition
    for n in (0, 1, 15, 16, 17, 1023, 1024, 1025, 10_000):
        payload = random_payload(n).tobytes()
        for chunk_bytes in (64, 4096):
            assert K.gradient_root(payload, chunk_bytes, backend="cpu") == definition(payload, chunk_bytes)
