"""The live dashboard (``viz/dashboard.py``): fed by the simulator or by real nodes' RPC, it redraws
every panel from what the network did, and renders statically for nbval and rendered pages."""
from __future__ import annotations

import plotly.graph_objects as go

from gradientcoin_edu.network.simulator import Simulator
from gradientcoin_edu.viz.dashboard import ClientFeed, Dashboard, SimulatorFeed


def _panels(fig):
    return {t.name or type(t).__name__: t for t in fig.data}


def test_the_dashboard_follows_a_simulated_network_with_forks():
    sim = Simulator(seed=3, block_interval=2.0)        # blocks faster than the 1 s links: forks happen
    for name in ("a", "b", "c"):
        sim.add_node(name)
    sim.connect("a", "b"), sim.connect("b", "c"), sim.connect("c", "a")
    dash = Dashboard(SimulatorFeed(sim))
    sim.run(blocks=5)
    first = dash.update()
    sim.run(blocks=25)
    snap = dash.update()
    assert dash.frames == 2
    panels = _panels(dash.figure)
    heights = list(panels["height"].y)
    assert heights == [sim.node(n).height for n in sorted(sim.live())] and max(heights) > first.nodes["a"]["height"]
    n_blocks = len(panels["best chain"].x) + len(panels["stale"].x)
    assert n_blocks == len(snap.tree.blocks) == len(sim.blocks) + 1         # every block, with genesis
    assert len(panels["stale"].x) == len(sim.stale_blocks())
    assert sum(len(t.split(", ")) for t in panels["node tips"].text) == 3   # each node's tip is marked
    static = dash.static()
    assert type(static) is go.Figure
    assert len(static.data) == len(dash.figure.data)


def test_the_dashboard_shows_the_loss_curve_and_rejections(tmp_path):
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.llm.network import LLMSimulator
    sim = LLMSimulator(LLMSpec.builtin("tiny"), seed=1)
    for name in ("a", "b"):
        sim.add_node(name)
    sim.connect("a", "b")
    dash = Dashboard(SimulatorFeed(sim))
    for _ in range(3):
        sim.run(blocks=1)
        dash.update()
    loss = _panels(dash.figure)["validation loss"]
    assert list(loss.x) == sorted(loss.x) and len(loss.x) >= 2
    assert loss.y[-1] < sim.node("a").chain.val_loss(0)                       # training shows
    # a peer sends a block with a bad proof on top of the tip (a block that would not move the tip,
    # sent unrequested, is not even looked at): the rejection and its reason appear in the table
    bad = sim.node("b").chain.tip.block
    from dataclasses import replace
    from gradientcoin_edu.chain.block import Block
    forged = Block(replace(bad.header, prev_hash=bad.hash(), bits=bad.header.bits - 1), bad.txs,
                   bad.payload)                                              # wrong difficulty
    from gradientcoin_edu.network import messages as m
    sim.node("b").on_message("a", m.encode(m.BlockMsg(forged.serialize())))
    dash.update()
    table = _panels(dash.figure)["Table"]
    assert "block-rejected" in table.cells.values[1] and "ban" in table.cells.values[1]
    reason = [e for e in sim.log if e["kind"] == "block-rejected"][-1]["reason"]
    assert reason and reason in table.cells.values[2]                         # the node's own reason
    assert all(reason for reason in table.cells.values[2])
