"""``gradientcoin node``: run one real node process (ZeroMQ, SQLite), e.g. four of them on one laptop.

    gradientcoin node --listen tcp://127.0.0.1:5001 --peer PUBKEY@tcp://127.0.0.1:5002 \\
                      --data-dir /tmp/node1 --mine --mine-every 5

The node keeps its chain in ``DATA_DIR/blocks.sqlite`` (a ``chain.store.BlockStore``) and its
mining key in ``DATA_DIR/key``; after a crash (even ``kill -9``) the same command restarts it from
the store, and it catches up with its peers by asking for what it missed. ``DATA_DIR/status.json``
is rewritten every half second (height, tip, best chain, peers, counters) for scripts and tests,
and ``DATA_DIR/node.log`` records reorgs, rejected blocks and banned peers.

Mining: ``--mine`` searches nonces for real, on the chain's target. With ``--chain demo`` the
target needs about 16 000 hashes per block and retargets towards one block per 10 s (so a few
nodes share the CPU sensibly). With ``--chain regtest`` (about two hashes per block) add
``--mine-every S``: the node then *waits* an exponentially distributed time with mean S seconds
between blocks - a simulated hash rate, exactly as in the simulator - and then mines a real
block. Across machines, use each machine's address in ``--listen`` and the others' in ``--peer``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]

log = logging.getLogger("gradientcoin.node")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", required=True, help="where this node accepts messages, e.g. tcp://127.0.0.1:5001")
    parser.add_argument("--peer", action="append", default=[],
                        help="a peer, PUBKEY@tcp://host:port (its key: DATA_DIR/p2p_key.pub; repeat for more)")
    parser.add_argument("--data-dir", required=True, help="folder for blocks.sqlite, key, status.json, node.log")
    parser.add_argument("--chain", default="regtest", choices=["regtest", "demo"], help="chain parameters preset")
    parser.add_argument("--name", default=None, help="node name in logs (default: the listen port)")
    parser.add_argument("--mine", action="store_true", help="mine blocks")
    parser.add_argument("--mine-every", type=float, default=None,
                        help="mean seconds between our blocks (simulated hash rate); default: mine flat out")
    parser.add_argument("--mine-until", type=float, default=None, help="stop mining at this Unix time")
    parser.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    parser.add_argument("--seed", type=int, default=None, help="seed for the mining timer (default: random)")
    parser.add_argument("--status-every", type=float, default=0.5, help="seconds between status.json updates")


def run(args: argparse.Namespace) -> int:
    from ..chain.fork_choice import Chain
    from ..chain.store import BlockStore
    from .keys import load_or_create_keypair, parse_peer
    from .node import Node, NodeConfig
    from .zmq_transport import ZmqTransport

    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    name = args.name or args.listen.rsplit(":", 1)[1]
    _setup_logging(data / "node.log", name)
    key = _load_key(data / "key")
    store = BlockStore(str(data / "blocks.sqlite"))
    chain = Chain(args.chain, store=store)
    peers = [parse_peer(p) for p in args.peer]
    public, secret = load_or_create_keypair(data)
    transport = ZmqTransport(args.listen, secret_key=secret)
    node = Node(name, chain, transport, miner_address=key.address(), listen=args.listen,
                config=NodeConfig(heartbeat=10.0, request_timeout=5.0), listener=_log_event,
                seed=args.seed if args.seed is not None else random.getrandbits(32))
    transport.node = node
    log.info("started: height %d, tip %s, %d blocks in the store", chain.height, chain.tip.hash_hex()[:16], len(store))

    stop = {"now": False}

    def _stop(signum, frame):
        stop["now"] = True
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    for address, key in peers:
        transport.connect(address, key)
    started = time.time()
    miner = _Miner(node, args)
    status = _Status(data / "status.json", node, transport, args.status_every)
    try:
        transport.run(until=lambda: stop["now"] or (args.duration is not None and time.time() - started >= args.duration),
                      work=lambda: (miner.step(), status.maybe_write()))
    finally:
        status.write()
        log.info("stopping: height %d, tip %s", chain.height, chain.tip.hash_hex()[:16])
        transport.close()
        chain.close()
    return 0


class _Miner:
    """Mining between message batches: a Poisson timer (``--mine-every``) or flat-out nonce search."""

    def __init__(self, node, args):
        self.node, self.args = node, args
        self.rng = random.Random(args.seed)
        self.next_block_at = self._draw() if args.mine_every else None
        self.template, self.template_tip, self.template_made, self.nonce = None, None, 0.0, 0

    def _draw(self) -> float:
        return time.time() + self.rng.expovariate(1.0 / self.args.mine_every)

    def active(self) -> bool:
        return self.args.mine and (self.args.mine_until is None or time.time() < self.args.mine_until)

    def step(self) -> None:
        if not self.active():
            return
        if self.args.mine_every:
            if time.time() >= self.next_block_at:
                self.node.mine_block()
                self.next_block_at = self._draw()
            return
        self._search_slice()

    def _search_slice(self, count: int = 2000) -> None:
        from ..chain.block import Block
        from .node import pow_search
        node = self.node
        if self.template is None or self.template_tip != node.tip or time.time() - self.template_made > 10:
            self.template, self.template_tip, self.template_made, self.nonce = node.block_template(), node.tip, time.time(), 0
        header = pow_search(self.template.header, self.nonce, count)
        self.nonce += count
        if header is not None:
            node.stats["mined"] += 1
            node.submit_block(Block(header, self.template.txs, self.template.payload))
            self.template = None


class _Status:
    """``status.json``, written atomically (write to a temporary file, then rename)."""

    def __init__(self, path: Path, node, transport, every: float):
        self.path, self.node, self.transport, self.every = path, node, transport, every
        self.last = 0.0

    def maybe_write(self) -> None:
        if time.time() - self.last >= self.every:
            self.write()

    def write(self) -> None:
        from ..crypto.hashes import hash_to_hex
        self.last = time.time()
        node = self.node
        status = {
            "name": node.name, "pid": os.getpid(), "time": self.last, "height": node.height,
            "tip": hash_to_hex(node.tip), "best_chain": [hash_to_hex(h) for h in node.best_chain()],
            "peers": sorted(p for p, s in node.peers.items() if s["version"]),
            "mempool": len(node.mempool), "orphans": len(node.orphans),
            "mined": node.stats["mined"], "reorgs": node.stats["reorgs"], "dropped_sends": self.transport.dropped,
            "banned": sorted(node.peerbook.bans),
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, self.path)


def _load_key(path: Path):
    from ..crypto.keys import PrivateKey
    from .keys import read_secret_file, write_secret_file
    try:
        return PrivateKey.from_bytes(read_secret_file(path))
    except FileNotFoundError:
        key = PrivateKey.generate()
        write_secret_file(path, key.to_bytes())     # created 0600 and exclusively, never through a symlink
        return PrivateKey.from_bytes(read_secret_file(path))


def _setup_logging(path: Path, name: str) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {name} %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _log_event(kind: str, details: dict) -> None:
    if kind == "block":
        return
    shown = {k: (v.hex()[:16] if isinstance(v, bytes) else v) for k, v in details.items() if k != "abandoned"}
    log.info("%s %s", kind, shown)
