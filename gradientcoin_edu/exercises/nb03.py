"""[tooling] Checks for notebook 03, "Blocks, Merkle trees and proof-of-work".

03.1 the chain-mode Merkle root, 03.2 decode a compact target (all of them, the zero target
included, which the library's ``bits_to_target`` refuses), 03.3 find the first nonce that works,
03.4 write ``BlockHeader.parse`` (a method of the library's class, checked by the named test
``BlockHeaderTest.test_parse``, in the style of *Programming Bitcoin*). Each check draws its inputs
afresh at every call, compares the student's function with the library, and refuses the library's
own functions; a stub's ``NotImplementedError`` passes through.
"""
from __future__ import annotations

from ..chain.bits import bits_to_target, decode_compact
from ..chain.block import BlockHeader
from ..chain.pow import search_nonces
from ..crypto.merkle import bitcoin_merkle_root, merkle_root
from . import exercise
from ._own_work import fresh_rng, guarded
from .library_tests import BlockHeaderTest, run_with_method


def _decoded(bits: int) -> int:
    """The target ``bits`` encodes as plain arithmetic (sign bit clear): mantissa times a power of 256."""
    size, mantissa = bits >> 24, bits & 0x007FFFFF
    return mantissa >> 8 * (3 - size) if size <= 3 else mantissa << 8 * (size - 3)


@exercise("03.2", "decode a compact target")
def check_bits_to_target(candidate) -> None:
    call = guarded(candidate, (bits_to_target, decode_compact), "decode_bits")
    rng = fresh_rng()
    cases = [(rng.randrange(4, 0x21) << 24) | rng.randrange(0x8000, 0x800000) for _ in range(5)]
    cases += [(size << 24) | rng.randrange(1, 0x800000) for size in (0, 1, 2, 3)]
    cases += [rng.randrange(1, 0x21) << 24, 0x01000000 | rng.randrange(1, 0x10000)]      # targets that decode to 0
    for bits in cases:
        want = _decoded(bits)
        got = call(bits)
        assert got is not None, "decode_bits returned None - did you forget `return`?"
        assert got == want, (f"bits {bits:#010x} encode {want:#x}, you return {got!r}. "
                             + ("A zero mantissa is the target 0 - no valid block can carry it, but decoding is "
                                "only arithmetic: return 0, do not raise. " if want == 0 else "")
                             + "Hint: which byte is the size, which bits the mantissa, and what does the size "
                             "count - bytes or bits? For a size under 3 the mantissa loses bytes instead.")


@exercise("03.1", "the chain-mode Merkle root")
def check_chain_merkle_root(candidate) -> None:
    call = guarded(candidate, (merkle_root, bitcoin_merkle_root), "chain_merkle_root")
    rng = fresh_rng()
    for n in [rng.randrange(9, 40), 0, 1, 2, 3, 4, 5, 7, 8]:
        items = [rng.randbytes(rng.randrange(1, 40)) for _ in range(n)]
        want = merkle_root(items, mode="chain")
        got = call(list(items))
        assert got is not None, "chain_merkle_root returned None - did you forget `return`?"
        assert got == want, (f"for {n} items the root is {want.hex()[:16]}.., you return {got!r:.40}. "
                             "Hints: are leaves and inner nodes hashed with their prefixes? What happens to an odd "
                             "last node, and what is the root of no items at all?")
    a, b, c = (rng.randbytes(32) for _ in range(3))
    assert call([a, b, c]) != call([a, b, c, c]), "[a, b, c] and [a, b, c, c] must have different roots"


def _headers_where_nonce_zero_wins(rng, count: int) -> list[BlockHeader]:
    """Random easy headers (about 1 nonce in 64 wins) whose *first* nonce, 0, already works."""
    found = []
    while len(found) < count:
        header = BlockHeader(1, rng.randbytes(32), rng.randbytes(32), time=1_700_000_000 + rng.randrange(10**6),
                             bits=0x2003FFFF)
        if header.with_nonce(0).hash_value() <= bits_to_target(header.bits):
            found.append(header)
    return found


@exercise("03.3", "find a nonce")
def check_find_nonce(candidate) -> None:
    call = guarded(candidate, (search_nonces,), "find_nonce")
    rng = fresh_rng()
    headers = _headers_where_nonce_zero_wins(rng, 2)
    headers += [BlockHeader(1, rng.randbytes(32), rng.randbytes(32), time=1_700_000_000 + rng.randrange(10**6),
                            bits=0x2000FFFF) for _ in range(3)]                         # about 256 tries each
    for header in headers:
        want = search_nonces(header.serialize()[:-4], bits_to_target(header.bits), 0, 2**20)
        got = call(header)
        assert got is not None, "find_nonce returned None - did you forget `return`?"
        assert got == want, (f"the first nonce that works for this header is {want}, you return {got!r}. "
                             + ("Nonce 0 already works here: where does your search start? " if want == 0 else "")
                             + "Hint: the smallest nonce means trying them in order from the very first one.")


@exercise("03.4", "BlockHeader.parse, a method of the library's class")
def check_header_parse(candidate) -> None:
    assert candidate is not None, "pass your parse function (or classmethod) to check"
    run_with_method(BlockHeaderTest, "test_parse", BlockHeader, "parse", candidate)
