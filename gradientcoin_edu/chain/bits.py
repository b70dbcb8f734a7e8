"""[consensus] Compact targets ("nBits"): a 256-bit difficulty target packed into 32 bits.

A block's hash, read as a 256-bit number, must be at most a *target*; the smaller the
target, the more hashes a miner tries on average (about 2^256 / (target + 1)). Bitcoin
stores the target in four bytes, like a tiny floating-point number: one byte of size
(how many bytes the number has) and three bytes of mantissa, whose top bit is a sign
bit. ``0x1d00ffff`` means ``0x00ffff * 256^(0x1d - 3)``, the easiest Bitcoin target.

The functions here reproduce Bitcoin Core's ``arith_uint256::SetCompact`` /
``GetCompact`` exactly, including the awkward cases (negative numbers, overflow,
mantissa normalization), and ``target_to_work`` is Core's ``GetBlockProof``.
Taught in notebook 03.
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "MAX_TARGET_256", "Compact", "decode_compact", "encode_compact",
    "bits_to_target", "target_to_bits", "target_to_work", "bits_to_work",
    "expected_attempts",
]

MAX_TARGET_256 = 2**256 - 1
_MASK_256 = 2**256 - 1


class Compact(NamedTuple):
    """What Bitcoin Core's ``SetCompact`` reports: the value and two flags."""

    value: int          # the 256-bit number (wrapped mod 2^256 on overflow, as Core does)
    negative: bool      # sign bit set on a nonzero mantissa
    overflow: bool      # the number does not fit in 256 bits


def decode_compact(bits: int) -> Compact:
    """Decode a 32-bit compact number exactly as ``arith_uint256::SetCompact``."""
    if not 0 <= bits <= 0xFFFFFFFF:
        raise ValueError(f"compact bits must fit in 32 bits, got {bits:#x}")
    size = bits >> 24
    word = bits & 0x007FFFFF                          # mantissa without the sign bit
    if size <= 3:
        word >>= 8 * (3 - size)                       # Core shifts the word itself, so the flags
        value = word                                  # below see the shifted word (0x00923456 is 0, not -0)
    else:
        value = (word << (8 * (size - 3))) & _MASK_256
    negative = word != 0 and bool(bits & 0x00800000)
    overflow = word != 0 and (size > 34 or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32))
    return Compact(value, negative, overflow)


def encode_compact(value: int, negative: bool = False) -> int:
    """Encode a non-negative integer < 2^256 exactly as ``arith_uint256::GetCompact``."""
    if not 0 <= value <= MAX_TARGET_256:
        raise ValueError("compact encoding takes an integer in [0, 2^256)")
    size = (value.bit_length() + 7) // 8
    if size <= 3:
        compact = value << (8 * (3 - size))
    else:
        compact = value >> (8 * (size - 3))
    if compact & 0x00800000:                          # would read as a sign bit:
        compact >>= 8                                 # shift the mantissa, grow the size
        size += 1
    compact |= size << 24
    if negative and compact & 0x007FFFFF:
        compact |= 0x00800000
    return compact


def bits_to_target(bits: int) -> int:
    """The target a header's ``bits`` stands for. Raises ``ValueError`` for a negative,
    zero or overflowing encoding (which no valid block may carry)."""
    value, negative, overflow = decode_compact(bits)
    if negative or overflow or value == 0:
        kind = "negative" if negative else "overflowing" if overflow else "zero"
        raise ValueError(f"bits {bits:#010x} encode a {kind} target")
    return value


def target_to_bits(target: int) -> int:
    """Compact encoding of ``target`` (loses all but the top 23 bits of precision)."""
    return encode_compact(target)


def target_to_work(target: int) -> int:
    """Expected number of hashes to find one <= ``target``: floor(2^256 / (target + 1)).

    This is the "work" a block proves; the best chain is the one with most total work.
    """
    if not 0 <= target <= MAX_TARGET_256:
        raise ValueError("target must be in [0, 2^256)")
    return 2**256 // (target + 1)


def bits_to_work(bits: int) -> int:
    """Work of a block with these ``bits`` (Bitcoin Core's ``GetBlockProof``)."""
    return target_to_work(bits_to_target(bits))


def expected_attempts(bits: int) -> float:
    """Average number of nonces to try at these ``bits``: 2^256 / (target + 1)."""
    return 2.0**256 / (bits_to_target(bits) + 1)
