"""[consensus] Transactions: signed transfers of value between addresses (whitepaper sections 2 and 9).

A transaction spends earlier outputs (its inputs name them by ``txid:index`` and prove
ownership with a signature) and creates new outputs (an amount and an address each).
Several inputs combine value, several outputs split it; whatever the inputs hold beyond
the outputs is the fee for the miner. A *coinbase* transaction has one input with the null
outpoint and creates new coins; it carries the block height so that no two are alike.

Wire format (all integers little-endian; ``varint`` = Bitcoin's CompactSize, minimal form)::

    version u32 | kind u8
    varint n_inputs  | n x (prev_txid 32 | prev_index u32 | varint len sig | sig | varint len pubkey | pubkey)
    varint n_outputs | n x (amount u64 | address 20)
    varint len payload | payload | locktime u32

``kind`` says what the transaction is for: 0 = payment (empty payload), 1 = training-data
contribution, 2 = paid inference query (their payloads are given meaning by a later layer;
the format already carries them). Total size is at most ``MAX_TX_SIZE``.

Two hashes (as in Bitcoin before SegWit):

* ``txid`` = SHA-256d of the full serialization, signatures included;
* the **signature hash** of input i = SHA-256d(``"gradientcoin-edu sighash"`` | the serialization
  with *every* input's signature and pubkey emptied | i as u32 | the spent output's amount u64
  and address). A signature cannot sign itself, so the unlocking fields (signature and pubkey,
  like Bitcoin's scriptSig) are blanked; everything else (all outpoints, all outputs, kind,
  payload, locktime) is signed, and so are the amount and address being spent -- the address
  pins the key, since it is the hash of the pubkey. Because every unlocking field is blanked,
  inputs can be signed in any order, by different owners.

Amounts are integers in the smallest unit (like satoshi); 0 <= amount <= ``MAX_MONEY``.
Taught in notebook 02.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Iterable

from ..crypto.hashes import hash_to_hex, sha256d
from ..crypto.keys import ADDRESS_SIZE, PrivateKey, address_of, verify
from ..errors import InvalidTransaction, ParseError
from ..encoding import ByteReader, read_varint, write_varint

__all__ = [
    "COIN", "MAX_MONEY", "MAX_TX_SIZE", "NULL_TXID", "COINBASE_INDEX",
    "KIND_PAYMENT", "KIND_TRAINING_DATA", "KIND_INFERENCE_QUERY", "KINDS",
    "OutPoint", "TxIn", "TxOut", "Transaction",
    "encode_varint", "read_varint", "check_transaction",
]

COIN = 100_000_000                  # smallest units per coin (as Bitcoin's satoshi)
MAX_MONEY = 21_000_000 * COIN       # no amount, and no sum of amounts, may exceed this
MAX_TX_SIZE = 1_000_000             # bytes
NULL_TXID = bytes(32)
COINBASE_INDEX = 0xFFFFFFFF
KIND_PAYMENT, KIND_TRAINING_DATA, KIND_INFERENCE_QUERY = 0, 1, 2
KINDS = (KIND_PAYMENT, KIND_TRAINING_DATA, KIND_INFERENCE_QUERY)
_SIGHASH_TAG = b"gradientcoin-edu sighash"


# ---------------------------------------------------------------- varints and a byte reader
encode_varint = write_varint        # the name this module has always exported


def _check_bytes(value: object, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidTransaction("bad-field", f"{name} must be bytes")
    if size is not None and len(value) != size:
        raise InvalidTransaction("bad-field", f"{name} must be {size} bytes, not {len(value)}")
    return bytes(value)


def _check_uint(value: object, name: str, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise InvalidTransaction("bad-field", f"{name} must be an integer in [0, 2^{bits})")
    return value


# ---------------------------------------------------------------- records
@dataclass(frozen=True, order=True)
class OutPoint:
    """Names one output: the txid of the transaction that made it and its index there."""

    txid: bytes
    index: int

    def __repr__(self) -> str:
        return f"OutPoint({hash_to_hex(self.txid)[:16]}..:{self.index})"


@dataclass(frozen=True)
class TxOut:
    """An amount (smallest units) locked to a 20-byte address."""

    amount: int
    address: bytes

    def __post_init__(self):
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or not 0 <= self.amount <= MAX_MONEY:
            raise InvalidTransaction("bad-amount", f"an amount is an integer in [0, MAX_MONEY], not {self.amount!r}")
        object.__setattr__(self, "address", _check_bytes(self.address, "address", ADDRESS_SIZE))

    def serialize(self) -> bytes:
        return struct.pack("<Q", self.amount) + self.address


@dataclass(frozen=True)
class TxIn:
    """Spends output ``prev_index`` of ``prev_txid``; ``signature`` and ``pubkey`` prove the right to."""

    prev_txid: bytes
    prev_index: int
    signature: bytes = b""
    pubkey: bytes = b""

    def __post_init__(self):
        object.__setattr__(self, "prev_txid", _check_bytes(self.prev_txid, "prev_txid", 32))
        _check_uint(self.prev_index, "prev_index", 32)
        object.__setattr__(self, "signature", _check_bytes(self.signature, "signature"))
        object.__setattr__(self, "pubkey", _check_bytes(self.pubkey, "pubkey"))

    @property
    def outpoint(self) -> OutPoint:
        return OutPoint(self.prev_txid, self.prev_index)

    def serialize(self, unsigned: bool = False) -> bytes:
        """Wire bytes; ``unsigned=True`` empties signature and pubkey (for the signature hash)."""
        sig, pub = (b"", b"") if unsigned else (self.signature, self.pubkey)
        return (self.prev_txid + struct.pack("<I", self.prev_index)
                + encode_varint(len(sig)) + sig + encode_varint(len(pub)) + pub)


@dataclass(frozen=True)
class Transaction:
    """Inputs -> outputs. Immutable: signing returns a new transaction."""

    version: int = 1
    inputs: tuple[TxIn, ...] = ()
    outputs: tuple[TxOut, ...] = ()
    locktime: int = 0
    kind: int = KIND_PAYMENT
    payload: bytes = field(default=b"", repr=False)

    def __post_init__(self):
        _check_uint(self.version, "version", 32)
        _check_uint(self.locktime, "locktime", 32)
        _check_uint(self.kind, "kind", 8)
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "payload", _check_bytes(self.payload, "payload"))
        if not all(isinstance(i, TxIn) for i in self.inputs) or not all(isinstance(o, TxOut) for o in self.outputs):
            raise InvalidTransaction("bad-field", "inputs must be TxIn and outputs TxOut")

    # -- construction helpers
    @classmethod
    def coinbase(cls, height: int, outputs: Iterable[TxOut], extra: bytes = b"") -> "Transaction":
        """The block's first transaction: new coins. The height (u32 LE) makes each one unique."""
        _check_uint(height, "height", 32)
        data = struct.pack("<I", height) + _check_bytes(extra, "extra")
        return cls(inputs=(TxIn(NULL_TXID, COINBASE_INDEX, data, b""),), outputs=tuple(outputs))

    @property
    def is_coinbase(self) -> bool:
        return (len(self.inputs) == 1 and self.inputs[0].prev_txid == NULL_TXID
                and self.inputs[0].prev_index == COINBASE_INDEX)

    @property
    def coinbase_height(self) -> int | None:
        """The height a coinbase commits to (None for other transactions or a too-short field)."""
        if not self.is_coinbase or len(self.inputs[0].signature) < 4:
            return None
        return struct.unpack("<I", self.inputs[0].signature[:4])[0]

    # -- bytes
    def serialize(self, unsigned: bool = False) -> bytes:
        """Wire bytes; ``unsigned=True`` empties every input's signature and pubkey."""
        parts = [struct.pack("<IB", self.version, self.kind), encode_varint(len(self.inputs))]
        parts += [i.serialize(unsigned) for i in self.inputs]
        parts.append(encode_varint(len(self.outputs)))
        parts += [o.serialize() for o in self.outputs]
        parts += [encode_varint(len(self.payload)), self.payload, struct.pack("<I", self.locktime)]
        return b"".join(parts)

    @classmethod
    def parse(cls, data: bytes) -> "Transaction":
        """Inverse of :meth:`serialize`; anything else raises :class:`ParseError`."""
        if not isinstance(data, (bytes, bytearray)):
            raise ParseError("not-bytes", "a transaction is parsed from bytes")
        if len(data) > MAX_TX_SIZE:
            raise ParseError("too-large", f"a transaction is at most {MAX_TX_SIZE} bytes")
        r = ByteReader(bytes(data))
        try:
            version, kind = r.uint(4), r.uint(1)
            inputs = tuple(TxIn(r.take(32), r.uint(4), r.var_bytes(), r.var_bytes()) for _ in range(r.varint()))
            outputs = tuple(TxOut(r.uint(8), r.take(ADDRESS_SIZE)) for _ in range(r.varint()))
            payload, locktime = r.var_bytes(), r.uint(4)
            tx = cls(version, inputs, outputs, locktime, kind, payload)
        except InvalidTransaction as err:
            raise ParseError(err.reason, err.message) from None
        if r.pos != len(r.data):
            raise ParseError("trailing-bytes", f"{len(r.data) - r.pos} bytes after the transaction")
        return tx

    @cached_property
    def txid(self) -> bytes:
        """SHA-256d of the full serialization (internal byte order; show with ``hash_to_hex``)."""
        return sha256d(self.serialize())

    @cached_property
    def size(self) -> int:
        """Serialized bytes (computed once: the mempool, the miner and the block checks all ask)."""
        return len(self.serialize())

    def total_out(self) -> int:
        return sum(o.amount for o in self.outputs)

    # -- signatures
    def signature_hash(self, index: int, spent_output: TxOut) -> bytes:
        """The 32 bytes input ``index`` signs (see the module docstring)."""
        if not 0 <= index < len(self.inputs):
            raise InvalidTransaction("bad-input-index", f"no input {index}")
        return sha256d(_SIGHASH_TAG + self.serialize(unsigned=True)
                       + struct.pack("<I", index) + spent_output.serialize())

    def sign_input(self, index: int, private_key: PrivateKey, spent_output: TxOut) -> "Transaction":
        """A copy of this transaction with input ``index`` signed by ``private_key``."""
        if not 0 <= index < len(self.inputs):
            raise InvalidTransaction("bad-input-index", f"no input {index}")
        pubkey = private_key.public_key().to_bytes()
        unsigned = self._with_input(index, replace(self.inputs[index], pubkey=pubkey))
        signature = private_key.sign(unsigned.signature_hash(index, spent_output))
        return unsigned._with_input(index, replace(unsigned.inputs[index], signature=signature))

    def verify_input(self, index: int, spent_output: TxOut) -> bool:
        """True when input ``index`` carries the key of ``spent_output.address`` and a valid signature."""
        if not 0 <= index < len(self.inputs):
            return False
        txin = self.inputs[index]
        if address_of(txin.pubkey) != spent_output.address:
            return False
        return verify(txin.pubkey, self.signature_hash(index, spent_output), txin.signature)

    def _with_input(self, index: int, txin: TxIn) -> "Transaction":
        inputs = list(self.inputs)
        inputs[index] = txin
        return replace(self, inputs=tuple(inputs))

    def __repr__(self) -> str:
        kind = "coinbase" if self.is_coinbase else f"kind={self.kind}"
        return (f"Transaction({hash_to_hex(self.txid)[:16]}.., {kind}, {len(self.inputs)} in, "
                f"{len(self.outputs)} out, {self.total_out()} units)")


def check_transaction(tx: Transaction) -> None:
    """Context-free rules (no UTXO set needed); raises :class:`InvalidTransaction`.

    At least one input and one output, no input listed twice, every amount and the sum of
    the outputs within [0, MAX_MONEY], a known kind, no payload on a payment, at most
    ``MAX_TX_SIZE`` bytes.
    """
    if not tx.inputs:
        raise InvalidTransaction("no-inputs", "a transaction must spend at least one output")
    if not tx.outputs:
        raise InvalidTransaction("no-outputs", "a transaction must create at least one output")
    if len({i.outpoint for i in tx.inputs}) != len(tx.inputs):
        raise InvalidTransaction("duplicate-input", "the same output is spent twice in one transaction")
    if any(not 0 <= o.amount <= MAX_MONEY for o in tx.outputs) or tx.total_out() > MAX_MONEY:
        raise InvalidTransaction("bad-amount", "the outputs add up to more than MAX_MONEY")
    if tx.kind not in KINDS:
        raise InvalidTransaction("unknown-kind", f"kind {tx.kind} is not one of {KINDS}")
    if tx.kind == KIND_PAYMENT and tx.payload:
        raise InvalidTransaction("unexpected-payload", "a payment carries no payload")
    if tx.size > MAX_TX_SIZE:
        raise InvalidTransaction("too-large", f"a transaction is at most {MAX_TX_SIZE} bytes")
