"""A node: the logic of one participant, written once, whatever carries its messages.

Whitepaper section 5 lists what a node does: new transactions are broadcast; each node collects
them into a block and works on it; a found block is broadcast; nodes accept it only if all its
transactions are valid, and express acceptance by building on it; they always consider the
chain with the most work to be the correct one. This class does exactly that, by reacting to
four kinds of input:

* ``on_connect(peer)`` / ``on_disconnect(peer)`` — a link to a peer came up or went down;
* ``on_message(peer, data)`` — bytes arrived from a peer (anything: they may be malformed);
* ``on_tick()`` — time passed (re-request what never came, re-announce our tip);
* ``mine_block()`` / ``submit_transaction(tx)`` — local actions.

It talks back only through a *transport* with three methods: ``send(peer, data)``,
``disconnect(peer)`` and ``now()`` (seconds since 1970 on this node's clock). The simulator
(``simulator.py``) and the ZeroMQ processes (``zmq_transport.py``) are two transports; the
consensus code is the same in both. Blocks and their validation, fork choice and reorgs live in
``chain.Chain``; the node adds the mempool, gossip (announce with ``inv``, request with
``getdata``, deliver with ``block``/``tx``), catching up (``getblocks``), an orphan pool for blocks
whose parent has not arrived, and peer scoring (``peers.py``). Taught in notebook 04.
"""
from __future__ import annotations

import random
import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from ..chain.block import Block, BlockHeader, compute_tx_root
from ..chain.bits import bits_to_target
from ..chain.fork_choice import AddResult, Chain, ChainEvent
from ..chain.pow import search_nonces
from ..crypto.hashes import sha256
from ..errors import GradientCoinError, InvalidBlock, InvalidMessage, InvalidTransaction, ParseError
from ..ledger import Transaction, TxOut
from . import messages as m
from .mempool import Mempool
from .peers import PeerBook, PeerPolicy

__all__ = ["Transport", "NodeConfig", "Node", "pow_search", "QUIET_TX_REASONS", "QUIET_BLOCK_REASONS"]

# Rejections that are not the sender's fault: the transaction may be valid on another branch, or
# simply old news. Every other reason means the object can never be valid: the peer is punished.
QUIET_TX_REASONS = frozenset({
    "already-in-mempool", "mempool-conflict", "mempool-full", "missing-input", "double-spend",
    "immature-coinbase",
})
# Blocks: an unknown parent makes an orphan; a clock difference is not an attack.
QUIET_BLOCK_REASONS = frozenset({"unknown-parent", "time-too-new"})


class Transport(Protocol):
    """What a node needs from whatever carries its messages."""

    def send(self, peer: str, data: bytes) -> None: ...

    def disconnect(self, peer: str) -> None: ...

    def now(self) -> float: ...


@dataclass(frozen=True)
class NodeConfig:
    """Knobs of one node (defaults suit the simulator and the tests)."""

    max_orphans: int = 200                  # blocks kept while their parent is missing
    blocks_per_inv: int = 500               # blocks announced in one answer to getblocks
    request_timeout: float = 60.0           # seconds before asking another peer for a missing object
    heartbeat: float | None = 600.0         # re-announce our tip after this long without news (recovers lost messages)
    mempool_size: int = 5000
    max_block_txs: int = 1000               # transactions a miner puts in one block (besides the coinbase)
    max_payload: int = m.MAX_PAYLOAD_BYTES  # message size limit
    seen_txs: int = 20_000                  # remember this many transaction ids we have handled
    mempool_policy: Callable | None = None  # extra local rule: policy(tx, fee) raises InvalidTransaction
    policy: PeerPolicy = field(default_factory=PeerPolicy)


@dataclass
class _Orphan:
    block: Block
    peer: str | None


def pow_search(header: BlockHeader, start: int = 0, count: int = 2**32) -> BlockHeader | None:
    """Try nonces ``start, start+1, ...`` (at most ``count``); the header that meets its target, or None.

    This is real proof-of-work on the header's own ``bits``. Under the regtest preset the target
    is 2^255 - 1, so about two tries find a block.
    """
    nonce = search_nonces(header.serialize()[:-4], bits_to_target(header.bits), start, count)
    return None if nonce is None else header.with_nonce(nonce)


class Node:
    """One participant: a chain, a mempool, peers, and the rules for talking to them.

    ``name``: how we show up in logs. ``chain``: a ``Chain`` (its clock should be the
    transport's). ``miner_address``: where our block rewards go (None: we do not mine).
    ``listener``: optional callable receiving ``(kind, details)`` events for logs and plots.
    ``solver(template, max_tries)``: turns a block template into a block whose work the chain's
    work rule accepts, or None; the default searches proof-of-work nonces. Proof-of-gradient plugs
    in here (it fills ``grad_root``, ``weights_root``, ``miner_id`` and the payload), together with
    a ``Chain`` built with its work rule.
    """

    def __init__(self, name: str, chain: Chain, transport: Transport, *, miner_address: bytes | None = None,
                 config: NodeConfig | None = None, seed: int | str = 0, listen: str = "",
                 listener: Callable[[str, dict], None] | None = None,
                 solver: Callable[[Block, int], Block | None] | None = None):
        self.name, self.chain, self.transport = name, chain, transport
        self.solver = solver                              # does the work for a template (default: PoW nonces)
        self.miner_address = miner_address
        self.config = config or NodeConfig()
        self.listen = listen
        self.listener = listener
        self.rng = random.Random(f"node:{name}:{seed}")
        self.nonce = self.rng.getrandbits(64)             # detects connections to ourselves
        self.mempool = Mempool(self.config.mempool_size, self.config.mempool_policy)
        self.peerbook = PeerBook(self.config.policy)
        self.peers: dict[str, dict] = {}                  # connected peers -> handshake state
        self.orphans: OrderedDict[bytes, _Orphan] = OrderedDict()
        self.requested: dict[bytes, tuple[str, float, int]] = {}   # hash -> (peer, deadline, kind)
        self.announcers: dict[bytes, list[str]] = {}      # hash -> peers that announced it
        self.seen_txs: OrderedDict[bytes, None] = OrderedDict()
        self.continue_sync: dict[bytes, str] = {}         # last hash of a full inv batch -> peer
        self.stats: Counter = Counter()
        self.last_heartbeat = self.transport.now()
        self._events: list[ChainEvent] = []
        self.chain.listeners.append(self._events.append)

    # ================================================================== reading
    @property
    def tip(self) -> bytes:
        return self.chain.tip_hash

    @property
    def height(self) -> int:
        return self.chain.height

    def best_chain(self) -> list[bytes]:
        """Hashes of the best chain, genesis first."""
        return [e.hash for e in self.chain.active_chain()]

    def __repr__(self) -> str:
        return f"Node({self.name}, height={self.height}, tip={self.chain.tip.hash_hex()[:12]}.., peers={len(self.peers)})"

    # ================================================================== transport events
    def on_connect(self, peer: str) -> None:
        """A link to ``peer`` is up: say hello (our version: genesis, best height, tip)."""
        if self.peerbook.is_banned(peer, self.transport.now()):
            self.transport.disconnect(peer)
            return
        self.peers[peer] = {"version": False, "sent_version": True}
        self._send(peer, self._version())

    def on_disconnect(self, peer: str) -> None:
        self.peers.pop(peer, None)                        # (its score and offences are kept)
        for h, (p, _, _) in list(self.requested.items()):
            if p == peer:
                del self.requested[h]

    def on_message(self, peer: str, data: bytes) -> None:
        """Bytes from ``peer``: decode, check, act. Never raises for anything a peer can send."""
        now = self.transport.now()
        if self.peerbook.is_banned(peer, now):
            self.stats["from-banned"] += 1
            return
        if not self.peerbook.allow_message(peer, now):
            self.stats["rate-limited"] += 1
            self._maybe_ban(peer, now)
            return
        try:
            msg = m.decode(data, max_payload=self.config.max_payload)
        except InvalidMessage as err:
            offence = "oversized-message" if err.reason == "oversized" else "malformed-message"
            self._punish(peer, offence, err.reason)
            return
        self.stats[f"recv-{msg.command}"] += 1
        handler = getattr(self, f"_on_{msg.command}")
        try:
            handler(peer, msg)
        except GradientCoinError as err:               # e.g. a store error: our problem, not the peer's
            self.stats[f"error-{err.reason}"] += 1
            self._emit("error", peer=peer, command=msg.command, reason=err.reason, message=err.message)

    def on_tick(self) -> None:
        """Housekeeping: forget requests that timed out (ask someone else); re-announce our tip."""
        now = self.transport.now()
        for h, (peer, deadline, kind) in list(self.requested.items()):
            if deadline <= now:
                del self.requested[h]
                others = [p for p in self.announcers.get(h, []) if p != peer and p in self.peers]
                if others:
                    self._request(others[0], [m.InvItem(kind, h)])
        for peer, state in self.peers.items():
            if not state["version"]:                   # our hello may have been lost: say it again
                self._send(peer, self._version())
        hb = self.config.heartbeat
        if hb is not None and now - self.last_heartbeat >= hb:   # quiet for a while: say where we are
            self.last_heartbeat = now
            self._broadcast(m.Inv((m.InvItem(m.INV_BLOCK, self.tip),)))

    # ================================================================== local actions
    def submit_transaction(self, tx: Transaction) -> int:
        """Our own (or our wallet's) transaction: add to the mempool and announce it; returns its fee."""
        fee = self.mempool.add(tx, self.chain.utxo, self.transport.now())
        self._remember_tx(tx.txid)
        self._broadcast(m.Inv((m.InvItem(m.INV_TX, tx.txid),)))
        return fee

    def block_template(self, time: int | None = None, parent: bytes | None = None,
                       txs: Iterable[Transaction] | None = None) -> Block:
        """An unmined block (nonce 0) on ``parent`` (default: our tip) paying us subsidy + fees.

        Transactions: ``txs`` if given (they must be valid on ``parent``), else the best of our
        mempool (only when building on our tip, where the mempool is valid).
        """
        entry = self.chain.tip if parent is None else self.chain.get(parent)
        height = entry.height + 1
        if txs is None:
            chosen = self.mempool.select(self.chain.params.max_block_bytes // 2, self.config.max_block_txs)
            body, fees = [e.tx for e in chosen], sum(e.fee for e in chosen)
        else:
            body = list(txs)
            fees = self._fees_on(entry, body)
        reward = self.chain.subsidy(height) + fees
        address = self.miner_address or bytes(20)
        extra = self.name.encode()[:40] + struct.pack("<Q", self.rng.getrandbits(64))
        coinbase = Transaction.coinbase(height, [TxOut(reward, address)], extra=extra)
        all_txs = (coinbase, *body)
        mtp = self.chain.median_time_past(entry.hash)
        now = int(self.transport.now()) if time is None else int(time)
        header = BlockHeader(version=1, prev_hash=entry.hash, tx_root=compute_tx_root(all_txs),
                             time=max(now, mtp + 1), bits=self.chain.next_bits(entry.hash),
                             miner_id=sha256(self.name.encode()))
        return Block(header, all_txs)

    def _fees_on(self, entry, txs: list[Transaction]) -> int:
        """Fees of ``txs`` when valid at ``entry``'s tip (our UTXO set if ``entry`` is our tip)."""
        if entry is not self.chain.tip:
            return 0                                   # unknown without replaying the branch: claim none
        utxo = self.chain.utxo.copy()
        fees = 0
        for tx in txs:
            fees += utxo.validate_transaction(tx)
        return fees

    def mine_block(self, time: int | None = None, parent: bytes | None = None,
                   txs: Iterable[Transaction] | None = None, publish: bool = True,
                   max_tries: int = 2**32) -> Block | None:
        """Build a block, find a nonce (real proof-of-work on the header's target), add it, announce it.

        ``publish=False`` keeps the block to ourselves (a selfish or double-spending miner).
        Returns None when ``max_tries`` nonces were not enough.
        """
        template = self.block_template(time, parent, txs)
        if self.solver is not None:
            block = self.solver(template, max_tries)
        else:
            header = pow_search(template.header, 0, max_tries)
            block = None if header is None else Block(header, template.txs, template.payload)
        if block is None:
            return None
        self.stats["mined"] += 1
        self.submit_block(block, publish=publish)
        return block

    def submit_block(self, block: Block, publish: bool = True) -> AddResult:
        """A block we made (or got out of band): add it; announce it if it changed our tip."""
        result = self._add_block(block, source=None, announce=publish)
        if result is None:
            raise InvalidBlock("rejected", "the block was not accepted (see the node's events)")
        return result

    def publish(self, block_hashes: Iterable[bytes]) -> None:
        """Announce blocks we hold (e.g. a private branch being released)."""
        items = tuple(m.InvItem(m.INV_BLOCK, h) for h in block_hashes)
        if items:
            self._broadcast(m.Inv(items))

    # ================================================================== message handlers
    def _on_version(self, peer: str, msg: m.Version) -> None:
        if msg.genesis != self.chain.genesis.hash:
            self._emit("wrong-network", peer=peer)
            self._drop(peer)
            return
        if msg.nonce == self.nonce:
            self._drop(peer)                           # we connected to ourselves
            return
        state = self.peers.setdefault(peer, {"version": False, "sent_version": False})
        if state["version"]:                           # a second hello: the peer restarted, start over
            state["sent_version"] = False
        state["version"] = True
        state["listen"] = msg.listen
        self.peerbook.get(peer, self.transport.now()).best_height = msg.best_height
        if not state["sent_version"]:
            state["sent_version"] = True
            self._send(peer, self._version())
        self._send(peer, m.Verack())
        if msg.best_hash not in self.chain:            # they know blocks we do not: ask what follows ours
            self._send(peer, m.GetBlocks(tuple(self.chain.locator()[:m.MAX_LOCATOR])))
        elif msg.best_hash != self.tip:                # we are ahead (or elsewhere): show them our tip
            self._send(peer, m.Inv((m.InvItem(m.INV_BLOCK, self.tip),)))
        if len(self.mempool):                          # and what is waiting to be mined (cf. BIP 35)
            txids = self.mempool.txids()[:m.MAX_INV_ITEMS]
            self._send(peer, m.Inv(tuple(m.InvItem(m.INV_TX, t) for t in txids)))

    def _on_verack(self, peer: str, msg: m.Verack) -> None:
        if peer in self.peers:
            self.peers[peer]["verack"] = True

    def _on_ping(self, peer: str, msg: m.Ping) -> None:
        self._send(peer, m.Pong(msg.nonce))

    def _on_pong(self, peer: str, msg: m.Pong) -> None:
        pass

    def _on_inv(self, peer: str, msg: m.Inv) -> None:
        if not self._handshaken(peer):
            return
        wanted = []
        for item in msg.items:
            self._note_announcer(item.hash, peer)
            if item.kind == m.INV_BLOCK and self._want_block(item.hash):
                wanted.append(item)
            elif item.kind == m.INV_TX and self._want_tx(item.hash):
                wanted.append(item)
        blocks = [i for i in msg.items if i.kind == m.INV_BLOCK]
        if len(blocks) >= self.config.blocks_per_inv:
            self.continue_sync[blocks[-1].hash] = peer       # more to come: ask again after the last one
        if wanted:
            self._request(peer, wanted)

    def _on_getdata(self, peer: str, msg: m.GetData) -> None:
        missing = []
        for item in msg.items:
            if item.kind == m.INV_BLOCK:
                block = self.chain.get_block(item.hash)
                if block is None and item.hash in self.orphans:
                    block = self.orphans[item.hash].block
                if block is not None:
                    self._send(peer, m.BlockMsg(block.serialize()))
                    continue
            else:
                tx = self.mempool.get(item.hash)
                if tx is not None:
                    self._send(peer, m.TxMsg(tx.serialize()))
                    continue
            missing.append(item)
        if missing:
            self._send(peer, m.NotFound(tuple(missing)))

    def _on_notfound(self, peer: str, msg: m.NotFound) -> None:
        for item in msg.items:
            if self.requested.get(item.hash, ("",))[0] == peer:
                del self.requested[item.hash]

    def _on_getblocks(self, peer: str, msg: m.GetBlocks) -> None:
        if not self._handshaken(peer):
            return
        blocks = self.chain.blocks_after(msg.locator, self.config.blocks_per_inv)
        items = []
        for block in blocks:
            items.append(m.InvItem(m.INV_BLOCK, block.hash()))
            if block.hash() == msg.stop:
                break
        if items:
            self._send(peer, m.Inv(tuple(items)))

    def _on_block(self, peer: str, msg: m.BlockMsg) -> None:
        try:
            block = Block.parse(msg.raw, max_size=self.chain.params.max_block_bytes)
        except ParseError as err:
            self._punish(peer, "malformed-message", f"block: {err.reason}")
            return
        h = block.hash()
        if self.requested.get(h, ("",))[0] == peer:
            del self.requested[h]
        self._add_block(block, source=peer, announce=True)

    def _on_tx(self, peer: str, msg: m.TxMsg) -> None:
        try:
            tx = Transaction.parse(msg.raw)
        except ParseError as err:
            self._punish(peer, "malformed-message", f"tx: {err.reason}")
            return
        txid = tx.txid
        self.requested.pop(txid, None)
        self._remember_tx(txid)
        try:
            self.mempool.add(tx, self.chain.utxo, self.transport.now())
        except InvalidTransaction as err:
            self.stats[f"tx-rejected-{err.reason}"] += 1
            if err.reason not in QUIET_TX_REASONS and not err.reason.startswith("policy-"):
                self._punish(peer, "invalid-tx", err.reason)
            return
        self.stats["tx-accepted"] += 1
        self._broadcast(m.Inv((m.InvItem(m.INV_TX, txid),)), exclude=peer)

    # ================================================================== blocks
    def _add_block(self, block: Block, source: str | None, announce: bool) -> AddResult | None:
        """Add a block (and any orphans waiting for it). Returns the chain's verdict or None."""
        old_tip = self.tip
        result = self._try_add(block, source)
        if result is None:
            return None
        pending = [block.hash()]
        while pending:                                   # orphans whose parent just arrived
            parent = pending.pop()
            for h, orphan in list(self.orphans.items()):
                if orphan.block.prev_hash == parent:
                    del self.orphans[h]
                    if self._try_add(orphan.block, orphan.peer) is not None:
                        pending.append(h)
        if announce and self.tip != old_tip:
            self._announce_tip()
        return result

    def _announce_tip(self) -> None:
        """``inv`` our new tip to every peer that has not announced it to us already."""
        knows = set(self.announcers.get(self.tip, ()))
        data = m.encode(m.Inv((m.InvItem(m.INV_BLOCK, self.tip),)))
        for peer, state in self.peers.items():
            if state["version"] and peer not in knows:
                self.stats["sent-inv"] += 1
                self.transport.send(peer, data)
        self.last_heartbeat = self.transport.now()

    def _try_add(self, block: Block, source: str | None) -> AddResult | None:
        h = block.hash()
        self._events.clear()
        try:
            result = self.chain.add_block(block, now=self.transport.now())
        except InvalidBlock as err:
            self._events.clear()
            if err.reason == "unknown-parent":
                self._keep_orphan(block, source)
            elif source is not None and err.reason not in QUIET_BLOCK_REASONS:
                self._punish(source, "invalid-block", err.reason)
            else:
                self.stats[f"block-rejected-{err.reason}"] += 1
            self._emit("block-rejected", hash=h, reason=err.reason, peer=source)
            return None
        if result is not AddResult.DUPLICATE:
            self._after_chain_change(block, result)
        if h in self.continue_sync:
            peer = self.continue_sync.pop(h)
            if peer in self.peers:
                self._send(peer, m.GetBlocks(tuple(self.chain.locator()[:m.MAX_LOCATOR])))
        return result

    def _after_chain_change(self, block: Block, result: AddResult) -> None:
        """Keep the mempool in step with the best chain: drop what got mined, take back what a reorg abandoned."""
        events, self._events[:] = list(self._events), []
        for e in events:
            if e.kind == "connected":
                self.mempool.remove_for_block(e.block.txs)
        abandoned = [e.block for e in events if e.kind == "disconnected"]
        if abandoned:
            self.mempool.revalidate(self.chain.utxo)
            txs = [tx for b in reversed(abandoned) for tx in b.txs[1:]]     # oldest block first
            back = self.mempool.readd(txs, self.chain.utxo, self.transport.now())
            if back:                                   # tell the peers again: they may never have seen them
                self._broadcast(m.Inv(tuple(m.InvItem(m.INV_TX, txid) for txid in back[:m.MAX_INV_ITEMS])))
            self.stats["reorgs"] += 1
            self._emit("reorg", depth=len(abandoned), returned_txs=len(back), tip=self.tip,
                       abandoned=[b.hash() for b in abandoned])
        self.stats[f"block-{result.value}"] += 1
        self._emit("block", hash=block.hash(), result=result.value, height=self.height, tip=self.tip)

    def _keep_orphan(self, block: Block, source: str | None) -> None:
        h = block.hash()
        if h not in self.orphans:
            self.orphans[h] = _Orphan(block, source)
            while len(self.orphans) > self.config.max_orphans:
                self.orphans.popitem(last=False)          # forget the oldest
            self.stats["orphans"] += 1
        if source is not None and source in self.peers:   # ask for the missing ancestors
            self._send(source, m.GetBlocks(tuple(self.chain.locator()[:m.MAX_LOCATOR])))

    def _want_block(self, h: bytes) -> bool:
        if h in self.chain or h in self.orphans:
            return False
        pending = self.requested.get(h)
        return pending is None or pending[1] <= self.transport.now()

    def _want_tx(self, txid: bytes) -> bool:
        if txid in self.mempool or txid in self.seen_txs:
            return False
        pending = self.requested.get(txid)
        return pending is None or pending[1] <= self.transport.now()

    # ================================================================== peers
    def _punish(self, peer: str, offence: str, detail: str = "") -> None:
        now = self.transport.now()
        self.stats[f"offence-{offence}"] += 1
        self._emit("misbehaving", peer=peer, offence=offence, detail=detail)
        if self.peerbook.misbehaving(peer, offence, now):
            self._emit("ban", peer=peer, offence=offence)
            self._drop(peer)

    def _maybe_ban(self, peer: str, now: float) -> None:
        if self.peerbook.is_banned(peer, now) and peer in self.peers:
            self._emit("ban", peer=peer, offence="flood")
            self._drop(peer)

    def _drop(self, peer: str) -> None:
        self.on_disconnect(peer)
        self.transport.disconnect(peer)

    def _handshaken(self, peer: str) -> bool:
        """Has ``peer`` said hello? If not, the message is dropped (1 point) and we say hello first."""
        if peer in self.peers and self.peers[peer]["version"]:
            return True
        self._punish(peer, "protocol", "message before version")
        if peer not in self.peers and not self.peerbook.is_banned(peer, self.transport.now()):
            self.on_connect(peer)
        return False

    def _note_announcer(self, h: bytes, peer: str) -> None:
        peers = self.announcers.setdefault(h, [])
        if peer not in peers and len(peers) < 8:
            peers.append(peer)
        if len(self.announcers) > 50_000:
            self.announcers.pop(next(iter(self.announcers)))

    def _remember_tx(self, txid: bytes) -> None:
        self.seen_txs[txid] = None
        while len(self.seen_txs) > self.config.seen_txs:
            self.seen_txs.popitem(last=False)

    # ================================================================== sending
    def _version(self) -> m.Version:
        return m.Version(genesis=self.chain.genesis.hash, best_height=self.height, best_hash=self.tip,
                         nonce=self.nonce, listen=self.listen)

    def _send(self, peer: str, msg: m.Message) -> None:
        self.stats[f"sent-{msg.command}"] += 1
        self.transport.send(peer, m.encode(msg))

    def _broadcast(self, msg: m.Message, exclude: str | None = None) -> None:
        data = m.encode(msg)
        for peer, state in self.peers.items():
            if peer != exclude and state["version"]:
                self.stats[f"sent-{msg.command}"] += 1
                self.transport.send(peer, data)

    def _request(self, peer: str, items: list) -> None:
        deadline = self.transport.now() + self.config.request_timeout
        for item in items:
            self.requested[item.hash] = (peer, deadline, item.kind)
        for i in range(0, len(items), m.MAX_INV_ITEMS):
            self._send(peer, m.GetData(tuple(items[i:i + m.MAX_INV_ITEMS])))

    def _emit(self, kind: str, **details) -> None:
        if self.listener is not None:
            self.listener(kind, {"node": self.name, "time": self.transport.now(), **details})
