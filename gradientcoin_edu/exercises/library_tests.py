"""[tooling] Named tests of library classes, for exercises in the style of *Programming Bitcoin*.

In such an exercise the student writes one method of a real library class (for example
``BlockHeader.parse``) in the notebook; the exercise check puts the student's method on the class
for the duration of one named test (``BlockHeaderTest.test_parse``), runs the test, and puts the
library's own method back. The tests live in the package (not in ``tests/``) so that they exist in
Colab; the repository's test suite runs the same named tests on the library's own methods
(``tests/test_exercises.py``), so a test here that the library failed would fail CI.

``run_with_method(TestCase, "test_name", cls, "method", candidate)`` is the whole mechanism.
"""
from __future__ import annotations

import random
import struct
import unittest
from contextlib import contextmanager
from typing import Any, Iterator

from ..chain.block import HEADER_SIZE, BlockHeader

__all__ = ["BlockHeaderTest", "method_replaced", "run_with_method"]


class BlockHeaderTest(unittest.TestCase):
    """What a header parser must do: read back every field that ``serialize`` wrote."""

    def test_parse(self) -> None:
        rng = random.Random(3)
        fields = ("version", "prev_hash", "tx_root", "grad_root", "weights_root", "time", "bits", "nonce",
                  "miner_id")
        for _ in range(20):
            header = BlockHeader(version=rng.getrandbits(32), prev_hash=rng.randbytes(32),
                                 tx_root=rng.randbytes(32), grad_root=rng.randbytes(32),
                                 weights_root=rng.randbytes(32), time=rng.getrandbits(64),
                                 bits=rng.getrandbits(32), nonce=rng.getrandbits(32), miner_id=rng.randbytes(32))
            raw = header.serialize()
            self.assertEqual(len(raw), HEADER_SIZE)
            parsed = BlockHeader.parse(raw)
            self.assertIsNotNone(parsed, "parse returned None - did you forget `return`?")
            self.assertIsInstance(parsed, BlockHeader, "parse must return a BlockHeader (cls(...))")
            for name in fields:
                self.assertEqual(getattr(parsed, name), getattr(header, name),
                                 f"field {name} is wrong: check its offset, its size and that integers are "
                                 "little-endian (struct format '<')")
            self.assertEqual(parsed.hash(), header.hash())
        first = struct.pack("<I", 0x01020304) + bytes(HEADER_SIZE - 4)
        self.assertEqual(BlockHeader.parse(first).version, 0x01020304, "version is a little-endian u32")


@contextmanager
def method_replaced(cls: type, name: str, candidate: Any) -> Iterator[None]:
    """Put ``candidate`` on ``cls`` as method ``name`` (a plain function of ``cls`` or ``self``
    becomes a classmethod when the library's method is one), and restore the original afterwards."""
    original = cls.__dict__[name]
    if isinstance(original, classmethod) and not isinstance(candidate, classmethod):
        candidate = classmethod(candidate)
    setattr(cls, name, candidate)
    try:
        yield
    finally:
        setattr(cls, name, original)


def run_with_method(test_case: type[unittest.TestCase], test_name: str, cls: type, name: str,
                    candidate: Any) -> None:
    """Run ``test_case.test_name`` with ``candidate`` as ``cls.name``; a failure raises AssertionError.

    The test method is called directly (not through a unittest runner) so that a stub's
    ``NotImplementedError`` reaches the exercise check as itself.
    """
    case = test_case(test_name)
    with method_replaced(cls, name, candidate):
        case.setUp()
        try:
            getattr(case, test_name)()
        finally:
            case.tearDown()
