"""[policy] The mempool: valid transactions waiting to be mined, chains of them included.

Every node keeps the transactions it has heard of that are valid against its current best
chain but not yet in a block. A transaction may spend confirmed coins *or outputs of other
transactions still waiting here*: it is checked against a coins view (:class:`PoolCoins`) -
the UTXO set plus the outputs of pool transactions, minus what pool transactions already
spend - with exactly the rules a block would apply. So a wallet can spend its change at once,
and a chain of unconfirmed transactions (parent, child, grandchild...) waits here together.

The rules (policy, not consensus: ``docs/protocol.md`` section 12):

* standard transactions only (:class:`RelayPolicy`): at most 100,000 bytes and 1,000 outputs,
  no output of zero value or below the dust threshold (what spending it would cost at the dust
  fee rate) - ``policy-tx-size``, ``policy-too-many-outputs``, ``policy-zero-value-output``,
  ``policy-dust``;
* a fee rate of at least the minimum relay fee (1 unit per byte, ``policy-min-relay-fee``) and
  at least the pool's *rolling minimum fee* (``policy-mempool-min-fee``): when the pool is full
  and evicts, the rolling minimum rises above the fee rate of what it evicted, then decays by
  half every 12 hours (faster when the pool is mostly empty) once a block has come - as Bitcoin
  Core's ``GetMinFee``;
* the pool is bounded by count (``max_txs``) and by estimated memory (``RelayPolicy.max_usage``:
  serialized bytes plus the measured overhead of the Python objects); when full, the packages
  (a transaction and its descendants) with the lowest fee rate leave if the newcomer pays more
  per byte (``mempool-full`` otherwise), never one the newcomer depends on;
* a transaction that spends a coin a pool transaction already spends *replaces* it (and its
  descendants) when it pays at least their total fee plus the incremental relay fee for its own
  bytes, a higher fee rate than each of them, evicts at most 100 transactions and does not spend
  one of them; otherwise ``mempool-conflict`` (its message says which rule failed);
* a chain is bounded (:class:`ChainLimits`, Bitcoin Core's defaults): at most 25 transactions
  with its unconfirmed ancestors, at most 25 in any pool transaction's family of descendants,
  101,000 bytes each way (``policy-too-many-ancestors``, ``policy-ancestors-too-large``,
  ``policy-too-many-descendants``, ``policy-descendants-too-large``), with Bitcoin Core's CPFP
  carve-out: a transaction of at most 10,000 bytes whose only unconfirmed ancestor is its parent
  may exceed the parent's descendant bounds by one transaction (so the owner of another output
  of that parent can still spend it when someone hung a full family on their own output);
* when a transaction leaves because it can never be mined (conflicted by a block, evicted,
  replaced, refused by a miner), its descendants leave with it; when it leaves because a block
  confirmed it, its children stay (they now spend confirmed coins);
* after a reorg the transactions of the abandoned blocks come back parents first
  (:meth:`Mempool.readd`), and only then is the whole pool re-checked against the new chain
  (:meth:`Mempool.revalidate`), so a payment made from the change of a transaction that is no
  longer confirmed survives when it is still valid;
* a miner takes transactions by *ancestor package* fee rate (a child brings its unconfirmed
  parents) and always puts a parent before its child (:meth:`Mempool.select`, linear in the
  pool as Bitcoin Core's ``BlockAssembler``: scores are updated for the descendants of what was
  taken, never recomputed from scratch).

``policy`` is the seam for a chain's own relay rules (a :class:`TxPolicy`: a check before
anything else, a check with the fee - for example a minimum fee for training-data or inference
transactions -, a check of our own wallet's transactions, and the transactions that expire after
a block; or just a callable ``policy(tx, fee)``): it raises ``InvalidTransaction`` to refuse a
transaction. Taught in notebook 04.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..errors import InvalidTransaction
from ..ledger import Coin, CoinsView, OutPoint, Transaction, TxOut, UtxoSet

__all__ = ["MempoolEntry", "ChainLimits", "RelayPolicy", "PoolCoins", "Mempool", "TxPolicy", "dust_threshold",
           "memory_usage"]

TXOUT_BYTES = 28                 # amount u64 + address 20
SPEND_INPUT_BYTES = 143          # outpoint 36 + varint + DER signature <= 72 + varint + pubkey 33


def dust_threshold(dust_feerate: float) -> int:
    """The smallest standard output amount: what an output costs to create and spend at ``dust_feerate``
    (units per byte) - Bitcoin Core's ``GetDustThreshold``; an output below it is worth less than
    the fee its spending needs, so it would sit in every node's UTXO set for ever."""
    return math.ceil((TXOUT_BYTES + SPEND_INPUT_BYTES) * dust_feerate)


def memory_usage(tx: Transaction, size: int) -> int:
    """Estimated bytes of memory a pool transaction holds: its serialized size plus the Python
    objects (measured with ``tracemalloc`` on parsed transactions: about 180 bytes per output, 400
    per input with the pool's index entries, 1,000 for the transaction, its entry and links)."""
    return 1_000 + size + 180 * len(tx.outputs) + 400 * len(tx.inputs)


@dataclass(frozen=True)
class MempoolEntry:
    tx: Transaction
    fee: int
    size: int
    time: float                                  # when we first accepted it
    usage: int = 0                               # estimated memory (``memory_usage``)

    @property
    def fee_rate(self) -> float:
        return self.fee / max(1, self.size)


@dataclass(frozen=True)
class ChainLimits:
    """Bounds on a chain of unconfirmed transactions (Bitcoin Core's defaults).

    Counts include the transaction itself: ``ancestors`` bounds a transaction with its
    unconfirmed ancestors, ``descendants`` a pool transaction with its unconfirmed descendants;
    the byte bounds are the same sums in serialized bytes. A transaction with no unconfirmed
    parent is never refused by them. ``carve_out_bytes``: the CPFP carve-out (a transaction of
    at most this size with a single unconfirmed ancestor may exceed that ancestor's descendant
    bounds by one transaction and this many bytes; 0 turns it off).
    """

    ancestors: int = 25
    ancestor_bytes: int = 101_000
    descendants: int = 25
    descendant_bytes: int = 101_000
    carve_out_bytes: int = 10_000


@dataclass(frozen=True)
class RelayPolicy:
    """What a node keeps and relays (fee rates in smallest units per serialized byte).

    ``min_relay_feerate``: the least fee rate relayed (1 unit/byte: a 200-byte payment needs 200
    units; the wallet's default fee, 1,000, covers any payment up to 1,000 bytes).
    ``incremental_feerate``: what the rolling minimum fee rises above an evicted package, and what
    a replacement pays for its own bytes on top of what it evicts. ``dust_feerate``: the fee rate
    at which an output is dust (``dust_threshold``: 513 units at 3). ``max_usage``: estimated memory
    of the pool. ``rolling_halflife``: seconds for the rolling minimum fee to halve once a block
    came. ``max_replacements``: transactions one replacement may evict.
    """

    min_relay_feerate: float = 1.0
    incremental_feerate: float = 1.0
    dust_feerate: float = 3.0
    max_tx_size: int = 100_000
    max_outputs: int = 1_000
    max_usage: int = 64_000_000
    rolling_halflife: float = 12 * 3600.0
    max_replacements: int = 100


class PoolCoins(CoinsView):
    """Confirmed coins plus the outputs of pool transactions, minus the coins the pool spends.

    A live view (it reads the pool and the UTXO set when asked). An output of a pool transaction
    counts as created in the next block; pool transactions are never coinbases. ``ignore``: pool
    transactions to see as gone (those a replacement would evict): their spends are free again
    and their outputs do not exist.
    """

    def __init__(self, utxos: UtxoSet, pool: Mempool, ignore: frozenset = frozenset()):
        self.utxos, self.pool, self.ignore = utxos, pool, ignore
        self.coinbase_maturity = utxos.coinbase_maturity

    @property
    def height(self) -> int:
        return self.utxos.height

    def coin(self, outpoint: OutPoint) -> Coin | None:
        spender = self.pool.spends.get(outpoint)
        if spender is not None and spender not in self.ignore:
            return None
        entry = self.pool.entries.get(outpoint.txid)
        if entry is None:
            return self.utxos.coin(outpoint)
        if outpoint.txid in self.ignore:
            return None
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


class TxPolicy:
    """A chain's own relay rules, plugged into a :class:`Mempool` (``Mempool(policy=)``); this one
    adds none. Each check raises ``InvalidTransaction`` to refuse (the pool prefixes the reasons of
    ``check_fee`` with ``policy-``: a local rule, the relaying peer is not punished)."""

    def screen(self, tx: Transaction) -> None:
        """Before anything else: cheap checks of the transaction alone."""

    def check_fee(self, tx: Transaction, fee: int) -> None:
        """After the transaction validated against the coins, with its fee."""

    def check_own(self, tx: Transaction) -> None:
        """Our own wallet's transaction, before it enters the pool."""

    def expired(self, pool: "Mempool") -> list[bytes]:
        """After a block: pool transactions no block can take any more (they leave with their descendants)."""
        return []


class _FeeHook(TxPolicy):
    """A plain ``policy(tx, fee)`` callable as a :class:`TxPolicy`."""

    def __init__(self, check: Callable[[Transaction, int], None]):
        self.check_fee = check


class Mempool:
    """txid -> entry; which pool transaction spends each coin (to spot conflicts); and the links
    between pool transactions (``parents``: the pool transactions whose outputs it spends;
    ``children``: the pool transactions that spend its outputs). ``bytes``: serialized size of
    the pool; ``usage``: its estimated memory (bounded by ``relay.max_usage``)."""

    def __init__(self, max_txs: int = 5000, policy: TxPolicy | Callable[[Transaction, int], None] | None = None,
                 limits: ChainLimits | None = None, relay: RelayPolicy | None = None):
        self.max_txs = max_txs
        if policy is None or isinstance(policy, TxPolicy) or not callable(policy):
            self.policy = policy or TxPolicy()   # a chain's own rules, e.g. fees by transaction kind
        else:
            self.policy = _FeeHook(policy)
        self.limits = limits or ChainLimits()
        self.relay = relay or RelayPolicy()
        self.entries: dict[bytes, MempoolEntry] = {}
        self.spends: dict[OutPoint, bytes] = {}
        self.parents: dict[bytes, set[bytes]] = {}
        self.children: dict[bytes, set[bytes]] = {}
        self.bytes = 0
        self.usage = 0
        self.rolling_min_feerate = 0.0           # raised by evictions, decays once blocks come
        self._rolling_updated = 0.0
        self._block_since_bump = False
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

    # ------------------------------------------------------------ fees
    def min_feerate(self, now: float = 0.0) -> float:
        """The fee rate (units/byte) a newcomer must pay now: the minimum relay fee, or the rolling
        minimum if higher (decayed: it halves every ``rolling_halflife`` seconds once a block came
        after the last eviction, four times as fast when the pool is under a quarter full, twice
        under half; below half the incremental fee it is dropped)."""
        relay = self.relay
        rolling = self.rolling_min_feerate
        if rolling > 0 and self._block_since_bump and now > self._rolling_updated + 10:
            halflife = relay.rolling_halflife
            if self.usage < relay.max_usage / 4:
                halflife /= 4
            elif self.usage < relay.max_usage / 2:
                halflife /= 2
            rolling /= 2 ** ((now - self._rolling_updated) / halflife)
            self._rolling_updated = now
            self.rolling_min_feerate = rolling = 0.0 if rolling < relay.incremental_feerate / 2 else rolling
        if rolling > 0:
            return max(relay.min_relay_feerate, rolling, relay.incremental_feerate)
        return relay.min_relay_feerate

    def check_standard(self, tx: Transaction, size: int | None = None) -> None:
        """The standardness rules (size, outputs, dust); raises ``policy-...``."""
        relay = self.relay
        size = tx.size if size is None else size
        if size > relay.max_tx_size:
            raise InvalidTransaction("policy-tx-size", f"{size} bytes; a standard transaction has at most "
                                                       f"{relay.max_tx_size}")
        if len(tx.outputs) > relay.max_outputs:
            raise InvalidTransaction("policy-too-many-outputs", f"{len(tx.outputs)} outputs; at most "
                                                                f"{relay.max_outputs}")
        dust = dust_threshold(relay.dust_feerate)
        for i, out in enumerate(tx.outputs):
            if out.amount == 0:
                raise InvalidTransaction("policy-zero-value-output", f"output {i} is worth nothing")
            if out.amount < dust:
                raise InvalidTransaction("policy-dust", f"output {i} holds {out.amount} units, less than spending "
                                                        f"it would cost ({dust})")

    # ------------------------------------------------------------ adding
    def check_own(self, tx: Transaction) -> None:
        """Extra checks for a transaction of our own wallet before ``add`` (the policy's)."""
        self.policy.check_own(tx)

    def add(self, tx: Transaction, utxos: UtxoSet | PoolCoins, now: float = 0.0) -> int:
        """Validate ``tx`` against the confirmed coins and the pool's outputs; add it; return its fee.

        ``utxos``: the confirmed UTXO set (or a :meth:`coins` view over it). Raises
        :class:`InvalidTransaction`: ``already-in-mempool``, a standardness rule (``policy-dust``,
        ...), ``mempool-conflict`` (another pool transaction spends the same coin and this one
        cannot replace it), a chain bound (``policy-too-many-ancestors``, ...), a fee rule
        (``policy-min-relay-fee``, ``policy-mempool-min-fee``), ``mempool-full``, or whatever the
        UTXO rules say (``missing-input``, ``bad-signature``, ...). Nothing changes on a rejection.
        Everything cheap comes before the signatures.
        """
        self.policy.screen(tx)                   # the chain's own cheap checks, before anything else
        txid = tx.txid
        if txid in self.entries:
            raise InvalidTransaction("already-in-mempool", "we already have this transaction")
        size = tx.size
        self.check_standard(tx, size)
        conflicts = {self.spends[i.outpoint] for i in tx.inputs if i.outpoint in self.spends}
        evicted = self._replaced_by(conflicts)
        parents = {txin.prev_txid for txin in tx.inputs if txin.prev_txid in self.entries}
        if parents & evicted:
            raise InvalidTransaction("mempool-conflict", "it spends an output of a transaction it would replace")
        ancestors = self._check_limits(size, parents, evicted)    # before the signatures: cheap to refuse
        view = PoolCoins(utxos.utxos if isinstance(utxos, PoolCoins) else utxos, self, frozenset(evicted))
        fee = view.validate_transaction(tx, check_signatures=False)
        self._check_policy(tx, fee)
        self._check_fee(fee, size, now)
        if evicted:
            self._check_replacement(fee, size, conflicts, evicted)
        entry = MempoolEntry(tx, fee, size, now, memory_usage(tx, size))
        victims = self._eviction_victims(entry, ancestors, evicted)   # raises mempool-full
        view.validate_transaction(tx)                                # the signatures, last
        for t in evicted:
            self._drop(t)
        for worst, score in victims:
            self.remove_with_descendants(worst)
            self._bump_rolling(score, now)
        self._insert(entry, parents)
        return fee

    def _check_policy(self, tx: Transaction, fee: int) -> None:
        try:
            self.policy.check_fee(tx, fee)       # raises InvalidTransaction to refuse
        except InvalidTransaction as err:        # a local rule, not a consensus rule: say so
            raise InvalidTransaction(f"policy-{err.reason}", err.message) from None

    def _check_fee(self, fee: int, size: int, now: float) -> None:
        relay = self.relay
        if fee < relay.min_relay_feerate * size:
            raise InvalidTransaction("policy-min-relay-fee", f"pays {fee} units for {size} bytes; the minimum "
                                     f"relay fee is {relay.min_relay_feerate:g} per byte "
                                     f"({math.ceil(relay.min_relay_feerate * size)})")
        needed = self.min_feerate(now)
        if fee < needed * size:
            raise InvalidTransaction("policy-mempool-min-fee", f"pays {fee} units for {size} bytes; the pool is "
                                     f"full and takes {needed:.3f} per byte now ({math.ceil(needed * size)})")

    def _replaced_by(self, conflicts: set[bytes]) -> set[bytes]:
        """The pool transactions a newcomer spending the coins of ``conflicts`` would evict."""
        if not conflicts:
            return set()
        evicted = set(conflicts)
        for t in conflicts:
            evicted |= self.descendants(t)
            if len(evicted) > self.relay.max_replacements:
                break
        if len(evicted) > self.relay.max_replacements:
            raise InvalidTransaction("mempool-conflict", f"a replacement may evict at most "
                                     f"{self.relay.max_replacements} transactions; this one would evict more")
        return evicted

    def _check_replacement(self, fee: int, size: int, conflicts: set[bytes], evicted: set[bytes]) -> None:
        """Replace-by-fee (BIP 125's rules 3, 4 and 6, as Bitcoin Core's full RBF): the newcomer pays
        for everything it evicts, for its own bytes, and more per byte than each evicted transaction."""
        old_fees = sum(self.entries[t].fee for t in evicted)
        needed = old_fees + math.ceil(self.relay.incremental_feerate * size)
        if fee < needed:
            raise InvalidTransaction("mempool-conflict", f"another waiting transaction spends the same coin; to "
                                     f"replace it (and {len(evicted) - len(conflicts)} descendants) pay at least "
                                     f"{needed} units, not {fee}")
        best = max(self.entries[t].fee_rate for t in evicted)
        if fee / size <= best:
            raise InvalidTransaction("mempool-conflict", f"another waiting transaction spends the same coin; a "
                                     f"replacement must pay more than {best:.3f} units per byte")

    def _check_limits(self, size: int, parents: set[bytes], ignore: set[bytes] = frozenset()) -> set[bytes]:
        """The pool ancestors of a new transaction of ``size`` bytes spending from ``parents``, if
        the chain bounds allow it (else raise). ``ignore``: pool transactions about to be replaced."""
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
        carve_out = len(ancestors) == 1 and size <= lim.carve_out_bytes      # Bitcoin Core's CPFP carve-out
        for a in ancestors:
            family = self.descendants(a) - ignore
            count = len(family) + 2
            total = self.entries[a].size + sum(self.entries[d].size for d in family) + size
            if count > lim.descendants and not (carve_out and count <= lim.descendants + 1):
                raise InvalidTransaction("policy-too-many-descendants", f"an unconfirmed ancestor already has "
                                         f"{len(family)} descendants; at most {lim.descendants - 1}")
            if total > lim.descendant_bytes and not (carve_out and total <= lim.descendant_bytes + lim.carve_out_bytes
                                                     and count <= lim.descendants + 1):
                raise InvalidTransaction("policy-descendants-too-large", f"an unconfirmed ancestor's family "
                                         f"would be {total} bytes; at most {lim.descendant_bytes}")
        return ancestors

    def _eviction_victims(self, entry: MempoolEntry, ancestors: set[bytes],
                          leaving: set[bytes]) -> list[tuple[bytes, float]]:
        """When the newcomer would overfill the pool (count or memory): the pool packages (a
        transaction and its descendants) paying least per byte that must leave to make room, with
        their scores - never one the newcomer depends on. Raises ``mempool-full`` if one of them
        pays at least as much per byte as the newcomer. The ranking is kept until the pool
        changes: a stream of refused newcomers costs one walk over the pool, not one each."""
        count = len(self.entries) - len(leaving) + 1
        usage = self.usage - sum(self.entries[t].usage for t in leaving) + entry.usage
        if count <= self.max_txs and usage <= self.relay.max_usage:
            return []
        if self._ranking is None:                # scored once per change of the pool, not per newcomer:
            self._ranking = sorted((self._descendant_score(t), -e.time, t) for t, e in self.entries.items())
        victims, gone = [], set(leaving)
        for score, _, t in self._ranking:
            if count <= self.max_txs and usage <= self.relay.max_usage:
                break
            if t in ancestors or t in gone:
                continue
            if score >= entry.fee_rate:
                raise InvalidTransaction("mempool-full", "the pool is full of transactions paying more per byte")
            package = ({t} | self.descendants(t)) - gone
            gone |= package
            count -= len(package)
            usage -= sum(self.entries[p].usage for p in package)
            victims.append((t, score))
        if count > self.max_txs or usage > self.relay.max_usage:
            raise InvalidTransaction("mempool-full", "the pool is full of this transaction's ancestors")
        return victims

    def _bump_rolling(self, score: float, now: float) -> None:
        """An eviction: the rolling minimum fee rises above the evicted package's fee rate."""
        rate = score + self.relay.incremental_feerate
        if rate > self.rolling_min_feerate:
            self.rolling_min_feerate = rate
            self._rolling_updated = now
            self._block_since_bump = False

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
        self.bytes += entry.size
        self.usage += entry.usage
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
        self.bytes -= entry.size
        self.usage -= entry.usage
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
        confirmed coins) and every pool transaction in conflict with it, with its descendants.
        The rolling minimum fee may decay from now on."""
        removed = []
        self._block_since_bump = True
        for tx in txs:
            if self._drop(tx.txid) is not None:
                removed.append(tx.txid)
            if tx.is_coinbase:
                continue
            for txin in tx.inputs:
                rival = self.spends.get(txin.outpoint)
                if rival is not None:
                    removed += self.remove_with_descendants(rival)
        for txid in self.policy.expired(self):          # the chain's own: e.g. queries too old now
            if txid in self.entries:
                removed += self.remove_with_descendants(txid)
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
        self.bytes = self.usage = 0
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
        ancestors it needs, as Bitcoin Core's ``BlockAssembler``), each package parents first,
        until the block is full; a package that does not fit is skipped. Linear in the pool (times
        the chain bounds and a log): each transaction's ancestor fee and size are summed once;
        when a package is taken only its members' descendants get a new score (a fresh heap item;
        the stale one is skipped when it comes up). Pool transactions never conflict, so the
        result is a valid block body.
        """
        entries = self.entries
        limit = len(entries) if max_txs is None else max_txs
        anc = {t: self.ancestors(t) for t in entries}
        fee = {t: e.fee + sum(entries[a].fee for a in anc[t]) for t, e in entries.items()}
        size = {t: e.size + sum(entries[a].size for a in anc[t]) for t, e in entries.items()}
        version = dict.fromkeys(entries, 0)
        heap = [(-fee[t] / max(1, size[t]), e.time, t, 0) for t, e in entries.items()]
        heapq.heapify(heap)
        chosen: list[MempoolEntry] = []
        taken: set[bytes] = set()
        used = 0
        while heap and len(chosen) < limit:
            _, time, txid, v = heapq.heappop(heap)
            if v != version[txid] or txid in taken:
                continue                                 # stale score, or already in a package
            package = [a for a in anc[txid] if a not in taken]
            package.sort(key=lambda t: (len(anc[t]), entries[t].time, t))   # a parent has fewer ancestors
            package.append(txid)
            if used + size[txid] > max_bytes or len(chosen) + len(package) > limit:
                version[txid] = -1                       # skipped for good: its package does not fit
                continue
            chosen += [entries[t] for t in package]
            taken.update(package)
            used += size[txid]
            for p in package:                            # their descendants no longer need them
                for d in self.descendants(p):
                    if d in taken or version[d] < 0:
                        continue
                    fee[d] -= entries[p].fee
                    size[d] -= entries[p].size
                    version[d] += 1
                    heapq.heappush(heap, (-fee[d] / max(1, size[d]), entries[d].time, d, version[d]))
        return chosen

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
