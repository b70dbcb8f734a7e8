"""Checks for notebook 01, "Hashes and signatures".

01.1 count the bits in which two digests differ (the avalanche measure), 01.2 SHA-256's
message padding, 01.3 an address from a public key. Each check compares the student's
function with the library (hashlib, ``crypto.teaching``, ``crypto.keys``) on seeded inputs,
including the awkward ones; a stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import random

from ..crypto.hashes import sha256
from ..crypto.keys import PrivateKey, address_of
from ..crypto.teaching import sha256_pad
from . import exercise


def _bytes_result(out, what: str) -> bytes:
    assert out is not None, f"{what} returned None - did you forget `return`?"
    assert isinstance(out, (bytes, bytearray)), f"{what} should return bytes, got {type(out).__name__}"
    return bytes(out)


@exercise("01.1", "count differing bits")
def check_bit_difference(candidate) -> None:
    rng = random.Random(101)
    cases = [(bytes(32), bytes(32), 0), (bytes(32), b"\xff" * 32, 256), (b"\x01", b"\x03", 1),
             (b"\x0f\xf0", b"\xf0\x0f", 16), (sha256(b"a"), sha256(b"b"), None)]
    cases += [(rng.randbytes(n), rng.randbytes(n), None) for n in (1, 5, 32, 64)]
    for a, b, want in cases:
        if want is None:
            want = sum(bin(x ^ y).count("1") for x, y in zip(a, b))
        got = candidate(a, b)
        assert got is not None, "bit_difference returned None - did you forget `return`?"
        assert got == want, (f"bit_difference({a.hex()[:16]}.., {b.hex()[:16]}..) is {want}, you return {got!r}. "
                             "Hint: XOR the bytes pairwise and count the 1 bits (bin(x).count('1')).")


@exercise("01.2", "SHA-256 message padding")
def check_padding(candidate) -> None:
    for length in (0, 3, 55, 56, 63, 64, 65, 119, 120, 200):
        message = bytes(i % 251 for i in range(length))
        got = _bytes_result(candidate(message), "pad")
        want = sha256_pad(message)
        assert len(got) == len(want), (f"a {length}-byte message pads to {len(want)} bytes, you return {len(got)}. "
                                       "Hint: 0x80, then zeros until the length is 56 mod 64, then 8 bytes.")
        assert got == want, (f"for a {length}-byte message your padding differs from FIPS 180-4 "
                             "(0x80, zeros, then the length in *bits* as 8 big-endian bytes).")


@exercise("01.3", "an address from a public key")
def check_address(candidate) -> None:
    for seed in (b"alice", b"bob", b"carol", b"dave"):
        pub = PrivateKey.from_seed(seed).public_key().to_bytes()
        got = _bytes_result(candidate(pub), "address_from_public_key")
        assert len(got) == 20, f"an address is 20 bytes, you return {len(got)}"
        assert got == address_of(pub), "not the first 20 bytes of SHA-256 of the compressed public key"
