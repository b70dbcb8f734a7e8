"""The classroom network on loopback: one relay, students that only dial out (as in Colab).

Four students converge with the relay on one chain and the model trained on it, after a fifth
left and the fourth joined late while the class went on; a misbehaving client is scored by its authenticated key and banned by
the relay; the dashboard follows the whole class through the RPC. Every process runs in its own
process group and is stopped in ``finally``; the test is bounded by explicit deadlines."""
from __future__ import annotations

import time

import pytest

from _procs import gone, wait_for
from gradientcoin_edu.classroom import join, start_relay, stop_processes

pytestmark = pytest.mark.processes


class _Silent:
    """The rogue's node: it does not care what the relay says."""

    def on_connect(self, *a, **k):
        pass

    def on_disconnect(self, *a, **k):
        pass

    def on_message(self, *a, **k):
        pass

    def on_tick(self, *a, **k):
        pass


def _misbehave(relay_peer: str, seconds: float = 6.0) -> str:
    """A client with its own CURVE key sends the relay junk; returns its authenticated name."""
    import zmq
    from gradientcoin_edu.network.keys import parse_peer
    from gradientcoin_edu.network.zmq_transport import ZmqTransport
    _, secret = zmq.curve_keypair()
    rogue = ZmqTransport(None, secret_key=secret)
    rogue.node = _Silent()
    try:
        peer = rogue.connect(*parse_peer(relay_peer))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(20):
                rogue.send(peer, b"\x00junk that is not a message" * 3)
            rogue.poll(50)
        return rogue.peer_id
    finally:
        rogue.close()


def test_a_relay_and_four_outbound_only_students_converge(tmp_path):
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.proof_of_gradient import validation_loss
    from gradientcoin_edu.viz.dashboard import ClientFeed, Dashboard
    t0 = time.monotonic()
    nodes = []
    try:
        relay = start_relay(tmp_path / "relay", model="tiny")                   # port 0: the OS picks
        nodes.append(relay)
        line = relay.peer
        assert line and "@tcp://127.0.0.1:" in line
        students = [join(line, tmp_path / f"student{i}", model="tiny", mine_every=3.0, wait=False) for i in range(4)]
        nodes += students
        for s in students:
            s.wait_ready()
        assert all(s.client.status()["listen"] == "" for s in students)      # nobody dials a student
        dash = Dashboard(ClientFeed({n.name: n.client for n in nodes}))
        wait_for(lambda: min(n.client.status()["height"] for n in nodes) >= 3, 60, poll=0.5)
        late = join(line, tmp_path / "late", model="tiny", mine_every=3.0)      # joins while the class mines
        nodes.append(late)
        students[0].leave()                                                   # and one goes home
        rogue = _misbehave(line)
        assert wait_for(lambda: rogue in relay.client.status()["banned"], 10, poll=0.5), "the junk sender was not banned"
        running = [n for n in nodes if n.alive()]
        assert len(running) == 5                                               # relay + 4 students
        wait_for(lambda: min(n.client.status()["height"] for n in running) >= 6, 60, poll=0.5)
        for n in running[1:]:
            assert n.client.setmining(False) is False                          # the class stops mining
        time.sleep(1.0)
        top = max(n.client.status()["height"] for n in running)
        late.client.setmining(True)                                            # one more block breaks a tie
        wait_for(lambda: late.client.status()["height"] > top, 30, poll=0.2)
        late.client.setmining(False)

        def agree():
            st = [n.client.status() for n in running]
            return st if len({s["tip"] for s in st}) == 1 and len({s["weights_root"] for s in st}) == 1 else None
        final = wait_for(agree, 20, poll=0.5)
        assert final, f"tips differ: {[n.client.status()['height'] for n in running]}"
        spec = LLMSpec.builtin("tiny")
        genesis_loss = validation_loss(spec.pog, spec.validation, spec.pog.genesis_weights())
        assert final[0]["height"] >= 6 and final[0]["val_loss"] < genesis_loss  # the model trained on it
        assert late.client.status()["height"] == final[0]["height"]           # the late student synced
        miners = {b["miner_id"] for b in relay.client.blocktree()["blocks"] if b["height"] > 0}
        assert len(miners) >= 3                                                # students' blocks reach everyone
        snap = dash.update()
        assert len(snap.tree.blocks) >= final[0]["height"]
        assert any(r["kind"] == "ban" for r in snap.rejections)
    finally:
        stop_processes([n.process for n in nodes if n.alive()], [n.client for n in nodes if n.alive()])
    assert time.monotonic() - t0 < 240                  # ~25 s of CPU; wall time depends on the load


_PARENT = """
import sys, time
from pathlib import Path
from gradientcoin_edu.classroom import start_relay
relay = start_relay(Path(sys.argv[1]), mine_every=2.0)
print(relay.process.pid, flush=True)
if sys.argv[2] == "raise":
    raise RuntimeError("a notebook cell failed")
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "raise"])
def test_the_relay_stops_when_the_python_that_started_it_dies(tmp_path, how):
    """A notebook kernel killed with SIGKILL (or a script that raises) takes its nodes down within a
    few seconds; before, they kept mining in their own sessions until someone killed them."""
    import os
    import signal
    import subprocess
    import sys
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path / "relay"), how],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    node_pid = None
    try:
        node_pid = int(parent.stdout.readline())          # printed once the relay answers its RPC
        assert not gone(node_pid)
        if how == "kill":
            os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        assert wait_for(lambda: gone(node_pid), 10, poll=0.1), f"the relay (pid {node_pid}) outlived its parent"
        if how == "raise":
            assert "a notebook cell failed" in parent.stderr.read()
    finally:
        if parent.poll() is None:
            parent.kill()
        if node_pid is not None and not gone(node_pid):
            os.killpg(node_pid, signal.SIGKILL)
        parent.wait(timeout=10)
