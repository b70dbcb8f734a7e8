"""Checks for notebook 08, "Proof-of-gradient".

08.1 the batch seed ``SHA-256`` of the header bytes without ``grad_root`` and ``weights_root``, 08.2 counting
the deviations of a published quantized gradient from a recomputed one (the heart of the
verifier). Each check compares the student's function with the library (``batch.batch_seed``,
``kernels.fused_verify``) on seeded inputs, including values exactly on a rounding boundary;
a stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .. import kernels
from ..chain.block import BlockHeader
from ..proof_of_gradient.batch import batch_seed
from . import exercise


@exercise("08.1", "the batch seed")
def check_batch_seed(candidate) -> None:
    rng = np.random.default_rng(81)
    cases = [BlockHeader(0, bytes(32), bytes(32)),
             BlockHeader(1, hashlib.sha256(b"p").digest(), hashlib.sha256(b"t").digest(), hashlib.sha256(b"g").digest(),
                         hashlib.sha256(b"w").digest(), 1_700_000_600, 0x207FFFFF, 7, hashlib.sha256(b"m").digest()),
             BlockHeader(2**32 - 1, b"\xff" * 32, b"\x01" * 32, bytes(range(32)), b"\x80" * 32, 2**64 - 1, 2**32 - 1,
                         2**32 - 1, bytes(rng.integers(0, 256, 32, dtype=np.uint8)))]
    for header in cases:
        got = candidate(header.serialize())
        assert got is not None, "my_batch_seed returned None - did you forget `return`?"
        assert isinstance(got, (bytes, bytearray)) and len(got) == 32, "a seed is 32 bytes (a SHA-256 digest)"
        if bytes(got) == hashlib.sha256(header.serialize()).digest():
            raise AssertionError("that hashes all 180 bytes: leave out grad_root and weights_root (bytes 68 to 131)")
        assert bytes(got) == batch_seed(header), (
            "the seed differs. Hint: SHA-256 (once) of header_bytes[:68] + header_bytes[132:] - everything but "
            "grad_root (bytes 68-99) and weights_root (bytes 100-131).")


@exercise("08.2", "count deviations")
def check_count_deviations(candidate) -> None:
    k, delta = 4, 1 / 64                                  # quantum 1/16: easy numbers to read
    x = np.array([0.0, 1.0, 2.5, 3.5, 2.499, 7.2, -2.5, -0.51, 100.0, 2.0**40])
    g = np.ldexp(x, -k)                                   # g / Δ = x exactly
    base = kernels.quantize(g, k)
    cases = [base.copy()]
    flip = base.copy()
    flip[[2, 3, 4]] += np.array([1, -1, 1], dtype=np.int32)  # near boundaries: allowed
    cases.append(flip)
    far = base.copy()
    far[[5, 8]] += 1                                      # far from a boundary: disallowed
    cases.append(far)
    rng = np.random.default_rng(8)
    g2 = rng.normal(0, 1e-3, 500)
    q2 = kernels.quantize(g2, 20)
    q2[rng.integers(0, 500, 30)] += 1
    for gg, qq, kk in [(g, c, k) for c in cases] + [(g2, q2, 20)]:
        report = kernels.fused_verify(gg, qq, kk, 64, delta)
        want = (report.total_deviations, report.total_disallowed)
        got = candidate(gg, qq, kk, delta)
        assert got is not None, "count_deviations returned None - did you forget `return`?"
        got = tuple(int(v) for v in got)
        assert got == want, (f"expected (deviations, disallowed) = {want}, you return {got}. Hint: x = g * 2**k "
                             "clamped to the int32 range; a deviation is q != rint(x); it is disallowed when "
                             "|q - x| > 0.5 + delta.")
