"""The compiled Triton kernels on a CUDA device, against the CPU path (bit for bit).

Every test here is marked ``gpu`` and skipped with a reason when no CUDA device is present
(tests/conftest.py). One test needs no GPU: it compiles a kernel for sm_90 ahead of time, which
checks the compiled code path (types, casts) that the interpreter does not see.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gradientcoin_edu import kernels as K
from gradientcoin_edu.kernels import cpu

from test_kernels import (GENESIS_HEADER76, GENESIS_NONCE, GENESIS_TARGET, PREFIX_LENGTHS,  # noqa: E402
                          awkward_prefix, hashlib_digests, random_payload, reference_quantize, verify_case)

gpu = pytest.mark.gpu


_COMPILE_SM90 = """
import sys, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from gradientcoin_edu import kernels as K
ch = K.triton_module("chunk_hash", interpret=False)
sig = {"SRC": "*fp64", "DST": "*i32", "BAD": "*i32", "PARAMS": "*fp64", "n_elements": "i32",
       "BLOCK": "constexpr", "IS_F64": "constexpr"}
try:
    k = triton.compile(ASTSource(ch.quantize_kernel, sig, {"BLOCK": 1024, "IS_F64": True}),
                       target=GPUTarget("cuda", 90, 32), options={"enable_fp_fusion": False})
except Exception as err:  # no CUDA toolchain (ptxas) in this triton build
    if "ptxas" in str(err).lower():
        print("SKIP", str(err).splitlines()[0]); sys.exit(0)
    raise
ptx = k.asm["ptx"]
print("OK", "cvt.rni" not in ptx, "cvt.rzi.s32.f64" in ptx)
"""


def _compile_in_a_fresh_process(script: str, *args: str) -> str:
    """Run a compile ``script`` in a fresh Python and return its last line ("OK ..."), or skip when it
    says "SKIP" (no ptxas). A process loads the kernels once, compiled or interpreted
    (``kernels.kernel_mode``), and the interpreter tests of this session want them interpreted."""
    import subprocess
    import sys
    pytest.importorskip("triton")
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip().splitlines()[-1]
    if line.startswith("SKIP"):
        pytest.skip(f"no ptxas to compile with: {line[5:]}")
    return line


def test_quantize_kernel_compiles_for_sm90_without_a_gpu():
    line = _compile_in_a_fresh_process(_COMPILE_SM90)
    assert line == "OK True True"           # rounding is floor + compares, not rint: same on every backend


def _compiled(name: str):
    """The compiled kernel module, or a skip when this process already loaded the interpreted ones."""
    if K.kernel_mode() == "interpret":
        pytest.skip("this process loaded the kernels for the interpreter; run `pytest -m gpu` on its own")
    return K.triton_module(name, interpret=False)


@gpu
def test_cuda_tensors_go_to_triton(monkeypatch):
    monkeypatch.delenv(K.ENV_VAR, raising=False)
    assert K.backend_for(torch.zeros(1, device="cuda")) == "triton"
    assert K.backend_for(np.zeros(1)) == "cpu"


@gpu
def test_chunk_digests_on_the_gpu():
    for chunk_bytes in (64, 128, 4096):
        for n in (0, 1, 17, 1023, 1025, 100_003):
            q = random_payload(n, seed=n)
            got = K.chunk_digests(torch.from_numpy(q).cuda(), chunk_bytes)
            assert got.tobytes() == b"".join(hashlib_digests(q.tobytes(), chunk_bytes)), (n, chunk_bytes)


@gpu
def test_fused_quantize_hash_and_root_on_the_gpu():
    for dtype in (torch.float32, torch.float64):
        _fused_case(dtype)


def _fused_case(dtype):
    g = torch.randn(3_000_001, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 1e-3
    g[:5] = torch.tensor([0.5, 1.5, -2.5, 1e30, -1e30], dtype=dtype) / 2 ** 20
    g_cuda = g.cuda()[::1]
    want = reference_quantize(g.numpy(), 20)
    assert torch.equal(K.quantize(g_cuda, 20).cpu(), torch.from_numpy(want))
    assert np.array_equal(K.chunk_digests(g_cuda, 4096, 20), cpu.chunk_digests(want, 4096))
    assert K.gradient_root(g_cuda, 4096, 20) == K.gradient_root(want, 4096, backend="cpu")
    nc = g.cuda().reshape(1000, -1)[:, :1000].T                               # non-contiguous
    assert np.array_equal(K.chunk_digests(nc, 256, 20), K.chunk_digests(nc.cpu(), 256, 20, backend="cpu"))


@gpu
def test_non_finite_on_the_gpu():
    g = torch.zeros(10_000, device="cuda")
    g[9_999] = float("nan")
    with pytest.raises(Exception) as err:
        K.chunk_digests(g, 4096, 20)
    assert getattr(err.value, "reason", None) == "non-finite"


@gpu
def test_merkle_root_on_the_gpu():
    for n in (1, 2, 3, 1000, 4097):
        d = np.random.default_rng(n).integers(0, 256, (n, 32), dtype=np.uint8)
        assert K.merkle_root_of_digests(torch.from_numpy(d).cuda()) == cpu.merkle_root_of_digests(d)


@gpu
def test_fused_verify_on_the_gpu():
    g, q, k, delta = verify_case()
    r = K.fused_verify(torch.from_numpy(g).cuda(), torch.from_numpy(q).cuda(), k, 64, delta)
    c = K.fused_verify(g, q, k, 64, delta, backend="cpu")
    assert r.deviations.tolist() == c.deviations.tolist() and r.disallowed.tolist() == c.disallowed.tolist()
    assert r.root == c.root


@gpu
def test_genesis_nonce_on_the_gpu():
    assert K.nonce_search(GENESIS_HEADER76, GENESIS_TARGET, GENESIS_NONCE - (1 << 22), 1 << 23) == GENESIS_NONCE
    assert K.nonce_search(GENESIS_HEADER76, GENESIS_TARGET, 0, 1 << 20) is None


@gpu
@pytest.mark.parametrize("n", PREFIX_LENGTHS)
def test_nonce_search_any_prefix_length_on_the_gpu(n):
    prefix, target = awkward_prefix(n), 1 << 244                    # about 1 nonce in 4096 qualifies
    for start in (0, 2 ** 32 - (1 << 16)):
        want = K.nonce_search(prefix, target, start, 1 << 16, backend="cpu")
        assert want is not None
        assert K.nonce_search(prefix, target, start, 1 << 16, backend="triton") == want


@gpu
def test_mining_our_header_on_the_gpu_finds_the_cpu_nonce():
    from gradientcoin_edu.chain import Block, BlockHeader, compute_tx_root, mine, search_nonces
    header = BlockHeader(1, b"\x01" * 32, compute_tx_root([]), time=1_700_000_000, bits=0x1E07FFFF)
    target = 0x07FFFF << (8 * (0x1E - 3))                           # about 2^21 tries: the GPU path
    block = mine(Block(header), progress=False)
    assert block.header.nonce == search_nonces(header.serialize()[:-4], target, 0, 2 ** 32, backend="cpu")


_COMPILE_NONCE_SM90 = """
import sys, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from gradientcoin_edu import kernels as K
ns = K.triton_module("nonce_search", interpret=False)
_, tail, n_blocks = ns.tail_geometry(int(sys.argv[1]))
const = {"TAIL_BYTES": tail, "N_BLOCKS": n_blocks, "BLOCK": 256}
sig = {"P": "*i32", "K": "*i32", "FOUND": "*i64", "start": "i64", "count": "i32",
       **{name: "constexpr" for name in const}}
try:
    k = triton.compile(ASTSource(ns.nonce_search_kernel, sig, const), target=GPUTarget("cuda", 90, 32),
                       options={"num_warps": 8, "enable_fp_fusion": False})
except Exception as err:  # no CUDA toolchain (ptxas) in this triton build
    if "ptxas" in str(err).lower():
        print("SKIP", str(err).splitlines()[0]); sys.exit(0)
    raise
print("OK", k.asm["ptx"].count("shf."), n_blocks)
"""


@pytest.mark.slow
@pytest.mark.parametrize("prefix_len", [176, 63])                 # one block; two, the nonce across them
def test_nonce_search_kernel_compiles_for_sm90_without_a_gpu(prefix_len):
    """In a fresh process, like the quantize kernel above: compiling in this process would load the
    kernels compiled for the rest of the worker's life, and the interpreter tests that the same
    pytest-xdist worker runs later would fail (it happened in CI once the test order changed)."""
    _, shifts, n_blocks = _compile_in_a_fresh_process(_COMPILE_NONCE_SM90, str(prefix_len)).split()
    assert int(shifts) > 500 * (int(n_blocks) + 1)                  # rotations became funnel shifts
