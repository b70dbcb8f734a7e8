"""[tooling] ``gradientcoin node``: run one real node process (ZeroMQ, SQLite, a local JSON-RPC).

Three proof-of-gradient nodes on one machine (three terminals)::

    gradientcoin node --chain llm --model tiny --listen tcp://127.0.0.1:5001 --data-dir n1 --mine
    # it prints: peers connect to this node with --peer HEXKEY@tcp://127.0.0.1:5001
    gradientcoin node --chain llm --model tiny --listen tcp://127.0.0.1:5002 --data-dir n2 --mine \
                      --peer HEXKEY@tcp://127.0.0.1:5001
    gradientcoin node --chain llm --model tiny --listen tcp://127.0.0.1:5003 --data-dir n3 --mine \
                      --peer HEXKEY@tcp://127.0.0.1:5001

Then, from another terminal: ``gradientcoin status --data-dir n1``, ``gradientcoin send --data-dir
n1 ADDRESS 1.5`` (``gradientcoin rpc --data-dir n2 address`` prints n2's), ``gradientcoin
contribute --data-dir n2 --file text.txt``, ``gradientcoin ask --data-dir n2 "3+4="``; in a
notebook, ``viz.dashboard.Dashboard(ClientFeed({"n1": NodeClient("n1"), ...}))`` draws them live.
Stop a node with Ctrl-C (or kill it); the same command restarts it where it was. Without
``--listen`` a node only dials out (a student behind NAT or in Colab: see ``classroom.py``).

One command for both kinds of chain, with the same transport-free node logic (``node.py``):
``--chain regtest`` and ``--chain demo`` are proof-of-work chains, ``--chain llm`` is the
decentralized tiny GPT secured by proof-of-gradient (``--model tiny|demo`` picks its size; every
node of one network must use the same ``--model`` and ``--corpus-seed``).

The node keeps its chain in ``DATA_DIR/blocks.sqlite`` and its mining key in ``DATA_DIR/key``,
locks the folder (a second node on it is refused), and after a crash (even ``kill -9``) the same
command restarts it from the store; it catches up with its peers by asking for what it missed.
An llm node holds in memory the gradients of its last ``query_window + 2`` blocks only (433 KB a
block for the demo model); older ones are read back from ``blocks.sqlite`` when a peer, a query or
a reorg needs them (``llm.network.PayloadsOnDisk``), so its memory does not grow by a gradient a block.
It logs to the terminal (new tips, reorgs, peers, rejected blocks with their reasons;
``--quiet`` keeps only warnings, ``--verbose`` adds every event) and to ``DATA_DIR/node.log``;
``DATA_DIR/status.json`` is rewritten twice a second for scripts: height, tip, ``peers``
(handshaken peers by Z85 key), ``peer_links`` (every peer we dial or that dialled us: its key as
``--peer`` takes it, ``HEXKEY@tcp://host:port`` for the ones we dial, its state such as
``connected``, ``unreachable`` or ``handshake-failed``, and its last error), ``listen`` (the bound
address: ``--listen tcp://127.0.0.1:0`` takes any free port), ``connections`` (inbound
connections, pending ones, the caps, what was closed and why) and ``errors`` (exceptions the event
loop caught, by source). A peer that cannot be reached is logged as a warning within seconds; the
node keeps running and redialling.

Nothing a peer or another local user does stops the node: a peer that hangs up, a failing status
write (full disk, no descriptor left) or a bug in one handler is logged and counted; at start the
node lifts its descriptor limit, and idle inbound connections are closed (docs/protocol.md 10.6).
The data dir must be ours and closed to others' writes, and every secret in it ours and 0600
(section 11). Mistakes at start (a bad address, a key file that is not ours or not a key, a
--peer that is our own key or names no host) are one line and exit status 2.

Control it with the JSON-RPC on ``127.0.0.1`` (``rpc.py``): ``gradientcoin status --data-dir
DIR``, ``gradientcoin send``, ``gradientcoin ask``, ... or ``NodeClient(DIR)`` in Python.

Mining: ``--mine`` mines with a *simulated hash rate*: the node waits an exponentially
distributed time with mean ``--mine-every`` seconds (default 5 s on regtest, 10 s on demo and
llm), then does the real work (a nonce search on the chain's target, or gradients until a
proof-of-gradient ticket wins) - so a few nodes on one laptop do not fork-storm. ``--mine-every
0`` (proof-of-work only) searches nonces flat out instead.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import time
from pathlib import Path

from .errors import GradientCoinError, UsageError

__all__ = ["add_arguments", "run", "DEFAULT_MINE_EVERY", "CHAIN_KINDS", "PowKind", "LLMKind", "open_node",
           "RunningNode"]

log = logging.getLogger("gradientcoin.node")

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=None,
                        help="where this node accepts connections, e.g. tcp://127.0.0.1:5001 (tcp://0.0.0.0:5001: "
                             "every interface, for a classroom relay; port 0 or *: any free port, shown in the log and "
                             "status.json); without it the node only dials out "
                             "(a student in Colab or behind NAT) and needs at least one --peer")
    parser.add_argument("--peer", action="append", default=[],
                        help="a peer, PUBKEY@tcp://host:port (its key is in its DATA_DIR/p2p_key.pub and in its "
                             "log; repeat for more)")
    parser.add_argument("--data-dir", required=True, help="folder for blocks.sqlite, keys, cookie, status.json, node.log")
    parser.add_argument("--chain", default="regtest", choices=list(CHAIN_KINDS),
                        help="regtest/demo: proof-of-work presets; llm: the tiny GPT by proof-of-gradient")
    parser.add_argument("--model", default="demo", choices=["tiny", "demo"],
                        help="llm: model size (tiny = 5k parameters, demo = 108k; same on every node)")
    parser.add_argument("--corpus-seed", type=int, default=0, help="llm: the built-in corpus (same on every node)")
    parser.add_argument("--name", default=None, help="node name in logs (default: the listen port, or the key)")
    parser.add_argument("--mine", action="store_true", help="mine blocks")
    parser.add_argument("--mine-every", type=float, default=None,
                        help="mean seconds between our blocks (simulated hash rate; default 5 on regtest, "
                             "10 on demo and llm; 0: search nonces flat out, proof-of-work only)")
    parser.add_argument("--mine-until", type=float, default=None, help="stop mining at this Unix time")
    parser.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    parser.add_argument("--seed", type=int, default=None, help="seed for the mining timer (default: random)")
    parser.add_argument("--rpc-port", type=int, default=0, help="RPC port on 127.0.0.1 (default 0: any free port, "
                                                                "written to DATA_DIR/rpc.json)")
    parser.add_argument("--status-every", type=float, default=0.5, help="seconds between status.json updates")
    parser.add_argument("--threads", type=int, default=1, help="llm: torch threads (default 1)")
    parser.add_argument("--pending-timeout", type=float, default=20.0,
                        help="seconds an inbound connection may stay silent (no message yet) before it is "
                             "closed (default 20)")
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("--quiet", action="store_true", help="terminal: warnings only (reorgs, rejections, bans)")
    loud.add_argument("--verbose", action="store_true", help="terminal: every event")


def check_arguments(args: argparse.Namespace) -> None:
    """Range checks before anything is touched; a ``UsageError`` says what to change."""
    from .network.zmq_transport import valid_address, valid_listen
    if args.listen is None and not args.peer:
        raise UsageError("no-listen-no-peer", "give --listen tcp://host:port, or at least one --peer to dial out to")
    if args.listen is not None and not valid_listen(args.listen):
        raise UsageError("bad-listen", f"--listen must look like tcp://127.0.0.1:5001 (host and port; port 0 "
                                       f"or *: any free port), not {args.listen!r}")
    from .network.keys import parse_peer
    for spec in args.peer:
        try:
            peer, _ = parse_peer(spec)
        except ValueError:
            peer = ""
        if not valid_address(peer):
            raise UsageError("bad-peer", f"--peer must look like PUBKEY@tcp://127.0.0.1:5002 (the key is in the "
                                         f"peer's DATA_DIR/p2p_key.pub), not {spec!r}")
        if peer == args.listen:
            raise UsageError("bad-peer", f"--peer {peer} is this node's own --listen address")
        _check_host(spec, peer)
    if args.mine_every is not None and args.mine_every < 0:
        raise UsageError("bad-mine-every", "--mine-every is a number of seconds >= 0")
    if args.mine_every == 0 and not CHAIN_KINDS[args.chain].flat_out:
        raise UsageError("bad-mine-every", "--mine-every 0 (flat out) is for proof-of-work chains; "
                                           "give llm nodes a mean time such as 10")
    for name in ("duration", "status_every", "pending_timeout"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"bad-{name}", f"--{name.replace('_', '-')} is a positive number of seconds")
    if not 0 <= args.rpc_port <= 65535:
        raise UsageError("bad-rpc-port", "--rpc-port is 0 (any free port) or 1..65535")
    if args.threads < 1:
        raise UsageError("bad-threads", "--threads is at least 1")


def _check_host(spec: str, address: str) -> None:
    """A --peer host name that does not exist is a mistake (exit 2); a DNS failure that may pass is not."""
    import socket
    host = address[len("tcp://"):].rsplit(":", 1)[0]
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        if err.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise UsageError("bad-peer", f"--peer {spec}: no host named {host!r}") from None
        log.warning("--peer %s: cannot look up %s now (%s); will keep trying", spec, host, err.strerror)


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    if args.mine_every is None:
        args.mine_every = DEFAULT_MINE_EVERY[args.chain]
    node = open_node(args)
    try:
        node.loop()
    finally:
        node.close()
    return 0


class RunningNode:
    """One node process: data dir, store, transport, node logic, RPC, miner, status file."""

    def __init__(self, args, datadir, chain, transport, node, service, rpc):
        self.args, self.datadir, self.chain, self.transport = args, datadir, chain, transport
        self.node, self.service, self.rpc = node, service, rpc
        self.stop_now = False
        self.started = time.time()
        self.miner = _Miner(node, args)
        service.mining_switch = self.miner.switch
        self.status = _Status(datadir / "status.json", node, transport, args.status_every, service)

    def request_stop(self, *_) -> None:
        self.stop_now = True

    def loop(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        from .network.keys import parse_peer
        for spec in self.args.peer:
            try:
                self.transport.connect(*parse_peer(spec))
            except ValueError as err:                  # e.g. our own key, or our own address
                raise UsageError("bad-peer", f"--peer {spec}: {err}") from None
        if self.args.peer:
            log.info("dialling %d peer(s); a warning follows if one cannot be reached", len(self.args.peer))
        deadline = None if self.args.duration is None else self.started + self.args.duration
        self.transport.run(until=lambda: self.stop_now or (deadline is not None and time.time() >= deadline),
                           work=self._work)

    def _work(self) -> None:
        """One slice between message batches; each part supervised on its own (a failing status
        write, e.g. a full disk or no descriptor left, is logged and counted, never fatal)."""
        guard = self.transport.guard
        guard("rpc", self.rpc.serve_pending)
        guard("miner", self.miner.step)
        if self.status.due():
            guard("watch-peers", self.service.watch_peers)
            guard("status-file", self.status.write)

    def close(self) -> None:
        try:
            self.status.write()
        except OSError:
            pass
        log.info("stopping: height %d, tip %s", self.chain.height, self.chain.tip.hash_hex()[:16])
        self.rpc.close()
        self.transport.close()
        self.chain.close()
        self.datadir.close()


def open_node(args: argparse.Namespace) -> RunningNode:
    """Everything a node needs, opened in an order that leaves nothing half-made on a mistake."""
    from .datadir import open_datadir
    from .rpc import RpcServer
    from .network.service import load_or_create_key

    from .network.zmq_transport import raise_fd_limit
    datadir = open_datadir(args.data_dir)
    try:
        name = args.name or _default_name(args, datadir.path)
        _setup_logging(datadir / "node.log", name, args)
        before, fd_limit, hard = raise_fd_limit()
        log.log(logging.INFO if fd_limit >= 4096 else logging.WARNING,
                "file descriptors: soft limit %d (was %d, hard limit %s)", fd_limit, before,
                "unlimited" if hard == -1 else hard)
        transport = _open_transport(args.listen, datadir.path, args.pending_timeout)
        args.listen = transport.listen                # port 0: the port the OS gave
        try:
            chain = _open_chain(args, datadir.path)
        except BaseException:
            transport.close()
            raise
        try:
            key = load_or_create_key(datadir / "key")
            node = _make_node(args, name, chain, transport, key)
            transport.node = node
            holder: dict = {}
            make_service = CHAIN_KINDS[args.chain].service_factory()
            service = make_service(node, datadir.path, key, on_stop=lambda: holder["node"].request_stop(),
                                   chain_name=_chain_label(args))
            node.listener = service.on_node_event
            rpc = RpcServer(service.methods(), datadir.path, port=args.rpc_port)
        except BaseException:
            transport.close()
            chain.close()
            raise
    except BaseException:
        datadir.close()
        raise
    running = RunningNode(args, datadir, chain, transport, node, service, rpc)
    holder["node"] = running
    from .network.keys import format_peer
    log.info("started %s node %s: height %d, tip %s, %d blocks in the store; listening on %s; RPC %s; "
             "mining %s", _chain_label(args), name, chain.height, chain.tip.hash_hex()[:16], len(chain),
             args.listen or "nothing (outbound connections only)", rpc.url, _mining_label(args))
    if args.listen is not None:
        log.info("inbound connections: at most %d (%d not yet peers), silent ones closed after %g s",
                 transport.max_connections, transport.max_pending, transport.pending_seconds)
    if args.listen is not None:
        service.peer_line = format_peer(args.listen, transport.public_key)
        shown = service.peer_line.replace("tcp://0.0.0.0:", "tcp://THIS-MACHINE'S-ADDRESS:")
        log.info("peers connect to this node with --peer %s", shown)
    return running


def _chain_label(args) -> str:
    return CHAIN_KINDS[args.chain].label(args)


def _mining_label(args) -> str:
    if not args.mine:
        return "off"
    return "flat out" if args.mine_every == 0 else f"one block per ~{args.mine_every:g} s (simulated hash rate)"


def _default_name(args, data: Path) -> str:
    if args.listen is not None and not args.listen.endswith((":0", ":*")):
        return args.listen.rsplit(":", 1)[1]
    from .network.keys import load_or_create_keypair
    return "node-" + load_or_create_keypair(data)[0].decode("ascii")[:6]


def _open_transport(listen: str | None, data: Path, pending_seconds: float = 20.0):
    import zmq
    from .network.keys import load_or_create_keypair
    from .network.zmq_transport import ZmqTransport
    _, secret = load_or_create_keypair(data)          # the CURVE identity peers know this node by
    try:
        return ZmqTransport(listen, secret_key=secret, pending_seconds=pending_seconds)
    except zmq.ZMQError as err:
        raise UsageError("listen-failed", f"cannot listen on {listen}: {err.strerror}; is another node using "
                                          "that port? Choose another --listen port") from None


class PowKind:
    """A proof-of-work chain of a preset (``regtest``, ``demo``): the plain ``Chain``, ``Node`` and RPC."""

    def __init__(self, preset: str, mine_every: float):
        self.preset, self.default_mine_every = preset, mine_every
        self.flat_out = True                          # --mine-every 0: search nonces between message batches

    def label(self, args) -> str:
        return self.preset

    def open_chain(self, args, store):
        from .chain import Chain
        return Chain(self.preset, store=store)

    def make_node(self, args, name, chain, transport, key, seed):
        from .network.node import Node, NodeConfig
        return Node(name, chain, transport, miner_address=key.address(), listen=args.listen or "",
                    config=NodeConfig(heartbeat=10.0, request_timeout=5.0), seed=seed)

    def service_factory(self):
        from .network.service import NodeService
        return NodeService


class LLMKind:
    """The decentralized LLM (``--model``, ``--corpus-seed``): an ``LLMChain``, its node and RPC."""

    default_mine_every = 10.0
    flat_out = False                                  # gradients are not a nonce search: no --mine-every 0

    def label(self, args) -> str:
        return f"llm-{args.model}"

    def open_chain(self, args, store):
        import torch
        from .llm.chain import LLMChain
        from .llm.network import keep_payloads_on_disk
        from .llm.spec import LLMSpec
        torch.set_num_threads(args.threads)
        # only the last blocks' gradients in memory; older ones are read back from the store
        return keep_payloads_on_disk(LLMChain(LLMSpec.builtin(args.model, seed=args.corpus_seed), store=store))

    def make_node(self, args, name, chain, transport, key, seed):
        from .llm.network import LLMNode
        from .network.node import NodeConfig
        return LLMNode(name, chain, transport, miner_address=key.address(), listen=args.listen or "",
                       config=NodeConfig(heartbeat=5.0, request_timeout=5.0), seed=seed)

    def service_factory(self):
        from .llm.network import LLMNodeService
        return LLMNodeService


# --chain -> what it builds. The network layer knows none of them: this table, at the top, plugs
# each kind of chain into the same node process.
CHAIN_KINDS = {"regtest": PowKind("regtest", 5.0), "demo": PowKind("demo", 10.0), "llm": LLMKind()}
DEFAULT_MINE_EVERY = {name: kind.default_mine_every for name, kind in CHAIN_KINDS.items()}


def _open_chain(args, data: Path):
    from .chain.store import BlockStore
    path = data / "blocks.sqlite"
    try:
        store = BlockStore(str(path))
    except GradientCoinError as err:
        raise UsageError("bad-store", f"{path} is not a usable block store ({err.message}); move it away "
                                      "or choose another --data-dir") from None
    try:
        return CHAIN_KINDS[args.chain].open_chain(args, store)
    except GradientCoinError as err:
        store.close()
        raise UsageError("bad-store", f"{path} holds another chain or cannot be read ({err.message}); use the "
                                      "--chain/--model it was made with, or another --data-dir") from None


def _make_node(args, name, chain, transport, key):
    seed = args.seed if args.seed is not None else random.getrandbits(32)
    return CHAIN_KINDS[args.chain].make_node(args, name, chain, transport, key, seed)


class _Miner:
    """Mining between message batches: a Poisson timer (``--mine-every``) or flat-out nonce search."""

    def __init__(self, node, args):
        self.node, self.args = node, args
        self.rng = random.Random(args.seed)
        self.next_block_at = self._draw() if args.mine_every else None
        self.template, self.template_tip, self.template_made, self.nonce = None, None, 0.0, 0

    def _draw(self) -> float:
        return time.time() + self.rng.expovariate(1.0 / self.args.mine_every)

    def switch(self, on: bool | None) -> bool:
        """RPC ``setmining``: turn mining on or off (None: just report)."""
        if on is not None:
            self.args.mine = on
            if on and self.args.mine_every:
                self.next_block_at = self._draw()
        return self.args.mine

    def active(self) -> bool:
        return self.args.mine and (self.args.mine_until is None or time.time() < self.args.mine_until)

    def step(self) -> None:
        if not self.active():
            return
        if self.args.mine_every:
            if time.time() >= self.next_block_at:
                try:
                    self.node.mine_block()
                except GradientCoinError as err:       # e.g. our template lost a race: try again later
                    log.warning("mining failed: %s", err.message)
                self.next_block_at = self._draw()
            return
        self._search_slice()

    def _search_slice(self, count: int = 2000) -> None:
        from .chain.block import Block
        from .chain.pow import pow_search
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
    """``status.json``, written atomically: a new file under a random name (``O_EXCL | O_NOFOLLOW``:
    never through a file or symlink planted there), then renamed over the old one.

    ``peers``: handshaken peers by Z85 key (as before); ``peer_links``: every peer we dial or that
    dialled us, with its key in the form ``--peer`` takes, its state and last error."""

    def __init__(self, path: Path, node, transport, every: float, service=None):
        self.path, self.node, self.transport, self.every = path, node, transport, every
        self.service = service
        self.last = 0.0

    def due(self) -> bool:
        return time.time() - self.last >= self.every

    def write(self) -> None:
        from .crypto.hashes import hash_to_hex
        from .datadir import write_atomic
        self.last = time.time()
        node = self.node
        status = {
            "name": node.name, "pid": os.getpid(), "time": self.last, "height": node.height,
            "tip": hash_to_hex(node.tip), "best_chain": [hash_to_hex(h) for h in node.best_chain()],
            "peers": sorted(p for p, s in node.peers.items() if s["version"]),
            "mempool": len(node.mempool), "orphans": len(node.orphans),
            "mined": node.stats["mined"], "reorgs": node.stats["reorgs"], "dropped_sends": self.transport.dropped,
            "banned": sorted(node.peerbook.bans), "listen": self.transport.listen,
            "peer_links": self.peer_links(), "connections": self.transport.connection_stats(),
            "errors": dict(self.transport.error_counts),
        }
        if self.service is not None and self.service.llm:
            status.update(val_loss=self.service.val_loss(), weights_root=node.chain.rule.weights_root().hex())
        write_atomic(self.path, json.dumps(status).encode(), mode=0o644, sync=False)

    def peer_links(self) -> list[dict]:
        peers = self.node.peers
        out = []
        for key, info in sorted(self.transport.peer_states().items(), key=lambda kv: kv[1]["key"]):
            state = peers.get(key)
            out.append({**info, "handshaken": bool(state and state.get("version"))})
        return out


def _setup_logging(path: Path, name: str, args) -> None:
    """Terminal (stdout) and ``node.log``: INFO by default, WARNING with --quiet, DEBUG with --verbose."""
    from .datadir import open_log
    name = name.replace("%", "%%")      # a name is text, not format: a Z85 key (the default name) may hold '%'
    log.handlers.clear()
    log.propagate = False
    fmt = logging.Formatter(f"%(asctime)s {name} %(message)s", datefmt="%H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    console.setLevel(logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO)
    handler = logging.StreamHandler(open_log(path))     # no symlink followed, our own file only
    handler.setFormatter(logging.Formatter(f"%(asctime)s {name} %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    log.addHandler(console)
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    # the library's own loggers (chain: a branch that needs data it lacks; node logic: a handler bug
    # caught by the supervisor) write their warnings to the same terminal and node.log
    library = logging.getLogger("gradientcoin_edu")
    library.handlers.clear()
    library.propagate = False
    library.addHandler(console)
    library.addHandler(handler)
    library.setLevel(logging.INFO)
