"""[policy] Messages on the wire: what one node says to another, as explicit bytes.

Nodes talk by sending small messages (whitepaper section 5: "new transactions are broadcast
to all nodes", "nodes ... will request" missing blocks). Every message is an envelope around a
payload, as in Bitcoin's P2P protocol::

    magic 4 | command 12 (ASCII, NUL-padded) | length u32 | checksum 4 | payload (length bytes)

``checksum`` is the first four bytes of SHA-256d(payload). All integers are little-endian and
lengths are Bitcoin's CompactSize varints in their shortest form. ``decode`` checks every field
and every size limit *before* it allocates anything big, and raises
:class:`~gradientcoin_edu.errors.InvalidMessage` (with a short ``reason``) for any bytes that are
not exactly one valid message: a node drops such a message, counts it against the peer that sent
it, and goes on. Blocks and transactions travel as their own ``serialize()`` bytes; the node
parses them with the chain's and the ledger's ``parse``.

The conversation (taught in notebook 04)::

    version / verack        hello: protocol, genesis (same network?), best height and tip
    inv                     "I have these blocks / transactions"       (announce)
    getdata                 "send me these"                            (request)
    block, tx               the object itself                          (deliver)
    notfound                "I do not have it"
    getblocks               "here is where my chain is (a locator); what comes after?"
    ping / pong             are you still there?
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from ..crypto.hashes import sha256d
from ..errors import InvalidMessage
from ..encoding import ByteReader, write_varint

__all__ = [
    "MAGIC", "PROTOCOL_VERSION", "HEADER_BYTES", "MAX_PAYLOAD_BYTES", "MAX_INV_ITEMS", "MAX_LOCATOR",
    "MAX_STRING_BYTES", "INV_TX", "INV_BLOCK", "InvItem",
    "Message", "Version", "Verack", "Ping", "Pong", "Inv", "GetData", "NotFound", "GetBlocks",
    "BlockMsg", "TxMsg", "MESSAGE_TYPES", "encode", "decode", "peek_command",
]

MAGIC = b"GCed"                       # identifies gradientcoin_edu traffic
PROTOCOL_VERSION = 1
HEADER_BYTES = 24                     # magic 4 + command 12 + length 4 + checksum 4
MAX_PAYLOAD_BYTES = 4_200_000         # a 4 MB block (ChainParams.max_block_bytes) plus room
MAX_INV_ITEMS = 50_000                # as Bitcoin: one inv or getdata names at most this many objects
MAX_LOCATOR = 101                     # block-locator hashes in one getblocks
MAX_STRING_BYTES = 256                # user agent, listen address
INV_TX, INV_BLOCK = 1, 2              # what an inventory item names


# ----------------------------------------------------------------------------- byte helpers

class _Reader(ByteReader):
    """Reads fields off a payload; every short read or bad value raises InvalidMessage."""

    def __init__(self, data: bytes):
        super().__init__(data, error=InvalidMessage)

    def count(self, limit: int, item_bytes: int, what: str) -> int:
        """A varint item count, checked against ``limit`` and against the bytes left."""
        n = self.varint()
        if n > limit:
            raise InvalidMessage("too-many-items", f"{n} {what} is over the limit of {limit}")
        if n * item_bytes > len(self.data) - self.pos:
            raise InvalidMessage("truncated", f"{n} {what} announced but not enough bytes left")
        return n

    def string(self) -> str:
        n = self.varint()
        if n > MAX_STRING_BYTES:
            raise InvalidMessage("string-too-long", f"a {n}-byte string is over {MAX_STRING_BYTES} bytes")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMessage("bad-string", "a string is not valid UTF-8") from None


def _string(s: str) -> bytes:
    raw = s.encode("utf-8")
    if len(raw) > MAX_STRING_BYTES:
        raise ValueError(f"string longer than {MAX_STRING_BYTES} bytes")
    return write_varint(len(raw)) + raw


def _hash32(value: bytes, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes")
    return bytes(value)


# ----------------------------------------------------------------------------- messages

class Message:
    """Base class. Subclasses set ``command`` and implement ``payload()`` / ``from_payload()``."""

    command: ClassVar[str] = ""

    def payload(self) -> bytes:
        return b""

    @classmethod
    def from_payload(cls, r: _Reader) -> "Message":
        return cls()

    def serialize(self, magic: bytes = MAGIC) -> bytes:
        return encode(self, magic)


@dataclass(frozen=True)
class InvItem:
    """One inventory entry: what kind of object (INV_TX or INV_BLOCK) and its 32-byte hash."""

    kind: int
    hash: bytes

    def __post_init__(self):
        if self.kind not in (INV_TX, INV_BLOCK):
            raise ValueError(f"inventory kind must be INV_TX ({INV_TX}) or INV_BLOCK ({INV_BLOCK})")
        object.__setattr__(self, "hash", _hash32(self.hash, "hash"))


@dataclass(frozen=True)
class Version(Message):
    """Hello. A node with another ``genesis`` is on another network and is dropped."""

    command: ClassVar[str] = "version"
    protocol: int = PROTOCOL_VERSION
    genesis: bytes = bytes(32)          # hash of our genesis block
    best_height: int = 0
    best_hash: bytes = bytes(32)
    nonce: int = 0                      # random: a node that receives its own nonce talks to itself
    listen: str = ""                    # where to reach us (real processes), "" in the simulator
    user_agent: str = "gradientcoin_edu"

    def payload(self) -> bytes:
        return (struct.pack("<I", self.protocol) + _hash32(self.genesis, "genesis")
                + struct.pack("<I", self.best_height) + _hash32(self.best_hash, "best_hash")
                + struct.pack("<Q", self.nonce) + _string(self.listen) + _string(self.user_agent))

    @classmethod
    def from_payload(cls, r: _Reader) -> "Version":
        return cls(r.uint(4), r.take(32), r.uint(4), r.take(32), r.uint(8), r.string(), r.string())


@dataclass(frozen=True)
class Verack(Message):
    command: ClassVar[str] = "verack"


@dataclass(frozen=True)
class Ping(Message):
    command: ClassVar[str] = "ping"
    nonce: int = 0

    def payload(self) -> bytes:
        return struct.pack("<Q", self.nonce)

    @classmethod
    def from_payload(cls, r: _Reader) -> "Ping":
        return cls(r.uint(8))


@dataclass(frozen=True)
class Pong(Ping):
    command: ClassVar[str] = "pong"


@dataclass(frozen=True)
class Inv(Message):
    """Announce: "I have these" (blocks and transactions, by hash)."""

    command: ClassVar[str] = "inv"
    items: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "items", tuple(self.items))
        if len(self.items) > MAX_INV_ITEMS:
            raise ValueError(f"at most {MAX_INV_ITEMS} inventory items per message")

    def payload(self) -> bytes:
        return write_varint(len(self.items)) + b"".join(bytes([i.kind]) + i.hash for i in self.items)

    @classmethod
    def from_payload(cls, r: _Reader) -> "Inv":
        n = r.count(MAX_INV_ITEMS, 33, "inventory items")
        items = []
        for _ in range(n):
            kind, h = r.uint(1), r.take(32)
            if kind not in (INV_TX, INV_BLOCK):
                raise InvalidMessage("bad-inv-kind", f"unknown inventory kind {kind}")
            items.append(InvItem(kind, h))
        return cls(tuple(items))


@dataclass(frozen=True)
class GetData(Inv):
    """Request: "send me these"."""
    command: ClassVar[str] = "getdata"


@dataclass(frozen=True)
class NotFound(Inv):
    """Answer to getdata for objects we do not have."""
    command: ClassVar[str] = "notfound"


@dataclass(frozen=True)
class GetBlocks(Message):
    """"My best chain contains these blocks (newest first, then exponentially sparser); what follows?"

    The peer finds the first locator hash on its own best chain and answers with an ``inv`` of
    the blocks after it (at most 500), up to ``stop`` if that is not all zeros."""

    command: ClassVar[str] = "getblocks"
    locator: tuple = ()
    stop: bytes = bytes(32)

    def __post_init__(self):
        object.__setattr__(self, "locator", tuple(_hash32(h, "locator hash") for h in self.locator))
        if len(self.locator) > MAX_LOCATOR:
            raise ValueError(f"at most {MAX_LOCATOR} locator hashes")
        object.__setattr__(self, "stop", _hash32(self.stop, "stop"))

    def payload(self) -> bytes:
        return write_varint(len(self.locator)) + b"".join(self.locator) + self.stop

    @classmethod
    def from_payload(cls, r: _Reader) -> "GetBlocks":
        n = r.count(MAX_LOCATOR, 32, "locator hashes")
        return cls(tuple(r.take(32) for _ in range(n)), r.take(32))


@dataclass(frozen=True)
class BlockMsg(Message):
    """Deliver one block: its ``Block.serialize()`` bytes (the node parses and validates them)."""

    command: ClassVar[str] = "block"
    raw: bytes = b""

    def payload(self) -> bytes:
        return bytes(self.raw)

    @classmethod
    def from_payload(cls, r: _Reader) -> "BlockMsg":
        raw = r.rest()
        if not raw:
            raise InvalidMessage("empty-object", f"a {cls.command} message carries no bytes")
        return cls(raw)


@dataclass(frozen=True)
class TxMsg(BlockMsg):
    """Deliver one transaction: its ``Transaction.serialize()`` bytes."""
    command: ClassVar[str] = "tx"


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.command: cls for cls in (Version, Verack, Ping, Pong, Inv, GetData, NotFound, GetBlocks, BlockMsg, TxMsg)
}


# ----------------------------------------------------------------------------- the envelope

def encode(msg: Message, magic: bytes = MAGIC) -> bytes:
    """Envelope + payload bytes of ``msg``."""
    payload = msg.payload()
    command = msg.command.encode("ascii")
    return (magic + command.ljust(12, b"\x00") + struct.pack("<I", len(payload))
            + sha256d(payload)[:4] + payload)


def peek_command(data: bytes) -> str:
    """The command name of an encoded message without checking anything else ("" if unreadable)."""
    try:
        return bytes(data[4:16]).rstrip(b"\x00").decode("ascii")
    except (UnicodeDecodeError, TypeError):
        return ""


def decode(data: bytes, magic: bytes = MAGIC, max_payload: int = MAX_PAYLOAD_BYTES) -> Message:
    """Parse exactly one message; any other bytes raise :class:`InvalidMessage`.

    Reasons: ``too-short``, ``bad-magic``, ``bad-command``, ``unknown-command``, ``oversized``,
    ``length-mismatch``, ``bad-checksum``, then whatever the payload's own fields fail with
    (``truncated``, ``trailing-bytes``, ``too-many-items``, ``bad-inv-kind``, ...).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidMessage("not-bytes", "a message is decoded from bytes")
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise InvalidMessage("too-short", f"{len(data)} bytes is shorter than the {HEADER_BYTES}-byte envelope")
    if data[:4] != magic:
        raise InvalidMessage("bad-magic", "the message is not for this network")
    raw_command = data[4:16]
    name = raw_command.rstrip(b"\x00")
    if b"\x00" in name or not name or not all(0x61 <= c <= 0x7A for c in name):
        raise InvalidMessage("bad-command", "the command field is not lowercase ASCII padded with NULs")
    cls = MESSAGE_TYPES.get(name.decode("ascii"))
    if cls is None:
        raise InvalidMessage("unknown-command", f"unknown command {name.decode('ascii')!r}")
    (length,) = struct.unpack("<I", data[16:20])
    if length > max_payload or len(data) - HEADER_BYTES > max_payload:
        raise InvalidMessage("oversized", f"a {length}-byte payload is over the {max_payload}-byte limit")
    if length != len(data) - HEADER_BYTES:
        raise InvalidMessage("length-mismatch", f"envelope says {length} bytes, got {len(data) - HEADER_BYTES}")
    payload = data[HEADER_BYTES:]
    if sha256d(payload)[:4] != data[20:24]:
        raise InvalidMessage("bad-checksum", "the payload does not match its checksum")
    reader = _Reader(payload)
    try:
        msg = cls.from_payload(reader)
    except ValueError as err:                     # a field the record itself refuses
        raise InvalidMessage("bad-field", str(err)) from None
    reader.done()
    return msg
