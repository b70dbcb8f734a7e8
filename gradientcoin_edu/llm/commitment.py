"""[consensus] The coinbase commitment: where a block says what its data and its answers are.

A block header has no room for the decentralized LLM's extra state, and adding header fields
would change every header. Bitcoin met the same problem with SegWit: the *witness commitment*
is a hash placed in the coinbase transaction, which the header already commits to through
``tx_root``. We do the same: the coinbase's data field (after the 4-byte height) starts with ::

    "GCLM" | dataset_root 32 | answers_root 32          (68 bytes; the miner's tag may follow)

* ``dataset_root``: the Merkle root of the training records *after* this block's data
  transactions were appended (what the next block's batches are drawn from);
* ``answers_root``: the Merkle root of this block's answer records (the empty root if none).

Every node recomputes both while it validates the block (``missing-commitment``,
``bad-dataset-root``, ``bad-answers-root``), so a light client holding only headers can trust
them through one Merkle proof of the coinbase (``light.py``). Taught in notebooks 09 and 10.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidBlock
from ..ledger import Transaction, TxOut
from ..ledger.utxo import MAX_COINBASE_DATA

__all__ = ["COMMITMENT_TAG", "COMMITMENT_SIZE", "MAX_TAG_BYTES", "Commitment", "commitment_coinbase", "coinbase_extra",
           "read_commitment"]

COMMITMENT_TAG = b"GCLM"
COMMITMENT_SIZE = 4 + 32 + 32
MAX_TAG_BYTES = MAX_COINBASE_DATA - 4 - COMMITMENT_SIZE     # room left for the miner's own bytes (28)


@dataclass(frozen=True)
class Commitment:
    dataset_root: bytes
    answers_root: bytes

    def serialize(self) -> bytes:
        return COMMITMENT_TAG + self.dataset_root + self.answers_root


def commitment_coinbase(height: int, outputs: list[TxOut], commitment: Commitment, tag: bytes = b"") -> Transaction:
    """A coinbase for ``height`` paying ``outputs`` and carrying ``commitment`` (then ``tag``)."""
    return Transaction.coinbase(height, outputs, extra=coinbase_extra(commitment, tag))


def coinbase_extra(commitment: Commitment, tag: bytes = b"") -> bytes:
    """The coinbase's data after the height: ``commitment``, then at most ``MAX_TAG_BYTES`` of ``tag``."""
    return commitment.serialize() + bytes(tag)[:MAX_TAG_BYTES]


def read_commitment(coinbase: Transaction) -> Commitment:
    """The commitment in a coinbase; ``InvalidBlock("missing-commitment")`` when there is none."""
    data = coinbase.inputs[0].signature[4:] if coinbase.is_coinbase else b""
    if len(data) < COMMITMENT_SIZE or data[:4] != COMMITMENT_TAG:
        raise InvalidBlock("missing-commitment", "the coinbase does not start its data with a GCLM commitment")
    return Commitment(data[4:36], data[36:68])
