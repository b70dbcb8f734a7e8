"""[consensus] The chain: a tree of blocks, adding a block, and reorganisations between branches.

Every block a node accepts goes into a tree (each block points to its parent). The node
follows the branch the fork-choice rule picks (``fork_choice.py``: most cumulative work, the
first seen on a tie). When another branch becomes heavier, the node *reorganizes*: it
disconnects blocks back to the fork point (undoing their transactions in the UTXO set and their
effect on the work rule) and connects the blocks of the new branch. If a block of the new
branch turns out invalid, it is marked invalid, with all its descendants, and the node returns
to where it was.

``Chain`` is the one object the network layer talks to::

    chain = Chain("regtest")                  # or Chain(params, ProofOfGradient(...), store=BlockStore(path))
    result = chain.add_block(block)           # AddResult.EXTENDED / REORG / SIDE_BRANCH / DUPLICATE
    chain.tip, chain.height, chain.utxo       # best block (a BlockIndex), its height, the coins at the tip
    chain.block_at(h), chain.get_block(hash)  # blocks on the best chain / anywhere in the tree
    chain.locator(), chain.headers_after(loc) # for syncing with a peer

Adding a block, in order (``docs/protocol.md`` sections 1 and 9):

0. **Body against header** (``check_tx_root``, the work rule's ``check_body``): the
   transactions hash to ``tx_root`` and the payload is what the header commits to. A mismatch
   raises ``MutatedBlock`` and leaves *no* trace: the hash may be a genuine block's, whose
   bytes someone changed, and the genuine copy must still be accepted when it arrives.
1. Already known: ``known-invalid``, or ``DUPLICATE``.
2. Header rules (validation.py rules 1-4 and the time-warp rules): nothing is marked, since a
   header that fails them cost nothing to make, or may become valid later (``time-too-new``).
3. Block rules (rule 5: size, coinbase, duplicate transactions): the body is the genuine one
   and the header carries valid work, so a failure marks the hash invalid.
4. Connecting (rule 6, the UTXO set and the work rule's full check) when its branch is the
   heaviest; a failure marks the block and its descendants invalid.

**Missing data is not invalid data.** A block the node cannot evaluate because *it* lacks
something - the work rule raised ``MissingData`` (``work.py``): a pruned payload or state, the best
validation loss below a snapshot, a block body kept without its payload - is never marked invalid.
Its branch *needs data*: it stays ``HEADER_OK`` (stored, with its payload), the node stays on its
chain, logs why, lists it in ``needs_data`` and ``add_block`` returns ``AddResult.NEEDS_DATA``. A
pruned node cannot follow a reorg deeper than the blocks and states it keeps (Bitcoin Core's
pruned nodes neither); the remedy is to re-sync from genesis into a new store. When a missing body
arrives again, ``add_block`` stores it and looks for the best chain again.

Invalid marks are written to the store with their reason (the block without its payload), so a
restart keeps them (``replay.py`` re-checks a mark whose reason is unknown or missing data).
Every rejection raises ``InvalidBlock`` with a ``reason`` and leaves the tip, the UTXO set, the
work rule's state and the store's valid blocks exactly as they were; the only trace is that mark.
A block connected once is *verified*: when a reorganisation returns to it, the work rule's
``reconnect`` is called instead of its full check (``work.py``) and the signatures are not
verified again, so a forged fork cannot make a node redo the expensive work for the honest
blocks it displaced.
Restart from the store is in ``replay.py``. Taught in notebook 03; the network layer
(``network/node.py``) is built on it.
"""
from __future__ import annotations

import enum
import logging
import time as _time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from ..errors import GradientCoinError, InvalidBlock, InvalidTransaction, StoreError
from ..ledger import UtxoSet
from .bits import bits_to_work
from .block import Block, BlockHeader
from .fork_choice import HEADER_OK, INVALID, VALID, best_candidate, fork_point
from .params import ChainParams, genesis_block, get_params
from .replay import StoreReplay
from .retarget import next_bits
from .store import BlockStore, StoredBlock
from .validation import check_block, check_header_context, check_time_warp, check_tx_root, median_time
from .work import MissingData, ProofOfWork, WorkRule

__all__ = ["Chain", "BlockIndex", "AddResult", "ChainEvent", "VALID", "HEADER_OK", "INVALID"]

log = logging.getLogger(__name__)


class AddResult(str, enum.Enum):
    """What ``Chain.add_block`` did with a valid block."""

    EXTENDED = "extended"          # it became the new tip on top of the old one
    REORG = "reorg"                # its branch became the heaviest: blocks were disconnected
    SIDE_BRANCH = "side-branch"    # stored on a branch that is not (yet) the heaviest
    DUPLICATE = "duplicate"        # already known: nothing changed
    NEEDS_DATA = "needs-data"      # stored; its branch is heavier but this node lacks data to evaluate it


@dataclass(eq=False)
class BlockIndex:
    """What the chain knows about one block of the tree (Bitcoin Core's ``CBlockIndex``)."""

    block: Block
    height: int
    chain_work: int                      # total work from genesis up to and including this block
    parent: "BlockIndex | None"
    seq: int                             # arrival order: on equal work the first seen wins
    status: str = HEADER_OK
    undo: tuple[Any, Any] | None = field(default=None, repr=False)   # (utxo undo, work-rule undo) while connected
    verified: bool = False               # the work rule fully checked it in this process
    has_data: bool = True                # False: kept without its payload (pruned, or stored as invalid)

    @property
    def hash(self) -> bytes:
        return self.block.hash()

    @property
    def header(self) -> BlockHeader:
        return self.block.header

    def hash_hex(self) -> str:
        return self.block.hash_hex()

    def ancestor(self, height: int) -> "BlockIndex":
        """The block at ``height`` on this block's branch."""
        if not 0 <= height <= self.height:
            raise IndexError(f"no ancestor at height {height} of a block at height {self.height}")
        node = self
        while node.height > height:
            node = node.parent
        return node

    def __repr__(self) -> str:
        return f"BlockIndex(height={self.height}, {self.hash_hex()[:16]}.., {self.status})"


@dataclass(frozen=True)
class ChainEvent:
    """A change of the best chain, passed to listeners after ``add_block`` succeeds."""

    kind: str                     # "connected" or "disconnected"
    block: Block
    height: int


class _ConnectFailed(Exception):
    def __init__(self, entry: BlockIndex, error: GradientCoinError):
        super().__init__(str(error))
        self.entry, self.error = entry, error


class Chain(StoreReplay):
    """A node's view of the block tree and the state (UTXO set) at its best tip.

    ``params``: a ``ChainParams`` or a preset name. ``work_rule``: a ``WorkRule`` subclass,
    default ``ProofOfWork()``. ``store``: a ``BlockStore`` (or a path) to persist to; if it
    already holds a chain, the chain is rebuilt from it (``replay.py``). ``genesis``: block 0
    (default ``genesis_block(params)``). ``clock``: seconds since 1970 for the "not too far in
    the future" rule (inject a fixed one in tests).
    """

    def __init__(self, params: ChainParams | str = "regtest", work_rule: WorkRule | None = None,
                 store: BlockStore | str | None = None, *, genesis: Block | None = None,
                 clock: Callable[[], float] = _time.time, coinbase_maturity: int = 0):
        self.params = get_params(params)
        self.work_rule = work_rule if work_rule is not None else ProofOfWork()
        self.store = BlockStore(store) if isinstance(store, str) else store
        self.clock = clock
        self.utxo = UtxoSet(coinbase_maturity)
        self.listeners: list[Callable[[ChainEvent], None]] = []
        self._index: dict[bytes, BlockIndex] = {}
        self._active: list[BlockIndex] = []
        self._seq = 0
        self._assumed: set[bytes] = set()                 # blocks up to a snapshot (restart from a pruned store)
        self._snapshots: dict[bytes, int] = {}            # stored snapshots loaded on restart: block hash -> height
        self._needs_data: dict[bytes, MissingData] = {}   # branches this node cannot evaluate now (not invalid)
        genesis = genesis if genesis is not None else genesis_block(self.params)
        self._start(genesis)
        if self.store is not None:
            self._open_store(genesis)

    # ------------------------------------------------------------------ reading
    @property
    def tip(self) -> BlockIndex:
        """The best block (most cumulative work)."""
        return self._active[-1]

    @property
    def tip_hash(self) -> bytes:
        return self.tip.hash

    @property
    def height(self) -> int:
        return self.tip.height

    @property
    def genesis(self) -> BlockIndex:
        return self._active[0]

    def __len__(self) -> int:
        """Number of blocks on the best chain, genesis included."""
        return len(self._active)

    def __contains__(self, block_hash: bytes) -> bool:
        return block_hash in self._index

    def get(self, block_hash: bytes) -> BlockIndex | None:
        """Index entry of any known block (best chain, side branch or invalid)."""
        return self._index.get(block_hash)

    def get_block(self, block_hash: bytes) -> Block | None:
        entry = self._index.get(block_hash)
        return None if entry is None else entry.block

    def block_at(self, height: int) -> Block:
        """The block at ``height`` on the best chain."""
        return self.entry_at(height).block

    def entry_at(self, height: int) -> BlockIndex:
        if not 0 <= height < len(self._active):
            raise IndexError(f"the best chain has heights 0..{self.height}, not {height}")
        return self._active[height]

    def header_at(self, height: int) -> BlockHeader:
        return self.entry_at(height).header

    def is_active(self, block_hash: bytes) -> bool:
        """True when the block is on the best chain."""
        entry = self._index.get(block_hash)
        return entry is not None and entry.height < len(self._active) and self._active[entry.height] is entry

    def active_chain(self) -> list[BlockIndex]:
        """The best chain, genesis first."""
        return list(self._active)

    def entries(self) -> list[BlockIndex]:
        """Every known block, in arrival order (for drawing the tree)."""
        return sorted(self._index.values(), key=lambda e: e.seq)

    def tips(self, include_invalid: bool = False) -> list[BlockIndex]:
        """Blocks without children: the ends of all branches (of the valid ones, by default)."""
        known = [e for e in self.entries() if include_invalid or e.status != INVALID]
        parents = {e.parent.hash for e in known if e.parent is not None}
        return [e for e in known if e.hash not in parents]

    @property
    def invalid(self) -> set[bytes]:
        """Hashes of blocks known to be invalid."""
        return {h for h, e in self._index.items() if e.status == INVALID}

    @property
    def needs_data(self) -> dict[bytes, MissingData]:
        """Blocks this node cannot evaluate now for lack of data (hash -> why); not invalid."""
        return dict(self._needs_data)

    def wants_body(self, block_hash: bytes) -> bool:
        """Is ``block_hash`` a block kept without its payload that a branch needs? (A peer's copy is
        then worth asking for: ``add_block`` takes it, see ``_attach_payload``.)"""
        entry = self._index.get(block_hash)
        return entry is not None and not entry.has_data and block_hash in self._needs_data

    def missing_bodies(self, block_hash: bytes, limit: int = 16) -> list[bytes]:
        """The blocks from ``block_hash`` down to our best chain that are kept without a payload a
        branch needs (``wants_body``), lowest first, at most ``limit``: what to ask a peer for when
        a block it sent "needs data" for want of them."""
        found, entry = [], self._index.get(block_hash)
        while entry is not None and not self.is_active(entry.hash) and entry.hash in self._needs_data:
            if not entry.has_data:
                found.append(entry.hash)
            entry = entry.parent
        return found[::-1][:limit]

    def balance(self, address: bytes) -> int:
        return self.utxo.balance(address)

    # ------------------------------------------------------------------ consensus facts
    def median_time_past(self, block_hash: bytes | None = None) -> int:
        """Median time of the block and its ancestors (``mtp_window`` blocks); default: the tip."""
        node = self.tip if block_hash is None else self._index[block_hash]
        times = []
        while node is not None and len(times) < self.params.mtp_window:
            times.append(node.header.time)
            node = node.parent
        return median_time(times)

    def next_bits(self, parent_hash: bytes | None = None) -> int:
        """The ``bits`` a child of ``parent_hash`` (default: the tip) must carry."""
        parent = self.tip if parent_hash is None else self._index[parent_hash]
        return next_bits(self.params, parent.height, parent.header.bits, parent.header.time,
                         lambda h: parent.ancestor(h).header.time)

    def subsidy(self, height: int) -> int:
        return self.params.subsidy(height)

    # ------------------------------------------------------------------ sync helpers
    def locator(self) -> list[bytes]:
        """Hashes from the tip back to genesis, dense at first then doubling steps (Bitcoin's block locator)."""
        hashes, height, step = [], self.height, 1
        while height > 0:
            hashes.append(self._active[height].hash)
            if len(hashes) >= 10:
                step *= 2
            height -= step
        hashes.append(self.genesis.hash)
        return hashes

    def find_fork(self, locator: Sequence[bytes]) -> BlockIndex:
        """The highest block of ``locator`` that is on our best chain (genesis at worst)."""
        for block_hash in locator:
            if self.is_active(block_hash):
                return self._index[block_hash]
        return self.genesis

    def headers_after(self, locator: Sequence[bytes], limit: int = 2000) -> list[BlockHeader]:
        """Headers of our best chain after the fork point with ``locator`` (at most ``limit``)."""
        return [b.header for b in self.blocks_after(locator, limit)]

    def blocks_after(self, locator: Sequence[bytes], limit: int = 500) -> list[Block]:
        start = self.find_fork(locator).height + 1
        return [e.block for e in self._active[start:start + limit]]

    # ------------------------------------------------------------------ adding a block
    def add_block(self, block: Block, now: float | None = None) -> AddResult:
        """Validate ``block`` and add it to the tree; switch branches if it makes one heavier.

        Returns an ``AddResult``. Raises ``InvalidBlock`` (with a ``reason``) for an invalid
        block, ``MutatedBlock`` (a subclass) for a body that does not match its header; the
        chain, UTXO set and store's valid blocks are left unchanged. ``reason ==
        "unknown-parent"`` means the parent has not been seen yet (an orphan: ask a peer for it,
        try again later).
        """
        self.check_body(block)
        block_hash = block.hash()
        known = self._index.get(block_hash)
        if known is not None:
            if known.status == INVALID:
                raise InvalidBlock("known-invalid", f"block {block.hash_hex()} was found invalid before")
            if not known.has_data and block.payload and block_hash in self._needs_data:
                return self._attach_payload(known, block)      # only a body we found missing: no disk refill
            return AddResult.DUPLICATE
        parent = self._check_header(block, self.clock() if now is None else now)
        entry = self._new_entry(block, parent)
        try:
            check_block(block, self.params)
        except InvalidBlock as err:
            entry.status = INVALID
            self._index[block_hash] = entry
            self._store_invalid(entry, {entry: err})
            raise
        old_tip = self.tip
        self._index[block_hash] = entry
        if parent.hash in self._needs_data:            # a branch this node cannot evaluate grows
            self._needs_data[block_hash] = self._needs_data[parent.hash]
        failures: dict[BlockIndex, GradientCoinError] = {}
        try:
            if entry.chain_work > old_tip.chain_work:
                failures = self._activate_best_chain(entry)
            if entry in failures:                  # it (or an ancestor) failed to connect
                raise failures[entry]
            self._persist(entry, old_tip)
        except BaseException:
            self._forget(entry, old_tip)
            if failures:
                self._store_invalid(entry if entry.status == INVALID else None, failures)
            raise
        return self._report(old_tip, entry)

    def _attach_payload(self, entry: BlockIndex, block: Block) -> AddResult:
        """A block kept without its payload, which a branch needs, arrived whole (its body matches its
        header: ``check_body`` ran): store the payload and look for the best chain again. Old blocks
        pruned on purpose are not refilled (a peer cannot make a pruned node store them again)."""
        try:
            check_block(block, self.params)
        except InvalidBlock as err:
            marked = {e: err for e in self._descendants_and_self(entry)}
            for e in marked:
                e.status = INVALID
            self._store_invalid(None, marked)
            raise
        if self.store is not None:
            self.store.put_payload(entry.hash, block.payload)
        entry.block, entry.has_data = block, True
        for e in self._descendants_and_self(entry):    # the branches through it may be evaluable now
            self._needs_data.pop(e.hash, None)
        old_tip = self.tip
        failures: dict[BlockIndex, GradientCoinError] = {}
        try:
            failures = self._activate_best_chain()
            if entry in failures:
                raise failures[entry]
            self._persist(None, old_tip)
        except BaseException:
            if self.tip is not old_tip:
                self._reorg_back(old_tip)
            raise
        finally:
            if failures:
                self._store_invalid(None, failures)
        return self._report(old_tip, entry)

    def check_body(self, block: Block) -> None:
        """Rule 0: does the body match what the header commits to? ``MutatedBlock`` if not.

        Context-free and cheap; nothing is marked, so a mutated copy cannot poison the hash of
        the genuine block."""
        check_tx_root(block)
        self.work_rule.check_body(block)

    def _check_header(self, block: Block, now: float) -> BlockIndex:
        """Rules 1-4 of validation.py and the time-warp rules: everything about the header."""
        parent = self._index.get(block.prev_hash)
        if parent is None:
            raise InvalidBlock("unknown-parent", f"parent {block.header.prev_hash[::-1].hex()} is not known")
        if parent.status == INVALID:
            raise InvalidBlock("invalid-parent", "the parent block is invalid")
        check_header_context(block.header, self.params, median_time_past=self.median_time_past(parent.hash),
                             expected_bits=self.next_bits(parent.hash), now=now)
        check_time_warp(block.header, self.params, parent.height + 1, lambda h: parent.ancestor(h).header.time)
        self.work_rule.check_header(block.header, parent.header)
        return parent

    def _new_entry(self, block: Block, parent: BlockIndex | None, status: str = HEADER_OK) -> BlockIndex:
        work = bits_to_work(block.header.bits) + (parent.chain_work if parent else 0)
        height = parent.height + 1 if parent else 0
        entry = BlockIndex(block, height, work, parent, self._seq, status)
        self._seq += 1
        return entry

    # ------------------------------------------------------------------ fork choice
    def _activate_best_chain(self, candidate: BlockIndex | None = None) -> dict[BlockIndex, GradientCoinError]:
        """Make the heaviest valid block the tip, starting with ``candidate`` (default: the best known).

        Blocks that fail to connect are marked invalid, with their descendants, and the next best
        is tried. A block that cannot be evaluated for lack of data (``MissingData``) is *not*
        marked: it and its descendants join ``needs_data`` (in memory only), the node says why in
        its log and tries the next best. Returns the blocks found invalid, each with the error of
        the failing ancestor."""
        failures: dict[BlockIndex, GradientCoinError] = {}
        best = candidate
        while True:
            if best is None or best.status == INVALID or best.hash in self._needs_data:
                best = best_candidate(e for e in self._index.values() if e.hash not in self._needs_data)
            if best is self.tip or best.chain_work <= self.tip.chain_work:
                return failures
            try:
                for entry in self._reorg_to(best):
                    entry.status = VALID
                return failures                   # the heaviest valid block is the tip now
            except _ConnectFailed as failed:
                if isinstance(failed.error, MissingData):
                    self._mark_needs_data(failed.entry, failed.error, best)
                else:
                    for entry in self._descendants_and_self(failed.entry):
                        entry.status = INVALID
                        failures[entry] = failed.error
            best = None                           # look again, among all known blocks

    def _mark_needs_data(self, entry: BlockIndex, error: MissingData, best: BlockIndex) -> None:
        """``entry``'s branch cannot be evaluated now: remember it (not invalid) and say so."""
        for e in self._descendants_and_self(entry):
            self._needs_data[e.hash] = error
        fork, tip = self._fork_point(best), self.tip
        log.warning("cannot evaluate the branch to block %s (height %d, more work than ours) at block %s "
                    "(height %d): %s. It forks from our chain at height %d, %d blocks below our tip %s; it is "
                    "NOT marked invalid and this node stays on its chain. A pruned node cannot reorg deeper "
                    "than the blocks and states it keeps: to follow this branch, re-sync from genesis into a "
                    "new store (or send the missing block again, if a block body is what is missing).",
                    best.hash_hex()[:16], best.height, entry.hash_hex()[:16], entry.height, error.message,
                    fork.height, tip.height - fork.height, tip.hash_hex()[:16])

    def _descendants_and_self(self, root: BlockIndex) -> list[BlockIndex]:
        found = {root}
        for e in sorted(self._index.values(), key=lambda e: e.height):
            if e.parent in found:
                found.add(e)
        return list(found)

    def _fork_point(self, entry: BlockIndex) -> BlockIndex:
        return fork_point(entry, self._active)

    def _branch(self, entry: BlockIndex) -> tuple[BlockIndex, list[BlockIndex]]:
        """The fork point of ``entry``'s branch with the best chain, and the branch's blocks above it
        up to ``entry``, lowest first."""
        fork = self._fork_point(entry)
        path = []
        while entry is not fork:
            path.append(entry)
            entry = entry.parent
        return fork, path[::-1]

    def _reorg_to(self, target: BlockIndex) -> list[BlockIndex]:
        """Disconnect to the fork point, connect ``target``'s branch; on failure restore and raise."""
        fork, path = self._branch(target)
        old_branch = self._active[fork.height + 1:]
        undone: list[BlockIndex] = []
        done: list[BlockIndex] = []
        try:
            for _ in old_branch:
                undone.append(self._disconnect_tip())   # may refuse (a pruned block): never the branch's fault
            for entry in path:
                self._connect(entry)
                done.append(entry)
        except BaseException as err:
            for _ in done:
                self._disconnect_tip()
            for entry in reversed(undone):
                self._connect(entry)          # these were valid a moment ago
            if isinstance(err, GradientCoinError):
                if len(undone) < len(old_branch) and not isinstance(err, MissingData):
                    err = MissingData(err.reason, f"cannot disconnect our block at height "
                                      f"{old_branch[len(old_branch) - len(undone) - 1].height}: {err.message}")
                raise _ConnectFailed(path[len(done)], err) from err
            raise
        return done

    def _connect(self, entry: BlockIndex) -> None:
        """Rule 6: apply the transactions and the work rule's full check at the tip."""
        block, height = entry.block, entry.height
        if not entry.has_data and entry.hash not in self._assumed:
            raise MissingData("no-payload", f"block {entry.hash_hex()[:16]}.. at height {height} is kept without "
                              "its payload: it is evaluated when a peer sends it again")
        try:
            utxo_undo = self.utxo.apply_block(block.txs, height, self.params.subsidy(height),
                                              check_signatures=not entry.verified)
        except InvalidTransaction as err:
            raise InvalidBlock(err.reason, f"a transaction is invalid: {err.message}") from err
        try:
            work_undo = self._connect_work(entry, utxo_undo)
        except BaseException:
            self.utxo.undo_block(utxo_undo)
            raise
        entry.undo = (utxo_undo, work_undo)
        entry.verified = entry.verified or entry.hash not in self._assumed
        self._active.append(entry)

    def _connect_work(self, entry: BlockIndex, utxo_undo) -> object:
        """The work rule's part of connecting ``entry``: assumed (below a snapshot), verified
        before (a reorg returns to it: ``reconnect``), or checked in full (``connect_block``)."""
        rule, parent_header = self.work_rule, entry.parent.header
        if entry.hash in self._assumed:
            snapshot = self.store.get_snapshot(entry.hash) if entry.hash in self._snapshots else None
            return rule.connect_assumed(entry.block, parent_header, entry.height, utxo_undo, snapshot)
        if entry.verified:
            return rule.reconnect(entry.block, parent_header, entry.height, utxo_undo)
        return rule.connect_block(entry.block, parent_header, entry.height, utxo_undo)

    def _disconnect_tip(self) -> BlockIndex:
        entry = self._active[-1]
        utxo_undo, work_undo = entry.undo
        self.work_rule.disconnect(entry.block, work_undo)     # may refuse (a pruned block): nothing changed yet
        self._active.pop()
        self.utxo.undo_block(utxo_undo)
        entry.undo = None
        return entry

    # ------------------------------------------------------------------ bookkeeping
    def _row(self, entry: BlockIndex) -> StoredBlock:
        return StoredBlock(entry.hash, entry.block.prev_hash, entry.height, entry.chain_work,
                           entry.status, entry.seq, entry.block)

    def _persist(self, entry: BlockIndex | None, old_tip: BlockIndex) -> None:
        """Write the new block (if any), the statuses that changed and the new tip in one store transaction."""
        if self.store is None:
            return
        newly_valid = [e for e in self._active[self._fork_point(old_tip).height + 1:] if e is not entry]
        self.store.write([] if entry is None else [self._row(entry)],
                         tip=self.tip.hash if self.tip is not old_tip else None,
                         statuses={e.hash: VALID for e in newly_valid})

    def _store_invalid(self, new: BlockIndex | None, marked: Mapping[BlockIndex, GradientCoinError]) -> None:
        """Keep invalid marks on disk with their reasons: ``new`` (not stored yet, one of ``marked``) is
        written without its payload, the other ``marked`` blocks (already stored) change status. Best
        effort: if the disk refuses, the marks stay in memory and the rejection is still reported as
        the block's own error. A ``MissingData`` error is never written as a mark."""
        marked = {e: err for e, err in marked.items() if not isinstance(err, MissingData)}
        if self.store is None or not (marked or new is not None):
            return
        rows = [] if new is None else [replace(self._row(new), pruned=True,
                                                    reason=marked[new].reason if new in marked else None)]
        statuses = {e.hash: INVALID for e in marked if e is not new}
        try:
            self.store.write(rows, statuses=statuses, reasons={e.hash: err.reason for e, err in marked.items()})
        except StoreError:
            pass

    def _forget(self, entry: BlockIndex, old_tip: BlockIndex) -> None:
        """Undo what ``add_block`` did: back to ``old_tip``; the new block is dropped unless
        it was found invalid (then it stays known as invalid, so it is not tried again)."""
        if self.tip is not old_tip:
            self._reorg_back(old_tip)
        if entry.status != INVALID:
            del self._index[entry.hash]
            self._needs_data.pop(entry.hash, None)

    def _reorg_back(self, old_tip: BlockIndex) -> None:
        fork, path = self._branch(old_tip)
        while self.tip is not fork:
            self._disconnect_tip()
        for e in path:
            self._connect(e)

    def _report(self, old_tip: BlockIndex, entry: BlockIndex) -> AddResult:
        if self.tip is old_tip:
            return AddResult.NEEDS_DATA if entry.hash in self._needs_data else AddResult.SIDE_BRANCH
        fork, branch = self._branch(old_tip)
        disconnected = branch[::-1]                   # tip first, as they were disconnected
        connected = self._active[fork.height + 1:]
        events = [ChainEvent("disconnected", e.block, e.height) for e in disconnected]
        events += [ChainEvent("connected", e.block, e.height) for e in connected]
        for listener in self.listeners:
            for event in events:
                listener(event)
        return AddResult.REORG if disconnected else AddResult.EXTENDED

    # ------------------------------------------------------------------ start
    def _start(self, genesis: Block) -> None:
        entry = self._new_entry(genesis, None, VALID)
        try:
            entry.undo = (self.utxo.apply_block(genesis.txs, 0, 0), None)
        except InvalidTransaction as err:
            raise InvalidBlock(err.reason, f"bad genesis block: {err.message}") from err
        entry.verified = True
        self._index[entry.hash] = entry
        self._active.append(entry)

    # ------------------------------------------------------------------ misc
    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def __repr__(self) -> str:
        return (f"Chain({self.params.name}, {self.work_rule.name}, height={self.height}, "
                f"tip={self.tip.hash_hex()[:16]}.., {len(self._index)} blocks known)")
