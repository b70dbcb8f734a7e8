"""[policy] A node: the logic of one participant, written once, whatever carries its messages.

Whitepaper section 5 lists what a node does: new transactions are broadcast; each node collects
them into a block and works on it; a found block is broadcast; nodes accept it only if all its
transactions are valid, and express acceptance by building on it; they always consider the
chain with the most work to be the correct one. This class does exactly that, by reacting to
four kinds of input:

* ``on_connect(peer, inbound, netgroup)`` / ``on_disconnect(peer)`` — a link to a peer came up or went down;
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

Peers are named by the transport: in the ZeroMQ transport a name is the peer's authenticated
CURVE public key, so scores, bans and slots stick to an identity nobody else can claim. A node
must also survive peers that lie, flood or hoard; every structure a peer can grow has a bound
(``NodeConfig``; what each costs an attacker is in docs/protocol.md section 10):

* **slots**: at most ``max_inbound`` peers that dialled us. When a new one arrives and all are
  taken, one is evicted in the spirit of Bitcoin Core: peers from distinct network groups, those
  with the lowest ping (we ping every inbound peer on hello and every ``ping_interval``), those that
  recently gave us new blocks or transactions, and the longest-connected half are protected;
  among the rest, the youngest peer of the most crowded network group goes, preferring one that
  has had ``eviction_grace`` seconds to prove itself. If everyone is protected the newcomer is
  refused. Peers we dialled ourselves (outbound) are never evicted.
* **handshake**: an inbound peer that has not said ``version`` after ``handshake_timeout`` seconds
  is dropped; at most ``max_pending`` such peers at once (the oldest of the most crowded network
  group goes first). An inbound peer that, pinged, sends nothing for ``ping_timeout`` is dropped.
* **work per message**: a cost-weighted rate budget per peer (``peers.message_cost``): big and
  expensive messages use up more of it, and what a getdata makes us send is charged on top.
* **requests**: at most ``max_blocks_in_flight`` blocks and ``max_requests_per_peer`` objects
  outstanding per peer, ``max_requests`` in all; further announcements are ignored.
* **orphans**: at most ``max_orphans`` blocks and ``max_orphan_bytes`` bytes kept as raw bytes,
  each peer at most ``orphan_share`` of either; the oldest of the sender's own go first.
* **getdata**: each item once per request (repeats are an offence), at most
  ``max_getdata_bytes`` sent per request (the rest answered ``notfound``).
* **side branches**: a block that would not move our tip goes into the chain (and the store) only
  if we asked its sender for it, within ``max_side_bytes_per_peer`` and ``max_side_bytes`` and at
  most ``max_side_ahead`` above our tip; otherwise it waits as raw bytes in a bounded side pool and
  is connected only when a branch through it gets more work than our tip (``_admit``).

The node supervises itself: every walk over the peer table is over a snapshot (a send may tell us
a peer left), and a bug in a message handler or a timer is logged, emitted (``handler-error``) and
counted (``stats["handler-crash"]``), never raised to the transport.
"""
from __future__ import annotations

import logging
import random
import secrets
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from ..chain.block import HEADER_SIZE, Block, BlockHeader
from ..chain.bits import bits_to_work
from ..chain.chain import AddResult, Chain, ChainEvent
from ..errors import GradientCoinError, InvalidBlock, InvalidMessage, InvalidTransaction, ParseError
from ..ledger import Transaction
from . import messages as m
from .assembler import BlockAssembler
from .mempool import Mempool
from .peers import EvictionCandidate, PeerBook, PeerPolicy, message_cost, select_eviction

__all__ = ["Transport", "NodeConfig", "Node", "BlockAssembler", "QUIET_TX_REASONS", "QUIET_BLOCK_REASONS"]

log = logging.getLogger(__name__)

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
    hello_retry: float = 2.0                # seconds before saying "version" again to a silent peer
    max_inbound: int = 64                   # peers that dialled us (outbound ones, that we chose, are extra)
    max_orphan_bytes: int = 16_000_000      # raw bytes of all orphan blocks together
    orphan_share: float = 0.25              # one peer's orphans: at most this share of the count and the bytes
    max_requests: int = 20_000              # objects requested and not yet received, all peers together
    max_requests_per_peer: int = 5_000      # ... from one peer (transactions and blocks)
    max_blocks_in_flight: int = 16          # blocks requested from one peer at a time (the rest wait in a queue)
    max_getdata_bytes: int = 16_000_000     # bytes we send in answer to one getdata
    handshake_timeout: float = 60.0         # an inbound peer that has not said "version" by then is dropped
    max_pending: int = 16                   # inbound peers at once that have not said "version" yet
    ping_interval: float = 600.0            # seconds between our pings to a peer (its min ping protects it)
    ping_timeout: float = 1200.0            # an inbound peer we pinged that sends nothing for this long is dropped
    eviction_grace: float = 2.0             # a newcomer gets this long to answer a ping before it can be evicted
    max_side_ahead: int = 144               # a side block (no more work than our tip) this far above it is not stored
    max_side_bytes_per_peer: int = 8_000_000   # side-branch bytes one peer may make us store (until its branch wins)
    max_side_bytes: int = 64_000_000        # ... all peers together, a budget that refills in side_bytes_window
    side_bytes_window: float = 3600.0
    max_side_pool: int = 200                # side blocks kept in memory only (unrequested, over budget): count
    max_side_pool_bytes: int = 16_000_000   # ... and bytes (each peer at most orphan_share of either)


@dataclass
class _Orphan:
    """A block whose parent we lack, kept as raw bytes (a parsed block takes several times more memory)."""

    raw: bytes
    prev_hash: bytes
    peer: str | None
    solicited: bool = True                 # we asked this peer for it
    work: int = 0                          # the work its header claims (its bits)
    header_ok: bool = False                # its header was checked (_headers_hold): not hashed again

    @property
    def block(self) -> Block:
        return Block.parse(self.raw)


class Node:
    """One participant: a chain, a mempool, peers, and the rules for talking to them.

    ``name``: how we show up in logs. ``chain``: a ``Chain`` (its clock should be the
    transport's). ``miner_address``: where our block rewards go (None: we do not mine).
    ``listener``: optional callable receiving ``(kind, details)`` events for logs and plots.
    ``assembler``: builds and solves our blocks (``assembler.BlockAssembler``: mempool selection,
    the template, the work); ``solver(template, max_tries)`` is the default assembler's work (default:
    proof-of-work nonces). Proof-of-gradient plugs in its own assembler, together with a ``Chain``
    built with its work rule. ``mempool``: our pool (default: a ``Mempool`` of ``config``'s size and
    policy); a chain with its own transaction policy plugs its pool in here.
    """

    def __init__(self, name: str, chain: Chain, transport: Transport, *, miner_address: bytes | None = None,
                 config: NodeConfig | None = None, seed: int | str = 0, listen: str = "",
                 listener: Callable[[str, dict], None] | None = None,
                 solver: Callable[[Block, int], Block | None] | None = None,
                 assembler: BlockAssembler | None = None, mempool: Mempool | None = None):
        self.name, self.chain, self.transport = name, chain, transport
        self.assembler = assembler or BlockAssembler(solver)   # our blocks: selection, template, work
        self.miner_address = miner_address
        self.config = config or NodeConfig()
        self.listen = listen
        self.listener = listener
        self.rng = random.Random(f"node:{name}:{seed}")
        self.nonce = self.rng.getrandbits(64)             # detects connections to ourselves
        self.mempool = mempool if mempool is not None else Mempool(self.config.mempool_size,
                                                                   self.config.mempool_policy)
        self.peerbook = PeerBook(self.config.policy)
        self.peers: dict[str, dict] = {}                  # connected peers -> handshake and slot state
        self.orphans: OrderedDict[bytes, _Orphan] = OrderedDict()
        self.orphan_bytes = 0
        # side blocks kept out of the chain (nobody asked for them and they would not move our tip,
        # or their sender is over its side-branch budget): raw bytes, in memory, bounded like orphans;
        # connected only if a branch through them gets more work than our tip
        self.side_pool: OrderedDict[bytes, _Orphan] = OrderedDict()
        self.side_pool_bytes = 0
        self.side_level, self.side_level_at = 0.0, self.transport.now()   # global side-branch budget used
        # side blocks charged to the budgets and not yet judged by the chain (emptied after each message)
        self._side_charges: dict[bytes, tuple[str | None, int]] = {}
        self.requested: dict[bytes, tuple[str, float, int]] = {}   # hash -> (peer, deadline, kind)
        self.announcers: dict[bytes, list[str]] = {}      # hash -> peers that announced it
        self.seen_txs: OrderedDict[bytes, None] = OrderedDict()
        self.continue_sync: OrderedDict[bytes, str] = OrderedDict()   # last hash of a full inv batch -> peer
        self.stats: Counter = Counter()
        self.last_heartbeat = self.transport.now()
        self._events: list[ChainEvent] = []
        self.chain.listeners.append(self._events.append)
        # what each command does: one table a reader can see (and a peer cannot extend)
        self.handlers: dict[str, Callable[[str, m.Message], None]] = {
            "version": self._on_version,
            "verack": self._on_verack,
            "ping": self._on_ping,
            "pong": self._on_pong,
            "inv": self._on_inv,
            "getdata": self._on_getdata,
            "notfound": self._on_notfound,
            "getblocks": self._on_getblocks,
            "block": self._on_block,
            "tx": self._on_tx,
        }

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

    def inbound_peers(self) -> list[str]:
        return [p for p, s in self.peers.items() if s["inbound"]]

    def outbound_peers(self) -> list[str]:
        return [p for p, s in self.peers.items() if not s["inbound"]]

    def __repr__(self) -> str:
        return f"Node({self.name}, height={self.height}, tip={self.chain.tip.hash_hex()[:12]}.., peers={len(self.peers)})"

    # ================================================================== transport events
    def on_connect(self, peer: str, inbound: bool = False, netgroup: str = "") -> None:
        """A link to ``peer`` is up: take a slot and say hello (our version: genesis, best height, tip).

        ``inbound``: the peer dialled us (it competes for one of ``max_inbound`` slots; when all are
        taken another inbound peer is evicted, or this one refused). ``netgroup``: where it connects
        from (an IPv4 /16, for diversity; "" if unknown: the peer is its own group)."""
        now = self.transport.now()
        if self.peerbook.is_banned(peer, now):
            self.transport.disconnect(peer)
            return
        if peer in self.peers:                            # a second link to a peer we know: keep its state
            if inbound is False:
                self.peers[peer]["inbound"] = False          # we dialled it: an outbound slot
            if self.peers[peer]["version"] or now - self.peers[peer]["hello_at"] < self.config.hello_retry:
                return
        else:
            if inbound:
                self._limit_pending(now, netgroup or f"peer:{peer}")
            if inbound and len(self.inbound_peers()) >= self.config.max_inbound and not self._make_room(now):
                self.stats["inbound-refused"] += 1
                self._emit("refused", peer=peer, reason="no-free-slot")
                self.transport.disconnect(peer)
                return
            self.peers[peer] = _new_peer(inbound, netgroup or f"peer:{peer}", now)
        self._hello(peer, now)

    def on_disconnect(self, peer: str) -> None:
        if self.peers.pop(peer, None) is None:
            return
        for h in [h for h, (p, _, _) in self.requested.items() if p == peer]:
            del self.requested[h]                         # ask someone else when they announce it
        if len(self.peerbook.peers) > 4 * (self.config.max_inbound + 16):
            self.peerbook.forget(peer)                    # identities come and go: keep scores of live ones (and bans)

    def on_message(self, peer: str, data: bytes) -> None:
        """Bytes from ``peer``: charge the cost, decode, check, act. Never raises for anything a peer
        can send; a bug in a handler is caught, logged, emitted and counted (``stats["handler-crash"]``),
        and the node carries on (only KeyboardInterrupt and SystemExit go through)."""
        command = "?"
        try:
            command = m.peek_command(data)
            self._handle(peer, data, command)
        except Exception as err:                       # noqa: BLE001 - a supervisor: nothing a peer does ends the node
            self._crashed("message", err, peer=peer, command=command)
        finally:
            self._side_charges.clear()                 # every charge was judged within the message

    def _handle(self, peer: str, data: bytes, command: str) -> None:
        now = self.transport.now()
        if self.peerbook.is_banned(peer, now):
            self.stats["from-banned"] += 1
            return
        state = self.peers.get(peer)
        if state is not None:
            state["last_recv"] = now                   # alive (see ping_timeout)
        if not self.peerbook.allow_message(peer, now, message_cost(command, len(data))):
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
        handler = self.handlers[msg.command]            # decode() accepts only the commands in the table
        try:
            handler(peer, msg)
        except GradientCoinError as err:               # e.g. a store error: our problem, not the peer's
            self.stats[f"error-{err.reason}"] += 1
            self._emit("error", peer=peer, command=msg.command, reason=err.reason, message=err.message)

    def _crashed(self, where: str, err: Exception, **details) -> None:
        """A bug (ours) met while serving a peer or a timer: log it, count it, keep running."""
        self.stats["handler-crash"] += 1
        self.stats[f"handler-crash-{where}"] += 1
        count = self.stats[f"handler-crash-{where}"]
        if count & (count - 1) == 0:                   # the 1st, 2nd, 4th, 8th...: a bug met every tick cannot flood the log
            log.error("node %s: %s failed %d time(s) (%s): %r", self.name, where, count, details, err, exc_info=err)
        try:
            self._emit("handler-error", where=where, error=repr(err), **details)
        except Exception:                              # noqa: BLE001 - a broken listener must not end us either
            self.stats["listener-crash"] += 1

    def on_tick(self) -> None:
        """Housekeeping: forget requests that timed out (ask someone else); say hello again, drop
        peers that never answer it, ping; re-announce our tip. Each part is guarded on its own (and
        each peer within a part): a bug in one is counted and logged, and the others still run."""
        now = self.transport.now()
        for where, part in (("tick-requests", self._tick_requests), ("tick-peers", self._tick_peers),
                            ("tick-heartbeat", self._tick_heartbeat)):
            try:
                part(now)
            except Exception as err:                   # noqa: BLE001 - see on_message
                self._crashed(where, err)

    def _tick_requests(self, now: float) -> None:
        for h, (peer, deadline, kind) in list(self.requested.items()):
            if deadline <= now and self.requested.get(h, ("",))[0] == peer:
                self._unrequest(h, peer)
                others = [p for p in self.announcers.get(h, []) if p != peer and p in self.peers]
                if others:
                    self._request(others[0], [m.InvItem(kind, h)])

    def _tick_peers(self, now: float) -> None:
        for peer in list(self.peers):
            try:
                self._tick_peer(peer, now)
            except Exception as err:                   # noqa: BLE001 - one peer's timer cannot stop the others'
                self._crashed("tick-peer", err, peer=peer)

    def _tick_peer(self, peer: str, now: float) -> None:
        state = self.peers.get(peer)
        if state is None:                              # gone while we were walking the table
            return
        if not state["version"]:
            if state["inbound"] and now - state["connected_at"] >= self.config.handshake_timeout:
                self.stats["handshake-timeout"] += 1       # a stranger holding a slot without talking
                self._emit("handshake-timeout", peer=peer)
                self._drop(peer)
                return
            if now - state["hello_at"] >= self.config.hello_retry:
                self._hello(peer, now)                 # our hello may have been lost: say it again
        elif (state["inbound"] and state["ping_nonce"] is not None and state["ping_at"] >= state["last_recv"]
              and now - state["last_recv"] >= self.config.ping_timeout):
            self.stats["ping-timeout"] += 1            # pinged, and not a word for that long (a closed
            self._emit("ping-timeout", peer=peer)      # laptop): free its slot
            self._drop(peer)
            return
        elif state["inbound"] and now - state["ping_at"] >= self.config.ping_interval:
            self._ping(peer, now)                      # (outbound peers: see _on_version)
        self._pump(peer)

    def _tick_heartbeat(self, now: float) -> None:
        hb = self.config.heartbeat
        if hb is not None and now - self.last_heartbeat >= hb:   # quiet for a while: say where we are
            self.last_heartbeat = now
            self._broadcast(m.Inv((m.InvItem(m.INV_BLOCK, self.tip),)))

    # ================================================================== local actions
    def submit_transaction(self, tx: Transaction) -> int:
        """Our own (or our wallet's) transaction: add to the mempool and announce it; returns its fee."""
        self.mempool.check_own(tx)
        fee = self.mempool.add(tx, self.mempool.coins(self.chain.utxo), self.transport.now())
        self._remember_tx(tx.txid)
        self._broadcast(m.Inv((m.InvItem(m.INV_TX, tx.txid),)))
        return fee

    @property
    def miner_id(self) -> bytes:
        """The id in the headers of our blocks."""
        return self.assembler.miner_id(self)

    def block_template(self, time: int | None = None, parent: bytes | None = None,
                       txs: Iterable[Transaction] | None = None) -> Block:
        """An unmined block (nonce 0) on ``parent`` (default: our tip) paying us subsidy + fees
        (``BlockAssembler.template``)."""
        return self.assembler.template(self, time, parent, txs)

    def mine_block(self, time: int | None = None, parent: bytes | None = None,
                   txs: Iterable[Transaction] | None = None, publish: bool = True,
                   max_tries: int = 2**32) -> Block | None:
        """Build a block, do its work (``assembler``: by default a proof-of-work nonce search on the
        header's target), add it, announce it.

        ``publish=False`` keeps the block to ourselves (a selfish or double-spending miner).
        Returns None when ``max_tries`` were not enough.
        """
        block = self.assembler.mine(self, time, parent, txs, max_tries)
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
        now = self.transport.now()
        state = self.peers.get(peer)
        if state is None:                              # a transport that did not tell us: an inbound peer
            self.on_connect(peer, inbound=True)
            state = self.peers.get(peer)
            if state is None:
                return
        if state["version"]:
            if msg.nonce == state["nonce"]:
                # The same hello again: it crossed ours, or the peer lost our version (or forgot us).
                # Say ours again only if the peer never acknowledged it, or the handshake is old
                # (it forgot us); else just acknowledge. Answering every repeat with a version made
                # two peers bounce hellos forever when a tick re-sent one before the answer arrived.
                self.stats["repeated-version"] += 1
                if not state["verack"] or now - state["version_at"] > 5 * self.config.hello_retry:
                    state["version_at"] = now
                    self._hello(peer, now)
                self._send(peer, m.Verack())
                return
            state.update(sent_version=False, verack=False)   # a new nonce: the peer restarted, start over
        state.update(version=True, nonce=msg.nonce, listen=msg.listen, version_at=now)
        self.peerbook.get(peer, now).best_height = msg.best_height
        if not state["sent_version"]:
            self._hello(peer, now)
        self._send(peer, m.Verack())
        if state["inbound"]:
            # How fast it answers protects it from eviction, and a pinged peer that goes silent is
            # dropped: both are about inbound slots only. Peers we dialled are never evicted nor
            # timed out (they ping us: we are their inbound peer), so pinging them too was pure
            # traffic: a second ping and pong per link and ping_interval, a quarter of all the
            # messages of a seeded 10-node simulated network.
            self._ping(peer, now)
        if peer not in self.peers:                     # a send may have found it gone
            return
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
        """The answer to our ping: its round trip, if the nonce is the one we sent (nobody can
        answer a ping before it arrives without guessing a 64-bit secret), lowers the peer's min ping."""
        state = self.peers.get(peer)
        if state is None or state["ping_nonce"] is None or msg.nonce != state["ping_nonce"]:
            self.stats["pong-unexpected"] += 1
            return
        rtt = max(0.0, self.transport.now() - state["ping_at"])
        state["ping_nonce"] = None
        state["min_ping"] = min(state["min_ping"], rtt)

    def _on_inv(self, peer: str, msg: m.Inv) -> None:
        if not self._handshaken(peer):
            return
        wanted, ignored = [], 0
        room = self._request_room(peer)
        for item in msg.items:
            if item.kind == m.INV_BLOCK:
                if not self._want_block(item.hash):
                    continue
            elif not self._want_tx(item.hash):
                continue
            if len(wanted) >= room:
                ignored += 1                           # over our bound of outstanding requests
                continue
            self._note_announcer(item.hash, peer)
            wanted.append(item)
        if ignored:
            self.stats["inv-ignored"] += ignored
        blocks = [i for i in msg.items if i.kind == m.INV_BLOCK]
        if len(blocks) >= self.config.blocks_per_inv:
            self.continue_sync[blocks[-1].hash] = peer       # more to come: ask again after the last one
            while len(self.continue_sync) > 4 * len(self.peers) + 8:
                self.continue_sync.popitem(last=False)
        if wanted:
            self._request(peer, wanted)

    def _on_getdata(self, peer: str, msg: m.GetData) -> None:
        if len({item.hash for item in msg.items}) != len(msg.items):
            self._punish(peer, "repeated-request", f"{len(msg.items)} items with repeats")
            return                                     # never honest: answer nothing
        missing, sent = [], 0
        for item in msg.items:
            raw = None
            if sent < self.config.max_getdata_bytes:
                raw = self._object_bytes(item)
            if raw is None:
                missing.append(item)
                continue
            cmd = m.BlockMsg(raw) if item.kind == m.INV_BLOCK else m.TxMsg(raw)
            self._send(peer, cmd)
            sent += len(raw)
        if sent:
            self.peerbook.charge(peer, self.transport.now(), sent / 25_000)   # what it made us send
        if missing:
            self._send(peer, m.NotFound(tuple(missing)))

    def _object_bytes(self, item: m.InvItem) -> bytes | None:
        if item.kind == m.INV_BLOCK:
            block = self.chain.get_block(item.hash)
            if block is not None:
                return block.serialize()
            orphan = self.orphans.get(item.hash)
            return None if orphan is None else orphan.raw
        tx = self.mempool.get(item.hash)
        return None if tx is None else tx.serialize()

    def _on_notfound(self, peer: str, msg: m.NotFound) -> None:
        for item in msg.items:
            if self.requested.get(item.hash, ("",))[0] == peer:
                self._unrequest(item.hash, peer)
        self._pump(peer)

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
        raw = msg.raw
        try:
            if len(raw) > self.chain.params.max_block_bytes:
                raise ParseError("block-too-large", f"{len(raw)} bytes")
            header = BlockHeader.parse(raw[:HEADER_SIZE])
        except ParseError as err:
            self._punish(peer, "malformed-message", f"block: {err.reason}")
            return
        h = header.hash()
        solicited = self.requested.get(h, ("",))[0] == peer
        if solicited:
            self._unrequest(h, peer)
        old_tip = self.tip
        kept_out = False
        if header.prev_hash not in self.chain and h not in self.chain:
            # an orphan: keep its bytes as they are (parsing a big block costs more than storing it;
            # it is parsed and validated when its parent arrives)
            self.stats["block-rejected-unknown-parent"] += 1
            self._emit("block-rejected", hash=h, reason="unknown-parent", peer=peer)
            self._keep_orphan(h, header.prev_hash, raw, peer, solicited)
            self._settle_pools()
            kept_out = True
        elif h not in self.chain and not self._admit(header, raw, peer, solicited):
            kept_out = True
        if kept_out:
            if self.tip != old_tip:                    # it completed a heavier branch waiting in the pools
                self._announce_tip()
                if peer in self.peers:
                    self.peers[peer]["last_block"] = self.transport.now()
                    if not self.chain.is_active(old_tip):
                        self.peers[peer]["side_bytes"] = 0.0
            self._pump(peer)
            return
        try:
            block = Block.parse(raw, max_size=self.chain.params.max_block_bytes)
        except ParseError as err:
            self._refund_side(h)
            self._punish(peer, "malformed-message", f"block: {err.reason}")
            return
        self._add_block(block, source=peer, announce=True, raw=raw)
        self._pump(peer)

    def _on_tx(self, peer: str, msg: m.TxMsg) -> None:
        try:
            tx = Transaction.parse(msg.raw)
        except ParseError as err:
            self._punish(peer, "malformed-message", f"tx: {err.reason}")
            return
        txid = tx.txid
        if txid in self.requested:
            self._unrequest(txid, self.requested[txid][0])
        self._remember_tx(txid)
        try:
            self.mempool.add(tx, self.mempool.coins(self.chain.utxo), self.transport.now())
        except InvalidTransaction as err:
            self.stats[f"tx-rejected-{err.reason}"] += 1
            if err.reason == "missing-input":          # its parent may come later: fetch it again then
                self.seen_txs.pop(txid, None)
            if err.reason not in QUIET_TX_REASONS and not err.reason.startswith("policy-"):
                self._punish(peer, "invalid-tx", err.reason)
            return
        self.stats["tx-accepted"] += 1
        if peer in self.peers:
            self.peers[peer]["last_tx"] = self.transport.now()       # a useful peer (eviction protects it)
        self._broadcast(m.Inv((m.InvItem(m.INV_TX, txid),)), exclude=peer)

    # ================================================================== blocks
    def _add_block(self, block: Block, source: str | None, announce: bool,
                   raw: bytes | None = None) -> AddResult | None:
        """Add a block (and any orphans waiting for it). Returns the chain's verdict or None."""
        old_tip = self.tip
        result = self._try_add(block, source, raw)
        if result is None:
            return None
        pending = [block.hash()]
        while pending:                                   # orphans whose parent just arrived
            parent = pending.pop()
            for h, orphan in list(self.orphans.items()):
                if orphan.prev_hash == parent and h in self.orphans:
                    self._forget_orphan(h)
                    try:
                        child = Block.parse(orphan.raw, max_size=self.chain.params.max_block_bytes)
                    except ParseError:
                        continue
                    if not self._admit(child.header, orphan.raw, orphan.peer, orphan.solicited, punish=False):
                        continue                       # kept out of the chain (side pool), see _admit
                    if self._try_add(child, orphan.peer, orphan.raw) is not None:
                        pending.append(h)
        self._settle_pools()
        if announce and self.tip != old_tip:
            self._announce_tip()
        if source is not None and source in self.peers and self.tip != old_tip:
            self.peers[source]["last_block"] = self.transport.now()  # a useful peer (eviction protects it)
            if not self.chain.is_active(old_tip):
                self.peers[source]["side_bytes"] = 0.0               # its side branch won: not wasted
        return result

    # ================================================================== side branches
    def _claimed_work(self, header: BlockHeader) -> tuple[int, int] | None:
        """(chain work, height) ``header`` would have on its known parent, from the bits it claims."""
        parent = self.chain.get(header.prev_hash)
        if parent is None:
            return None
        return parent.chain_work + bits_to_work(header.bits), parent.height + 1

    def _admit(self, header: BlockHeader, raw: bytes, peer: str | None, solicited: bool,
               punish: bool = True) -> bool:
        """May this block (its parent is in the chain) go into the chain now? Bitcoin Core's
        AcceptBlock rule, made a policy of the node: a block with more work than our tip always
        (the chain still checks that the work is real); a block that would not move our tip only if
        we asked this peer for it, it is at most ``max_side_ahead`` above our tip, and its sender
        and all senders together are within their side-branch byte budgets. Otherwise the block is
        kept as raw bytes in the bounded side pool (never in the chain or the store), and connected
        from there only if a branch through it gets more work than our tip (``_settle_pools``).
        A side block nobody asked for costs its sender the ``unsolicited`` points (2)."""
        claimed = self._claimed_work(header)
        if claimed is None or claimed[0] > self.chain.tip.chain_work:
            return True
        h, now, size = header.hash(), self.transport.now(), len(raw)
        cfg, state = self.config, self.peers.get(peer) if peer is not None else None
        reason = None
        if not solicited:
            reason = "unrequested"
        elif claimed[1] > self.chain.height + cfg.max_side_ahead:
            reason = "too-far-ahead"
        elif state is not None and self._peer_side_level(state, now) + size > cfg.max_side_bytes_per_peer:
            reason = "peer-budget"
        else:
            level = max(0.0, self.side_level - (now - self.side_level_at) * cfg.max_side_bytes / cfg.side_bytes_window)
            self.side_level_at = now
            self.side_level = level
            if level + size > cfg.max_side_bytes:
                reason = "budget"
            else:
                self.side_level += size
                if state is not None:
                    state["side_bytes"] += size
                self._side_charges[h] = (peer, size)   # given back if the chain refuses the block
                return True
        self.stats[f"side-kept-out-{reason}"] += 1
        self._emit("side-kept-out", hash=h, reason=reason, peer=peer)
        if h not in self.side_pool:
            self._pool_add(self.side_pool, h, _Orphan(bytes(raw), header.prev_hash, peer, solicited,
                                                      bits_to_work(header.bits)), side=True)
            if reason == "unrequested" and punish and peer is not None and peer in self.peers:
                self._punish(peer, "unsolicited", "a side block nobody asked for, with no more work than our tip")
        self._settle_pools()
        return False

    def _refund_side(self, h: bytes) -> None:
        """A side block charged to the budgets was not stored (the chain refused it, or it did not
        parse): give its bytes back, so forged blocks from throwaway keys cannot spend the budget
        that honest side branches need."""
        charge = self._side_charges.pop(h, None)
        if charge is None:
            return
        peer, size = charge
        self.side_level = max(0.0, self.side_level - size)
        state = self.peers.get(peer) if peer is not None else None
        if state is not None:
            state["side_bytes"] = max(0.0, state["side_bytes"] - size)

    def _headers_hold(self, path: list[bytes], pools: dict[bytes, _Orphan]) -> bool:
        """Before anything of ``path`` is stored: does every header do the work it claims (the work
        rule's header check: a hash or ticket under its own target)? The first that does not is
        dropped from the pools with what follows it, and its sender punished as for an invalid
        block; a forger cannot get a low-work branch stored by hanging a fake heavy block under it."""
        parent = self.chain.get(pools[path[0]].prev_hash)
        prev_header = parent.header if parent is not None else None
        for i, h in enumerate(path):
            entry = pools[h]
            try:
                header = BlockHeader.parse(entry.raw[:HEADER_SIZE])
                if not entry.header_ok:                # a header names its parent: one check holds for good
                    self.chain.work_rule.check_header(header, prev_header)
                    entry.header_ok = True
            except GradientCoinError as err:
                for bad in path[i:]:
                    self._forget_orphan(bad)
                    self._forget_side(bad)
                self.stats["pool-bad-work"] += 1
                if entry.peer is not None and entry.peer in self.peers:
                    self._punish(entry.peer, "invalid-block", f"pooled block: {err.reason}")
                return False
            prev_header = header
        return True

    def _peer_side_level(self, state: dict, now: float) -> float:
        """Side-branch bytes charged to a peer, leaking away over ``side_bytes_window`` (so an honest
        side branch longer than the budget still arrives, slowly)."""
        cfg = self.config
        leak = (now - state["side_at"]) * cfg.max_side_bytes_per_peer / cfg.side_bytes_window
        state["side_bytes"], state["side_at"] = max(0.0, state["side_bytes"] - leak), now
        return state["side_bytes"]

    def _settle_pools(self) -> None:
        """Connect a branch waiting in the pools (orphans and side blocks) if it has more work than
        our tip: the heaviest path from a block whose parent is in the chain, through pooled
        children, is added in order (each block fully checked by the chain; this is the "needed"
        case of AcceptBlock). Pools hold a few hundred blocks: one pass is cheap."""
        moved = True
        while moved:                                   # an orphan whose parent waits in the side pool is no
            moved = False                              # orphan (its parent is known): it waits there too
            for h, o in list(self.orphans.items()):
                if o.prev_hash in self.side_pool:
                    self._forget_orphan(h)
                    self._pool_add(self.side_pool, h, o, side=True)
                    moved = True
        # each pass connects a branch, drops at least one pooled block (a header that did not do its
        # work, a block the chain refused) or stops: the pools' size bounds the passes. (A fixed number
        # of passes let fake heavy children, one dropped per pass, keep an honest branch waiting.)
        for _ in range(len(self.orphans) + len(self.side_pool) + 1):
            pools = {**self.orphans, **self.side_pool}
            children: dict[bytes, list[bytes]] = {}
            for h, o in pools.items():
                children.setdefault(o.prev_hash, []).append(h)
            # heaviest[h] = (work of the heaviest path down from h, its next block), children first
            heaviest: dict[bytes, tuple[int, bytes | None]] = {}
            for root in pools:
                stack = [(root, False)]
                while stack:
                    h, done = stack.pop()
                    if h in heaviest:
                        continue
                    if not done:
                        stack.append((h, True))
                        stack.extend((c, False) for c in children.get(h, ()) if c not in heaviest)
                        continue
                    work, nxt = 0, None
                    for c in children.get(h, ()):
                        if c in heaviest and heaviest[c][0] > work:
                            work, nxt = heaviest[c][0], c
                    heaviest[h] = (pools[h].work + work, nxt)
            best_root, best_work = None, self.chain.tip.chain_work
            for h, o in pools.items():
                parent = self.chain.get(o.prev_hash)
                if parent is not None and h not in self.chain and parent.chain_work + heaviest[h][0] > best_work:
                    best_root, best_work = h, parent.chain_work + heaviest[h][0]
            best_path: list[bytes] = []
            while best_root is not None and len(best_path) <= len(pools):
                best_path.append(best_root)
                best_root = heaviest[best_root][1]
            del children, heaviest
            if not best_path:
                return
            if not self._headers_hold(best_path, pools):
                continue                               # a block claimed work it did not do: look again
            del pools
            self.stats["side-branches-connected"] += 1
            for h in best_path:
                o = self.orphans.get(h) or self.side_pool.get(h)
                self._forget_orphan(h)
                self._forget_side(h)
                if o is None:
                    break
                try:
                    block = Block.parse(o.raw, max_size=self.chain.params.max_block_bytes)
                except ParseError:
                    break
                if self._try_add(block, o.peer, o.raw) is None:
                    break

    def _announce_tip(self) -> None:
        """``inv`` our new tip to every peer that has not announced it to us already."""
        knows = set(self.announcers.get(self.tip, ()))
        data = m.encode(m.Inv((m.InvItem(m.INV_BLOCK, self.tip),)))
        for peer in list(self.peers):                  # a send may disconnect a peer (it left): walk a snapshot
            state = self.peers.get(peer)
            if state is not None and state["version"] and peer not in knows:
                self.stats["sent-inv"] += 1
                self.transport.send(peer, data)
        self.last_heartbeat = self.transport.now()

    def _try_add(self, block: Block, source: str | None, raw: bytes | None = None) -> AddResult | None:
        h = block.hash()
        self._events.clear()
        try:
            result = self.chain.add_block(block, now=self.transport.now())
        except InvalidBlock as err:
            self._events.clear()
            self._refund_side(h)                       # nothing stored: its bytes go back to the budgets
            if err.reason == "unknown-parent":
                self._keep_orphan(h, block.prev_hash, raw if raw is not None else block.serialize(), source)
            elif source is not None and err.reason not in QUIET_BLOCK_REASONS:
                self._punish(source, "invalid-block", err.reason)
            else:
                self.stats[f"block-rejected-{err.reason}"] += 1
            self._emit("block-rejected", hash=h, reason=err.reason, peer=source)
            return None
        self._side_charges.pop(h, None)
        if result is AddResult.NEEDS_DATA and source is not None and source in self.peers:
            # its branch lacks a body we kept without its payload (an old mark, a restart): the
            # peer that sent a block on that branch has that body; without asking, the branch would
            # wait for good (nobody announces a block we already index)
            missing = [b for b in self.chain.missing_bodies(h) if self._want_block(b)]
            if missing:
                self._request(source, [m.InvItem(m.INV_BLOCK, b) for b in missing])
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
        if abandoned:                                  # parents back first, then re-check the pool:
            txs = [tx for b in reversed(abandoned) for tx in b.txs[1:]]     # oldest block first
            back = self.mempool.readd(txs, self.chain.utxo, self.transport.now())
            self.mempool.revalidate(self.chain.utxo)   # a child of a returned parent is valid again
            back = [txid for txid in back if txid in self.mempool]
            if back:                                   # tell the peers again: they may never have seen them
                self._broadcast(m.Inv(tuple(m.InvItem(m.INV_TX, txid) for txid in back[:m.MAX_INV_ITEMS])))
            self.stats["reorgs"] += 1
            self._emit("reorg", depth=len(abandoned), returned_txs=len(back), tip=self.tip,
                       abandoned=[b.hash() for b in abandoned])
        self.stats[f"block-{result.value}"] += 1
        self._emit("block", hash=block.hash(), result=result.value, height=self.height, tip=self.tip)

    def _keep_orphan(self, h: bytes, prev_hash: bytes, raw: bytes, source: str | None,
                     solicited: bool = True) -> None:
        """Keep a block whose parent we lack, within the pool's bounds, and ask its sender for the gap."""
        if h not in self.orphans:
            try:
                work = bits_to_work(BlockHeader.parse(raw[:HEADER_SIZE]).bits)
            except (ParseError, ValueError):
                work = 0
            self._pool_add(self.orphans, h, _Orphan(bytes(raw), prev_hash, source, solicited, work), side=False)
        if source is not None and source in self.peers:   # ask for the missing ancestors
            if not solicited:
                self._punish(source, "unsolicited-orphan", "an orphan block nobody asked for")
            if source in self.peers:
                self._send(source, m.GetBlocks(tuple(self.chain.locator()[:m.MAX_LOCATOR])))

    def _pool_add(self, pool: OrderedDict, h: bytes, entry: _Orphan, side: bool) -> None:
        """Add to the orphan pool or the side pool, within its count and byte bounds: a sender may
        hold at most ``orphan_share`` of either (its own oldest entries make room), then the oldest
        of all go."""
        cfg = self.config
        max_count, max_bytes = (cfg.max_side_pool, cfg.max_side_pool_bytes) if side else (cfg.max_orphans,
                                                                                          cfg.max_orphan_bytes)
        forget, what = (self._forget_side, "side-pool") if side else (self._forget_orphan, "orphans")
        share_count = max(1, int(max_count * cfg.orphan_share))
        share_bytes = max(1, int(max_bytes * cfg.orphan_share))
        if len(entry.raw) > share_bytes:
            self.stats["side-pool-too-big" if side else "orphan-too-big"] += 1
            return
        mine = [k for k, o in pool.items() if o.peer == entry.peer]
        used = sum(len(pool[k].raw) for k in mine)
        while mine and (len(mine) >= share_count or used + len(entry.raw) > share_bytes):
            k = mine.pop(0)                            # the sender's own oldest entry makes room
            used -= len(pool[k].raw)
            forget(k)
            self.stats[f"{what}-evicted"] += 1
        pool[h] = entry
        if side:
            self.side_pool_bytes += len(entry.raw)
        else:
            self.orphan_bytes += len(entry.raw)
        while len(pool) > max_count or (self.side_pool_bytes if side else self.orphan_bytes) > max_bytes:
            # the sender holding the most entries loses its own oldest: throwaway keys flooding the
            # pool evict each other, not the few entries an honest peer has waiting (oldest-of-all let
            # five keys of 45 unrequested blocks each push out an honest waiting branch)
            held = Counter(o.peer for o in pool.values())
            most = max(held.values())
            forget(next(k for k, o in pool.items() if held[o.peer] == most))
            self.stats[f"{what}-evicted"] += 1
        self.stats[what] += 1

    def _forget_orphan(self, h: bytes) -> None:
        orphan = self.orphans.pop(h, None)
        if orphan is not None:
            self.orphan_bytes -= len(orphan.raw)

    def _forget_side(self, h: bytes) -> None:
        entry = self.side_pool.pop(h, None)
        if entry is not None:
            self.side_pool_bytes -= len(entry.raw)

    def _want_block(self, h: bytes) -> bool:
        if (h in self.chain and not self.chain.wants_body(h)) or h in self.orphans or h in self.side_pool:
            return False                               # (a block kept without the body a branch needs is wanted)
        pending = self.requested.get(h)
        return pending is None or pending[1] <= self.transport.now()

    def _want_tx(self, txid: bytes) -> bool:
        if txid in self.mempool or txid in self.seen_txs:
            return False
        pending = self.requested.get(txid)
        return pending is None or pending[1] <= self.transport.now()

    # ================================================================== peers
    def _hello(self, peer: str, now: float) -> None:
        state = self.peers[peer]
        state.update(sent_version=True, hello_at=now)
        self._send(peer, self._version())

    def _ping(self, peer: str, now: float) -> None:
        state = self.peers.get(peer)
        if state is None:
            return
        state.update(ping_nonce=secrets.randbits(64), ping_at=now)   # unpredictable: a pong cannot come early
        self._send(peer, m.Ping(state["ping_nonce"]))

    def _limit_pending(self, now: float, netgroup: str = "") -> None:
        """A new inbound peer (from ``netgroup``): if ``max_pending`` inbound peers have not said
        ``version`` yet, the oldest of the most crowded network group goes (counting the newcomer's;
        it had the longest chance to talk, and an honest peer answers in one round trip). A flood of
        silent connections from one group evicts its own, not a slow honest peer from another."""
        pending = [p for p, s in self.peers.items() if s["inbound"] and not s["version"]]
        while len(pending) >= max(1, self.config.max_pending):
            crowd = Counter(self.peers[p]["netgroup"] for p in pending)
            first = {g: min(self.peers[p]["connected_at"] for p in pending if self.peers[p]["netgroup"] == g)
                     for g in crowd}
            group = max(crowd, key=lambda g: (crowd[g] + (g == netgroup), -first[g]))
            oldest = min((p for p in pending if self.peers[p]["netgroup"] == group),
                         key=lambda p: self.peers[p]["connected_at"])
            pending.remove(oldest)
            self.stats["evicted"] += 1
            self.stats["pending-evicted"] += 1
            self._emit("evict", peer=oldest, reason="pending")
            self._drop(oldest)

    def _make_room(self, now: float) -> bool:
        """All inbound slots are taken: evict one inbound peer (True) or refuse the newcomer (False).

        Protection counts follow Bitcoin Core's for 125 slots (4 network groups, 8 lowest pings,
        4 block relayers, 4 transaction relayers) scaled to ``max_inbound``, at least 1 each."""
        slots = self.config.max_inbound
        candidates = [EvictionCandidate(p, s["connected_at"], s["last_block"], s["last_tx"], s["netgroup"],
                                        s["min_ping"])
                      for p, s in self.peers.items() if s["inbound"]]
        victim = select_eviction(candidates, salt=self.nonce.to_bytes(8, "little"),
                                 protect_netgroups=max(1, slots // 16), protect_ping=max(1, slots // 8),
                                 protect_blocks=max(1, slots // 16), protect_txs=max(1, slots // 16),
                                 now=now, grace=self.config.eviction_grace)
        if victim is None:
            return False
        self.stats["evicted"] += 1
        self._emit("evict", peer=victim)
        self._drop(victim)
        return True

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
            self.on_connect(peer, inbound=True)
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

    # ================================================================== requests
    def _request_room(self, peer: str) -> int:
        """How many more objects we may ask ``peer`` for now (per-peer and global bounds)."""
        state = self.peers.get(peer)
        if state is None:
            return 0
        return max(0, min(self.config.max_requests_per_peer - state["requests"],
                          self.config.max_requests - len(self.requested)))

    def _request(self, peer: str, items: list) -> None:
        """Ask ``peer`` for ``items``: transactions at once, blocks ``max_blocks_in_flight`` at a time."""
        state = self.peers.get(peer)
        if state is None:
            return
        deadline = self.transport.now() + self.config.request_timeout
        txs = []
        for item in items:
            if item.hash in self.requested:
                self._unrequest(item.hash, self.requested[item.hash][0])
            state["requests"] += 1
            if item.kind == m.INV_BLOCK:
                self.requested[item.hash] = (peer, float("inf"), m.INV_BLOCK)   # queued, not yet asked
                state["queue"].append(item.hash)
            else:
                self.requested[item.hash] = (peer, deadline, m.INV_TX)
                txs.append(item)
        for i in range(0, len(txs), m.MAX_INV_ITEMS):
            self._send(peer, m.GetData(tuple(txs[i:i + m.MAX_INV_ITEMS])))
        self._pump(peer)

    def _pump(self, peer: str) -> None:
        """Ask ``peer`` for queued blocks until ``max_blocks_in_flight`` are on their way."""
        state = self.peers.get(peer)
        if state is None or not state["queue"]:
            return
        batch, deadline = [], self.transport.now() + self.config.request_timeout
        while state["queue"] and state["in_flight"] < self.config.max_blocks_in_flight:
            h = state["queue"].popleft()
            pending = self.requested.get(h)
            if pending is None or pending[0] != peer or pending[1] != float("inf"):
                continue                                  # received, cancelled or re-assigned meanwhile
            self.requested[h] = (peer, deadline, m.INV_BLOCK)
            state["in_flight"] += 1
            batch.append(m.InvItem(m.INV_BLOCK, h))
        if batch:
            self._send(peer, m.GetData(tuple(batch)))

    def _unrequest(self, h: bytes, peer: str) -> None:
        """``h`` is no longer expected from ``peer`` (it came, it is not there, or time ran out)."""
        pending = self.requested.pop(h, None)
        state = self.peers.get(peer)
        if pending is None or state is None:
            return
        state["requests"] -= 1
        if pending[2] == m.INV_BLOCK and pending[1] != float("inf"):
            state["in_flight"] -= 1

    # ================================================================== sending
    def _version(self) -> m.Version:
        return m.Version(genesis=self.chain.genesis.hash, best_height=self.height, best_hash=self.tip,
                         nonce=self.nonce, listen=self.listen)

    def _send(self, peer: str, msg: m.Message) -> None:
        self.stats[f"sent-{msg.command}"] += 1
        self.transport.send(peer, m.encode(msg))

    def _broadcast(self, msg: m.Message, exclude: str | None = None) -> None:
        data = m.encode(msg)
        for peer in list(self.peers):                  # a send may disconnect a peer (it left): walk a snapshot
            state = self.peers.get(peer)
            if state is not None and peer != exclude and state["version"]:
                self.stats[f"sent-{msg.command}"] += 1
                self.transport.send(peer, data)

    def _emit(self, kind: str, **details) -> None:
        if self.listener is not None:
            self.listener(kind, {"node": self.name, "time": self.transport.now(), **details})


def _new_peer(inbound: bool, netgroup: str, now: float) -> dict:
    """A connected peer's state: handshake, slot, usefulness, and what we asked it for."""
    return {"version": False, "verack": False, "sent_version": False, "nonce": None, "hello_at": now, "version_at": now,
            "listen": "", "inbound": inbound, "netgroup": netgroup, "connected_at": now,
            "last_block": float("-inf"), "last_tx": float("-inf"),
            "ping_nonce": None, "ping_at": now, "min_ping": float("inf"), "side_bytes": 0.0, "side_at": now,
            "last_recv": now,
            "queue": deque(), "requests": 0, "in_flight": 0}
