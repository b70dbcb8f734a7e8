"""[policy] Restart: rebuild a ``Chain`` from its SQLite store, using a stored snapshot where there is one.

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
own block, after ``check_snapshot`` accepted it), the rest in full. The older snapshots of that
branch are loaded too, at their own blocks: they are where the work rule's state (and, for the
LLM, the best validation loss) can be rebuilt from, so a restarted node can still evaluate a
fork whose fork point lies below the latest snapshot, as deep as a node that never stopped with
the same pruning could. A pruned block cannot be disconnected: a reorg deeper than the pruning
depth cannot be evaluated (``MissingData``: not invalid, see ``chain.py``).

The replay does not read the payloads into memory: the store's rows come without them
(``BlockStore.rows(payloads=False)``), a block stored with a non-empty payload is put in the tree
as a ``PayloadOnDisk`` and its payload is read from the store each time something uses it (the
work rule, when it connects the block), then freed. So a restart holds one payload at a time,
whatever the chain's length (a proof-of-work block's payload is empty: nothing changes for it);
a node that wants its last payloads in memory loads them back afterwards (the LLM's
``llm.network.PayloadsOnDisk``). Every block, status and state is the same as with the payloads read.

The stored tip's branch is connected first, then any heavier branch is tried, exactly as a
running node would when that branch arrived. Two kinds of stored marks are *re-checked* rather
than trusted (the block gets ``check_block`` again and goes back to ``header-ok``): marks without
a recorded reason (a schema-1 store) and marks whose reason is missing data - the node lacked
something, the block was never shown wrong. Such a re-check can move the tip to a heavier branch
the old mark hid; the new tip is then written. A stored tip that cannot be reached for lack of
data raises ``StoreError("missing-data")`` (nothing is marked or changed: re-sync from genesis
into a new store); one that turns out invalid raises ``StoreError("tip-mismatch")``.
"""
from __future__ import annotations

import logging
from typing import Iterator

from ..errors import GradientCoinError, InvalidBlock, StoreError
from .block import Block
from .fork_choice import HEADER_OK, INVALID, VALID
from .store import StoredBlock
from .validation import check_block
from .work import MISSING_DATA_REASONS

log = logging.getLogger(__name__)

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
        self._replay(self.store.rows(payloads=False))

    def _replay(self, rows: Iterator[StoredBlock]) -> None:
        """Rebuild the tree from stored blocks, then connect the stored tip's branch and any heavier
        one (full validation, except for the blocks a stored snapshot vouches for: see ``_use_snapshot``)."""
        reopened: dict[bytes, str] = {}              # re-checked marks: hash -> new status
        reasons: dict[bytes, str] = {}
        for row in rows:
            if row.hash == self.genesis.hash:
                continue
            parent = self._index.get(row.parent)
            if parent is None:
                raise StoreError("corrupt", f"stored block {row.hash.hex()} has no stored parent")
            self._seq = row.seq
            status = row.status
            if status == INVALID and parent.status != INVALID and (row.reason is None
                                                                   or row.reason in MISSING_DATA_REASONS):
                status = self._recheck(row, reasons)
                reopened[row.hash] = status
            entry = self._new_entry(row.block, parent, status)
            entry.has_data = not row.pruned
            self._index[entry.hash] = entry
        if reopened:
            cleared = sum(1 for s in reopened.values() if s != INVALID)
            log.info("re-checking %d stored invalid marks without a reason or for missing data: %d cleared",
                     len(reopened), cleared)
            self.store.write(statuses=reopened, reasons=reasons)
        self._use_snapshot()
        stored_tip = self.store.tip()
        stored = self._index.get(stored_tip or b"")
        failures = {}
        if stored is not None and stored.status != INVALID:
            failures.update(self._activate_best_chain(stored))    # where this node was
        failures.update(self._activate_best_chain())               # and a heavier branch, if it can
        self._store_invalid(None, failures)
        if stored_tip is not None and stored_tip != self.tip.hash:
            self._moved_from_stored_tip(stored)

    def _recheck(self, row: StoredBlock, reasons: dict[bytes, str]) -> str:
        """A stored invalid mark not to be trusted: rule 5 again (the rest when its branch is tried)."""
        try:
            check_block(row.block, self.params)
        except InvalidBlock as err:
            reasons[row.hash] = err.reason
            return INVALID
        return HEADER_OK

    def _moved_from_stored_tip(self, stored) -> None:
        """The replay did not end at the stored tip: a heavier branch (hidden by a re-checked mark) is
        the tip now, or the stored tip cannot be reached (``StoreError``)."""
        if stored is not None and stored.hash in self._needs_data:
            raise StoreError("missing-data", f"cannot reach the stored tip (height {stored.height}): "
                             f"{self._needs_data[stored.hash].message}. Nothing was changed; re-sync from "
                             "genesis into a new store")
        if stored is None or stored.status == INVALID or stored.chain_work > self.tip.chain_work:
            raise StoreError("tip-mismatch", "replaying the stored blocks does not lead to the stored tip")
        log.warning("restart: the best chain is now the branch to %s (height %d), not the stored tip (height %d)",
                    self.tip.hash_hex()[:16], self.height, stored.height)
        self.store.write(tip=self.tip.hash, statuses={e.hash: VALID for e in self._active if e.status == VALID})

    def _use_snapshot(self) -> None:
        """The latest snapshot on the stored best chain vouches for its block and every ancestor; it
        and the older snapshots of that branch are loaded at their blocks (``Chain._connect_work``)."""
        tip = self._index.get(self.store.tip() or b"")
        for block_hash, height in self.store.snapshots():         # highest first
            entry = self._index.get(block_hash)
            if (entry is None or entry.status == INVALID or tip is None or height > tip.height
                    or tip.ancestor(height) is not entry):
                continue
            try:
                self.work_rule.check_snapshot(entry.header, self.store.get_snapshot(block_hash))
            except GradientCoinError as err:
                if self._assumed:                 # an older one only serves deep reorgs: start without it
                    log.warning("the snapshot of block %s (height %d) is corrupt and is not used: %s",
                                entry.hash_hex()[:16], height, err.message)
                    continue
                raise StoreError("bad-snapshot", f"the snapshot of block {entry.hash_hex()[:16]}.. "
                                 f"is corrupt: {err.message}") from None
            self._snapshots[block_hash] = height
            if not self._assumed:
                node = entry
                while node.parent is not None:
                    self._assumed.add(node.hash)
                    node = node.parent
