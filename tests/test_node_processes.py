"""Real processes: four `gradientcoin node` processes on loopback mine and gossip over ZeroMQ; one is
killed with SIGKILL mid-run and restarted from its SQLite store; all end on the same tip, nothing lost.

Every process is started in its own process group and killed in ``finally``; the test is bounded by
explicit deadlines (about 25 s on a 2-core machine)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from _procs import kill_group, stop_groups, wait_for
from gradientcoin_edu.chain.store import BlockStore
from gradientcoin_edu.classroom import listen_address
from gradientcoin_edu.crypto.hashes import hash_to_hex
from gradientcoin_edu.network.keys import format_peer, load_or_create_keypair
from gradientcoin_edu.rpc import NodeClient

pytestmark = pytest.mark.processes

N_NODES = 4
MINE_SECONDS = 12.0
DEADLINE = 70.0                                  # the whole test, start to finish
LOOPBACK = "tcp://127.0.0.1:0"                   # the OS picks the port as the node binds it
TIE_BREAKER = 0                                  # mines one block after the others stop (see below)


def _status(data_dir) -> dict | None:
    try:
        return json.loads((data_dir / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _start(i, dirs, addrs, mine_until, log_dir):
    """Node ``i`` listens on a port the OS picks as it binds (read back with ``listen_address``) and
    dials the nodes in ``addrs`` ({index: address}: those already running). Connections carry
    gossip both ways, so starting the nodes one after the other still makes a full mesh.
    Node 0 (``TIE_BREAKER``) has no ``--mine-until``: the test turns its miner off over RPC."""
    keys = [load_or_create_keypair(d)[0] for d in dirs]       # peers are named by their CURVE public keys
    args = [sys.executable, "-m", "gradientcoin_edu", "node", "--listen", LOOPBACK, "--data-dir", str(dirs[i]),
            "--mine", "--mine-every", "2.0", "--seed", str(100 + i),
            "--name", f"node{i}", "--status-every", "0.25"]
    if i != TIE_BREAKER:
        args += ["--mine-until", str(mine_until)]
    for j, a in addrs.items():
        if j != i:
            args += ["--peer", format_peer(a, keys[j])]
    out = open(log_dir / f"node{i}.out", "ab")
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def test_four_processes_survive_a_sigkill_and_converge(tmp_path):
    t0 = time.monotonic()
    dirs = [tmp_path / f"node{i}" for i in range(N_NODES)]
    mine_until = time.time() + MINE_SECONDS
    procs: list[subprocess.Popen] = []
    addrs: dict[int, str] = {}
    try:
        for i in range(N_NODES):
            procs.append(_start(i, dirs, dict(addrs), mine_until, tmp_path))
            addrs[i] = listen_address(dirs[i], procs[-1], timeout=30)

        # let them mine for a while, then kill node 2 hard
        time.sleep(5.0)
        victim = 2
        before_kill = _status(dirs[victim])
        assert before_kill is not None and before_kill["height"] >= 1, "node 2 never reported any progress"
        kill_group(procs[victim], signal.SIGKILL)
        procs[victim].wait(timeout=10)
        assert procs[victim].returncode == -signal.SIGKILL

        # the others keep going; restart the victim from its store
        time.sleep(2.0)
        procs.append(_start(victim, dirs, addrs, mine_until, tmp_path))     # a new port; it dials the others
        restarted = procs[-1]

        # after mining stops, everyone must agree. Two blocks found within a gossip delay of each other
        # at the very end leave two tips of equal work, and nothing resolves such a tie but a further
        # block (in Bitcoin as here): CI once ended on [10, 10, 10, 10] with two tips. So the others
        # stop at `mine_until`, node 0 goes on until it has mined a block above every node's height,
        # and then its miner is turned off over RPC.
        while time.time() < mine_until + 1.0:
            time.sleep(0.2)
        top = max((_status(d) or {}).get("height", 0) for d in dirs)
        above = wait_for(lambda: ((_status(dirs[TIE_BREAKER]) or {}).get("height", 0) > top), 15, poll=0.2)
        assert above, f"node {TIE_BREAKER} mined nothing above height {top} in 15 s"
        assert NodeClient(dirs[TIE_BREAKER]).call("setmining", False) is False
        stopped = time.time()
        statuses = None
        while time.monotonic() - t0 < DEADLINE - 8:
            statuses = [_status(d) for d in dirs]
            if all(s and s["time"] > stopped for s in statuses) and len({s["tip"] for s in statuses}) == 1:
                break
            time.sleep(0.25)
        assert statuses and len({s["tip"] for s in statuses}) == 1, \
            f"tips differ: {[(s or {}).get('height') for s in statuses]}"
        final_chain = statuses[0]["best_chain"]
        assert len(final_chain) >= 10, f"only {len(final_chain)} blocks in {MINE_SECONDS} s of mining"
        assert all(s["best_chain"] == final_chain for s in statuses)
        assert sum(s["mined"] for s in statuses) >= 1
        assert restarted.poll() is None, "the restarted node died"
    finally:
        stop_groups(procs, grace=5)
    assert all(p.poll() is not None for p in procs)

    # nothing lost: the victim's store still has every block it had accepted before the kill, and
    # its best chain before the kill is (up to a short fork at the very tip) a prefix of the final one
    with BlockStore(str(dirs[victim] / "blocks.sqlite")) as store:
        stored = {hash_to_hex(row.hash) for row in store.rows()}
    assert set(before_kill["best_chain"]) <= stored
    settled = before_kill["best_chain"][:-2]
    assert final_chain[:len(settled)] == settled
    for d in dirs:                                # every node persisted the final chain
        with BlockStore(str(d / "blocks.sqlite")) as store:
            assert hash_to_hex(store.tip()) == final_chain[-1]
    assert time.monotonic() - t0 < DEADLINE


def test_default_mining_rpc_lock_and_sigterm(tmp_path):
    """Three regtest nodes with plain ``--mine`` (no --mine-every): a sane block rate, one chain;
    the RPC answers; a second node on a used data dir is refused; SIGTERM stops a node cleanly."""
    from gradientcoin_edu.rpc import NodeClient, RpcError
    dirs = [tmp_path / f"n{i}" for i in range(3)]
    peers: list[str] = []
    procs = []
    try:
        for i in range(3):                  # each on a port the OS picks, dialling those already up
            args = [sys.executable, "-m", "gradientcoin_edu", "node", "--listen", LOOPBACK, "--data-dir", str(dirs[i]),
                    "--mine", "--seed", str(i), "--name", f"n{i}"] + [x for a in peers for x in ("--peer", a)]
            procs.append(subprocess.Popen(args, stdout=open(tmp_path / f"n{i}.out", "wb"), stderr=subprocess.STDOUT,
                                          start_new_session=True))
            peers.append(format_peer(listen_address(dirs[i], procs[-1], timeout=30), load_or_create_keypair(dirs[i])[0]))
        clients = [NodeClient(d, timeout=5) for d in dirs]

        def ready():
            try:
                return all(c.status()["height"] >= 0 for c in clients)
            except RpcError:
                return False
        assert wait_for(ready, 30), "the nodes did not start their RPC"
        t0 = time.monotonic()
        wait_for(lambda: clients[0].status()["height"] >= 3, 30)
        time.sleep(2)
        rate = clients[0].status()["height"] / max(1e-9, time.monotonic() - t0 + 2)
        assert rate < 5, f"{rate:.1f} blocks/s with default mining: a fork storm"
        # a second node on node 0's data dir is refused, and changes nothing there
        second = subprocess.run([sys.executable, "-m", "gradientcoin_edu", "node", "--listen",
                                 LOOPBACK, "--data-dir", str(dirs[0])],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "in use by another node" in second.stderr
        assert clients[0].status()["height"] >= 3
        # they agree (mining stops being a race once we ask them to stop: compare tips at rest)
        kill_group(procs[2], signal.SIGTERM)
        assert procs[2].wait(timeout=15) == 0
        assert not (dirs[2] / ".cookie").exists()            # the RPC went away cleanly
        log_text = (dirs[2] / "node.log").read_text()
        assert "stopping: height" in log_text and "new tip: height" in log_text and "peer connected" in log_text
        with pytest.raises(RpcError):
            clients[2].status()
        h2 = json.loads((dirs[2] / "status.json").read_text())["height"]
        assert wait_for(lambda: clients[0].status()["height"] > h2, 30), "the other two stopped mining"
        restarted = subprocess.Popen([sys.executable, "-m", "gradientcoin_edu", "node", "--listen", LOOPBACK, "--name", "n2",
                                      "--data-dir", str(dirs[2]), "--peer", peers[0]],
                                     stdout=open(tmp_path / "n2b.out", "wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        procs.append(restarted)

        def caught_up():
            try:
                return clients[2].status()["height"] >= clients[0].status()["height"] - 1
            except RpcError:
                return False
        assert wait_for(caught_up, 40), "the restarted node did not catch up"
    finally:
        stop_groups(procs, grace=10)


def test_quiet_keeps_the_terminal_to_warnings_and_the_log_file_complete(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gradientcoin_edu", "node", "--listen", LOOPBACK, "--name", "q",
                             "--data-dir", str(tmp_path / "q"), "--mine", "--mine-every", "0.2", "--duration", "3",
                             "--quiet"], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    assert "new tip" not in result.stdout and "started" not in result.stdout
    log_text = (tmp_path / "q" / "node.log").read_text()
    assert "new tip: height 2" in log_text and "started regtest node" in log_text
    loud = subprocess.run([sys.executable, "-m", "gradientcoin_edu", "node", "--listen", LOOPBACK, "--name", "q",
                           "--data-dir", str(tmp_path / "q"), "--duration", "1"], capture_output=True, text=True,
                          timeout=90)
    assert loud.returncode == 0 and "started regtest node" in loud.stdout       # restarted from its store
    assert "blocks in the store" in loud.stdout and "height 0," not in loud.stdout
