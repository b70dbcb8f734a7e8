"""[tooling] Checks for notebook 08, "Proof-of-gradient".

The student builds the gradient commitment and the verifier's comparison, and each piece is
checked bit for bit against the library on inputs drawn afresh at every call (the notebook never
prints them): 08.1 quantize a gradient (``proof_of_gradient.quantize``: ``rint(g * 2^k)``, half to
even, clamped to int32, non-finite refused); 08.2 ``grad_root`` of a quantized gradient (payload
bytes, 4 KiB chunk digests, the ``"chain"`` Merkle root; ``commit.grad_root``); 08.3 the batch
seed (``batch.batch_seed``); 08.4 counting the deviations of a published gradient from a recomputed
one, the verifier's core (``kernels.fused_verify``), with values exactly on rounding boundaries.
The library's own functions are refused. A stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..chain.block import BlockHeader
from ..proof_of_gradient.batch import batch_seed, seed_bytes
from ..proof_of_gradient.commit import grad_root
from ..proof_of_gradient.quantize import payload_from_q, quantize
from ..proof_of_gradient.verify import compare_gradient
from . import exercise
from ._own_work import ReachedLibrary, fresh_np_rng, guarded


def _gradients(rng: np.random.Generator, k: int) -> list[np.ndarray]:
    """Random gradients, values exactly on a rounding boundary (n + 1/2 quanta), and huge values."""
    n = int(rng.integers(1, 3000))
    normal = rng.normal(0, float(rng.choice([1e-6, 1e-3, 1.0])), n)
    ties = np.ldexp(rng.integers(-1000, 1000, 200) + 0.5, -k)                  # exactly halfway
    huge = np.array([2.0**40, -2.0**40, 2.0**31, -2.0**31 - 7, 1e300, -1e300, 0.0, -0.0])
    return [normal, ties, np.ldexp(huge, -k), rng.normal(0, 1e-4, (7, 5)).astype(np.float32)]


@exercise("08.1", "quantize a gradient")
def check_quantize(candidate) -> None:
    rng = fresh_np_rng()
    call = guarded(candidate, (quantize, kernels.quantize), "my_quantize")
    for k in (int(rng.integers(8, 30)), 24, 0):
        for g in _gradients(rng, k):
            got = call(g.copy(), k)
            assert got is not None, "my_quantize returned None - did you forget `return`?"
            got = np.asarray(got)
            want = quantize(g, k)
            assert got.dtype == np.int32 and got.shape == want.shape, (
                f"Q is an int32 array of the gradient's shape {want.shape}; you return {got.dtype} {got.shape}")
            if np.array_equal(got, want):
                continue
            x = np.ldexp(np.asarray(g, dtype=np.float64), k)
            wrong = np.flatnonzero(got.ravel() != want.ravel())
            if np.all(np.abs(x.ravel()[wrong]) > 2.0**31 - 1):
                raise AssertionError("values beyond the int32 range must saturate at -2^31 or 2^31 - 1 "
                                     "(clamp before converting: a conversion wraps around or is undefined)")
            if np.all(x.ravel()[wrong] % 1 == 0.5):
                raise AssertionError("values exactly halfway between two integers round to the even one "
                                     "(2.5 -> 2, 3.5 -> 4, -2.5 -> -2): 'round half up' or 'away from zero' "
                                     "gives other integers")
            raise AssertionError(f"Q differs from round(g / Δ) with Δ = 2^-{k} in {len(wrong)} elements. "
                                 "Hint: dividing by 2^-k is multiplying by 2^k - exact in float64.")
    for bad in (np.array([1.0, np.nan]), np.array([np.inf, 0.0])):
        try:
            call(bad, 24)
        except ReachedLibrary:
            raise
        except Exception:                                           # noqa: BLE001 - any clear refusal will do
            continue
        raise AssertionError("a gradient holding NaN or infinity has no rounding: raise an error (ValueError) "
                             "instead of returning integers")


@exercise("08.2", "the gradient root")
def check_grad_root(candidate) -> None:
    rng = fresh_np_rng()
    call = guarded(candidate, (grad_root, payload_from_q, kernels.gradient_root, kernels.chunk_digests), "my_grad_root")
    for n, chunk in [(1, 64), (16, 64), (17, 64), (int(rng.integers(1, 5000)), 4096),
                     (int(rng.integers(1000, 3000)), 256), (1024, 4096)]:
        q = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
        got = call(q.copy(), chunk)
        assert got is not None, "my_grad_root returned None - did you forget `return`?"
        assert isinstance(got, (bytes, bytearray)) and len(got) == 32, "a root is 32 bytes"
        want = grad_root(payload_from_q(q), chunk)
        if bytes(got) == want:
            continue
        hint = "Hint: the payload is Q as little-endian int32 bytes; its chunks are consecutive slices of chunk_bytes "
        hint += "bytes (the last may be shorter); each chunk's SHA-256 digest is a leaf of the Merkle tree of notebook 03."
        if n * 4 <= chunk:
            raise AssertionError(f"{n} values fit in one chunk: the root is the Merkle root of one digest. " + hint)
        raise AssertionError(f"the root of {n} values in chunks of {chunk} bytes differs. " + hint)


def _random_header(rng: np.random.Generator) -> BlockHeader:
    def h() -> bytes:
        return bytes(rng.integers(0, 256, 32, dtype=np.uint8))
    return BlockHeader(int(rng.integers(0, 2**32)), h(), h(), h(), h(), int(rng.integers(0, 2**63)),
                       int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)), h())


@exercise("08.3", "the batch seed")
def check_batch_seed(candidate) -> None:
    rng = fresh_np_rng()
    call = guarded(candidate, (batch_seed, seed_bytes), "my_batch_seed")
    for header in [_random_header(rng) for _ in range(4)]:
        raw = header.serialize()
        got = call(raw)
        assert got is not None, "my_batch_seed returned None - did you forget `return`?"
        assert isinstance(got, (bytes, bytearray)) and len(got) == 32, "a seed is 32 bytes (a SHA-256 digest)"
        want = batch_seed(header)
        if bytes(got) == want:
            continue
        other = BlockHeader.parse(raw)
        import dataclasses
        moved = call(dataclasses.replace(other, grad_root=bytes(32), weights_root=bytes(32)).serialize())
        if bytes(moved) != bytes(got):
            raise AssertionError("your seed changes when grad_root or weights_root change: leave both out - they "
                                 "are computed from the gradient, so they cannot choose its batch")
        raise AssertionError("the seed differs. Hint: every other byte of the header, in order, hashed once "
                             "with SHA-256; find where the two proof fields start and end in the layout above.")


@exercise("08.4", "count deviations")
def check_count_deviations(candidate) -> None:
    rng = fresh_np_rng()
    call = guarded(candidate, (kernels.fused_verify, compare_gradient, kernels.quantize, quantize), "count_deviations")
    k, delta = 4, 1 / 64                                  # quantum 1/16: easy numbers to read
    x = np.array([0.0, 1.0, 2.5, 3.5, 2.499, 7.2, -2.5, -0.51, 100.0, 2.0**40])
    g = np.ldexp(x, -k)                                   # g / Δ = x exactly
    base = kernels.quantize(g, k)
    flip = base.copy()
    flip[[2, 3, 4]] += np.array([1, -1, 1], dtype=np.int32)  # near boundaries: allowed
    far = base.copy()
    far[[5, 8]] += 1                                      # far from a boundary: disallowed
    cases = []
    for _ in range(3):                                    # fresh gradients, some published values moved
        kk = int(rng.integers(12, 26))
        gg = rng.normal(0, 1e-3, int(rng.integers(100, 2000)))
        gg[: len(gg) // 10] = np.ldexp(rng.integers(-500, 500, len(gg) // 10) + 0.5 + rng.uniform(-0.02, 0.02, len(gg) // 10), -kk)
        qq = kernels.quantize(gg, kk)
        moved = rng.integers(0, len(gg), int(rng.integers(1, 40)))
        qq[moved] += rng.choice(np.array([-1, 1], dtype=np.int32), len(moved))
        cases.append((gg, qq, kk, float(rng.choice([1 / 64, 1 / 16, 2.0**-10]))))
    cases += [(g, c, k, delta) for c in (base, flip, far)]
    for gg, qq, kk, dd in cases:
        report = kernels.fused_verify(gg, qq, kk, 64, dd)
        want = (report.total_deviations, report.total_disallowed)
        got = call(gg.copy(), qq.copy(), kk, dd)
        assert got is not None, "count_deviations returned None - did you forget `return`?"
        got = tuple(int(v) for v in got)
        assert got == want, (f"expected (deviations, disallowed) = {want}, you return {got}. Hint: recompute the "
                             "rounding as in 08.1 and compare it with q; a different value is allowed only when "
                             "the unrounded value lies within delta of a rounding boundary (halfway between "
                             "two integers).")
