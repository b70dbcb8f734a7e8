"""Restart: rebuild a ``Chain`` from its SQLite store, using a stored snapshot where there is one.

A node that stops and starts again does not trust its memory, only its disk (``store.py``).
``StoreReplay`` (a part of :class:`~gradientcoin_edu.chain.chain.Chain`) opens the store: a
new store gets the genesis block; an existing one must hold the same genesis (else
``StoreError("wrong-network")``). Every stored block is put back into the tree with its
status - blocks once found invalid stay invalid, so a restart does not forget them - and the
heaviest branch is connected again, through the same validation as a block arriving from the
network, except for the blocks a snapshot vouches for.

Snapshots (Bitcoin Core's ``assumevalid`` and ``assumeutxo`` follow the same idea): a store
whose old payloads were pruned keeps the work rule's state after some block of the best chain.
That block and its ancestors are connected with the work rule's ``connect_assumed`` (the
transactions fully checked, the work rule's state loaded from the snapshot at the snapshot's
own block, after ``check_snapshot`` accepted it), the rest in full. A pruned block cannot be
disconnected: a reorg deeper than the pruning depth is refused.
"""
from __future__ import annotations

from typing import Iterator

from ..errors import GradientCoinError, StoreError
from .block import Block
from .fork_choice import INVALID, VALID
from .store import StoredBlock

__all__ = ["StoreReplay"]


class StoreReplay:
    """Opening and replaying the store; mixed into ``Chain`` (uses its tree and its rules)."""

    def _open_store(self, genesis: Block) -> None:
        stored_genesis = self.store.get_meta("genesis")
        if stored_genesis is None:
            if len(self.store):
                raise StoreError("wrong-network", "the store holds blocks but no genesis")
            row = StoredBlock(genesis.hash(), genesis.prev_hash, 0, self.genesis.chain_work, VALID, 0, genesis)
            self.store.write([row], tip=genesis.hash(), meta={"genesis": genesis.hash(),
                                                               "network": self.params.name.encode()})
            return
        if stored_genesis != genesis.hash():
            raise StoreError("wrong-network", "the store belongs to a chain with another genesis block")
        self._replay(self.store.rows())

    def _replay(self, rows: Iterator[StoredBlock]) -> None:
        """Rebuild the tree from stored blocks, then connect the heaviest branch (full validation,
        except for the blocks a stored snapshot vouches for: see ``_use_snapshot``)."""
        for row in rows:
            if row.hash == self.genesis.hash:
                continue
            parent = self._index.get(row.parent)
            if parent is None:
                raise StoreError("corrupt", f"stored block {row.hash.hex()} has no stored parent")
            self._seq = row.seq
            entry = self._new_entry(row.block, parent, row.status)
            self._index[entry.hash] = entry
        self._use_snapshot()
        failures = self._activate_best_chain()
        self._store_invalid(None, failures)
        stored_tip = self.store.tip()
        if stored_tip is not None and stored_tip != self.tip.hash:
            raise StoreError("tip-mismatch", "replaying the stored blocks does not lead to the stored tip")

    def _use_snapshot(self) -> None:
        """The latest snapshot on the stored best chain vouches for its block and every ancestor."""
        tip = self._index.get(self.store.tip() or b"")
        for block_hash, height in self.store.snapshots():
            entry = self._index.get(block_hash)
            if (entry is None or entry.status == INVALID or tip is None or height > tip.height
                    or tip.ancestor(height) is not entry):
                continue
            data = self.store.get_snapshot(block_hash)
            try:
                self.work_rule.check_snapshot(entry.header, data)
            except GradientCoinError as err:
                raise StoreError("bad-snapshot", f"the snapshot of block {entry.hash_hex()[:16]}.. "
                                 f"is corrupt: {err.message}") from None
            self._snapshot = (block_hash, data)
            node = entry
            while node.parent is not None:
                self._assumed.add(node.hash)
                node = node.parent
            return
