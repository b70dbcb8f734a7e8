"""Compact targets ("nBits") against Bitcoin Core's own test vectors.

Source of the vectors: Bitcoin Core, src/test/arith_uint256_tests.cpp, test case
``bignum_SetCompact`` (https://github.com/bitcoin/bitcoin/blob/master/src/test/arith_uint256_tests.cpp).
Each row: compact in, value as hex, GetCompact() back (with the sign), negative, overflow.
"""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from gradientcoin_edu.chain.bits import (
    bits_to_target, bits_to_work, decode_compact, encode_compact, target_to_bits, target_to_work,
)

CORE_VECTORS = [
    # compact,    value,        GetCompact(negative), negative, overflow
    (0x00000000, 0x0, 0x00000000, False, False),
    (0x00123456, 0x0, 0x00000000, False, False),
    (0x01003456, 0x0, 0x00000000, False, False),
    (0x02000056, 0x0, 0x00000000, False, False),
    (0x03000000, 0x0, 0x00000000, False, False),
    (0x04000000, 0x0, 0x00000000, False, False),
    (0x00923456, 0x0, 0x00000000, False, False),
    (0x01803456, 0x0, 0x00000000, False, False),
    (0x02800056, 0x0, 0x00000000, False, False),
    (0x03800000, 0x0, 0x00000000, False, False),
    (0x04800000, 0x0, 0x00000000, False, False),
    (0x01123456, 0x12, 0x01120000, False, False),
    (0x01fedcba, 0x7e, 0x01fe0000, True, False),
    (0x02123456, 0x1234, 0x02123400, False, False),
    (0x03123456, 0x123456, 0x03123456, False, False),
    (0x04123456, 0x12345600, 0x04123456, False, False),
    (0x04923456, 0x12345600, 0x04923456, True, False),
    (0x05009234, 0x92340000, 0x05009234, False, False),
    (0x20123456, 0x1234560000000000000000000000000000000000000000000000000000000000, 0x20123456, False, False),
]


@pytest.mark.parametrize("compact, value, back, negative, overflow", CORE_VECTORS)
def test_set_compact_and_get_compact_match_bitcoin_core(compact, value, back, negative, overflow):
    decoded = decode_compact(compact)
    assert decoded == (value, negative, overflow)
    assert encode_compact(decoded.value, decoded.negative) == back


def test_overflow_is_flagged():
    # Core: SetCompact(0xff123456) -> fNegative false, fOverflow true.
    assert decode_compact(0xFF123456)[1:] == (False, True)
    with pytest.raises(ValueError):
        bits_to_target(0xFF123456)


def test_no_compact_with_the_sign_bit_set():
    # Core: num = 0x80; GetCompact() == 0x02008000 (mantissa shifted, size grown).
    assert encode_compact(0x80) == 0x02008000


@pytest.mark.parametrize("bits", [0x04923456, 0x00000000, 0x03000000, 0xFF123456])
def test_negative_zero_and_overflowing_targets_are_not_targets(bits):
    with pytest.raises(ValueError):
        bits_to_target(bits)


def test_bitcoin_difficulty_one():
    # The genesis block's bits: 0x00ffff * 256^(0x1d - 3); one block of it is 2^32 + 2^16 + 1 hashes
    # of expected work (the chainwork Bitcoin Core reports for block 0: 0x100010001).
    assert bits_to_target(0x1D00FFFF) == 0xFFFF << 208
    assert bits_to_work(0x1D00FFFF) == 0x100010001
    assert target_to_bits(0xFFFF << 208) == 0x1D00FFFF


@given(st.integers(min_value=1, max_value=2**256 - 1))
def test_work_equals_bitcoin_cores_formula(target):
    # GetBlockProof: (~target / (target + 1)) + 1, computed in 256-bit arithmetic.
    assert target_to_work(target) == ((2**256 - 1 - target) // (target + 1)) + 1


@given(st.integers(min_value=1, max_value=2**255))
def test_encoding_keeps_the_top_bits_and_rounds_down(target):
    bits = target_to_bits(target)
    value, negative, overflow = decode_compact(bits)
    assert not negative and not overflow
    assert value <= target
    assert target - value < 2 ** max(0, target.bit_length() - 15)   # at least 15 significant bits kept
    assert target_to_bits(value) == bits                              # a decoded target encodes back


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_decode_then_encode_is_stable(bits):
    value, negative, overflow = decode_compact(bits)
    if overflow:
        return
    again = decode_compact(encode_compact(value, negative))
    assert again.value == value
    assert again.negative == (negative and value != 0)
