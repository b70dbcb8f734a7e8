"""[consensus] Blocks: a header that commits to everything, plus the transactions and the payload.

A ``BlockHeader`` is gradientcoin_edu's version of Bitcoin's 80-byte header. Besides the
previous block's hash, the transactions' merkle root (``tx_root``), the time, the
compact target ``bits`` and the ``nonce``, it carries two more roots for
proof-of-gradient (``grad_root`` of the quantized gradient, ``weights_root`` of the
model after the update; both 32 zero bytes under classic proof-of-work) and the
``miner_id`` whose gradient tickets it claims. The block's hash, and so its identity,
is SHA-256d of the header's bytes; changing any transaction changes ``tx_root`` and
therefore the hash.

A ``Block`` is the header, the transactions and the payload (the quantized gradient
bytes under proof-of-gradient, empty under proof-of-work). Both have explicit
``serialize()`` / ``parse()`` that round-trip; ``parse`` raises ``ParseError`` on any
other bytes. Taught in notebook 03.

Header bytes (180, all integers little-endian)::

    version u32 | prev_hash 32 | tx_root 32 | grad_root 32 | weights_root 32
    | time u64 | bits u32 | miner_id 32 | nonce u32

The nonce comes last so that a miner (or a GPU nonce search) hashes a fixed 176-byte
prefix followed by four changing bytes.

Block bytes::

    header 180 | varint n_txs | n_txs x (varint len | tx bytes) | varint len | payload
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable, Sequence

from ..crypto.hashes import hash_to_hex, sha256d
from ..crypto.merkle import merkle_root
from ..errors import ParseError
from ..encoding import read_varint, write_varint

__all__ = [
    "ZERO_HASH", "HEADER_SIZE", "MAX_BLOCK_BYTES", "BlockHeader", "HeaderFields", "Block",
    "compute_tx_root", "txid_of", "write_varint", "read_varint",
]

ZERO_HASH = bytes(32)
HEADER_SIZE = 180
MAX_BLOCK_BYTES = 32 * 1024 * 1024        # parse refuses anything bigger (consensus limit: ChainParams)
_HEADER_FORMAT = "<I32s32s32s32sQI32sI"   # version, prev, tx_root, grad_root, weights_root, time, bits, miner_id, nonce
assert struct.calcsize(_HEADER_FORMAT) == HEADER_SIZE


# --- header -------------------------------------------------------------------------------

def _check_hash_field(name: str, value: Any) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes")


@dataclass(frozen=True)
class BlockHeader:
    """The part of a block that is hashed and chained. See the module docstring for the bytes."""

    version: int
    prev_hash: bytes                     # hash of the parent block's header (internal byte order)
    tx_root: bytes                       # "chain" merkle root over the txids
    grad_root: bytes = ZERO_HASH         # proof-of-gradient: root of the quantized gradient
    weights_root: bytes = ZERO_HASH      # proof-of-gradient: root of the updated weights
    time: int = 0                        # seconds since 1970
    bits: int = 0                        # compact target (see bits.py)
    nonce: int = 0                       # what the miner varies
    miner_id: bytes = ZERO_HASH          # who mined it (proof-of-gradient tickets name the miner)

    def __post_init__(self):
        for name in ("prev_hash", "tx_root", "grad_root", "weights_root", "miner_id"):
            _check_hash_field(name, getattr(self, name))
            object.__setattr__(self, name, bytes(getattr(self, name)))
        for name, bound in (("version", 2**32), ("time", 2**64), ("bits", 2**32), ("nonce", 2**32)):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v < bound:
                raise ValueError(f"{name} must be an integer in [0, {bound})")

    def serialize(self) -> bytes:
        return struct.pack(_HEADER_FORMAT, self.version, self.prev_hash, self.tx_root, self.grad_root,
                           self.weights_root, self.time, self.bits, self.miner_id, self.nonce)

    @classmethod
    def parse(cls, data: bytes) -> "BlockHeader":
        if len(data) != HEADER_SIZE:
            raise ParseError("bad-header-length", f"a header has {HEADER_SIZE} bytes, got {len(data)}")
        (version, prev_hash, tx_root, grad_root, weights_root,
         time, bits, miner_id, nonce) = struct.unpack(_HEADER_FORMAT, bytes(data))
        return cls(version, prev_hash, tx_root, grad_root, weights_root, time, bits, nonce, miner_id)

    @cached_property
    def _hash(self) -> bytes:
        return sha256d(self.serialize())

    def hash(self) -> bytes:
        """SHA-256d of the header bytes: the block's identity (internal byte order)."""
        return self._hash

    def hash_hex(self) -> str:
        """The hash as explorers show it (byte-reversed hex, leading zeros first)."""
        return hash_to_hex(self._hash)

    def hash_value(self) -> int:
        """The hash as the 256-bit number that proof-of-work compares with the target."""
        return int.from_bytes(self._hash, "little")

    def with_nonce(self, nonce: int) -> "BlockHeader":
        return replace(self, nonce=nonce)

    def __repr__(self) -> str:
        short = lambda b: b.hex()[:16] + ".."                      # noqa: E731
        return (f"BlockHeader(version={self.version}, prev_hash={hash_to_hex(self.prev_hash)[:16]}.., "
                f"tx_root={short(self.tx_root)}, grad_root={short(self.grad_root)}, "
                f"weights_root={short(self.weights_root)}, time={self.time}, bits={self.bits:#010x}, "
                f"nonce={self.nonce}, miner_id={short(self.miner_id)})")


class HeaderFields:
    """The header's proof fields read through ``self.header``, for records that carry a header
    (``proof_of_gradient``'s proofs and attempts, ``llm.miner.Proof``)."""

    @property
    def nonce(self) -> int:
        return self.header.nonce

    @property
    def grad_root(self) -> bytes:
        return self.header.grad_root

    @property
    def weights_root(self) -> bytes:
        return self.header.weights_root


# --- transactions inside a block -----------------------------------------------------------

def txid_of(tx: Any) -> bytes:
    """The 32-byte id of a transaction (a ``txid`` property, or a ``txid()`` method)."""
    txid = tx.txid
    return bytes(txid() if callable(txid) else txid)


def compute_tx_root(txs: Sequence[Any]) -> bytes:
    """``tx_root`` of a list of transactions: "chain" merkle root over their txids."""
    return merkle_root([txid_of(tx) for tx in txs], mode="chain")


def _default_tx_parser() -> Callable[[bytes], Any]:
    from ..ledger import Transaction              # chain imports ledger (arrows point down)
    return Transaction.parse


def _parse_tx(raw: bytes, tx_parser: Callable[[bytes], Any]) -> Any:
    try:
        tx = tx_parser(raw)
    except ParseError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, struct.error, OverflowError) as err:
        raise ParseError("bad-tx", f"transaction bytes do not decode: {err}") from None
    if tx.serialize() != raw:                       # exactly one encoding per transaction
        raise ParseError("non-canonical-tx", "transaction bytes are not in canonical form")
    return tx


# --- block --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """Header + transactions (the first one the coinbase) + payload bytes."""

    header: BlockHeader
    txs: tuple = ()
    payload: bytes = b""
    _head: bytes | None = field(default=None, init=False, repr=False, compare=False)  # cached bytes before the payload

    def __post_init__(self):
        object.__setattr__(self, "txs", tuple(self.txs))
        object.__setattr__(self, "payload", bytes(self.payload))

    def hash(self) -> bytes:
        return self.header.hash()

    def hash_hex(self) -> str:
        return self.header.hash_hex()

    @property
    def prev_hash(self) -> bytes:
        return self.header.prev_hash

    def txids(self) -> list[bytes]:
        return [txid_of(tx) for tx in self.txs]

    def compute_tx_root(self) -> bytes:
        return compute_tx_root(self.txs)

    def _head_bytes(self) -> bytes:
        """The encoding up to the payload (header, transactions, payload length), cached: the payload
        itself is held once, in ``payload`` (a cached whole encoding doubled every block's memory)."""
        if self._head is None:
            parts = [self.header.serialize(), write_varint(len(self.txs))]
            for tx in self.txs:
                raw = tx.serialize()
                parts += [write_varint(len(raw)), raw]
            parts.append(write_varint(len(self.payload)))
            object.__setattr__(self, "_head", b"".join(parts))
        return self._head

    def serialize(self) -> bytes:
        """The block's bytes (built on each call: one copy of the payload, freed with the result)."""
        return self._head_bytes() + self.payload

    def size(self) -> int:
        """Serialized size in bytes (what the size limit counts), without building the encoding."""
        return len(self._head_bytes()) + len(self.payload)

    @classmethod
    def parse(cls, data: bytes, max_size: int = MAX_BLOCK_BYTES,
              tx_parser: Callable[[bytes], Any] | None = None) -> "Block":
        """Decode a block; any bytes that are not exactly one block's encoding raise ``ParseError``."""
        data = bytes(data)
        if len(data) > max_size:
            raise ParseError("block-too-large", f"{len(data)} bytes is over the {max_size}-byte limit")
        if len(data) < HEADER_SIZE:
            raise ParseError("truncated", "shorter than a header")
        header = BlockHeader.parse(data[:HEADER_SIZE])
        n_txs, pos = read_varint(data, HEADER_SIZE)
        if n_txs > len(data) - pos:                 # each transaction takes at least one byte
            raise ParseError("truncated", "more transactions announced than bytes left")
        tx_parser = tx_parser or _default_tx_parser()
        txs = []
        for _ in range(n_txs):
            length, pos = read_varint(data, pos)
            if pos + length > len(data):
                raise ParseError("truncated", "a transaction runs past the end")
            txs.append(_parse_tx(data[pos:pos + length], tx_parser))
            pos += length
        length, pos = read_varint(data, pos)
        if pos + length != len(data):
            raise ParseError("bad-payload-length", "payload length does not match the bytes left")
        block = cls(header, tuple(txs), data[pos:])
        object.__setattr__(block, "_head", data[:pos])
        return block
