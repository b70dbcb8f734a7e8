"""Fork trees and the partition scenario behind notebook 04's widgets."""
from __future__ import annotations

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.exercises.nb04 import locator_heights_reference
from gradientcoin_edu.network.simulator import Simulator
from gradientcoin_edu.viz.fork_tree import ForkTree, TreeBlock, fork_tree_figure, fork_tree_text, layout, segments
from gradientcoin_edu.viz.widgets import scenario_partition


def _h(i: int) -> bytes:
    return bytes([i]) * 32


def test_layout_puts_the_best_chain_on_the_middle_line():
    blocks = {_h(0): TreeBlock(_h(0), bytes(32), 0)}
    for i, (parent, height) in enumerate([(0, 1), (1, 2), (2, 3), (1, 2), (4, 3), (5, 4), (2, 3)], start=1):
        blocks[_h(i)] = TreeBlock(_h(i), _h(parent), height, time=i)
    tree = ForkTree(blocks, main=[_h(0), _h(1), _h(2), _h(3)], tips={"a": _h(3), "b": _h(6)})
    pos = layout(tree)
    assert {pos[h][1] for h in tree.main} == {0}
    assert pos[_h(6)][1] != 0 and pos[_h(4)][1] == pos[_h(6)][1]
    runs = segments(tree)
    assert sorted(h for run in runs for h in run) == sorted(blocks)          # every block exactly once
    assert set(tree.stale()) == {_h(4), _h(5), _h(6), _h(7)}
    text = fork_tree_text(tree)
    assert "best chain" in text and "tip of a" in text and "tip of b" in text
    fig = fork_tree_figure(tree)
    assert len(fig.data) >= 3


def test_partition_scenario_forks_and_heals():
    out = scenario_partition(seed=7, payment=True)
    assert {out.before.tips[n] for n in out.left} != {out.before.tips[n] for n in out.right}
    assert out.sim.converged() and out.reorg_depths
    assert out.payment is not None
    final = {tx.txid for h in out.after.main for tx in out.sim.node("n0").chain.get_block(h).txs}
    assert out.payment.txid in final


def test_locator_reference_matches_the_chain():
    sim = Simulator(seed=1)
    sim.add_node("a")
    sim.run(blocks=37)
    chain: Chain = sim.node("a").chain
    heights = [chain.get(h).height for h in chain.locator()]
    assert heights == locator_heights_reference(chain.height)
