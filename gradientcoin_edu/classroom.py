"""[tooling] The classroom network: one public relay run by the instructor, students who only dial out.

A student in Colab (or behind a university NAT) cannot accept connections. So the class uses one
**relay**: an ordinary ``gradientcoin node`` that listens on a public address. Every student node
runs *without* ``--listen`` and opens one outbound, CURVE-authenticated connection to the relay;
the relay answers and gossips back on that same connection (ZeroMQ ROUTER/DEALER, see
``network/zmq_transport.py``), so blocks and transactions from any student reach every other
student through it. Students come and go: a new one syncs the chain from the relay, one that
leaves is simply gone. A student who misbehaves is scored by the relay like any peer, by its
authenticated key (a sender cannot claim another student's key), and dropped; a fresh key starts
again from nothing, inside the relay's slot limits and eviction rules.

Instructor (on the machine with the public address; open the port)::

    gradientcoin node --chain llm --model tiny --listen tcp://0.0.0.0:5001 --data-dir relay

It prints ``peers connect to this node with --peer HEXKEY@tcp://...``: give the class that line,
with the machine's public address. Students, in a notebook::

    from gradientcoin_edu.classroom import join
    me = join("HEXKEY@tcp://relay.example.org:5001", "my-node")   # starts a node process, dials out
    me.client.status()                                             # NodeClient: send, contribute, ask
    me.leave()

:class:`NodeProcess` wraps one ``gradientcoin node`` child process and its
:class:`~gradientcoin_edu.rpc.NodeClient`; :func:`start_relay` and :func:`join` make them.
``docs/instructors.md`` has the steps for a real class; notebook 13 runs a whole class on loopback.

**Nothing keeps mining after its notebook.** Every node started here is stopped whatever happens to
the Python that started it: :func:`stop_all` stops them (and runs by itself when the interpreter
exits: a kernel shut down or restarted, a script that raised), a :class:`NodeProcess` is a context
manager, and each child watches its parent: when the process that started it is gone (a kernel
killed with ``kill -9``, a crashed script), the child stops itself within a second. The child does
this by polling its parent's pid, which works on every platform; Linux's ``PR_SET_PDEATHSIG``
would be quicker but fires when the *thread* that started the child ends, which would kill a node
started from a helper thread that has since finished.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import GradientCoinError

__all__ = ["NodeProcess", "start_relay", "join", "listen_address", "start_node_process",
           "stop_processes", "stop_all", "running_processes"]

# Every node process this Python started and has not seen exit, with the pid of the Python that
# started it (a forked copy of this interpreter must not stop its parent's nodes when it exits).
_STARTED: list[tuple[subprocess.Popen, int]] = []
_STARTED_LOCK = threading.Lock()
WATCH_PARENT_SECONDS = 0.5          # how often a child checks that the process that started it still runs

# The child runs the ordinary ``gradientcoin`` command line, after starting a thread that stops the
# node (SIGTERM to itself, then SIGKILL) once its parent has gone: see _child_main.
_CHILD = "import sys; from gradientcoin_edu.classroom import _child_main; sys.exit(_child_main(sys.argv[1:]))"


def listen_address(data_dir: str | Path, process: subprocess.Popen | None = None, timeout: float = 60.0) -> str:
    """The address a node listens on, as the node reports it in ``DATA_DIR/status.json``: what a node
    started with ``--listen tcp://HOST:0`` was given by the OS. With ``process``, only a report
    written by that process counts (a data dir reused after a restart holds the old one)."""
    import json
    path = Path(data_dir) / "status.json"
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("listen") and (process is None or status.get("pid") == process.pid):
            return status["listen"]
        if process is not None and process.poll() is not None:
            raise GradientCoinError("node-died", f"the node in {data_dir} exited (status {process.returncode}) "
                                                 "before it reported its address")
        if time.monotonic() > deadline:
            raise GradientCoinError("start-timeout", f"the node in {data_dir} reported no listen address "
                                                     f"within {timeout:.0f} s")
        time.sleep(0.1)


def start_node_process(listen: str | None, data_dir: Path, peers: list[str], *extra: str,
                       die_with_parent: bool = True) -> subprocess.Popen:
    """``gradientcoin node --listen LISTEN --data-dir DATA_DIR --peer ... EXTRA`` in its own process
    group, its terminal output in ``DATA_DIR/node.out`` (``listen=None``: outbound connections only).
    A peer is ``HEXKEY@tcp://host:port`` (``network.keys.format_peer``).
    The child stops itself when this process goes away (``die_with_parent``, default), and
    :func:`stop_all` (run at interpreter exit too) stops it."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    args = ["node", "--data-dir", str(data_dir), *extra]
    if listen is not None:
        args += ["--listen", listen]
    for peer in peers:
        args += ["--peer", peer]
    if die_with_parent:
        cmd = [sys.executable, "-c", _CHILD, str(os.getpid()), *args]
    else:
        cmd = [sys.executable, "-m", "gradientcoin_edu", *args]
    out = open(data_dir / "node.out", "ab")
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()
    with _STARTED_LOCK:
        _STARTED[:] = [(p, owner) for p, owner in _STARTED if p.poll() is None]
        _STARTED.append((proc, os.getpid()))
    return proc


def running_processes() -> list[subprocess.Popen]:
    """The node processes started by this Python that are still running."""
    with _STARTED_LOCK:
        return [p for p, owner in _STARTED if owner == os.getpid() and p.poll() is None]


def stop_all(grace: float = 10.0) -> int:
    """Stop every node process this Python started (SIGTERM to its process group, then SIGKILL);
    returns how many were still running. Runs by itself when the interpreter exits."""
    procs = running_processes()
    for p in procs:
        _signal_group(p, signal.SIGTERM)
    stop_processes(procs, grace=grace)
    return len(procs)


atexit.register(stop_all, 5.0)


def _child_main(argv: list[str]) -> int:
    """Entry point of a node child: ``PARENT_PID node ARGS...``. A daemon thread stops this process
    when its parent is gone (the parent pid changes when the parent dies: the child is re-parented)."""
    parent = int(argv[0])

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_PARENT_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)           # the node stops cleanly (its own SIGTERM handler)
        time.sleep(15.0)
        os.kill(os.getpid(), signal.SIGKILL)           # it did not: no node outlives its notebook

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
    from .cli import main
    return main(argv[1:])


def stop_processes(procs: list[subprocess.Popen], clients=(), grace: float = 10.0) -> None:
    """Stop every process: RPC ``stop`` if a client is given, then SIGTERM, then SIGKILL."""
    for client in clients:
        try:
            client.stop()
        except GradientCoinError:
            pass
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            p.wait(timeout=5)


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class NodeProcess:
    """One ``gradientcoin node`` child process and a ``NodeClient`` for it. Use as a context manager,
    or call :meth:`leave` (the node stops cleanly; its data dir stays)."""

    def __init__(self, process: subprocess.Popen, data_dir: Path, name: str):
        from .rpc import NodeClient
        self.process, self.data_dir, self.name = process, Path(data_dir), name
        self.client = NodeClient(self.data_dir, timeout=60)

    def wait_ready(self, timeout: float = 90.0) -> "NodeProcess":
        """Wait until the node answers its RPC; a ``GradientCoinError`` if it died or took too long."""
        from .rpc import RpcError
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise GradientCoinError("node-died", f"{self.name} exited: {self.last_line()}")
            try:
                self.client.status()
                return self
            except RpcError:
                if time.monotonic() > deadline:
                    raise GradientCoinError("start-timeout", f"{self.name} did not start within {timeout:.0f} s")
                time.sleep(0.3)

    @property
    def peer(self) -> str | None:
        """``HEXKEY@tcp://host:port``: what other nodes pass as ``--peer`` (listening nodes only)."""
        return self.client.status().get("peer")

    def last_line(self) -> str:
        try:
            lines = (self.data_dir / "node.out").read_text(errors="replace").strip().splitlines()
            return lines[-1] if lines else "(no output)"
        except OSError:
            return "(no output)"

    def alive(self) -> bool:
        return self.process.poll() is None

    def leave(self) -> None:
        """Stop the node (RPC ``stop``, then SIGTERM, then SIGKILL)."""
        if self.alive():
            stop_processes([self.process], [self.client])

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.leave()

    def __repr__(self) -> str:
        return f"NodeProcess({self.name}, pid {self.process.pid}, {'running' if self.alive() else 'stopped'})"


def _llm_args(model: str, corpus_seed: int) -> list[str]:
    return ["--chain", "llm", "--model", model, "--corpus-seed", str(corpus_seed)]


def start_relay(data_dir: str | Path, listen: str = "tcp://127.0.0.1:0", model: str = "tiny",
                corpus_seed: int = 0, mine_every: float | None = None, wait: bool = True,
                extra: tuple[str, ...] = ()) -> NodeProcess:
    """The instructor's relay: a listening llm node (mining only with ``mine_every``). By default it
    listens on a port the OS picks as it binds (port 0); ``relay.peer`` is the line students join
    with, its real address included."""
    args = [*_llm_args(model, corpus_seed), "--name", "relay", "--quiet", *extra]
    if mine_every:
        args += ["--mine", "--mine-every", str(mine_every)]
    node = NodeProcess(start_node_process(listen, Path(data_dir), [], *args), Path(data_dir), "relay")
    return node.wait_ready() if wait else node


def join(relay: str, data_dir: str | Path, name: str | None = None, model: str = "tiny", corpus_seed: int = 0,
         mine: bool = True, mine_every: float = 5.0, wait: bool = True,
         extra: tuple[str, ...] = ()) -> NodeProcess:
    """A student node: dials out to ``relay`` (``HEXKEY@tcp://host:port``), never listens; mines by default."""
    name = name or Path(data_dir).name
    args = [*_llm_args(model, corpus_seed), "--name", name, "--quiet", *extra]
    if mine:
        args += ["--mine", "--mine-every", str(mine_every)]
    node = NodeProcess(start_node_process(None, Path(data_dir), [relay], *args), Path(data_dir), name)
    return node.wait_ready() if wait else node
