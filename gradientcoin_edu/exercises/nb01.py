"""[tooling] Checks for notebook 01, "Hashes and signatures".

01.1 the bit positions in which two digests differ (the avalanche measure, position by position),
01.2 SHA-256's message padding, 01.3 an address from a public key, compressed or not. Each check
draws its inputs afresh at every call (the notebook never prints them), compares the student's
function with the library (``crypto.teaching``, ``crypto.keys``) or with a direct computation, and
refuses the library's own functions; a stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

from ..crypto.keys import PrivateKey, address_of
from ..crypto.teaching import sha256_pad
from . import exercise
from ._own_work import fresh_rng, guarded


def _bytes_result(out, what: str) -> bytes:
    assert out is not None, f"{what} returned None - did you forget `return`?"
    assert isinstance(out, (bytes, bytearray)), f"{what} should return bytes, got {type(out).__name__}"
    return bytes(out)


def _positions(a: bytes, b: bytes) -> list[int]:
    return [8 * i + j for i, (x, y) in enumerate(zip(a, b, strict=True)) for j in range(8) if (x ^ y) & (0x80 >> j)]


@exercise("01.1", "which bits differ")
def check_differing_bits(candidate) -> None:
    call = guarded(candidate, (), "differing_bits")
    rng = fresh_rng()
    n = rng.randrange(2, 40)
    a = rng.randbytes(n)
    one = bytearray(a)
    one[rng.randrange(n)] ^= 1 << rng.randrange(8)
    cases = [(a, a), (a, bytes(one)), (bytes([rng.randrange(256)]), bytes([rng.randrange(256)])),
             (bytes(n), b"\xff" * n)] + [(rng.randbytes(m), rng.randbytes(m)) for m in (1, 5, 32, 64)]
    for a, b in cases:
        got = call(a, b)
        assert got is not None, "differing_bits returned None - did you forget `return`?"
        assert not isinstance(got, (int, float)), (
            "differing_bits returns the list of positions, not how many there are (the count is len(...))")
        got = [int(p) for p in got]
        want = _positions(a, b)
        if sorted(got) == want and got != want:
            raise AssertionError("list the positions in increasing order")
        assert got == want, (
            f"two {len(a)}-byte strings differ in {len(want)} bits; your list has {len(got)} positions"
            + ("" if len(got) != len(want) else " but not the same ones") + ". Hint: position 8*i + j is bit j of "
            "byte i counted from the most significant bit (the order in which SHA-256 reads bits); XOR shows "
            "which bits differ.")
    short = rng.randbytes(rng.randrange(1, 10))
    try:
        call(short, short + b"\x00")
    except ValueError:
        pass
    else:
        raise AssertionError("strings of different lengths have no bitwise difference: raise ValueError "
                             "(zip would silently ignore the extra bytes)")


@exercise("01.2", "SHA-256 message padding")
def check_padding(candidate) -> None:
    call = guarded(candidate, (sha256_pad,), "pad")
    rng = fresh_rng()
    lengths = [rng.randrange(1, 300) for _ in range(6)] + [0, 55, 56, 63, 64, 64 * rng.randrange(2, 5) + 55]
    for length in lengths:
        message = rng.randbytes(length)
        got = _bytes_result(call(message), "pad")
        want = sha256_pad(message)
        assert len(got) == len(want), (f"a {length}-byte message pads to {len(want)} bytes, you return {len(got)}. "
                                       "Hint: the padding always adds at least 9 bytes and ends on a multiple of 64.")
        assert got == want, (f"for a {length}-byte message your padding differs from FIPS 180-4. Hint: reread "
                             "step 1 above - in which unit is the length counted, and in which byte order?")


@exercise("01.3", "an address from a public key")
def check_address(candidate) -> None:
    call = guarded(candidate, (address_of,), "address_from_public_key")
    rng = fresh_rng()
    for _ in range(3):
        pub = PrivateKey.from_seed(rng.randbytes(16)).public_key()
        compressed, full = pub.to_bytes(), pub.to_bytes(compressed=False)
        want = address_of(compressed)
        got = _bytes_result(call(compressed), "address_from_public_key")
        assert len(got) == 20, f"an address is 20 bytes, you return {len(got)}"
        assert got == want, "for a compressed key: not the address defined in section 5 (which hash, which bytes?)"
        got = _bytes_result(call(full), "address_from_public_key")
        assert got == want, ("a 65-byte uncompressed key (0x04, x, y) is the same key: its address is the address "
                             "of its compressed form (0x02 or 0x03 by the parity of y, then x). Hint: hashing the "
                             "65 bytes gives another address - compress first.")
