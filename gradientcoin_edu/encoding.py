"""[consensus] Bytes on the wire: Bitcoin's CompactSize varint and a reader that refuses bad bytes.

Every record in the package (transactions, undo records, blocks, network messages) is written
as explicit little-endian integers and length-prefixed byte strings, and parsed back with a
:class:`ByteReader`. A short read, a length written in more bytes than it needs, or trailing
garbage raises the caller's own error type (``ParseError`` for records, ``InvalidMessage`` for
network messages), so a decoder never leaks an ``IndexError``. Taught in notebook 02.
"""
from __future__ import annotations

from .errors import GradientCoinError, ParseError

__all__ = ["write_varint", "read_varint", "ByteReader"]

_MIN_FOR_WIDTH = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000), 0xFF: (8, 0x100000000)}


def write_varint(n: int) -> bytes:
    """Bitcoin CompactSize: 1, 3, 5 or 9 bytes."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


class ByteReader:
    """Reads fields off ``data`` from ``pos``; every bad read raises ``error(reason, sentence)``."""

    def __init__(self, data: bytes, pos: int = 0, error: type[GradientCoinError] = ParseError):
        self.data, self.pos, self.error = data, pos, error

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise self.error("truncated", f"needed {n} more bytes at offset {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def varint(self) -> int:
        first = self.uint(1)
        if first < 0xFD:
            return first
        size, smallest = _MIN_FOR_WIDTH[first]
        n = self.uint(size)
        if n < smallest:
            raise self.error("non-canonical-varint", "a length was not written in its shortest form")
        return n

    def var_bytes(self) -> bytes:
        return self.take(self.varint())

    def rest(self) -> bytes:
        chunk = self.data[self.pos:]
        self.pos = len(self.data)
        return chunk

    def done(self) -> None:
        if self.pos != len(self.data):
            raise self.error("trailing-bytes", f"{len(self.data) - self.pos} bytes after the record")


def read_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode a varint at ``pos``; returns (value, position after it). Raises ``ParseError``."""
    reader = ByteReader(bytes(data), pos)
    return reader.varint(), reader.pos
