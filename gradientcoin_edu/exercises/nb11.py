"""[tooling] Checks for notebook 11, "Hashing on the GPU".

11.1 the chunk digests of a payload (what the hashing kernel computes: one SHA-256 per chunk of
the little-endian int32 bytes), judged bit for bit against ``kernels.chunk_digests``; 11.2 the
padded SHA-256 message words a kernel lane feeds to the compression function; 11.3 round half to
even with ``floor`` and comparisons only (what the Triton kernels do). Each check draws its inputs
afresh at every call and refuses the library's own functions; a stub's ``NotImplementedError``
passes through.
"""
from __future__ import annotations

import hashlib
import struct

import numpy as np

from .. import kernels
from ..crypto.teaching import sha256_pad
from ..kernels import cpu
from ..kernels.cpu import SHA256_IV, sha256_compress
from . import exercise
from ._own_work import fresh_np_rng, fresh_rng, guarded


@exercise("11.1", "the chunk digests of a payload")
def check_chunk_digests(candidate) -> None:
    call = guarded(candidate, (kernels.chunk_digests, cpu.chunk_digests, cpu.quantize_and_digest, cpu.digest_array,
                               kernels.gradient_root), "my_chunk_digests")
    rng = fresh_np_rng()
    cases = [(int(rng.integers(1, 16)), 64), (16, 64), (int(rng.integers(17, 200)), 64),
             (int(rng.integers(1000, 5000)), 4096), (int(rng.integers(100, 400)), 256)]
    for i, (n, chunk_bytes) in enumerate(cases):
        q = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
        if i == 2:
            q = q.astype(">i4")                     # the same values, stored big-endian in memory
        want = [bytes(row) for row in kernels.chunk_digests(q.astype("<i4"), chunk_bytes)]
        got = call(q.copy(), chunk_bytes)
        assert got is not None, "my_chunk_digests returned None - did you forget `return`?"
        assert isinstance(got, (list, tuple)) and all(isinstance(d, (bytes, bytearray)) for d in got), (
            "return a list of digests, each 32 bytes (bytes objects), one per chunk")
        got = [bytes(d) for d in got]
        if got == want:
            continue
        assert len(got) == len(want), (f"{n} int32 values in chunks of {chunk_bytes} bytes make {len(want)} chunks, "
                                       f"you return {len(got)} digests. Hint: how many bytes is the payload, and "
                                       "what happens to a last chunk that is not full?")
        if q.dtype.byteorder == ">":
            raise AssertionError("this array stores its values big-endian in memory: the payload is defined as "
                                 "little-endian int32 bytes whatever the array's own byte order")
        raise AssertionError(f"the digests of {n} values in chunks of {chunk_bytes} bytes differ. Hint: which "
                             "bytes stand for the values (order, width), and where does each chunk start and end?")


def _padded(message: bytes) -> bytes:
    n = len(message)
    return message + b"\x80" + bytes((55 - n) % 64) + (8 * n).to_bytes(8, "big")


@exercise("11.2", "the padded SHA-256 message words")
def check_padded_words(candidate) -> None:
    call = guarded(candidate, (sha256_pad,), "padded_words")
    rng = fresh_rng()
    for n in (rng.randrange(1, 55), 0, 55, 56, 63, 64, rng.randrange(65, 200), 4096):
        message = rng.randbytes(n)
        want = list(struct.unpack(f">{len(_padded(message)) // 4}I", _padded(message)))
        got = call(message)
        assert got is not None, "padded_words returned None - did you forget `return`?"
        got = [int(w) for w in got]
        assert len(got) % 16 == 0, (f"a {n}-byte message must pad to a whole number of 16-word blocks, "
                                    f"you return {len(got)} words")
        assert got == want, (f"for a {n}-byte message the words are {[hex(w) for w in want[-4:]]} at the end, "
                             f"you return {[hex(w) for w in got[-4:]]}. Hints: in which byte order does SHA-256 "
                             "read its words, and what does the padding end with - counted in which unit?")
        state = SHA256_IV
        for i in range(0, len(got), 16):
            state = sha256_compress(state, struct.pack(">16I", *got[i:i + 16]))
        assert struct.pack(">8I", *state) == hashlib.sha256(message).digest()


@exercise("11.3", "round half to even with floor")
def check_round_half_even(candidate) -> None:
    assert not any(candidate is f for f in (np.rint, np.round, np.around, round)), \
        "that is NumPy's (or Python's) own rounding: build it from np.floor, arithmetic and comparisons"
    call = guarded(candidate, ((np, "rint"), (np, "round"), (np, "around")), "round_half_even")
    ties = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2 ** 30 + 0.5, -(2 ** 30) - 0.5])
    near = np.array([np.nextafter(0.5, 1), np.nextafter(0.5, 0), np.nextafter(-1.5, -2), np.nextafter(2.5, 3)])
    whole = np.array([0.0, -0.0, 1.0, -7.0, 2.0 ** 31 - 1, -(2.0 ** 31), 2.0 ** 52 + 2])
    rng = fresh_np_rng()
    rand = np.concatenate([rng.uniform(-1e6, 1e6, 1000), rng.integers(-10**6, 10**6, 200) + 0.5])
    for name, x in (("random", rand), ("ties (x.5)", ties), ("values next to a tie", near), ("whole numbers", whole)):
        got = call(x.copy())
        assert got is not None, "round_half_even returned None - did you forget `return`?"
        got = np.asarray(got, dtype=np.float64)
        want = np.rint(x)
        assert got.shape == x.shape, f"expected shape {x.shape}, you return {got.shape}"
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{name}: round_half_even({x[bad[0]]!r}) should be {want[bad[0]]!r}, you return "
                               f"{got[bad[0]]!r}. Hint: after floor, what decides between r and r + 1 - and at "
                               "exactly one half, which of the two is even?")
