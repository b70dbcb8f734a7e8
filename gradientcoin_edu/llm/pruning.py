"""[policy] Reclaiming disk space: drop old gradients, keep the roots and a weight snapshot.

Whitepaper section 7: once a transaction is buried under enough blocks, the spent ones can be
discarded; the Merkle tree keeps the block header valid. Proof-of-gradient blocks carry a much
bigger burden than transactions: the quantized gradient (4 bytes per parameter: 433 KB per block
for the ``nano`` GPT). A node needs it to verify the block once, to undo the block in a reorg,
and to recover older weights. After ``keep`` confirmations it needs none of these, so
:func:`prune`:

1. takes the latest weight snapshot at or below ``tip - keep`` (writing one if there is none):
   the weights after that block, whose Merkle root the block header commits to;
2. drops the payloads of the blocks more than ``query_window`` below the snapshot (a query may
   still name the weights up to ``query_window`` blocks back, and those are recovered by undoing
   from the snapshot) - headers, transactions and payload sizes stay;
3. keeps a second snapshot at the highest pruned block (``pruned_below - 1``): the lowest state a
   replay can start from, with the best validation loss up to it - the fork point of the deepest
   reorg the pruned node can still follow;
4. forgets the older snapshots and rewrites the SQLite file (``VACUUM``), so the disk really
   shrinks; the report gives the bytes before and after.

A restarted node (``LLMChain(spec, store=path)``) then loads the snapshot, checks it against
the header's ``weights_root``, connects the blocks up to it without their gradients (their
transactions are still checked) and verifies the rest in full; from the lower snapshot it rebuilds
the states and best validation losses of the kept blocks, so it can follow every fork a node that
never stopped (with the same pruning) could. What is lost: reorgs whose fork point is below
``pruned_below - 1`` (as Bitcoin Core's pruned nodes, which keep 288 blocks; such a branch is
reported as *needing data*, never marked invalid - to follow it, re-sync from genesis into a new
store), the weights of heights far below the snapshot, and serving old blocks to new peers.
Taught in notebook 09.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..chain import Block
from ..chain.store import PayloadOnDisk
from ..errors import StoreError

__all__ = ["PruneReport", "prune"]


@dataclass(frozen=True)
class PruneReport:
    snapshot_height: int           # the weights snapshot a restart starts from
    pruned_below: int              # blocks lower than this lost their payload
    blocks_pruned: int
    bytes_before: int              # SQLite file size before and after (VACUUM included)
    bytes_after: int

    @property
    def saved(self) -> int:
        return self.bytes_before - self.bytes_after

    def __str__(self) -> str:
        return (f"pruned the gradients of {self.blocks_pruned} blocks below height {self.pruned_below} "
                f"(snapshot at {self.snapshot_height}): {self.bytes_before:,} -> {self.bytes_after:,} bytes "
                f"({self.saved / max(1, self.bytes_before):.0%} saved)")


def prune(chain, keep: int = 20, vacuum: bool = True, in_memory: bool = True) -> PruneReport:
    """Prune ``chain``'s store (see the module docstring); ``in_memory`` also drops the payloads
    the running node holds. Returns what was done."""
    store = chain.store
    if store is None:
        raise StoreError("no-store", "pruning needs a block store")
    target = chain.height - keep
    if target < 1:
        return PruneReport(0, 0, 0, store.size_bytes(), store.size_bytes())
    snapshots = [(h, bh) for bh, h in store.snapshots() if h <= target and chain.is_active(bh)]
    if not snapshots:
        chain.write_snapshot(target)
        snapshots = [(target, chain.block_at(target).hash())]
    snapshot_height = max(snapshots)[0]
    below = max(1, snapshot_height - chain.spec.params.query_window + 1)
    base = below - 1                              # the deepest fork point a pruned node can still follow
    if base > 0 and chain.block_at(base).hash() not in dict(store.snapshots()):
        chain.write_snapshot(base)                # written before its gradients go (it is replayed to)
    before = store.size_bytes()
    count = store.prune_payloads(below)
    store.delete_snapshots(base)
    if vacuum:
        store.vacuum()
    if in_memory:
        _drop_payloads(chain, below)
    return PruneReport(snapshot_height, below, count, before, store.size_bytes())


def _drop_payloads(chain, below: int) -> None:
    """The running node forgets the payloads too (a block's hash is its header's: nothing else changes)."""
    for entry in chain.entries():
        # a block whose payload waits in the store (``PayloadOnDisk``) reads b"" once pruned: it is
        # dropped by its kind, not by reading its payload, or the index would still say it has its data
        if 0 < entry.height < below and (isinstance(entry.block, PayloadOnDisk) or entry.block.payload):
            entry.block, entry.has_data = Block(entry.block.header, entry.block.txs, b""), False
    rule = chain.rule
    rule.prune_states(below - 1)                  # Lion: a state to replay from above the dropped gradients
