"""The mempool: valid transactions waiting to be mined, chains of them included.

Every node keeps the transactions it has heard of that are valid against its current best
chain but not yet in a block. A transaction may spend confirmed coins *or outputs of other
transactions still waiting here*: it is checked against a coins view (:class:`PoolCoins`) -
the UTXO set plus the outputs of pool transactions, minus what pool transactions already
spend - with exactly the rules a block would apply. So a wallet can spend its change at once,
and a chain of unconfirmed transactions (parent, child, grandchild...) waits here together.

The rules (policy, not consensus: ``docs/protocol.md`` section 12):

* the first transaction to spend a coin wins (``mempool-conflict``; no replace-by-fee);
* a chain is bounded (:class:`ChainLimits`, Bitcoin Core's defaults): at most 25 transactions
  with its unconfirmed ancestors, at most 25 in any pool transaction's family of descendants,
  101,000 bytes each way (``policy-too-many-ancestors``, ``policy-ancestors-too-large``,
  ``policy-too-many-descendants``, ``policy-descendants-too-large``): without the bounds every
  new child would make the node walk, re-check and re-mine an ever longer chain;
* the pool holds at most ``max_txs`` transactions; when full, the package (a transaction and
  its descendants) with the lowest fee rate leaves if the newcomer pays more per byte;
* when a transaction leaves because it can never be mined (conflicted by a block, evicted,
  refused by a miner), its descendants leave with it; when it leaves because a block confirmed
  it, its children stay (they now spend confirmed coins);
* after a reorg the transactions of the abandoned blocks come back parents first
  (:meth:`Mempool.readd`), and only then is the whole pool re-checked against the new chain
  (:meth:`Mempool.revalidate`), so a payment made from the change of a transaction that is no
  longer confirmed survives when it is still valid;
* a miner takes transactions by *ancestor package* fee rate (a child brings its unconfirmed
  parents) and always puts a parent before its child (:meth:`Mempool.select`).

``policy(tx, fee)`` is a hook for local rules a later layer adds (for example a minimum fee for
training-data or inference transactions): it raises ``InvalidTransaction`` to refuse a
transaction. Taught in notebook 04.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..errors import InvalidTransaction
from ..ledger import Coin, CoinsView, OutPoint, Transaction, TxOut, UtxoSet

__all__ = ["MempoolEntry", "ChainLimits", "PoolCoins", "Mempool"]


@dataclass(frozen=True)
class MempoolEntry:
    tx: Transaction
    fee: int
    size: int
    time: float                                  # when we first accepted it

    @property
    def fee_rate(self) -> float:
        return self.fee / max(1, self.size)


@dataclass(frozen=True)
class ChainLimits:
    """Bounds on a chain of unconfirmed transactions (Bitcoin Core's defaults).

    Counts include the transaction itself: ``ancestors`` bounds a transaction with its
    unconfirmed ancestors, ``descendants`` a pool transaction with its unconfirmed descendants;
    the byte bounds are the same sums in serialized bytes. A transaction with no unconfirmed
    parent is never refused by them.
    """

    ancestors: int = 25
    ancestor_bytes: int = 101_000
    descendants: int = 25
    descendant_bytes: int = 101_000


class PoolCoins(CoinsView):
    """Confirmed coins plus the outputs of pool transactions, minus the coins the pool spends.

    A live view (it reads the pool and the UTXO set when asked). An output of a pool transaction
    counts as created in the next block; pool transactions are never coinbases.
    """

    def __init__(self, utxos: UtxoSet, pool: Mempool):
        self.utxos, self.pool = utxos, pool
        self.coinbase_maturity = utxos.coinbase_maturity

    @property
    def height(self) -> int:
        return self.utxos.height

    def coin(self, outpoint: OutPoint) -> Coin | None:
        if outpoint in self.pool.spends:
            return None
        entry = self.pool.entries.get(outpoint.txid)
        if entry is None:
            return self.utxos.coin(outpoint)
        outputs = entry.tx.outputs
        return Coin(outputs[outpoint.index], self.height + 1) if outpoint.index < len(outputs) else None

    def spent_by(self, outpoint: OutPoint) -> bytes | None:
        return self.pool.spends.get(outpoint) or self.utxos.spent_by(outpoint)

    def items(self) -> list[tuple[OutPoint, TxOut]]:
        spends = self.pool.spends
        out = [(op, o) for op, o in self.utxos.items() if op not in spends]
        for txid, entry in self.pool.entries.items():
            out += [(op, o) for i, o in enumerate(entry.tx.outputs) if (op := OutPoint(txid, i)) not in spends]
        return sorted(out, key=lambda pair: (pair[0].txid, pair[0].index))


class Mempool:
    """txid -> entry; which pool transaction spends each coin (to spot conflicts); and the links
    between pool transactions (``parents``: the pool transactions whose outputs it spends;
    ``children``: the pool transactions that spend its outputs)."""

    def __init__(self, max_txs: int = 5000, policy: Callable[[Transaction, int], None] | None = None,
                 limits: ChainLimits | None = None):
        self.max_txs = max_txs
        self.policy = policy                     # hook: extra local rules, e.g. fees by transaction kind
        self.limits = limits or ChainLimits()
        self.entries: dict[bytes, MempoolEntry] = {}
        self.spends: dict[OutPoint, bytes] = {}
        self.parents: dict[bytes, set[bytes]] = {}
        self.children: dict[bytes, set[bytes]] = {}
        self._ranking: list | None = None        # eviction order, kept until the pool changes

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, txid: bytes) -> bool:
        return txid in self.entries

    def get(self, txid: bytes) -> Transaction | None:
        entry = self.entries.get(txid)
        return entry.tx if entry else None

    def txids(self) -> list[bytes]:
        """The pool's txids, every parent before its children (the order to relay them in)."""
        return [tx.txid for tx in dependency_order([e.tx for e in self.entries.values()])]

    def coins(self, utxos: UtxoSet | PoolCoins) -> PoolCoins:
        """The coins a new transaction may spend: ``utxos`` (confirmed) plus this pool's outputs."""
        if isinstance(utxos, PoolCoins):
            utxos = utxos.utxos
        return PoolCoins(utxos, self)

    # ------------------------------------------------------------ relatives
    def ancestors(self, txid: bytes) -> set[bytes]:
        """Pool transactions ``txid`` depends on (parents, their parents, ...), itself excluded."""
        return _closure(self.parents.get(txid, ()), self.parents)

    def descendants(self, txid: bytes) -> set[bytes]:
        """Pool transactions that depend on ``txid`` (children, their children, ...), itself excluded."""
        return _closure(self.children.get(txid, ()), self.children)

    # ------------------------------------------------------------ adding
    def add(self, tx: Transaction, utxos: UtxoSet | PoolCoins, now: float = 0.0) -> int:
        """Validate ``tx`` against the confirmed coins and the pool's outputs; add it; return its fee.

        ``utxos``: the confirmed UTXO set (or a :meth:`coins` view over it). Raises
        :class:`InvalidTransaction`: ``already-in-mempool``, ``mempool-conflict`` (another pool
        transaction spends the same coin), a chain bound (``policy-too-many-ancestors``, ...),
        ``mempool-full``, or whatever the UTXO rules say (``missing-input``, ``bad-signature``,
        ...). Nothing changes on a rejection.
        """
        txid = tx.txid
        if txid in self.entries:
            raise InvalidTransaction("already-in-mempool", "we already have this transaction")
        if any(txin.outpoint in self.spends for txin in tx.inputs):
            raise InvalidTransaction("mempool-conflict", "another waiting transaction spends the same coin")
        parents = {txin.prev_txid for txin in tx.inputs if txin.prev_txid in self.entries}
        ancestors = self._check_limits(tx.size, parents)     # before the signatures: cheap to refuse
        fee = self.coins(utxos).validate_transaction(tx)
        self._check_policy(tx, fee)
        entry = MempoolEntry(tx, fee, tx.size, now)
        worst = self._eviction_victim(entry, ancestors)     # raises mempool-full
        if worst is not None:
            self.remove_with_descendants(worst)
        self._insert(entry, parents)
        return fee

    def _check_policy(self, tx: Transaction, fee: int) -> None:
        if self.policy is None:
            return
        try:
            self.policy(tx, fee)                 # raises InvalidTransaction to refuse
        except InvalidTransaction as err:        # a local rule, not a consensus rule: say so
            raise InvalidTransaction(f"policy-{err.reason}", err.message) from None

    def _check_limits(self, size: int, parents: set[bytes]) -> set[bytes]:
        """The pool ancestors of a new transaction of ``size`` bytes spending from ``parents``, if
        the chain bounds allow it (else raise)."""
        lim = self.limits
        ancestors = set(parents)
        for parent in parents:
            ancestors |= self.ancestors(parent)
            if len(ancestors) + 1 > lim.ancestors:
                break
        if not ancestors:
            return ancestors
        if len(ancestors) + 1 > lim.ancestors:
            raise InvalidTransaction("policy-too-many-ancestors",
                                     f"{len(ancestors)} or more unconfirmed ancestors; at most {lim.ancestors - 1}")
        total = size + sum(self.entries[a].size for a in ancestors)
        if total > lim.ancestor_bytes:
            raise InvalidTransaction("policy-ancestors-too-large",
                                     f"{total} bytes with its unconfirmed ancestors; at most {lim.ancestor_bytes}")
        for a in ancestors:
            family = self.descendants(a)
            if len(family) + 2 > lim.descendants:
                raise InvalidTransaction("policy-too-many-descendants", f"an unconfirmed ancestor already has "
                                         f"{len(family)} descendants; at most {lim.descendants - 1}")
            total = self.entries[a].size + sum(self.entries[d].size for d in family) + size
            if total > lim.descendant_bytes:
                raise InvalidTransaction("policy-descendants-too-large", f"an unconfirmed ancestor's family "
                                         f"would be {total} bytes; at most {lim.descendant_bytes}")
        return ancestors

    def _eviction_victim(self, entry: MempoolEntry, ancestors: set[bytes]) -> bytes | None:
        """When full: the pool transaction whose package (it and its descendants) pays least per
        byte - never one the newcomer depends on. Raises ``mempool-full`` if it pays at least as much.
        The ranking is kept until the pool changes: a stream of refused newcomers (each a new txid
        spending the same coin) costs one walk over the pool, not one each."""
        if len(self.entries) < self.max_txs:
            return None
        if self._ranking is None:                # scored once per change of the pool, not per newcomer:
            self._ranking = sorted((self._descendant_score(t), -e.time, t) for t, e in self.entries.items())
        score, worst = next(((s, t) for s, _, t in self._ranking if t not in ancestors), (None, None))
        if worst is None:
            raise InvalidTransaction("mempool-full", "the pool is full of this transaction's ancestors")
        if score >= entry.fee_rate:
            raise InvalidTransaction("mempool-full", "the pool is full of transactions paying more")
        return worst

    def _descendant_score(self, txid: bytes) -> float:
        """Fee rate of ``txid`` or of it with its descendants, whichever is higher (a parent whose
        child pays well is worth keeping: the child cannot be mined without it)."""
        entry = self.entries[txid]
        family = self.descendants(txid)
        if not family:
            return entry.fee_rate
        fee = entry.fee + sum(self.entries[d].fee for d in family)
        size = entry.size + sum(self.entries[d].size for d in family)
        return max(entry.fee_rate, fee / max(1, size))

    def _insert(self, entry: MempoolEntry, parents: set[bytes]) -> None:
        tx, txid = entry.tx, entry.tx.txid
        self._ranking = None
        self.entries[txid] = entry
        for txin in tx.inputs:
            self.spends[txin.outpoint] = txid
        self.parents[txid] = set(parents)
        for parent in parents:
            self.children[parent].add(txid)
        kids = {self.spends[op] for i in range(len(tx.outputs)) if (op := OutPoint(txid, i)) in self.spends}
        self.children[txid] = kids               # only after a reorg: children that waited for it
        for kid in kids:
            self.parents[kid].add(txid)

    # ------------------------------------------------------------ removing
    def _drop(self, txid: bytes) -> MempoolEntry | None:
        """Take out one transaction (its children stay: the caller decides whether they can)."""
        entry = self.entries.pop(txid, None)
        if entry is None:
            return None
        self._ranking = None
        for txin in entry.tx.inputs:
            if self.spends.get(txin.outpoint) == txid:
                del self.spends[txin.outpoint]
        for parent in self.parents.pop(txid, ()):
            self.children[parent].discard(txid)
        for kid in self.children.pop(txid, ()):
            self.parents[kid].discard(txid)
        return entry

    def remove_with_descendants(self, txid: bytes) -> list[bytes]:
        """``txid`` can never be mined: remove it and every pool transaction that depends on it."""
        if txid not in self.entries:
            return []
        gone = [txid, *self.descendants(txid)]
        for t in gone:
            self._drop(t)
        return gone

    def remove(self, txid: bytes) -> Transaction | None:
        """Remove ``txid`` (and its descendants, which spend what it made); returns it, or None."""
        entry = self.entries.get(txid)
        self.remove_with_descendants(txid)
        return entry.tx if entry else None

    # ------------------------------------------------------------ blocks come and go
    def remove_for_block(self, txs: Iterable[Transaction]) -> list[bytes]:
        """A block was connected: drop its transactions (their children stay: they now spend
        confirmed coins) and every pool transaction in conflict with it, with its descendants."""
        removed = []
        for tx in txs:
            if self._drop(tx.txid) is not None:
                removed.append(tx.txid)
            if tx.is_coinbase:
                continue
            for txin in tx.inputs:
                rival = self.spends.get(txin.outpoint)
                if rival is not None:
                    removed += self.remove_with_descendants(rival)
        return removed

    def readd(self, txs: Iterable[Transaction], utxos: UtxoSet | PoolCoins, now: float = 0.0) -> list[bytes]:
        """Transactions of abandoned blocks: add back, parents first, those valid on the new chain.

        Call it before :meth:`revalidate`: pool transactions that spend their outputs are valid
        again once they are back."""
        added = []
        back = [tx for tx in txs if not tx.is_coinbase and tx.txid not in self.entries]
        view = self.coins(utxos)
        for tx in dependency_order(back):
            try:
                self.add(tx, view, now)
                added.append(tx.txid)
            except InvalidTransaction:
                pass                                   # spent on the new chain, or now a double spend
        return added

    def revalidate(self, utxos: UtxoSet | PoolCoins) -> list[bytes]:
        """After a reorg: re-check the whole pool, parents first, against the new chain (inputs,
        maturity, conflicts, chain bounds; signatures were checked on entry). Drops what fails,
        with its descendants; returns the dropped txids."""
        confirmed = utxos.utxos if isinstance(utxos, PoolCoins) else utxos
        old = [self.entries[t] for t in self.txids()]
        self.entries, self.spends, self.parents, self.children = {}, {}, {}, {}
        self._ranking = None
        view, dropped = self.coins(confirmed), []
        for entry in old:
            parents = {txin.prev_txid for txin in entry.tx.inputs if txin.prev_txid in self.entries}
            try:
                view.validate_transaction(entry.tx, check_signatures=False)
                self._check_limits(entry.size, parents)
            except InvalidTransaction:
                dropped.append(entry.tx.txid)
                continue
            self._insert(entry, parents)
        return dropped

    # ------------------------------------------------------------ mining
    def select(self, max_bytes: int, max_txs: int | None = None) -> list[MempoolEntry]:
        """The entries a miner puts in its next block, in block order.

        Best *ancestor package* fee rate first (a transaction together with the unconfirmed
        ancestors it needs, as Bitcoin Core's miner), each package parents first, until the
        block is full; a package that does not fit is skipped. Pool transactions never conflict,
        so the result is a valid block body.
        """
        limit = len(self.entries) if max_txs is None else max_txs
        chosen: list[MempoolEntry] = []
        taken: set[bytes] = set()
        skipped: set[bytes] = set()
        used = 0
        heap = [(-self._package(t, taken)[0], e.time, t) for t, e in self.entries.items()]
        heapq.heapify(heap)
        while heap and len(chosen) < limit:
            neg_rate, time, txid = heapq.heappop(heap)
            if txid in taken or txid in skipped:
                continue
            rate, package = self._package(txid, taken)
            if rate != -neg_rate:                      # some of its ancestors were taken since
                heapq.heappush(heap, (-rate, time, txid))
                continue
            size = sum(self.entries[t].size for t in package)
            if used + size > max_bytes or len(chosen) + len(package) > limit:
                skipped.add(txid)
                continue
            chosen += [self.entries[t] for t in package]
            taken.update(package)
            used += size
            for t in set().union(*(self.descendants(p) for p in package)) - taken:
                heapq.heappush(heap, (-self._package(t, taken)[0], self.entries[t].time, t))
        return chosen

    def _package(self, txid: bytes, taken: set[bytes]) -> tuple[float, list[bytes]]:
        """(fee rate, members parents first) of ``txid`` with its ancestors not yet ``taken``."""
        members = [a for a in self.ancestors(txid) if a not in taken] + [txid]
        if len(members) > 1:                           # an ancestor has fewer ancestors than its child
            members.sort(key=lambda t: (len(self.ancestors(t)), self.entries[t].time, t))
        fee = sum(self.entries[t].fee for t in members)
        size = sum(self.entries[t].size for t in members)
        return fee / max(1, size), members

    def total_fees(self) -> int:
        return sum(e.fee for e in self.entries.values())

    def snapshot(self) -> Sequence[bytes]:
        """The txids in the pool, sorted (for comparisons in tests)."""
        return sorted(self.entries)


def dependency_order(txs: Sequence[Transaction]) -> list[Transaction]:
    """``txs`` with every transaction after those of ``txs`` it spends from; otherwise as given."""
    position = {tx.txid: i for i, tx in enumerate(txs)}
    by_id = {tx.txid: tx for tx in txs}
    waiting = {t: {i.prev_txid for i in tx.inputs if i.prev_txid in by_id and i.prev_txid != t}
               for t, tx in by_id.items()}
    dependents: dict[bytes, list[bytes]] = {}
    for t, needs in waiting.items():
        for parent in needs:
            dependents.setdefault(parent, []).append(t)
    ready = [(position[t], t) for t, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        _, t = heapq.heappop(ready)
        order.append(by_id[t])
        for kid in dependents.get(t, ()):
            waiting[kid].discard(t)
            if not waiting[kid]:
                heapq.heappush(ready, (position[kid], kid))
    return order


def _closure(start: Iterable[bytes], links: dict[bytes, set[bytes]]) -> set[bytes]:
    seen: set[bytes] = set()
    stack = list(start)
    while stack:
        t = stack.pop()
        if t not in seen:
            seen.add(t)
            stack.extend(links.get(t, ()))
    return seen
