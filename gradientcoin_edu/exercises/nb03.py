"""Checks for notebook 03, "Blocks, Merkle trees and proof-of-work".

03.1 the chain-mode Merkle root, 03.2 decode a compact target, 03.3 find a nonce, 03.4 write
``BlockHeader.parse`` (a method of the library's class, checked by the named test
``BlockHeaderTest.test_parse``, in the style of *Programming Bitcoin*).
Each check compares the student's function with the library on seeded inputs; a stub's
``NotImplementedError`` passes through.
"""
from __future__ import annotations

import random

from ..chain.bits import bits_to_target
from ..chain.block import BlockHeader
from ..chain.pow import search_nonces
from ..crypto.merkle import merkle_root
from . import exercise
from .library_tests import BlockHeaderTest, run_with_method


@exercise("03.2", "decode a compact target")
def check_bits_to_target(candidate) -> None:
    cases = [0x1D00FFFF, 0x1B0404CB, 0x207FFFFF, 0x1C05A3F4, 0x1F03FFFF, 0x04123456, 0x03123456,
             0x02123456, 0x01123456]
    for bits in cases:
        want = bits_to_target(bits)
        got = candidate(bits)
        assert got is not None, "decode_bits returned None - did you forget `return`?"
        assert got == want, (f"bits {bits:#010x} encode {want:#x}, you return {got!r}. Hint: size = bits >> 24, "
                             "mantissa = bits & 0x007fffff, target = mantissa * 256**(size - 3); "
                             "for size < 3 shift right instead.")


@exercise("03.1", "the chain-mode Merkle root")
def check_chain_merkle_root(candidate) -> None:
    rng = random.Random(3)
    for n in list(range(0, 10)) + [16, 17, 33]:
        items = [rng.randbytes(rng.randrange(1, 40)) for _ in range(n)]
        want = merkle_root(items, mode="chain")
        got = candidate(list(items))
        assert got is not None, "chain_merkle_root returned None - did you forget `return`?"
        assert got == want, (f"for {n} items the root is {want.hex()[:16]}.., you return {got!r:.40}. "
                             "Hints: leaves are sha256(b'\\x00' + item), nodes sha256(b'\\x01' + left + right), "
                             "an odd last node moves up unchanged, and the empty list has root sha256(b'').")
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    assert candidate([a, b, c]) != candidate([a, b, c, c]), "[a, b, c] and [a, b, c, c] must have different roots"


@exercise("03.3", "find a nonce")
def check_find_nonce(candidate) -> None:
    for i in range(4):
        header = BlockHeader(1, bytes([i]) * 32, bytes(32), time=1_700_000_000 + i, bits=0x2000FFFF)   # ~256 tries each
        want = search_nonces(header.serialize()[:-4], bits_to_target(header.bits), 0, 2**20)
        got = candidate(header)
        assert got is not None, "find_nonce returned None - did you forget `return`?"
        assert got == want, (f"the first nonce that works for header {i} is {want}, you return {got!r}. "
                             "Hint: try nonce = 0, 1, 2, ... and compare header.with_nonce(nonce).hash_value() "
                             "with bits_to_target(header.bits).")


@exercise("03.4", "BlockHeader.parse, a method of the library's class")
def check_header_parse(candidate) -> None:
    assert candidate is not None, "pass your parse function (or classmethod) to check"
    run_with_method(BlockHeaderTest, "test_parse", BlockHeader, "parse", candidate)
