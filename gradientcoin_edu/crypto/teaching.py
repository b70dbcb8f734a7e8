"""[tooling] Teaching re-implementations: SHA-256 and elliptic-curve signatures in plain Python.

Read these to see that nothing is magic: SHA-256 is 64 rounds of 32-bit additions,
rotations and bit mixing over a padded message; an ECDSA signature is a few lines of
modular arithmetic on curve points. They are slow, not constant-time, and **never used for
consensus** -- the real code uses hashlib and pycryptodome, and the tests check these
functions against them (same digests, same public keys, signatures that verify both ways).

Notebook 01 uses them: ``sha256_teaching(b"abc") == hashlib.sha256(b"abc").digest()``,
and a toy curve y^2 = x^3 + 7 over F_211 (in the spirit of *Programming Bitcoin*'s F_223, but
with a prime number of points, so that ECDSA works on it), small enough to list every point
of, next to secp256k1: the same equation over a 256-bit prime field.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

__all__ = [
    "sha256_teaching", "sha256_pad", "sha256_compress", "SHA256_K", "SHA256_H0",
    "Curve", "Point", "TOY_CURVE", "SECP256K1", "ecdsa_sign", "ecdsa_verify",
]

# ------------------------------------------------------------------ SHA-256 (FIPS 180-4)
# Round constants: first 32 bits of the fractional parts of the cube roots of the first 64 primes.
SHA256_K = (
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
)
# Initial state: first 32 bits of the fractional parts of the square roots of the first 8 primes.
SHA256_H0 = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
_MASK = 0xFFFFFFFF


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _MASK


def sha256_pad(message: bytes) -> bytes:
    """Append 0x80, zeros, and the bit length (u64 big-endian) to a multiple of 64 bytes."""
    zeros = (55 - len(message)) % 64
    return message + b"\x80" + b"\x00" * zeros + struct.pack(">Q", 8 * len(message))


def sha256_compress(state: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    """One 64-byte block into the 8-word state: the message schedule, then 64 rounds."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):                                       # message schedule
        s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _MASK)
    a, b, c, d, e, f, g, h = state
    for t in range(64):                                           # the rounds
        t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[t] + w[t]) & _MASK
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & _MASK
        a, b, c, d, e, f, g, h = (t1 + t2) & _MASK, a, b, c, (d + t1) & _MASK, e, f, g
    return tuple((x + y) & _MASK for x, y in zip(state, (a, b, c, d, e, f, g, h)))


def sha256_teaching(message: bytes) -> bytes:
    """SHA-256 in plain Python: pad, compress block by block, output the state big-endian."""
    padded, state = sha256_pad(bytes(message)), SHA256_H0
    for i in range(0, len(padded), 64):
        state = sha256_compress(state, padded[i:i + 64])
    return struct.pack(">8I", *state)


# ------------------------------------------------------------------ elliptic curves
@dataclass(frozen=True)
class Curve:
    """y^2 = x^3 + a x + b over the integers mod prime p; generator G of prime order n."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    @property
    def G(self) -> "Point":
        return Point(self, self.gx, self.gy)

    @property
    def infinity(self) -> "Point":
        return Point(self, None, None)

    def contains(self, x: int, y: int) -> bool:
        return (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0


@dataclass(frozen=True)
class Point:
    """A curve point; ``x = y = None`` is the point at infinity (the group's zero)."""

    curve: Curve
    x: int | None
    y: int | None

    def __post_init__(self):
        if self.x is not None and not self.curve.contains(self.x, self.y):
            raise ValueError(f"({self.x}, {self.y}) is not on {self.curve.name}")

    def __add__(self, other: "Point") -> "Point":
        p = self.curve.p
        if self.x is None:
            return other
        if other.x is None:
            return self
        if self.x == other.x and (self.y + other.y) % p == 0:
            return self.curve.infinity                              # P + (-P) = 0
        if self == other:
            slope = (3 * self.x * self.x + self.curve.a) * pow(2 * self.y, -1, p) % p   # tangent
        else:
            slope = (other.y - self.y) * pow(other.x - self.x, -1, p) % p               # chord
        x = (slope * slope - self.x - other.x) % p
        return Point(self.curve, x, (slope * (self.x - x) - self.y) % p)

    def __rmul__(self, k: int) -> "Point":
        """k * P by double-and-add: about 2 log2(k) additions instead of k."""
        result, addend = self.curve.infinity, self
        k %= self.curve.n
        while k:
            if k & 1:
                result = result + addend
            addend, k = addend + addend, k >> 1
        return result


# The same equation as secp256k1 over a tiny field: 198 points plus infinity, a prime number (199),
# so every point but infinity generates the whole group and ECDSA works on it.
TOY_CURVE = Curve("toy y^2 = x^3 + 7 over F_211", 211, 0, 7, 3, 33, 199)
SECP256K1 = Curve(
    "secp256k1", 2**256 - 2**32 - 977, 0, 7,
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
)


def _z(message: bytes, n: int) -> int:
    """The message as a number: SHA-256, truncated to n's bit length (as ECDSA specifies)."""
    z = int.from_bytes(hashlib.sha256(message).digest(), "big")
    return z >> max(0, 256 - n.bit_length())


def ecdsa_sign(curve: Curve, secret: int, message: bytes, k: int) -> tuple[int, int]:
    """Textbook ECDSA with a given nonce k: r = x(kG) mod n, s = (z + r d) / k mod n (low-s).

    Reusing k for two messages reveals the secret -- which is why real code derives k
    from the key and the message (RFC 6979).
    """
    n = curve.n
    r = (k * curve.G).x % n
    s = (_z(message, n) + r * secret) * pow(k, -1, n) % n
    if r == 0 or s == 0:
        raise ValueError("unlucky nonce: pick another k")
    return r, min(s, n - s)


def ecdsa_verify(curve: Curve, public: Point, message: bytes, signature: tuple[int, int]) -> bool:
    """Accept when x(u1 G + u2 Q) = r with u1 = z/s, u2 = r/s (mod n)."""
    r, s = signature
    n = curve.n
    if not (1 <= r < n and 1 <= s < n):
        return False
    s_inv = pow(s, -1, n)
    point = (_z(message, n) * s_inv % n) * curve.G + (r * s_inv % n) * public
    return point.x is not None and point.x % n == r
