"""Checks for notebook 11, "Hashing on the GPU".

11.1 the padded SHA-256 message words a kernel lane feeds to the compression function,
11.2 round half to even with ``floor`` and comparisons only (what the Triton kernels do).
Each check compares the student's function with hashlib / NumPy on fixed inputs; a stub's
``NotImplementedError`` passes through.
"""
from __future__ import annotations

import hashlib
import struct

import numpy as np

from ..kernels.cpu import SHA256_IV, sha256_compress
from . import exercise


def _padded(message: bytes) -> bytes:
    n = len(message)
    return message + b"\x80" + bytes((55 - n) % 64) + (8 * n).to_bytes(8, "big")


@exercise("11.1", "the padded SHA-256 message words")
def check_padded_words(candidate) -> None:
    for n in (0, 1, 3, 4, 8, 52, 55, 56, 60, 63, 64, 100, 128, 4096):
        message = bytes((7 * i + n) % 256 for i in range(n))
        want = list(struct.unpack(f">{len(_padded(message)) // 4}I", _padded(message)))
        got = candidate(message)
        assert got is not None, "padded_words returned None - did you forget `return`?"
        got = [int(w) for w in got]
        assert len(got) % 16 == 0, (f"a {n}-byte message must pad to a whole number of 16-word blocks, "
                                    f"you return {len(got)} words")
        assert got == want, (f"for a {n}-byte message the words are {[hex(w) for w in want[-4:]]} at the end, "
                             f"you return {[hex(w) for w in got[-4:]]}. Hints: read 4 bytes at a time as "
                             "big-endian (int.from_bytes(b, 'big')); after the message comes the byte 0x80, then "
                             "zeros, and the last 8 bytes are the length in *bits*, big-endian.")
        state = SHA256_IV
        for i in range(0, len(got), 16):
            state = sha256_compress(state, struct.pack(">16I", *got[i:i + 16]))
        assert struct.pack(">8I", *state) == hashlib.sha256(message).digest()


@exercise("11.2", "round half to even with floor")
def check_round_half_even(candidate) -> None:
    ties = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2 ** 30 + 0.5, -(2 ** 30) - 0.5])
    near = np.array([np.nextafter(0.5, 1), np.nextafter(0.5, 0), np.nextafter(-1.5, -2), np.nextafter(2.5, 3)])
    whole = np.array([0.0, -0.0, 1.0, -7.0, 2.0 ** 31 - 1, -(2.0 ** 31), 2.0 ** 52 + 2])
    rand = np.random.default_rng(11).uniform(-1e6, 1e6, 1000)
    for name, x in (("ties (x.5)", ties), ("values next to a tie", near), ("whole numbers", whole), ("random", rand)):
        got = candidate(x.copy())
        assert got is not None, "round_half_even returned None - did you forget `return`?"
        got = np.asarray(got, dtype=np.float64)
        want = np.rint(x)
        assert got.shape == x.shape, f"expected shape {x.shape}, you return {got.shape}"
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{name}: round_half_even({x[bad[0]]!r}) should be {want[bad[0]]!r}, you return "
                               f"{got[bad[0]]!r}. Hints: r = floor(x), frac = x - r; go up when frac > 0.5, or when "
                               "frac == 0.5 and r is odd (r - 2*floor(r/2) == 1).")
