"""The mempool: valid transactions waiting to be mined.

Every node keeps the transactions it has heard of that are valid against its current best
chain but not yet in a block. A miner fills its next block from here (highest fee per byte
first); when a block arrives its transactions leave the pool, together with any pool
transaction that spends the same coin (that one can never be valid now). When a reorg
abandons blocks, their transactions come back: those still valid on the new chain wait to be
mined again, so an honest payment is not lost just because its block lost a race.

Deliberate simplifications (Bitcoin Core does more): a transaction may only spend coins that
are already confirmed (no chains of unconfirmed transactions), the first transaction to spend
a coin wins (no replace-by-fee), and the pool holds at most ``max_txs`` transactions (the
lowest fee rate is evicted first). ``policy(tx, fee)`` is a hook for local rules a later layer
adds (for example a minimum fee for training-data or inference transactions): it raises
``InvalidTransaction`` to refuse a transaction. Taught in notebook 04.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..errors import InvalidTransaction
from ..ledger import OutPoint, Transaction, UtxoSet

__all__ = ["MempoolEntry", "Mempool"]


@dataclass(frozen=True)
class MempoolEntry:
    tx: Transaction
    fee: int
    size: int
    time: float                                  # when we first accepted it

    @property
    def fee_rate(self) -> float:
        return self.fee / max(1, self.size)


class Mempool:
    """txid -> entry, plus which pool transaction spends each coin (to spot conflicts)."""

    def __init__(self, max_txs: int = 5000, policy: Callable[[Transaction, int], None] | None = None):
        self.max_txs = max_txs
        self.policy = policy                     # hook: extra local rules, e.g. fees by transaction kind
        self.entries: dict[bytes, MempoolEntry] = {}
        self.spends: dict[OutPoint, bytes] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, txid: bytes) -> bool:
        return txid in self.entries

    def get(self, txid: bytes) -> Transaction | None:
        entry = self.entries.get(txid)
        return entry.tx if entry else None

    def txids(self) -> list[bytes]:
        return list(self.entries)

    # ------------------------------------------------------------ adding
    def add(self, tx: Transaction, utxos: UtxoSet, now: float = 0.0) -> int:
        """Validate ``tx`` against the confirmed coins and the pool; add it; return its fee.

        Raises :class:`InvalidTransaction`: ``already-in-mempool``, ``mempool-conflict``
        (another pool transaction spends the same coin), ``mempool-full``, or whatever the UTXO
        rules say (``missing-input``, ``bad-signature``, ...). Nothing changes on a rejection.
        """
        txid = tx.txid
        if txid in self.entries:
            raise InvalidTransaction("already-in-mempool", "we already have this transaction")
        for txin in tx.inputs:
            other = self.spends.get(txin.outpoint)
            if other is not None:
                raise InvalidTransaction("mempool-conflict", "another waiting transaction spends the same coin")
        fee = utxos.validate_transaction(tx)
        if self.policy is not None:
            try:
                self.policy(tx, fee)             # raises InvalidTransaction to refuse
            except InvalidTransaction as err:    # a local rule, not a consensus rule: say so
                raise InvalidTransaction(f"policy-{err.reason}", err.message) from None
        entry = MempoolEntry(tx, fee, tx.size, now)
        if len(self.entries) >= self.max_txs:
            worst = min(self.entries.values(), key=lambda e: (e.fee_rate, -e.time))
            if worst.fee_rate >= entry.fee_rate:
                raise InvalidTransaction("mempool-full", "the pool is full of transactions paying more")
            self.remove(worst.tx.txid)
        self.entries[txid] = entry
        for txin in tx.inputs:
            self.spends[txin.outpoint] = txid
        return fee

    def remove(self, txid: bytes) -> Transaction | None:
        entry = self.entries.pop(txid, None)
        if entry is None:
            return None
        for txin in entry.tx.inputs:
            if self.spends.get(txin.outpoint) == txid:
                del self.spends[txin.outpoint]
        return entry.tx

    # ------------------------------------------------------------ blocks come and go
    def remove_for_block(self, txs: Iterable[Transaction]) -> list[bytes]:
        """A block was connected: drop its transactions and every pool transaction in conflict."""
        removed = []
        for tx in txs:
            if self.remove(tx.txid) is not None:
                removed.append(tx.txid)
            if tx.is_coinbase:
                continue
            for txin in tx.inputs:
                rival = self.spends.get(txin.outpoint)
                if rival is not None:
                    self.remove(rival)
                    removed.append(rival)
        return removed

    def readd(self, txs: Iterable[Transaction], utxos: UtxoSet, now: float = 0.0) -> list[bytes]:
        """Transactions of abandoned blocks: add back those still valid on the new chain."""
        added = []
        for tx in txs:
            if tx.is_coinbase or tx.txid in self.entries:
                continue
            try:
                self.add(tx, utxos, now)
                added.append(tx.txid)
            except InvalidTransaction:
                pass                                   # spent on the new chain, or now a double spend
        return added

    def revalidate(self, utxos: UtxoSet) -> list[bytes]:
        """After a reorg: drop pool transactions that are no longer valid; returns their txids."""
        dropped = []
        for txid, entry in list(self.entries.items()):
            if any(utxos.get(txin.outpoint) is None for txin in entry.tx.inputs):
                self.remove(txid)
                dropped.append(txid)
        return dropped

    # ------------------------------------------------------------ mining
    def select(self, max_bytes: int, max_txs: int | None = None) -> list[MempoolEntry]:
        """The entries a miner puts in its next block: best fee rate first, until the block is full.

        Pool transactions never conflict with each other and only spend confirmed coins, so
        any subset in any order is a valid block body.
        """
        chosen, used = [], 0
        for entry in sorted(self.entries.values(), key=lambda e: (-e.fee_rate, e.time, e.tx.txid)):
            if max_txs is not None and len(chosen) >= max_txs:
                break
            if used + entry.size <= max_bytes:
                chosen.append(entry)
                used += entry.size
        return chosen

    def total_fees(self) -> int:
        return sum(e.fee for e in self.entries.values())

    def snapshot(self) -> Sequence[bytes]:
        """The txids in the pool, sorted (for comparisons in tests)."""
        return sorted(self.entries)
