"""[policy] The block store: one SQLite file per node, so a node can stop and start again.

SQLite comes with Python (``sqlite3``) and gives us what a node needs from a disk: a
write either happens completely or not at all (a *transaction*), even if the process
dies half-way. The store keeps every block the node accepted, its parent, height,
cumulative work and status, plus the hash of the best tip. ``Chain`` writes a new block
and the new tip in one transaction, and on restart rebuilds itself by replaying the
stored blocks (see ``Chain.__init__``).

Tables::

    meta(key, value)                         tip, genesis hash, network name, schema version
    blocks(hash, parent, height, chain_work, status, seq, body, payload, payload_size, reason)
    snapshots(hash, height, data)            the work rule's state after a block (model weights)

``reason`` is why a block was marked ``invalid`` (the error's reason, e.g. ``bad-proof``); NULL for
the other statuses, and for marks written by schema 1, which did not record it. A restarting
``Chain`` re-checks every invalid mark whose reason is unknown or names *missing data* (the node
lacked something, the block was not shown wrong: ``replay.py``), so a mark that should never have
been written does not outlive the code that wrote it. Schema 1 stores are upgraded in place
(``ALTER TABLE``: the column is added, every old mark has no reason).

``body`` is the block serialized with an empty payload; the payload (the gradient under
proof-of-gradient) sits in its own nullable column so it can be pruned once buried deep
enough (whitepaper section 7) without touching the rest. A pruned block still proves its
place in the chain (its header and transactions stay), but its gradient can no longer be
re-verified; a *snapshot* of the weights at or above it lets a restarting node skip it
(``Chain`` assumes the blocks up to the latest snapshot valid, loads the snapshot, and
replays the rest). Blocks found invalid are kept with status ``invalid`` and no payload, so a
restarted node still refuses them and their descendants (unless the mark is one to re-check, above).
A block whose payload is missing can get it back (``put_payload``: a peer sent it again).
``size_bytes()`` and ``vacuum()`` show the disk reclaimed. Used by every node (``gradientcoin node``),
by the network simulator and by the decentralized LLM (``gradientcoin_edu/llm/pruning.py``).
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from ..encoding import write_varint
from ..errors import StoreError
from .block import Block

__all__ = ["BlockStore", "StoredBlock", "PayloadOnDisk", "STATUSES", "SCHEMA_VERSION"]

SCHEMA_VERSION = 2              # 2: blocks.reason (why a block is invalid); schema 1 is upgraded on open
STATUSES = ("valid", "header-ok", "invalid")    # connected once / stored on a side branch / rejected

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    hash         BLOB PRIMARY KEY CHECK (length(hash) = 32),
    parent       BLOB NOT NULL CHECK (length(parent) = 32),
    height       INTEGER NOT NULL CHECK (height >= 0),
    chain_work   TEXT NOT NULL,                   -- hex: cumulative work can exceed 64 bits
    status       TEXT NOT NULL CHECK (status IN ('valid', 'header-ok', 'invalid')),
    seq          INTEGER NOT NULL UNIQUE,         -- arrival order: equal work goes to the first seen
    body         BLOB NOT NULL,                   -- the block serialized with an empty payload
    payload      BLOB,                            -- NULL once pruned
    payload_size INTEGER NOT NULL,
    reason       TEXT                             -- why it is invalid (NULL: not invalid, or not recorded)
);
CREATE INDEX IF NOT EXISTS blocks_by_height ON blocks (height);
CREATE TABLE IF NOT EXISTS snapshots (
    hash   BLOB PRIMARY KEY CHECK (length(hash) = 32),  -- the block the state belongs to
    height INTEGER NOT NULL CHECK (height >= 0),
    data   BLOB NOT NULL                                -- the work rule's bytes (weights)
);
"""


@dataclass(frozen=True)
class StoredBlock:
    """One row of the ``blocks`` table, with the block decoded."""

    hash: bytes
    parent: bytes
    height: int
    chain_work: int
    status: str
    seq: int
    block: Block
    pruned: bool = False             # payload not stored (pruned, or a block kept only as invalid)
    reason: str | None = None        # why it is invalid (None: not invalid, or a schema-1 mark)


class BlockStore:
    """SQLite block store. ``BlockStore(path)`` opens or creates the file; ``":memory:"`` for tests.

    ``durable=False`` does not wait for the disk at each commit (``PRAGMA synchronous=OFF``): a
    write is still all or nothing if the *process* dies, but not if the machine loses power. For
    stores that need not outlive the machine (the network simulator's nodes, whose crashes are
    simulated): measured on this machine's disk, 40-55 ms -> 5-11 ms of waiting per block written."""

    def __init__(self, path: str | Path = ":memory:", durable: bool = True):
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)   # we issue BEGIN/COMMIT ourselves
            if not durable:
                self._db.execute("PRAGMA synchronous=OFF")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StoreError("cannot-open", f"cannot open block store {self.path}: {err}") from None
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta({"schema_version": str(SCHEMA_VERSION).encode()})
        elif int(version) == 1:
            self._upgrade_from_1()
        elif int(version) != SCHEMA_VERSION:
            raise StoreError("schema-version", f"store has schema {int(version)}, this code reads {SCHEMA_VERSION}")

    def _upgrade_from_1(self) -> None:
        """Schema 1 -> 2: add ``blocks.reason`` (NULL for every existing row), in one transaction."""
        try:
            with self.transaction() as db:
                columns = [row[1] for row in db.execute("PRAGMA table_info(blocks)")]
                if "reason" not in columns:
                    db.execute("ALTER TABLE blocks ADD COLUMN reason TEXT")
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION).encode(),))
        except sqlite3.Error as err:
            raise StoreError("write-failed", f"cannot upgrade block store {self.path}: {err}") from None

    # --- transactions ---
    @contextmanager
    def transaction(self):
        """``with store.transaction():`` everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def write(self, blocks: Sequence[StoredBlock] = (), *, tip: bytes | None = None,
              statuses: Mapping[bytes, str] | None = None, meta: Mapping[str, bytes] | None = None,
              reasons: Mapping[bytes, str] | None = None) -> None:
        """Insert ``blocks``, change ``statuses``, set ``tip`` and ``meta`` in one transaction.
        ``reasons``: why the blocks changed to ``invalid`` are (any other status clears the reason).

        Any failure (a duplicate hash, a bad status, a full disk) rolls everything back
        and raises ``StoreError``; the store is then exactly as before the call.
        """
        try:
            with self.transaction() as db:
                for row in blocks:
                    self._insert(db, row)
                for block_hash, status in (statuses or {}).items():
                    reason = (reasons or {}).get(block_hash) if status == "invalid" else None
                    cur = db.execute("UPDATE blocks SET status = ?, reason = ? WHERE hash = ?",
                                     (status, reason, block_hash))
                    if cur.rowcount != 1:
                        raise StoreError("unknown-block", f"no stored block {block_hash.hex()} to update")
                for key, value in ({**(meta or {}), **({"tip": tip} if tip is not None else {})}).items():
                    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        except sqlite3.Error as err:
            raise StoreError("write-failed", f"block store write rolled back: {err}") from None

    def _insert(self, db: sqlite3.Connection, row: StoredBlock) -> None:
        block = row.block
        body = Block(block.header, block.txs, b"").serialize()
        db.execute(
            "INSERT INTO blocks (hash, parent, height, chain_work, status, seq, body, payload, payload_size, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.hash, row.parent, row.height, format(row.chain_work, "x"), row.status, row.seq,
             body, None if row.pruned else block.payload, len(block.payload),
             row.reason if row.status == "invalid" else None),
        )

    # --- reading ---
    def get_meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, items: Mapping[str, bytes]) -> None:
        self.write(meta=items)

    def tip(self) -> bytes | None:
        """Hash of the best block when last written (None for a new store)."""
        return self.get_meta("tip")

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]

    def __contains__(self, block_hash: bytes) -> bool:
        return self._db.execute("SELECT 1 FROM blocks WHERE hash = ?", (block_hash,)).fetchone() is not None

    def get(self, block_hash: bytes) -> StoredBlock | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM blocks WHERE hash = ?", (block_hash,)).fetchone()
        return None if row is None else _decode(row)

    def get_block(self, block_hash: bytes) -> Block | None:
        row = self.get(block_hash)
        return None if row is None else row.block

    def rows(self, payloads: bool = True) -> Iterator[StoredBlock]:
        """Every stored block, in arrival order (parents always before children). ``payloads=False``
        does not read the payloads: a block stored with a non-empty payload comes as a
        :class:`PayloadOnDisk` (its payload read from this store when used), so going through the
        rows holds one payload at a time at most (a restart's replay: ``replay.py``)."""
        columns = _COLUMNS if payloads else _COLUMNS_LAZY
        for row in self._db.execute(f"SELECT {columns} FROM blocks ORDER BY seq"):
            yield _decode(row, None if payloads else self)

    # --- pruning (whitepaper section 7) ---
    def prune_payload(self, block_hash: bytes) -> None:
        """Drop a block's payload bytes, keeping the header, transactions and payload size."""
        try:
            with self.transaction() as db:
                db.execute("UPDATE blocks SET payload = NULL WHERE hash = ?", (block_hash,))
        except sqlite3.Error as err:
            raise StoreError("write-failed", str(err)) from None

    def prune_payloads(self, below_height: int) -> int:
        """Drop the payloads of every block lower than ``below_height`` (any branch); returns how
        many were dropped. Genesis (height 0) keeps its payload."""
        try:
            with self.transaction() as db:
                cur = db.execute("UPDATE blocks SET payload = NULL WHERE height > 0 AND height < ? "
                                 "AND payload IS NOT NULL AND payload_size > 0", (below_height,))
                return cur.rowcount
        except sqlite3.Error as err:
            raise StoreError("write-failed", str(err)) from None

    def put_payload(self, block_hash: bytes, payload: bytes) -> None:
        """Store the payload of a block kept without it (a peer sent the block again). The payload must
        have the stored size; the caller checked it against the header (``Chain.check_body``)."""
        try:
            with self.transaction() as db:
                cur = db.execute("UPDATE blocks SET payload = ? WHERE hash = ? AND payload_size = ?",
                                 (bytes(payload), block_hash, len(payload)))
                if cur.rowcount != 1:
                    raise StoreError("unknown-block", f"no stored block {block_hash.hex()} with a "
                                     f"{len(payload)}-byte payload")
        except sqlite3.Error as err:
            raise StoreError("write-failed", str(err)) from None

    def payload(self, block_hash: bytes) -> bytes | None:
        """The stored payload of a block: its bytes, b"" when pruned (or empty), None when the block is
        not stored."""
        row = self._db.execute("SELECT payload FROM blocks WHERE hash = ?", (block_hash,)).fetchone()
        return None if row is None else (b"" if row[0] is None else bytes(row[0]))

    def payload_length(self, block_hash: bytes) -> int | None:
        """The length of a block's stored payload, read without its bytes; None when the block is not
        stored or its payload was pruned."""
        row = self._db.execute("SELECT length(payload) FROM blocks WHERE hash = ?", (block_hash,)).fetchone()
        return None if row is None else row[0]

    def has_payload(self, block_hash: bytes, size: int) -> bool:
        """Is the block stored with its ``size``-byte payload (not pruned)?"""
        return self._db.execute("SELECT 1 FROM blocks WHERE hash = ? AND payload IS NOT NULL AND payload_size = ?",
                                (block_hash, size)).fetchone() is not None

    def payload_bytes(self) -> int:
        """Bytes of payload still stored."""
        return self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM blocks").fetchone()[0]

    # --- snapshots of the work rule's state ---
    def put_snapshot(self, block_hash: bytes, height: int, data: bytes) -> None:
        """Keep the work rule's state after block ``block_hash`` (replaces an older one for it)."""
        try:
            with self.transaction() as db:
                db.execute("INSERT OR REPLACE INTO snapshots (hash, height, data) VALUES (?, ?, ?)",
                           (block_hash, height, bytes(data)))
        except sqlite3.Error as err:
            raise StoreError("write-failed", str(err)) from None

    def snapshots(self) -> list[tuple[bytes, int]]:
        """(block hash, height) of every snapshot, highest first."""
        rows = self._db.execute("SELECT hash, height FROM snapshots ORDER BY height DESC, hash").fetchall()
        return [(bytes(h), height) for h, height in rows]

    def get_snapshot(self, block_hash: bytes) -> bytes | None:
        row = self._db.execute("SELECT data FROM snapshots WHERE hash = ?", (block_hash,)).fetchone()
        return None if row is None else bytes(row[0])

    def delete_snapshots(self, below_height: int) -> int:
        """Forget snapshots lower than ``below_height`` (a newer one replaces them); returns how many."""
        try:
            with self.transaction() as db:
                return db.execute("DELETE FROM snapshots WHERE height < ?", (below_height,)).rowcount
        except sqlite3.Error as err:
            raise StoreError("write-failed", str(err)) from None

    # --- disk usage ---
    def size_bytes(self) -> int:
        """Bytes the database occupies (pages in use plus free pages, as on disk)."""
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return self._db.execute("PRAGMA page_count").fetchone()[0] * page_size

    def vacuum(self) -> None:
        """Rewrite the database without its free pages, so the file shrinks to what is in use."""
        try:
            self._db.execute("VACUUM")
        except sqlite3.Error as err:
            raise StoreError("write-failed", str(err)) from None

    # --- lifetime ---
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "BlockStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BlockStore({self.path!r}, {len(self)} blocks)"


_COLUMNS = "hash, parent, height, chain_work, status, seq, body, payload, payload_size, reason"
_COLUMNS_LAZY = "hash, parent, height, chain_work, status, seq, body, length(payload), payload_size, reason"


def _decode(row: tuple, store: BlockStore | None = None) -> StoredBlock:
    """A stored block from its row. With ``store``, the row was read without its payload
    (``_COLUMNS_LAZY``: the payload column holds its length, None when pruned; SQLite reads that from
    the row's header, not the payload's pages) and a stored payload stays on disk (``PayloadOnDisk``)."""
    block_hash, parent, height, work, status, seq, body, payload, payload_size, reason = row
    block = Block.parse(bytes(body))
    if block.hash() != bytes(block_hash):
        raise StoreError("corrupt", f"stored block {bytes(block_hash).hex()} does not hash to its key")
    if store is None:
        block = Block(block.header, block.txs, b"" if payload is None else bytes(payload))
    elif payload:
        block = PayloadOnDisk.stored(block, payload, store)
    return StoredBlock(bytes(block_hash), bytes(parent), height, int(work, 16), status, seq, block,
                       payload is None and payload_size > 0, reason)


class PayloadOnDisk(Block):
    """A stored block whose payload stays in the store: the header and transactions are held in
    memory, the payload (433 KB for the nano GPT's gradient) is read back from ``store`` each time
    it is used (``store.payload``: b"" once pruned). A node swaps its old blocks for these
    (``of``), so its memory no longer grows by a gradient per block; hash, size, encoding and
    equality are the block's own. Read it on the thread that opened the store (SQLite's rule)."""

    def __init__(self, *args, **kwargs):                    # built only by ``of``
        raise TypeError("use PayloadOnDisk.of(block, store)")

    @classmethod
    def of(cls, block: Block, store: BlockStore) -> "PayloadOnDisk":
        """``block`` (stored in ``store`` with its payload) with the payload left on disk."""
        return cls._new(block, block._head_bytes(), store)        # the length of the payload is in the head

    @classmethod
    def stored(cls, body: Block, payload_size: int, store: BlockStore) -> "PayloadOnDisk":
        """A block read from ``store`` without its payload (``body``: the stored encoding with an empty
        payload; ``payload_size``: the stored payload's length): the block ``of`` gives for its whole
        copy (the same hash, size, encoding and equality: ``_head`` as ``Block._head_bytes`` builds it)."""
        head = body._head_bytes()
        if body.payload or head[-1:] != write_varint(0):
            raise StoreError("corrupt", f"stored body of {body.hash_hex()[:16]}.. carries a payload")
        return cls._new(body, head[:-1] + write_varint(payload_size), store)

    @classmethod
    def _new(cls, block: Block, head: bytes, store: BlockStore) -> "PayloadOnDisk":
        new = object.__new__(cls)
        object.__setattr__(new, "header", block.header)
        object.__setattr__(new, "txs", block.txs)
        object.__setattr__(new, "_head", head)
        object.__setattr__(new, "_store", store)
        return new

    @property
    def payload(self) -> bytes:
        data = self._store.payload(self.header.hash())
        return b"" if data is None else data

    def serialize(self) -> bytes:
        """The block's bytes; once its payload is pruned from the store, the block as kept without it
        (an empty payload, as ``Block.parse`` reads it back), never bytes that announce a payload."""
        payload = self.payload
        return self._head + payload if payload else Block(self.header, self.txs).serialize()

    def size(self) -> int:
        """As ``serialize()``'s length, without reading the payload (its stored length only)."""
        length = self._store.payload_length(self.header.hash())
        return len(self._head) + length if length else Block(self.header, self.txs).size()

    def __eq__(self, other):
        if not isinstance(other, Block):
            return NotImplemented
        return (self.header, self.txs, self.payload) == (other.header, other.txs, other.payload)

    __hash__ = Block.__hash__

    def __repr__(self) -> str:
        return f"PayloadOnDisk({self.hash_hex()[:16]}.., {len(self.txs)} txs, payload in {self._store.path})"
