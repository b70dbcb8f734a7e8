"""[consensus] Keys, signatures and addresses: secp256k1 ECDSA, the curve Bitcoin uses.

A private key is a secret number ``d`` between 1 and n-1; the public key is the curve
point ``d*G``. Anyone holding the public key can check a signature, only the holder of
``d`` can make one. The arithmetic comes from pycryptodome (``Crypto.PublicKey.ECC``,
``Crypto.Signature.DSS``); ``teaching.py`` re-derives it in plain Python for reading.

Byte formats (all fixed, so they can live inside transactions):

* private key: 32 bytes, big-endian ``d``;
* public key: SEC1 compressed, 33 bytes (``02``/``03`` + x); ``PublicKey.from_bytes``
  also reads the 65-byte uncompressed form (``04`` + x + y);
* signature: 64 bytes ``r || s`` (big-endian), over SHA-256(message), nonce chosen
  deterministically by RFC 6979 (same key + message -> same signature), and **low-s**:
  of the two valid values ``s`` and ``n - s`` we always emit the smaller one and
  ``verify`` rejects the larger one, so nobody but the signer can alter a signature
  (and with it a txid) while keeping it valid (Bitcoin's BIP 62/146 rule);
* address: the first 20 bytes of SHA-256(compressed public key) -- Bitcoin uses
  RIPEMD-160(SHA-256(.)), also 20 bytes; we stay with the one hash function this course
  teaches. It is shown as ``"gc1" + hex(hash20 + checksum4)`` where the checksum is the first
  4 bytes of SHA-256d(hash20), so a mistyped address is caught before any coin is sent
  to it ("gc" for GradientCoin, "1" for address format version 1).

Malformed keys raise :class:`~gradientcoin_edu.errors.InvalidKey`; a malformed or wrong
signature simply verifies as ``False``. Taught in notebook 01.
"""
from __future__ import annotations

from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

from ..errors import InvalidKey
from .hashes import sha256, sha256d

__all__ = [
    "CURVE_ORDER", "PRIVATE_KEY_SIZE", "PUBLIC_KEY_SIZE", "SIGNATURE_SIZE", "ADDRESS_SIZE",
    "ADDRESS_PREFIX", "PrivateKey", "PublicKey", "verify", "address_of", "address_to_str",
    "address_from_str", "normalize_signature",
]

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # n of secp256k1
PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 33        # compressed SEC1
SIGNATURE_SIZE = 64         # r || s
ADDRESS_SIZE = 20
ADDRESS_PREFIX = "gc1"
_CHECKSUM_SIZE = 4


class PrivateKey:
    """A secp256k1 secret ``d`` (1 <= d < n). Never put one in a transaction."""

    __slots__ = ("_key",)

    def __init__(self, secret: int):
        if isinstance(secret, bool) or not isinstance(secret, int) or not 1 <= secret < CURVE_ORDER:
            raise InvalidKey("bad-private-key", "a private key is an integer d with 1 <= d < n")
        self._key = ECC.construct(curve="secp256k1", d=secret)

    @classmethod
    def generate(cls) -> "PrivateKey":
        """A fresh random key from the operating system's randomness."""
        return cls(int(ECC.generate(curve="secp256k1").d))

    @classmethod
    def from_seed(cls, seed: bytes) -> "PrivateKey":
        """Deterministic key from a seed, for reproducible notebooks only (``from_seed(b"alice")``).

        d = int(SHA-256("gradientcoin-edu seed:" + seed)) mod (n-1) + 1. A guessable seed
        gives a guessable key: never use this for real money.
        """
        if not isinstance(seed, (bytes, bytearray)):
            raise InvalidKey("bad-seed", "the seed must be bytes, e.g. b'alice'")
        digest = sha256(b"gradientcoin-edu seed:" + bytes(seed))
        return cls(int.from_bytes(digest, "big") % (CURVE_ORDER - 1) + 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> "PrivateKey":
        """Parse the 32-byte big-endian form."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != PRIVATE_KEY_SIZE:
            raise InvalidKey("bad-private-key", f"a private key is exactly {PRIVATE_KEY_SIZE} bytes")
        return cls(int.from_bytes(data, "big"))

    @property
    def secret(self) -> int:
        return int(self._key.d)

    def to_bytes(self) -> bytes:
        return self.secret.to_bytes(PRIVATE_KEY_SIZE, "big")

    def public_key(self) -> "PublicKey":
        return PublicKey(self._key.public_key())

    def address(self) -> bytes:
        """The 20-byte address of this key's public key."""
        return self.public_key().address()

    def sign(self, message: bytes) -> bytes:
        """64-byte deterministic (RFC 6979), low-s ECDSA signature over SHA-256(message)."""
        raw = DSS.new(self._key, "deterministic-rfc6979").sign(SHA256.new(bytes(message)))
        return normalize_signature(raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and self.secret == other.secret

    def __hash__(self) -> int:
        return hash(("PrivateKey", self.secret))

    def __repr__(self) -> str:             # never show the secret itself
        return f"PrivateKey(<secret>, address={address_to_str(self.address())})"


class PublicKey:
    """A point ``d*G`` on secp256k1. Parse with :meth:`from_bytes`, check with :meth:`verify`."""

    __slots__ = ("_key",)

    def __init__(self, ecc_key: ECC.EccKey):
        self._key = ecc_key

    @classmethod
    def from_bytes(cls, data: bytes) -> "PublicKey":
        """Parse SEC1: compressed (33 bytes, 02/03 + x) or uncompressed (65 bytes, 04 + x + y)."""
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidKey("bad-public-key", "a public key is bytes")
        data = bytes(data)
        if not ((len(data) == 33 and data[0] in (2, 3)) or (len(data) == 65 and data[0] == 4)):
            raise InvalidKey("bad-public-key", "expected 33 bytes (02/03 + x) or 65 bytes (04 + x + y)")
        try:
            return cls(ECC.import_key(data, curve_name="secp256k1"))
        except (ValueError, TypeError, IndexError) as err:
            raise InvalidKey("bad-public-key", f"not a point on secp256k1 ({err})") from None

    @classmethod
    def from_point(cls, x: int, y: int) -> "PublicKey":
        try:
            return cls(ECC.construct(curve="secp256k1", point_x=x, point_y=y))
        except (ValueError, TypeError) as err:
            raise InvalidKey("bad-public-key", f"not a point on secp256k1 ({err})") from None

    @property
    def point(self) -> tuple[int, int]:
        """The affine coordinates (x, y)."""
        return int(self._key.pointQ.x), int(self._key.pointQ.y)

    def to_bytes(self, compressed: bool = True) -> bytes:
        x, y = self.point
        if compressed:
            return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
        return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")

    def address(self) -> bytes:
        return address_of(self.to_bytes())

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True only for a valid 64-byte low-s signature by this key over ``message``."""
        if not isinstance(signature, (bytes, bytearray)) or len(signature) != SIGNATURE_SIZE:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (1 <= r < CURVE_ORDER and 1 <= s <= CURVE_ORDER // 2):
            return False                    # out of range, or the high-s twin of a signature
        try:
            DSS.new(self._key, "sec1").verify(SHA256.new(bytes(message)), bytes(signature))
            return True
        except (ValueError, TypeError):
            return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.point == other.point

    def __hash__(self) -> int:
        return hash(("PublicKey", self.point))

    def __repr__(self) -> str:
        return f"PublicKey({self.to_bytes().hex()})"


def normalize_signature(signature: bytes) -> bytes:
    """Return the low-s form of a 64-byte r||s signature (s replaced by n - s when s > n/2)."""
    if len(signature) != SIGNATURE_SIZE:
        return bytes(signature)
    s = int.from_bytes(signature[32:], "big")
    if s > CURVE_ORDER // 2:
        s = CURVE_ORDER - s
    return bytes(signature[:32]) + s.to_bytes(32, "big")


def verify(public_key: bytes | PublicKey, message: bytes, signature: bytes) -> bool:
    """Check ``signature`` over ``message`` against a public key (object or SEC1 bytes).

    Never raises: an unparseable key or signature is simply not a valid signature.
    """
    try:
        key = public_key if isinstance(public_key, PublicKey) else PublicKey.from_bytes(public_key)
    except InvalidKey:
        return False
    return key.verify(message, signature)


def address_of(public_key_bytes: bytes) -> bytes:
    """20-byte address: the first 20 bytes of SHA-256 of the compressed public key bytes."""
    return sha256(bytes(public_key_bytes))[:ADDRESS_SIZE]


def address_to_str(address: bytes) -> str:
    """``"gc1"`` + hex(address + 4-byte checksum), e.g. for showing in a table."""
    if not isinstance(address, (bytes, bytearray)) or len(address) != ADDRESS_SIZE:
        raise InvalidKey("bad-address", f"an address is {ADDRESS_SIZE} bytes")
    address = bytes(address)
    return ADDRESS_PREFIX + (address + sha256d(address)[:_CHECKSUM_SIZE]).hex()


def address_from_str(text: str) -> bytes:
    """Parse ``address_to_str``'s output back to 20 bytes; a typo fails the checksum."""
    size = len(ADDRESS_PREFIX) + 2 * (ADDRESS_SIZE + _CHECKSUM_SIZE)
    if not isinstance(text, str) or len(text) != size or not text.startswith(ADDRESS_PREFIX):
        raise InvalidKey("bad-address", f"an address is {ADDRESS_PREFIX!r} + {size - 3} hex digits")
    try:
        raw = bytes.fromhex(text[len(ADDRESS_PREFIX):])
    except ValueError:
        raise InvalidKey("bad-address", "an address is hexadecimal after its prefix") from None
    address, checksum = raw[:ADDRESS_SIZE], raw[ADDRESS_SIZE:]
    if sha256d(address)[:_CHECKSUM_SIZE] != checksum:
        raise InvalidKey("bad-address-checksum", "the checksum does not match: a typo in the address?")
    return address
