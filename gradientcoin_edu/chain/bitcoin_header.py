"""[tooling] Real Bitcoin block headers: 80 bytes that chain the blocks and carry the proof-of-work.

A Bitcoin header is six fields packed little-endian: version (int32), the previous
block's hash (32 bytes), the merkle root of the block's transactions (32 bytes), time
(uint32, seconds since 1970), the compact target ``bits`` (uint32) and the nonce
(uint32). The block's hash is SHA-256d of those 80 bytes; Bitcoin *displays* it with
the bytes reversed, which is why real block hashes start with zeros. The header is
valid proof-of-work when that hash, read as a little-endian 256-bit number, is at most
the target ``bits`` encodes.

This module parses and checks headers from the real Bitcoin chain (the genesis block
is ``GENESIS_HEADER_HEX``); gradientcoin_edu's own header is in ``block.py``.
Every field is checked when a header is made: a hash field of any length but 32 bytes, or a
number that does not fit its field, raises ``InvalidBlock`` with a reason naming the field
(``bad-prev-hash``, ``bad-merkle-root``, ``bad-version``, ``bad-time``, ``bad-bits``,
``bad-nonce``) instead of being padded, truncated or leaking ``struct.error``.
Taught in notebook 03.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ..crypto.hashes import hash_to_hex, sha256d
from ..errors import InvalidBlock, ParseError
from .bits import bits_to_target

__all__ = ["BitcoinHeader", "GENESIS_HEADER_HEX", "HEADER_SIZE"]

HEADER_SIZE = 80
_FORMAT = "<i32s32sIII"          # version, prev hash, merkle root, time, bits, nonce
_HASH_FIELDS = ("prev_hash", "merkle_root")
_INT_FIELDS = (("version", -2**31, 2**31), ("time", 0, 2**32), ("bits", 0, 2**32), ("nonce", 0, 2**32))

# Block 0 of Bitcoin, mined by Satoshi Nakamoto on 3 January 2009.
GENESIS_HEADER_HEX = (
    "01000000" + "00" * 32
    + "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a"
    + "29ab5f49" + "ffff001d" + "1dac2b7c"
)


@dataclass(frozen=True)
class BitcoinHeader:
    """One 80-byte Bitcoin block header. Hashes are kept in internal byte order."""

    version: int
    prev_hash: bytes          # internal byte order (reverse of the displayed hex)
    merkle_root: bytes        # internal byte order
    time: int
    bits: int
    nonce: int

    def __post_init__(self):
        for name in _HASH_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
                size = f"{len(value)} bytes" if isinstance(value, (bytes, bytearray)) else type(value).__name__
                raise InvalidBlock(f"bad-{name.replace('_', '-')}", f"{name} must be 32 bytes, got {size}")
            object.__setattr__(self, name, bytes(value))
        for name, low, high in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
                raise InvalidBlock(f"bad-{name}", f"{name} must be an integer in [{low}, {high}), got {value!r}")

    def serialize(self) -> bytes:
        """The exact 80 bytes that are hashed."""
        return struct.pack(_FORMAT, self.version, self.prev_hash, self.merkle_root,
                           self.time, self.bits, self.nonce)

    @classmethod
    def parse(cls, data: bytes) -> "BitcoinHeader":
        """Decode exactly 80 bytes; anything else raises ``ParseError``."""
        if len(data) != HEADER_SIZE:
            raise ParseError("bad-header-length", f"a Bitcoin header has 80 bytes, got {len(data)}")
        return cls(*struct.unpack(_FORMAT, bytes(data)))

    @classmethod
    def from_hex(cls, hex_string: str) -> "BitcoinHeader":
        try:
            raw = bytes.fromhex(hex_string)
        except ValueError as err:
            raise ParseError("bad-hex", str(err)) from None
        return cls.parse(raw)

    def hash(self) -> bytes:
        """SHA-256d of the header, internal byte order."""
        return sha256d(self.serialize())

    def hash_hex(self) -> str:
        """The block hash as explorers show it (byte-reversed hex)."""
        return hash_to_hex(self.hash())

    @property
    def target(self) -> int:
        return bits_to_target(self.bits)

    def hash_value(self) -> int:
        """The hash read as the 256-bit number compared with the target (little-endian)."""
        return int.from_bytes(self.hash(), "little")

    def check_pow(self) -> bool:
        """True when the header's hash is at most the target its ``bits`` encode."""
        try:
            return self.hash_value() <= self.target
        except ValueError:            # negative / zero / overflowing bits
            return False
