"""A soak test: eight real node processes live through an ordinary (bad) day of a class.

Two listening relays and six students that only dial out mine concurrently while the drill of
``gradientcoin_edu.network.hostile`` kills nodes with SIGKILL and restarts them on the same data
dir, stops others with SIGTERM, adds late joiners, cuts the class in two and heals it, and hostile
clients work on the relays and the RPC ports: version then hang up, silent CURVE connections, raw
TCP that never handshakes, slowloris on the RPC, key churn, garbage messages, zero-fee payment
floods. At the end mining stops and every honest node still running must be on one tip, none may
have died unexpectedly or logged a traceback, and memory, descriptors and threads stay bounded.

About 60-90 s of wall time (45 s of chaos, then the class settles). Every process is stopped by the
drill itself (``finally``) and, should this test process die, by the node's own watch on its parent.
``benchmarks/classroom_chaos.py`` runs the same drill for minutes."""
from __future__ import annotations

import pytest

from gradientcoin_edu.network.hostile import ChaosConfig, _Drill, chaos_class

pytestmark = [pytest.mark.processes, pytest.mark.slow]

MAX_RSS_MB = 300          # a regtest node is ~55 MB
MAX_FDS = 600             # a relay holds the crowd's connections (at most 3 x 100 open at once) plus its own
MAX_FINAL_FDS = 120       # after the crowd has left: what a node keeps must not grow with what it saw
MAX_THREADS = 150


def test_eight_nodes_survive_kills_restarts_partitions_and_hostile_peers(tmp_path):
    lines = []
    report = chaos_class(ChaosConfig(workdir=tmp_path, nodes=8, seconds=45.0, seed=7, chain="regtest",
                                     event_every=1.5, max_held=100, settle_seconds=60.0, log=lines.append))
    print("\n".join(lines))
    print(report.table())
    assert not report.failures, "\n\n".join(report.failures)
    for kind in _Drill.EVENTS + _Drill.HOSTILE_EVENTS:            # the drill played every kind of trouble
        assert report.events["drawn-" + kind] >= 1, f"{kind} never happened"
    assert report.hostile["version-answered"] >= 1, report.hostile   # the crowd's CURVE handshakes got through
    assert report.events["kill"] >= 1 and report.events["restart"] >= report.events["kill"]
    assert report.events["heal"] >= 1 and report.events["late-join"] >= 1
    assert report.converged and len(set(report.final_tips.values())) == 1
    assert len(report.final_tips) >= 6
    assert report.max_rss_mb < MAX_RSS_MB, report.max_by_node
    assert report.max_fds < MAX_FDS, report.max_by_node
    assert max(report.final_fds.values()) < MAX_FINAL_FDS, report.final_fds
    assert report.max_threads < MAX_THREADS, report.max_by_node
