"""[tooling] A deterministic network simulator: many nodes, one process, simulated time.

The simulator is a *transport* for :class:`~gradientcoin_edu.network.node.Node`: the same node
logic that runs as a real process over ZeroMQ runs here, but messages travel through an event
queue instead of sockets. It is a discrete-event simulation: a heap of (time, event) pairs,
processed in time order; nothing happens between events, so an hour of network time takes
milliseconds. Everything random (latencies, losses, who finds the next block) is drawn from
generators seeded by ``seed``: the same seed gives the same run, event for event.

What is real and what is simulated:

* **Real**: blocks, transactions, signatures, headers, the nonce search on the header's
  target, validation, fork choice, reorgs, the UTXO set, the bytes of every message and the
  node's reaction to them.
* **Simulated**: time, the links, and *how long mining takes*. A miner with a share ``h / H``
  of the total hash rate finds blocks as a Poisson process with rate ``h / (H * block_interval)``:
  every hash is an independent lottery ticket, so the wait for the next block is exponential
  (memoryless: it does not matter how long the miner has already tried). The simulator draws
  that wait, and when it is over the node builds a real block on its *current* tip and searches
  a real nonce. With the ``regtest`` target (about two hashes per block) the search is instant;
  the work each block adds to the chain is the same for every block, so "most work" means
  "longest". Difficulty retargeting is therefore off (a simulated hash rate has no real target
  to adjust).

Links (``LinkSpec``): one-way ``latency`` (seconds) plus an exponential ``jitter`` with that
mean, a ``loss`` probability per message, and a ``bandwidth`` (bytes/s; messages queue behind
each other). Each direction delivers in order, like a TCP connection. Scenario events:
``partition`` (messages between groups are dropped until ``heal``), ``add_node(join_at=...)``
(late joins), ``crash``/``restart`` (the node loses its memory - mempool, orphans, peer scores -
and restarts from its block store, as a real node restarts from its SQLite file).

Taught in notebook 04; used by notebook 05 for the double-spend races.
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..chain.block import Block
from ..chain.chain import Chain
from ..chain.params import ChainParams, get_params
from ..chain.store import BlockStore
from ..crypto.keys import PrivateKey
from ..ledger import Transaction, build_payment
from .node import Node, NodeConfig

__all__ = ["LinkSpec", "SimNode", "BlockRecord", "Simulator"]


@dataclass(frozen=True)
class LinkSpec:
    """One direction of a link between two nodes."""

    latency: float = 0.1               # seconds, one way
    jitter: float = 0.0                # mean of an extra exponential delay
    loss: float = 0.0                  # probability that a message is lost
    bandwidth: float | None = None     # bytes per second (None: unlimited)


@dataclass
class _Link:
    spec: LinkSpec
    busy_until: float = 0.0            # the sender's side is transmitting until then
    last_arrival: float = 0.0          # in-order delivery
    up: bool = True                    # False after one side disconnected (e.g. a ban)
    dialled: bool = False              # True on the side that opened the connection (outbound)


@dataclass
class BlockRecord:
    """A block as the simulator saw it being mined (for fork trees and statistics)."""

    hash: bytes
    prev: bytes
    height: int
    miner: str
    time: float                        # simulated seconds since the start
    public: bool = True                # False while a miner keeps it to itself


@dataclass
class SimNode:
    """The simulator's handle on one node: its settings, its disk, and the live ``Node`` (if up)."""

    name: str
    hashrate: float
    key: PrivateKey
    store: BlockStore
    config: NodeConfig
    join_at: float = 0.0
    up: bool = False
    node: Node | None = None
    epoch: int = 0                     # bumped on crash/restart: stale timers are ignored
    publish: bool = True               # False: mine privately (an attacker)
    mine_gen: int = 0                  # bumped when the hash rate changes: the old draw is void
    netgroup: str = ""                 # the "network group" its connections come from ("" = its own)
    rngs: dict = field(default_factory=dict, repr=False)

    @property
    def address(self) -> bytes:
        return self.key.address()


class _Transport:
    """What a simulated node sees: send, disconnect, now."""

    def __init__(self, sim: "Simulator", name: str):
        self.sim, self.name = sim, name

    def send(self, peer: str, data: bytes) -> None:
        self.sim._send(self.name, peer, data)

    def disconnect(self, peer: str) -> None:
        self.sim._disconnect(self.name, peer)

    def now(self) -> float:
        return self.sim.clock()


class Simulator:
    """A seeded discrete-event network of ``Node`` objects.

    ``params``: chain parameters (default ``regtest``; retargeting must be off).
    ``block_interval``: expected seconds between blocks of the whole network.
    ``tick``: how often each node runs its housekeeping (seconds; default block_interval / 4).
    ``chain_factory(params, store=, clock=)`` and ``solver``: how nodes build their ``Chain`` and
    do the work for a block (defaults: ``Chain`` with proof-of-work, a nonce search);
    ``node_factory(name, chain, transport, **kwargs)``: how they build their ``Node`` (default
    ``Node``). The proof-of-gradient network plugs in through these (``llm.network.LLMSimulator``).
    """

    def __init__(self, seed: int = 0, params: ChainParams | str = "regtest", block_interval: float = 600.0,
                 node_config: NodeConfig | None = None, tick: float | None = None,
                 chain_factory: Callable[..., Chain] | None = None,
                 solver: Callable[[Block, int], Block | None] | None = None,
                 node_factory: Callable[..., Node] | None = None):
        self.seed = seed
        self.params = get_params(params)
        if self.params.retarget_interval:
            raise ValueError("the simulator draws block times from hash rates: use params without retargeting")
        self.block_interval = float(block_interval)
        # simulated links may be far slower than real ones (latency and jitter of minutes): give a
        # handshake as long as a block interval before an inbound peer counts as silent
        self.node_config = node_config or NodeConfig(heartbeat=self.block_interval,
                                                     handshake_timeout=max(60.0, self.block_interval))
        self.tick = tick if tick is not None else self.block_interval / 4
        self.chain_factory = chain_factory or Chain     # e.g. a Chain with the proof-of-gradient work rule
        self.solver = solver                           # and the matching Node solver (default: PoW nonces)
        self.node_factory = node_factory or Node        # (name, chain, transport, **kwargs) -> a Node
        self.block_listeners: list[Callable[[Block, str, bool], None]] = []   # (block, miner, public) when mined
        self.closers: list[Callable[[], None]] = []    # run by close()
        self.now = 0.0
        self.nodes: dict[str, SimNode] = {}
        self.links: dict[tuple[str, str], _Link] = {}
        self.blocks: dict[bytes, BlockRecord] = {}
        self.log: list[dict] = []                      # node events: reorgs, bans, rejections
        self.arrivals: dict[bytes, dict[str, float]] = {}   # block -> node -> when it first accepted it
        self.stats: Counter = Counter()
        self._queue: list = []
        self._seq = itertools.count()
        self._group: dict[str, int] | None = None      # active partition: node -> group
        self._net_rng = random.Random(f"sim:{seed}:network")
        self._mining, self._mining_gen = True, 0
        self.reference_hashrate: float | None = None   # fixed when mining starts (see _schedule_mining)
        self.store_dir: str | Path | None = None       # where nodes added later keep their block stores (None: memory)

    # ------------------------------------------------------------------ building a network
    def clock(self) -> float:
        """The nodes' clock: seconds since 1970 (the genesis time plus simulated seconds)."""
        return self.params.genesis_time + self.now

    def add_node(self, name: str | None = None, hashrate: float = 1.0, *, join_at: float = 0.0,
                 config: NodeConfig | None = None, key: PrivateKey | None = None, publish: bool = True,
                 netgroup: str = "") -> SimNode:
        """A node that comes up at ``join_at`` (late join if > 0). ``hashrate`` 0: it does not mine.
        ``netgroup``: where its connections appear to come from (nodes sharing one are one machine/subnet)."""
        name = name or f"n{len(self.nodes)}"
        if name in self.nodes:
            raise ValueError(f"node {name!r} exists already")
        key = key or PrivateKey.from_seed(f"sim:{self.seed}:miner:{name}".encode())
        # a simulated crash loses no disk writes: the stores need not wait for the disk (durable=False)
        store = BlockStore(":memory:" if self.store_dir is None else Path(self.store_dir) / f"{name}.sqlite",
                           durable=False)
        sn = SimNode(name, float(hashrate), key, store, config or self.node_config,
                     join_at=join_at, publish=publish, netgroup=netgroup or name)
        self.nodes[name] = sn
        self._at(max(join_at, self.now), self._start_node, name, 0)
        return sn

    def add_nodes(self, n: int, hashrates: Sequence[float] | None = None, **kwargs) -> list[SimNode]:
        hashrates = hashrates or [1.0] * n
        return [self.add_node(hashrate=h, **kwargs) for h in hashrates]

    def connect(self, a: str, b: str, link: LinkSpec | None = None, back: LinkSpec | None = None) -> None:
        """A two-way link that ``a`` opens to ``b`` (outbound for ``a``, inbound for ``b``);
        ``back`` defaults to the same spec."""
        if a == b or a not in self.nodes or b not in self.nodes:
            raise ValueError(f"cannot link {a!r} and {b!r}")
        link = link or LinkSpec()
        self.links[(a, b)] = _Link(link, dialled=True)
        self.links[(b, a)] = _Link(back or link)
        if self._reachable(a, b):
            self._handshake(a, b)

    def connect_random(self, degree: int = 3, link: LinkSpec | Callable[[random.Random], LinkSpec] | None = None,
                       names: Sequence[str] | None = None) -> None:
        """A ring (so the graph is connected) plus random chords until every node has about ``degree`` links."""
        rng = random.Random(f"sim:{self.seed}:topology")
        names = list(names or self.nodes)
        spec = (lambda: link(rng)) if callable(link) else (lambda: link or LinkSpec())
        for a, b in zip(names, names[1:] + names[:1]):
            if a != b and (a, b) not in self.links:
                self.connect(a, b, spec())
        for a in names:
            while sum(1 for (x, _) in self.links if x == a) < degree:
                b = rng.choice(names)
                if b != a and (a, b) not in self.links:
                    self.connect(a, b, spec())
                elif len(names) - 1 <= sum(1 for (x, _) in self.links if x == a):
                    break

    def neighbours(self, name: str) -> list[str]:
        return [b for (a, b) in self.links if a == name]

    # ------------------------------------------------------------------ scenario events
    def partition(self, groups: Sequence[Iterable[str]], start: float, heal: float | None = None) -> None:
        """From ``start``, drop every message between different groups; reconnect at ``heal``."""
        mapping = {name: i for i, group in enumerate(groups) for name in group}
        for name in self.nodes:
            mapping.setdefault(name, len(groups))        # nodes not listed form one more group
        self._at(start, self._split, mapping)
        if heal is not None:
            self._at(heal, self._heal)

    def heal(self) -> None:
        """End the current partition now (same as a scheduled ``heal``)."""
        self._heal()

    def crash(self, name: str, at: float, restart: float | None = None) -> None:
        """Kill the node at ``at`` (it keeps only its block store); bring it back at ``restart``."""
        self._at(at, self._crash, name)
        if restart is not None:
            self._at(restart, self._restart, name)

    def schedule(self, at: float, fn: Callable[["Simulator"], Any]) -> None:
        """Run ``fn(sim)`` at simulated time ``at`` (e.g. a wallet sends a payment)."""
        self._at(at, fn, self)

    def inject(self, src: str, dst: str, data: bytes, at: float | None = None) -> None:
        """Make ``src`` send raw ``data`` to ``dst`` over their link (tests: malformed or hostile bytes)."""
        self._at(self.now if at is None else at, self._send, src, dst, bytes(data))

    def pay(self, name: str, to: bytes, amount: int, fee: int = 1000, min_confirmations: int = 1) -> Transaction:
        """Node ``name``'s wallet pays ``amount`` to address ``to``: a signed transaction from its coins
        with at least ``min_confirmations`` (and not already spent in its mempool), submitted to the
        node and gossiped. Raises ``InvalidTransaction("insufficient-funds")`` if there are not enough."""
        sn, node = self.nodes[name], self.node(name)
        utxo = node.chain.utxo
        young = {op for op, _ in utxo.coins_of(sn.address)
                 if node.height - utxo.coin(op).height + 1 < min_confirmations}
        tx = build_payment(utxo, sn.key, [(to, amount)], fee, exclude=set(node.mempool.spends) | young)
        node.submit_transaction(tx)
        return tx

    def mine_now(self, name: str) -> Block:
        """Node ``name`` finds a block right now (outside the random schedule) and publishes it."""
        sn = self.nodes[name]
        block = self.node(name).mine_block(publish=sn.publish)
        self.record_block(block, name, public=sn.publish)
        return block

    def node(self, name: str) -> Node:
        """The live node object (raises if the node is down)."""
        sn = self.nodes[name]
        if sn.node is None:
            raise RuntimeError(f"node {name} is not running")
        return sn.node

    # ------------------------------------------------------------------ running
    def run(self, until: float | None = None, *, blocks: int | None = None, max_events: int | None = None,
            stop: Callable[["Simulator"], bool] | None = None) -> "Simulator":
        """Process events until simulated time ``until``, ``blocks`` more blocks were mined,
        ``max_events`` events were processed, or ``stop(sim)`` is true (checked after each block)."""
        target_blocks = None if blocks is None else self.stats["mined"] + blocks
        for count in itertools.count():
            if not self._queue or (max_events is not None and count >= max_events):
                break
            t = self._queue[0][0]
            if until is not None and t > until:
                break
            t, _, fn, args = heapq.heappop(self._queue)
            self.now = t
            fn(*args)
            if fn == self._mine and (
                    (target_blocks is not None and self.stats["mined"] >= target_blocks)
                    or (stop is not None and stop(self))):
                break
        if until is not None and (not self._queue or self._queue[0][0] > until):
            self.now = max(self.now, until)
        return self

    def pause_mining(self) -> None:
        """No more blocks until ``resume_mining`` (pending block-finding events are cancelled)."""
        self._mining = False
        self._mining_gen += 1

    def resume_mining(self) -> None:
        """Start the miners again. Exponential waits are memoryless, so drawing fresh ones is exact."""
        if self._mining:
            return
        self._mining = True
        self._mining_gen += 1
        for name in self.live():
            self._schedule_mining(name)

    def settle(self, quiet: float | None = None, max_blocks: int = 50,
               names: Iterable[str] | None = None) -> "Simulator":
        """Stop mining and let messages drain for ``quiet`` seconds; while the nodes ``names``
        (default: all live ones) still disagree - two tips of equal work, each node keeping the one
        it saw first - let the network mine one more block to break the tie, and drain again.
        Leaves mining paused (``resume_mining`` starts it again)."""
        quiet = quiet if quiet is not None else 2 * self.block_interval + 60
        names = list(names) if names is not None else None
        self.pause_mining()
        for attempt in range(max_blocks + 1):
            self.run(until=self.now + quiet)
            if self.converged(names) or attempt == max_blocks:
                break
            self.resume_mining()
            self.run(blocks=1)
            self.pause_mining()
        return self

    # ------------------------------------------------------------------ looking at the result
    def live(self) -> list[str]:
        return [n for n, sn in self.nodes.items() if sn.up]

    def tips(self) -> dict[str, bytes]:
        return {n: self.nodes[n].node.tip for n in self.live()}

    def heights(self) -> dict[str, int]:
        return {n: self.nodes[n].node.height for n in self.live()}

    def converged(self, names: Iterable[str] | None = None) -> bool:
        """True when all (live, listed) nodes have the same tip."""
        names = [n for n in (names or self.live()) if self.nodes[n].up]
        return len({self.nodes[n].node.tip for n in names}) <= 1

    def events(self, kind: str | None = None) -> list[dict]:
        return [e for e in self.log if kind is None or e["kind"] == kind]

    def reorgs(self) -> list[dict]:
        return self.events("reorg")

    def main_chain(self, name: str | None = None) -> list[bytes]:
        """Best chain of ``name`` (default: the first live node), genesis first."""
        return self.node(name or self.live()[0]).best_chain()

    def stale_blocks(self, name: str | None = None) -> list[bytes]:
        """Mined blocks that are not on the best chain (orphaned by a fork)."""
        main = set(self.main_chain(name))
        return [h for h in self.blocks if h not in main]

    # ------------------------------------------------------------------ internals: events
    def _at(self, t: float, fn: Callable, *args) -> None:
        heapq.heappush(self._queue, (float(t), next(self._seq), fn, args))

    def _make_node(self, sn: SimNode) -> Node:
        chain = self.chain_factory(self.params, store=sn.store, clock=self.clock)
        extra = {} if self.solver is None else {"solver": self.solver}
        return self.node_factory(sn.name, chain, _Transport(self, sn.name), miner_address=sn.address,
                                 config=sn.config, seed=f"{self.seed}:{sn.epoch}", listener=self._on_node_event,
                                 **extra)

    def _start_node(self, name: str, epoch: int) -> None:
        sn = self.nodes[name]
        if sn.up or epoch != sn.epoch:
            return
        sn.node = self._make_node(sn)
        sn.up = True
        self.stats["starts"] += 1
        for peer in self.neighbours(name):
            if self._reachable(name, peer):
                self._handshake(name, peer)
        self._schedule_mining(name)
        self._at(self.now + self._rng_for(name, "tick").uniform(0, self.tick), self._tick, name, sn.epoch)

    def _crash(self, name: str) -> None:
        sn = self.nodes[name]
        if not sn.up:
            return
        sn.up, sn.node, sn.epoch = False, None, sn.epoch + 1
        self.stats["crashes"] += 1
        for peer in self.neighbours(name):
            other = self.nodes[peer]
            if other.up:
                other.node.on_disconnect(name)

    def _restart(self, name: str) -> None:
        sn = self.nodes[name]
        if sn.up:
            return
        sn.epoch += 1
        self._start_node(name, sn.epoch)

    def _handshake(self, a: str, b: str) -> None:
        if not self.links[(a, b)].dialled:
            a, b = b, a                                # the side that dialled connects first
        self.links[(a, b)].up = self.links[(b, a)].up = True
        self.nodes[a].node.on_connect(b, inbound=False, netgroup=self.nodes[b].netgroup)
        if self.links[(a, b)].up and self.nodes[b].up:
            self.nodes[b].node.on_connect(a, inbound=True, netgroup=self.nodes[a].netgroup)

    def _reachable(self, a: str, b: str) -> bool:
        sa, sb = self.nodes[a], self.nodes[b]
        if not (sa.up and sb.up) or (a, b) not in self.links:
            return False
        return self._group is None or self._group[a] == self._group[b]

    def _split(self, mapping: dict[str, int]) -> None:
        before = {pair for pair in self.links if self._reachable(*pair)}
        self._group = mapping
        self.stats["partitions"] += 1
        for a, b in before:
            if not self._reachable(a, b):
                self.nodes[a].node.on_disconnect(b)

    def _heal(self) -> None:
        cut = [(a, b) for (a, b) in self.links if a < b and not self._reachable(a, b)]
        self._group = None
        self.stats["heals"] += 1
        for a, b in cut:
            if self._reachable(a, b):
                self._handshake(a, b)

    def _tick(self, name: str, epoch: int) -> None:
        sn = self.nodes[name]
        if not sn.up or epoch != sn.epoch:
            return
        sn.node.on_tick()
        self._at(self.now + self.tick, self._tick, name, epoch)

    # ------------------------------------------------------------------ internals: mining
    def _rng_for(self, name: str, purpose: str) -> random.Random:
        rngs = self.nodes[name].rngs
        if purpose not in rngs:
            rngs[purpose] = random.Random(f"sim:{self.seed}:{purpose}:{name}")
        return rngs[purpose]

    def total_hashrate(self) -> float:
        return sum(sn.hashrate for sn in self.nodes.values())

    def set_hashrate(self, name: str, hashrate: float) -> None:
        """Change one miner's hash rate from now on (the others' rates do not change)."""
        self.nodes[name].hashrate = float(hashrate)
        self.nodes[name].mine_gen += 1
        if self.nodes[name].up:
            self._schedule_mining(name)

    def _schedule_mining(self, name: str) -> None:
        """Draw the wait until this miner's next block: exponential with rate h / (H0 * block_interval).

        H0 (``reference_hashrate``) is the total hash rate when mining first starts, so that the
        network finds one block per ``block_interval`` on average; later changes (a crash, a late
        joiner, ``set_hashrate``) change the pace, as they would without a difficulty retarget."""
        sn = self.nodes[name]
        if self.reference_hashrate is None:
            self.reference_hashrate = self.total_hashrate() or 1.0
        if sn.hashrate <= 0 or not self._mining:
            return
        rate = sn.hashrate / (self.reference_hashrate * self.block_interval)      # blocks per second
        wait = self._rng_for(name, "mining").expovariate(rate)
        self._at(self.now + wait, self._mine, name, (sn.epoch, sn.mine_gen, self._mining_gen))

    def _mine(self, name: str, generation: tuple) -> None:
        sn = self.nodes[name]
        if not sn.up or generation != (sn.epoch, sn.mine_gen, self._mining_gen) or sn.hashrate <= 0:
            return
        block = sn.node.mine_block(publish=sn.publish)
        self.record_block(block, name, public=sn.publish)
        self._schedule_mining(name)

    def record_block(self, block: Block, miner: str, public: bool = True) -> None:
        """Note a newly mined block (the notebooks draw the fork tree from these records)."""
        entry = self.nodes[miner].node.chain.get(block.hash())
        self.blocks[block.hash()] = BlockRecord(block.hash(), block.prev_hash, entry.height, miner, self.now, public)
        self.stats["mined"] += 1
        for listener in self.block_listeners:
            listener(block, miner, public)

    def close(self) -> None:
        """Release what plugged-in parts hold (e.g. a verification thread pool)."""
        for closer in self.closers:
            closer()

    def submit(self, name: str, tx: Transaction) -> int:
        """Node ``name`` receives ``tx`` from a wallet and gossips it; returns its fee."""
        return self.node(name).submit_transaction(tx)

    # ------------------------------------------------------------------ internals: messages
    def _send(self, src: str, dst: str, data: bytes) -> None:
        link = self.links.get((src, dst))
        self.stats["sent"] += 1
        self.stats["bytes"] += len(data)
        if link is None or not link.up or not self._reachable(src, dst):
            self.stats["dropped-unreachable"] += 1
            return
        spec = link.spec
        if spec.loss and self._net_rng.random() < spec.loss:
            self.stats["lost"] += 1
            return
        start = max(self.now, link.busy_until)
        if spec.bandwidth:
            link.busy_until = start + len(data) / spec.bandwidth
            start = link.busy_until
        delay = spec.latency + (self._net_rng.expovariate(1.0 / spec.jitter) if spec.jitter else 0.0)
        arrival = max(start + delay, link.last_arrival)
        link.last_arrival = arrival
        self._at(arrival, self._deliver, src, dst, data, self.nodes[dst].epoch)

    def _deliver(self, src: str, dst: str, data: bytes, epoch: int) -> None:
        sn = self.nodes[dst]
        link = self.links.get((src, dst))
        if not sn.up or sn.epoch != epoch or link is None or not link.up or not self._reachable(src, dst):
            self.stats["dropped-in-flight"] += 1
            return
        self.stats["delivered"] += 1
        sn.node.on_message(src, data)

    def _disconnect(self, src: str, dst: str) -> None:
        for pair in ((src, dst), (dst, src)):
            if pair in self.links:
                self.links[pair].up = False
        other = self.nodes.get(dst)
        if other is not None and other.up:
            other.node.on_disconnect(src)

    def _on_node_event(self, kind: str, details: dict) -> None:
        if kind == "block":                          # too many to log; note when each node first had it
            self.arrivals.setdefault(details["hash"], {}).setdefault(details["node"], self.now)
            return
        self.log.append({"kind": kind, "sim_time": self.now, **details})

    def propagation_delays(self, fraction: float = 1.0) -> list[float]:
        """For each public block reached by ``fraction`` of the nodes: seconds from being mined until then."""
        delays = []
        n = len(self.nodes)
        for h, record in self.blocks.items():
            seen = sorted(self.arrivals.get(h, {}).values())
            k = max(1, math.ceil(fraction * n))
            if record.public and len(seen) >= k:
                delays.append(seen[k - 1] - record.time)
        return delays
