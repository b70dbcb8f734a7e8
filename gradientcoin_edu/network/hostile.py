"""[tooling] Hostile visitors for real node processes, and a chaos drill for a whole class of them.

``attacks.py`` plays attacks against one ``Node`` object in the simulator. This module plays them
against *running* ``gradientcoin node`` processes, over their real sockets, as anyone on the
network (or anyone on the node's machine, for the RPC) could:

* :class:`HostileCrowd` - the visitors. A peer that completes the CURVE handshake, sends
  ``version`` and hangs up; peers that open many CURVE connections and never speak; raw TCP
  connections that never even start the ZeroMQ handshake; half-sent HTTP requests held open on
  the RPC port (slowloris); a peer that makes a fresh key for every connection (key churn);
  garbage and malformed messages; floods of zero- and low-fee payments through the RPC.
* :func:`chaos_class` - the drill: eight or more honest node processes (two listening relays and
  students that only dial out, as in ``classroom.py``) mine concurrently while they are killed
  with SIGKILL and restarted on the same data dir, leave with SIGTERM, join late, are cut into
  two halves and healed, and the crowd above works on them. At the end mining stops, and the
  drill checks what a class needs: every honest node still running is on one tip, none died
  unexpectedly or logged a traceback, and memory, descriptors and threads stayed bounded.
  ``tests/test_soak.py`` runs a short one; ``benchmarks/classroom_chaos.py`` a long one.

The drill never patches a node: what it reports is what the node code does.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from .messages import MAGIC, PROTOCOL_VERSION, Version, encode

__all__ = ["HostileCrowd", "ChaosConfig", "ChaosReport", "chaos_class", "proc_usage"]


# ============================================================================ the visitors

def _envelope(command: str, payload: bytes, magic: bytes = MAGIC, length: int | None = None,
              checksum: bytes | None = None) -> bytes:
    """A message envelope with any field we like (the honest one by default)."""
    digest = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return (magic + command.encode("ascii").ljust(12, b"\x00")
            + struct.pack("<I", len(payload) if length is None else length)
            + (digest if checksum is None else checksum) + payload)


class HostileCrowd:
    """Misbehaving clients aimed at real nodes. Connections it holds open stay open until
    :meth:`release` or :meth:`close`; ``counts`` says how many of each thing it did."""

    def __init__(self, seed: int = 0, max_held: int = 200):
        self.rng = random.Random(seed)
        self.context = zmq.Context()
        self.context.set(zmq.MAX_SOCKETS, 4096)          # a crowd, not one peer: more than the default 1023
        self.max_held = max_held
        self.curve: list[zmq.Socket] = []        # CURVE connections that never speak
        self.tcp: list[socket.socket] = []       # raw TCP connections that never handshake
        self.http: list[socket.socket] = []      # half-sent HTTP requests to an RPC port
        self.counts: Counter = Counter()

    # -------------------------------------------------------------- plumbing
    def _dealer(self, address: str, server_key: bytes | str, linger_ms: int = 0) -> zmq.Socket:
        public, secret = zmq.curve_keypair()     # a fresh identity: keys cost nothing
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, linger_ms)
        sock.curve_secretkey, sock.curve_publickey = secret, public
        sock.curve_serverkey = server_key.encode("ascii") if isinstance(server_key, str) else server_key
        sock.connect(address)
        return sock

    @staticmethod
    def _await_reply(sock: zmq.Socket, timeout_ms: int) -> bool:
        """True when the node answered (so the CURVE handshake completed and it heard us)."""
        if sock.poll(timeout_ms, zmq.POLLIN):
            try:
                while True:
                    sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                pass
            return True
        return False

    def _hold(self, bucket: list, items: list) -> None:
        bucket.extend(items)
        while len(bucket) > self.max_held:
            self._close(bucket.pop(0))

    @staticmethod
    def _close(thing) -> None:
        try:
            if isinstance(thing, zmq.Socket):
                thing.close(linger=0)
            else:
                thing.close()
        except (OSError, zmq.ZMQError):
            pass

    @staticmethod
    def version(genesis: bytes, height: int = 0) -> bytes:
        """An honest-looking ``version`` for the node's network (``genesis``: its genesis hash)."""
        return encode(Version(protocol=PROTOCOL_VERSION, genesis=genesis, best_height=height,
                              best_hash=bytes(32), nonce=random.getrandbits(64), user_agent="hostile"))

    # -------------------------------------------------------------- peers over CURVE
    def version_then_hangup(self, address: str, server_key, genesis: bytes, wait_ms: int = 2000) -> bool:
        """Handshake, say ``version``, wait for the node's answer, hang up. True if it answered."""
        sock = self._dealer(address, server_key)
        try:
            sock.send(self.version(genesis))
            answered = self._await_reply(sock, wait_ms)
        finally:
            sock.close(linger=0)
        self.counts["version-hangup"] += 1
        self.counts["version-answered"] += answered      # the handshake got through and the node heard us
        return answered

    def silent_connections(self, address: str, server_key, n: int) -> None:
        """``n`` CURVE connections (each with its own key) that complete the handshake and never speak."""
        self._hold(self.curve, [self._dealer(address, server_key) for _ in range(n)])
        self.counts["silent-curve"] += n

    def key_churn(self, address: str, server_key, genesis: bytes, n: int, wait_ms: int = 300) -> None:
        """``n`` connections in a row, a fresh key each: version, a little junk, hang up."""
        for _ in range(n):
            sock = self._dealer(address, server_key)
            try:
                sock.send(self.version(genesis))
                sock.send(b"\x00junk" * self.rng.randint(1, 20))
                self._await_reply(sock, wait_ms)
            finally:
                sock.close(linger=0)
        self.counts["key-churn"] += n

    def garbage(self, address: str, server_key, genesis: bytes, n: int, wait_ms: int = 500) -> None:
        """One fresh key sends ``n`` malformed messages of every kind the decoder must refuse."""
        sock = self._dealer(address, server_key, linger_ms=1000)
        rng = self.rng
        good_version = self.version(genesis)
        makers = [
            lambda: b"",
            lambda: rng.randbytes(rng.randint(1, 64)),
            lambda: MAGIC + rng.randbytes(rng.randint(0, 40)),
            lambda: _envelope("version", good_version[24:], checksum=b"\x00\x00\x00\x00"),      # bad checksum
            lambda: _envelope("version", good_version[24:-3]),                                  # truncated payload
            lambda: _envelope("version", b"", length=4_000_000_000),                            # length lies
            lambda: _envelope("xyzzy", b"hello"),                                               # unknown command
            lambda: _envelope("VERSION", good_version[24:]),                                    # bad command bytes
            lambda: _envelope("inv", b"\x01" + b"\x07\x00\x00\x00" + rng.randbytes(32)),        # bad inv kind
            lambda: _envelope("inv", b"\xfe\xff\xff\xff\x7f"),                                  # absurd count
            lambda: _envelope("getblocks", b"\x65" + rng.randbytes(32 * 101) + bytes(32)),      # random locator
            lambda: _envelope("block", rng.randbytes(rng.randint(0, 300))),
            lambda: _envelope("tx", rng.randbytes(rng.randint(0, 300))),
            lambda: _envelope("ping", b""),                                                     # ping without nonce
            lambda: encode(Version(genesis=bytes(32), user_agent="other network")),             # wrong genesis
            lambda: good_version,                                                               # a second version
            lambda: [b"two", b"frames"],
        ]
        try:
            sock.send(good_version)
            for _ in range(n):
                data = rng.choice(makers)()
                if isinstance(data, list):
                    sock.send_multipart(data)
                else:
                    sock.send(data)
            self._await_reply(sock, wait_ms)
        finally:
            sock.close(linger=200)
        self.counts["garbage"] += n

    # -------------------------------------------------------------- plain sockets
    def raw_tcp(self, host: str, port: int, n: int) -> None:
        """``n`` TCP connections to the P2P port that never send a byte (no ZeroMQ greeting)."""
        held = []
        for _ in range(n):
            s = socket.socket()
            s.settimeout(2.0)
            try:
                s.connect((host, port))
                held.append(s)
            except OSError:
                s.close()
                self.counts["raw-tcp-refused"] += 1
        self._hold(self.tcp, held)
        self.counts["raw-tcp"] += n

    def slowloris(self, port: int, n: int, host: str = "127.0.0.1") -> None:
        """``n`` HTTP requests to the RPC port that send their first header line and then wait."""
        held = []
        for _ in range(n):
            s = socket.socket()
            s.settimeout(2.0)
            try:
                s.connect((host, port))
                s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n")
                s.setblocking(False)
                held.append(s)
            except OSError:
                s.close()
                self.counts["slowloris-refused"] += 1
        self._hold(self.http, held)
        self.counts["slowloris"] += n

    def trickle(self) -> None:
        """One more header byte on each half-sent request: it never ends, but it is never idle."""
        for s in list(self.http):
            try:
                s.send(b"X")
            except OSError:              # the node closed it (a timeout): good for the node
                self.http.remove(s)
                self._close(s)
                self.counts["slowloris-closed-by-node"] += 1

    # -------------------------------------------------------------- the local user
    def tx_flood(self, client, addresses: list[str], n: int, fees=("0", "0.00000001")) -> Counter:
        """``n`` tiny payments with zero or low fees through a node's RPC (``send``); counts by outcome.

        ``fees`` are in coins, as the RPC takes them: by default none or the smallest unit (a fee
        below what the node relays, refused as ``policy-min-relay-fee``)."""
        from ..rpc import RpcError
        out: Counter = Counter()
        for _ in range(n):
            try:
                client.send(self.rng.choice(addresses), "0.00001", fee=self.rng.choice(fees))
                out["accepted"] += 1
            except RpcError as err:
                out[err.reason] += 1
        self.counts["tx-flood"] += n
        return out

    # -------------------------------------------------------------- ending
    def held(self) -> int:
        return len(self.curve) + len(self.tcp) + len(self.http)

    def release(self) -> None:
        """Close every connection held open."""
        for bucket in (self.curve, self.tcp, self.http):
            while bucket:
                self._close(bucket.pop())

    def close(self) -> None:
        self.release()
        self.context.term()


# ============================================================================ measuring a process

def proc_usage(pid: int) -> dict | None:
    """RSS (MB), threads and open descriptors of a running process, from ``/proc`` (Linux)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {"rss_mb": int(fields.get("VmRSS", "0 kB").split()[0]) / 1024.0,
            "threads": int(fields.get("Threads", "0").strip()), "fds": fds}


# ============================================================================ the drill

@dataclass
class ChaosConfig:
    """What the drill does. ``seconds`` of chaos, then mining stops and the class must agree."""

    workdir: Path
    nodes: int = 8                      # honest nodes at the start: two relays, the rest students
    seconds: float = 90.0
    seed: int = 0
    chain: str = "regtest"              # or "llm" (proof-of-gradient, ``model``)
    model: str = "tiny"
    mine_every: float | None = None     # per node; default: the class finds a block every ~2 s (regtest)
    event_every: float = 2.0            # mean seconds between chaos events
    hostile: bool = True
    max_held: int = 200                 # connections the crowd holds open, per kind (oldest closed first)
    max_late: int = 4                   # late joiners at most
    settle_seconds: float = 90.0        # after mining stops, how long the class may take to agree
    sample_every: float = 2.0
    log: Callable[[str], None] | None = print      # progress lines (None: quiet)


@dataclass
class ChaosReport:
    """What happened. ``failures``: one line per thing a node must not do (with a log excerpt)."""

    failures: list[str] = field(default_factory=list)
    events: Counter = field(default_factory=Counter)
    hostile: Counter = field(default_factory=Counter)
    tx_flood: Counter = field(default_factory=Counter)
    max_rss_mb: float = 0.0
    max_fds: int = 0
    max_threads: int = 0
    max_by_node: dict = field(default_factory=dict)
    final_fds: dict = field(default_factory=dict)
    final_tips: dict = field(default_factory=dict)
    final_heights: dict = field(default_factory=dict)
    final_mempool: dict = field(default_factory=dict)
    converged: bool = False
    converge_seconds: float | None = None   # the last block (mining stopped, or the tie-breaking one) -> one tip
    tiebreak_seconds: float | None = None   # waiting for tie-breaking blocks, if any were needed
    wall_seconds: float = 0.0
    honest_started: int = 0
    reorgs: int = 0
    bans: int = 0

    def table(self) -> str:
        rows = [
            ("honest node processes started", self.honest_started),
            ("SIGKILLs / restarts", f"{self.events['kill']} / {self.events['restart']}"),
            ("leavers (SIGTERM) / late joiners", f"{self.events['leave']} / {self.events['late-join']}"),
            ("partitions healed", self.events["heal"]),
            ("hostile actions", ", ".join(f"{k} {v}" for k, v in sorted(self.hostile.items())) or "none"),
            ("tx flood outcomes", ", ".join(f"{k} {v}" for k, v in sorted(self.tx_flood.items())) or "none"),
            ("max RSS (MB, any node)", f"{self.max_rss_mb:.1f}"),
            ("max open fds (any node)", self.max_fds),
            ("max threads (any node)", self.max_threads),
            ("final fds per node", " ".join(f"{v}" for v in self.final_fds.values())),
            ("final mempool sizes", " ".join(str(v) for v in self.final_mempool.values())),
            ("reorgs (running nodes, since their start) / bans the relays hold at the end",
             f"{self.reorgs} / {self.bans}"),
            ("final tips (distinct) / heights", f"{len(set(self.final_tips.values()))} / "
                                                f"{sorted(set(self.final_heights.values()))}"),
            ("time to one tip after the last block (s)",
             "did not converge" if self.converge_seconds is None else f"{self.converge_seconds:.1f}"),
            ("tie-breaking rounds / their wait for a block (s)",
             f"{self.events['tie-break-round']} / {self.tiebreak_seconds or 0.0:.1f}"),
            ("wall time (s)", f"{self.wall_seconds:.0f}"),
            ("failures", len(self.failures)),
        ]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


class _Member:
    """One honest node of the drill: its data dir, how it is started, its process."""

    def __init__(self, name: str, data_dir: Path, listen: str | None, peers: list[str]):
        self.name, self.data_dir, self.listen, self.peers = name, data_dir, listen, list(peers)
        self.proc: subprocess.Popen | None = None
        self.client = None
        self.state = "new"               # running | killed | left
        self.restart_at: float | None = None

    def tail(self, lines: int = 12) -> str:
        try:
            text = (self.data_dir / "node.out").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no node.out)"
        return "\n".join("      " + line for line in text[-lines:])


def _tracebacks(path: Path, context: int = 14) -> list[tuple[str, str]]:
    """Every Python traceback in a log file: ``(signature, excerpt)``, the signature being the
    exception line and the innermost frame (so a thousand repeats of one bug read as one)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out = []
    for i, line in enumerate(lines):
        if "Traceback (most recent call last)" not in line:
            continue
        j = i + 1
        while j < len(lines) and lines[j].startswith(" "):
            j += 1
        frames = [x.strip() for x in lines[i + 1:j] if x.strip().startswith("File ")]
        exception = lines[j].strip() if j < len(lines) else "(log ends)"
        signature = f"{exception} at {frames[-1] if frames else '?'}"
        out.append((signature, "\n".join("      " + x for x in lines[max(0, i - 1):min(j + 1, i + context)])))
    return out


class _Drill:
    def __init__(self, cfg: ChaosConfig):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.report = ChaosReport()
        self.members: list[_Member] = []
        self.crowd = HostileCrowd(seed=cfg.seed, max_held=cfg.max_held) if cfg.hostile else None
        self.genesis: bytes | None = None
        self.partitioned = False
        self.heal_at: float | None = None
        self.late = 0
        self.deck: list[str] = []
        per_node = cfg.mine_every if cfg.mine_every is not None else (2.0 * cfg.nodes if cfg.chain == "regtest"
                                                                      else 3.0 * cfg.nodes)
        self.mine_every = per_node
        cfg.workdir.mkdir(parents=True, exist_ok=True)

    def say(self, text: str) -> None:
        if self.cfg.log is not None:
            self.cfg.log(f"[{time.monotonic() - self.t0:6.1f} s] {text}")

    # -------------------------------------------------------------- processes
    def _args(self, m: _Member) -> list[str]:
        args = ["--chain", self.cfg.chain, "--name", m.name, "--quiet", "--mine",
                "--mine-every", f"{self.mine_every:g}",
                "--status-every", "1.0", "--rpc-port", "0"]
        if self.cfg.chain == "llm":
            args += ["--model", self.cfg.model]
        return args

    def start(self, m: _Member, peers: list[str] | None = None) -> None:
        from ..classroom import start_node_process
        from ..rpc import NodeClient
        m.proc = start_node_process(m.listen, m.data_dir, m.peers if peers is None else peers, *self._args(m))
        m.client = NodeClient(m.data_dir, timeout=15)
        m.state = "running"
        m.restart_at = None
        self.report.honest_started += 1

    def ready(self, m: _Member, timeout: float = 90.0) -> bool:
        """Wait until ``m`` answers its RPC (a stale rpc.json from before a kill is retried)."""
        from ..rpc import RpcError
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m.proc.poll() is not None:
                self.fail(m, f"exited with status {m.proc.returncode} while starting")
                return False
            try:
                st = m.client.status()
                if st.get("name") == m.name:
                    return True
            except RpcError:
                pass
            time.sleep(0.3)
        self.fail(m, f"did not answer its RPC within {timeout:.0f} s of starting")
        return False

    def fail(self, m: _Member | None, what: str) -> None:
        line = f"{m.name if m else 'drill'}: {what}"
        if m is not None:
            line += "\n" + m.tail()
        self.report.failures.append(line)
        self.say("FAILURE " + line.splitlines()[0])

    def stop(self, m: _Member, sig: int) -> int | None:
        from ..classroom import _signal_group
        _signal_group(m.proc, sig)
        try:
            return m.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.fail(m, f"still running 20 s after signal {sig}")
            _signal_group(m.proc, signal.SIGKILL)
            return m.proc.wait(timeout=10)

    def running(self) -> list[_Member]:
        return [m for m in self.members if m.state == "running"]

    def hubs(self) -> list[_Member]:
        return [m for m in self.members if m.listen is not None]

    # -------------------------------------------------------------- the class
    def build(self) -> None:
        """Two relays (relay-b dials relay-a), then students, half on each relay."""
        from ..crypto.hashes import hex_to_hash
        from .keys import format_peer, load_or_create_keypair
        work = self.cfg.workdir
        hub_a = _Member("relay-a", work / "relay-a", None, [])
        hub_b = _Member("relay-b", work / "relay-b", None, [])
        self.members = [hub_a, hub_b]
        self.peer_line = {}
        for hub, peers in ((hub_a, []), (hub_b, None)):
            hub.data_dir.mkdir(parents=True, exist_ok=True)
            if peers is None:
                hub.peers = [self.peer_line["relay-a"]]
            hub.listen = self._listen_address(hub)
            if hub.listen.endswith(":*"):
                self.start(hub)
                if not self.ready(hub):
                    raise RuntimeError(f"{hub.name} did not start")
                hub.listen = self._bound_address(hub)     # restarts reuse the port the OS gave it
            self.peer_line[hub.name] = format_peer(hub.listen, load_or_create_keypair(hub.data_dir)[0])
        for i in range(self.cfg.nodes - 2):
            hub = (hub_a, hub_b)[i % 2]
            self.members.append(_Member(f"student{i}", work / f"student{i}", None, [self.peer_line[hub.name]]))
        for m in self.members:
            if m.state == "new":
                self.start(m)
        for m in self.members:
            self.ready(m)
        self.genesis = hex_to_hash(hub_a.client.getblock(0)["hash"])
        self.say(f"{len(self.members)} honest nodes running ({self.cfg.chain}, a block per ~{self.mine_every:g} s "
                 f"each; relays on {hub_a.listen}, {hub_b.listen})")

    @staticmethod
    def _listen_address(hub: _Member) -> str:
        """``tcp://127.0.0.1:*``: the OS picks the port as the node binds it, and the node reports it."""
        return "tcp://127.0.0.1:*"

    @staticmethod
    def _bound_address(hub: _Member) -> str:
        from .keys import parse_peer
        line = hub.client.status().get("peer") or ""
        address = parse_peer(line)[0] if "@tcp://" in line else ""
        if not address.rsplit(":", 1)[-1].isdigit():
            raise RuntimeError(f"{hub.name} listens on :* but reports no bound port (status peer {line!r})")
        return address

    # -------------------------------------------------------------- events
    EVENTS = ("kill", "kill", "leave", "late-join", "partition")
    HOSTILE_EVENTS = ("version-hangup", "silent-curve", "raw-tcp", "slowloris", "key-churn", "garbage", "tx-flood")

    def event(self) -> None:
        """The next event from a shuffled deck holding every kind (kills twice): a short drill still
        plays each one, a long one plays them all many times in varying order."""
        if not self.deck:
            self.deck = list(self.EVENTS) + (list(self.HOSTILE_EVENTS) if self.crowd is not None else [])
            self.rng.shuffle(self.deck)
        kind = self.deck.pop()
        self.report.events["drawn-" + kind] += 1
        getattr(self, "ev_" + kind.replace("-", "_"))()

    def ev_kill(self) -> None:
        victims = self.running()
        if len(victims) <= 2:
            return
        m = self.rng.choice(victims)
        code = self.stop(m, signal.SIGKILL)
        if code != -signal.SIGKILL:
            self.fail(m, f"exited with status {code} before our SIGKILL arrived")
        m.state = "killed"
        m.restart_at = time.monotonic() + self.rng.uniform(1.0, 6.0)
        self.report.events["kill"] += 1
        self.say(f"kill -9 {m.name}")

    def ev_leave(self) -> None:
        students = [m for m in self.running() if m.listen is None]
        if len(students) <= 3:
            return
        m = self.rng.choice(students)
        code = self.stop(m, signal.SIGTERM)
        if code not in (0, 143, -signal.SIGTERM):
            self.fail(m, f"left with exit status {code} after SIGTERM (expected 0)")
        m.state = "left"
        self.report.events["leave"] += 1
        self.say(f"{m.name} leaves (SIGTERM, status {code})")

    def ev_late_join(self) -> None:
        if self.late >= self.cfg.max_late:
            left = [m for m in self.members if m.state == "left"]
            if not left:
                return
            m = self.rng.choice(left)                 # a leaver comes back with its own data dir
            self.say(f"{m.name} comes back")
        else:
            hub = self.rng.choice(self.hubs())
            m = _Member(f"late{self.late}", self.cfg.workdir / f"late{self.late}", None, [self.peer_line[hub.name]])
            self.late += 1
            self.members.append(m)
            self.say(f"{m.name} joins late (via {hub.name})")
        self.start(m)
        self.ready(m)
        self.report.events["late-join"] += 1

    def _restart_hub_b(self, peers: list[str]) -> None:
        b = self.members[1]
        if b.state != "running":
            return
        code = self.stop(b, signal.SIGTERM)
        if code not in (0, 143, -signal.SIGTERM):
            self.fail(b, f"exited with status {code} after SIGTERM (expected 0)")
        self.start(b, peers)
        self.ready(b)

    def ev_partition(self) -> None:
        if self.partitioned or self.members[1].state != "running":
            return
        self._restart_hub_b([])                       # relay-b (and its students) no longer reach relay-a
        self.partitioned = True
        self.heal_at = time.monotonic() + self.rng.uniform(6.0, 15.0)
        self.report.events["partition"] += 1
        self.say("partition: relay-b restarted without its link to relay-a")

    def heal(self) -> None:
        self.partitioned = False
        self.heal_at = None
        if self.members[1].state == "running":
            self._restart_hub_b(self.members[1].peers)
        self.report.events["heal"] += 1
        self.say("heal: relay-b dials relay-a again")

    def _target(self) -> _Member | None:
        hubs = [m for m in self.hubs() if m.state == "running"]
        return self.rng.choice(hubs) if hubs else None

    def ev_version_hangup(self) -> None:
        hub = self._target()
        if hub:
            for _ in range(3):
                self.crowd.version_then_hangup(hub.listen, _key_of(self.peer_line[hub.name]), self.genesis)

    def ev_silent_curve(self) -> None:
        hub = self._target()
        if hub:
            self.crowd.silent_connections(hub.listen, _key_of(self.peer_line[hub.name]), 25)

    def ev_raw_tcp(self) -> None:
        hub = self._target()
        if hub:
            host, port = hub.listen[len("tcp://"):].rsplit(":", 1)
            self.crowd.raw_tcp(host, int(port), 10)

    def ev_slowloris(self) -> None:
        victims = self.running()
        m = self.rng.choice(victims)
        try:
            port = json.loads((m.data_dir / "rpc.json").read_text())["port"]
        except (OSError, ValueError, KeyError):
            return
        self.crowd.slowloris(port, 10)

    def ev_key_churn(self) -> None:
        hub = self._target()
        if hub:
            self.crowd.key_churn(hub.listen, _key_of(self.peer_line[hub.name]), self.genesis, 10)

    def ev_garbage(self) -> None:
        hub = self._target()
        if hub:
            self.crowd.garbage(hub.listen, _key_of(self.peer_line[hub.name]), self.genesis, 40)

    def ev_tx_flood(self) -> None:
        from ..rpc import RpcError
        victims = self.running()
        m = self.rng.choice(victims)
        try:
            addresses = [m.client.address(), *(self.rng.choice(victims).client.address() for _ in range(3))]
        except RpcError as err:
            self.report.tx_flood["address-" + err.reason] += 1
            return
        self.report.tx_flood.update(self.crowd.tx_flood(m.client, addresses, 25))

    # -------------------------------------------------------------- watching
    def check_alive(self) -> None:
        for m in self.running():
            if m.proc.poll() is not None:
                self.fail(m, f"died unexpectedly with exit status {m.proc.returncode}")
                m.state = "killed"
                m.restart_at = time.monotonic() + 1.0      # bring it back so the drill goes on
                self.report.events["unexpected-death"] += 1

    def sample(self) -> None:
        r = self.report
        for m in self.running():
            use = proc_usage(m.proc.pid)
            if use is None:
                continue
            r.max_rss_mb = max(r.max_rss_mb, use["rss_mb"])
            r.max_fds = max(r.max_fds, use["fds"])
            r.max_threads = max(r.max_threads, use["threads"])
            prev = r.max_by_node.get(m.name, {"rss_mb": 0.0, "fds": 0, "threads": 0})
            r.max_by_node[m.name] = {k: max(prev[k], use[k]) for k in prev}

    def restarts_due(self, force: bool = False) -> None:
        now = time.monotonic()
        for m in self.members:
            if m.state == "killed" and (force or (m.restart_at is not None and now >= m.restart_at)):
                peers = [] if (m is self.members[1] and self.partitioned) else None
                self.start(m, peers)
                if self.ready(m):
                    self.say(f"{m.name} restarted on its data dir")
                self.report.events["restart"] += 1

    # -------------------------------------------------------------- the end
    def settle(self) -> None:
        from ..rpc import RpcError
        r = self.report
        if self.crowd is not None:
            self.crowd.release()
        if self.partitioned:
            self.heal()
        self.restarts_due(force=True)
        self.check_alive()
        nodes = self.running()
        for m in nodes:
            try:
                m.client.setmining(False)
            except RpcError as err:
                self.fail(m, f"setmining false failed: {err.reason}: {err}")
        t_stop = time.monotonic()
        deadline = t_stop + self.cfg.settle_seconds
        agreed = self._one_tip(nodes, min(deadline, t_stop + 10.0))     # blocks still in flight arrive
        t_last = t_stop
        while not agreed and time.monotonic() < deadline:
            # equal-work branches stay split until one more block: the class mines until anyone finds
            # one, then stops (two found at once: another round). The wait for that block, at the
            # simulated hash rate, is not the network's doing and is reported apart.
            t_mine = time.monotonic()
            try:
                top = max(_height(m) for m in nodes)
                for m in nodes:
                    m.client.setmining(True)
                while time.monotonic() < deadline and max(_height(m) for m in nodes) <= top:
                    time.sleep(0.2)
                for m in nodes:
                    m.client.setmining(False)
            except RpcError as err:
                self.fail(None, f"RPC failed while mining the tie-breaking block: {err.reason}: {err}")
                break
            t_last = time.monotonic()
            r.tiebreak_seconds = (r.tiebreak_seconds or 0.0) + t_last - t_mine
            r.events["tie-break-round"] += 1
            agreed = self._one_tip(nodes, min(deadline, t_last + 15.0))
        if agreed:
            r.converged = True
            r.converge_seconds = self.agreed_at - t_last
        self.check_alive()
        for m in self.running():
            try:
                st = m.client.status()
                r.final_tips[m.name], r.final_heights[m.name] = st["tip"], st["height"]
                r.final_mempool[m.name] = st.get("mempool")
                r.reorgs += st.get("reorgs", 0)
                if m.listen is not None:
                    r.bans += len(st.get("banned", []))
            except RpcError as err:
                self.fail(m, f"status failed at the end: {err.reason}")
            use = proc_usage(m.proc.pid)
            if use is not None:
                r.final_fds[m.name] = use["fds"]
        self.sample()
        if not r.converged:
            self.fail(None, "the honest nodes did not agree on one tip within "
                            f"{self.cfg.settle_seconds:.0f} s of mining stopping: "
                            + ", ".join(f"{k} h{r.final_heights.get(k)} {v[:12]}" for k, v in r.final_tips.items()))

    def _one_tip(self, nodes, until: float, stable: float = 2.0) -> bool:
        """True once every node reports the same tip, and still the same ``stable`` seconds later
        (a block mined just before mining stopped may still be on its way)."""
        agreed_on, since = None, 0.0
        while True:
            tips = self._tips(nodes)
            tip = next(iter(tips.values())) if tips and len(set(tips.values())) == 1 else None
            if tip is None or tip != agreed_on:
                agreed_on, since = tip, time.monotonic()
            elif time.monotonic() - since >= stable:
                self.agreed_at = since
                return True
            if time.monotonic() >= until:
                return False
            time.sleep(0.5)

    def _tips(self, nodes) -> dict:
        from ..rpc import RpcError
        tips = {}
        for m in nodes:
            try:
                tips[m.name] = m.client.status()["tip"]
            except RpcError:
                return {}
        return tips

    def shutdown(self) -> None:
        """Stop every honest node (RPC stop, then signals) and check they exit cleanly."""
        from ..classroom import stop_processes
        from ..rpc import RpcError
        running = self.running()
        for m in running:
            try:
                m.client.stop()
            except RpcError:
                pass
        for m in running:
            try:
                code = m.proc.wait(timeout=20)
                if code != 0:
                    self.fail(m, f"exited with status {code} after RPC stop (expected 0)")
            except subprocess.TimeoutExpired:
                self.fail(m, "still running 20 s after RPC stop")
            m.state = "left"
        stop_processes([m.proc for m in self.members if m.proc is not None and m.proc.poll() is None], grace=5.0)

    def scan_logs(self) -> None:
        """One failure per distinct traceback (exception and innermost frame), with where and how often."""
        seen: dict[str, list] = {}
        for m in self.members:
            for name in ("node.out", "node.log"):
                for signature, excerpt in _tracebacks(m.data_dir / name):
                    entry = seen.setdefault(signature, [0, set(), f"{m.name}/{name}", excerpt])
                    entry[0] += 1
                    entry[1].add(m.name)
        for signature, (count, names, first, excerpt) in seen.items():
            self.report.failures.append(f"traceback x{count} on {', '.join(sorted(names))}: {signature}\n"
                                        f"    first in {first}:\n{excerpt}")

    def run(self) -> ChaosReport:
        self.t0 = time.monotonic()
        try:
            self.build()
            end = time.monotonic() + self.cfg.seconds
            next_event = time.monotonic() + self.rng.expovariate(1.0 / self.cfg.event_every)
            next_sample = time.monotonic()
            while time.monotonic() < end:
                now = time.monotonic()
                self.check_alive()
                self.restarts_due()
                if self.heal_at is not None and now >= self.heal_at:
                    self.heal()
                if now >= next_event:
                    self.event()
                    next_event = time.monotonic() + self.rng.expovariate(1.0 / self.cfg.event_every)
                if now >= next_sample:
                    self.sample()
                    if self.crowd is not None:
                        self.crowd.trickle()
                    next_sample = now + self.cfg.sample_every
                time.sleep(0.1)
            self.say("chaos over: the crowd leaves, killed nodes come back, mining stops")
            self.settle()
            self.say(f"converged: {self.report.converged} in {self.report.converge_seconds} s")
            self.shutdown()
        except Exception as err:  # the drill itself broke (or a node's RPC did): report it, stop everything
            self.fail(None, f"the drill stopped on {type(err).__name__}: {err}")
            raise
        finally:
            from ..classroom import stop_processes
            stop_processes([m.proc for m in self.members if m.proc is not None and m.proc.poll() is None], grace=5.0)
            if self.crowd is not None:
                self.report.hostile = Counter(self.crowd.counts)
                self.crowd.close()
            self.scan_logs()
            self.report.wall_seconds = time.monotonic() - self.t0
        return self.report


def _key_of(peer_line: str) -> bytes:
    from .keys import key_bytes, parse_peer
    return key_bytes(parse_peer(peer_line)[1])


def _height(m: _Member) -> int:
    return m.client.status()["height"]


def chaos_class(cfg: ChaosConfig) -> ChaosReport:
    """Run the drill of this module's docstring; every process it starts is stopped when it returns
    (or raises). The report lists each failure with the node's last log lines."""
    return _Drill(cfg).run()
