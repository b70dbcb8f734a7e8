"""[tooling] Knobs for the network notebook: latency and hash-rate shares, with the fork tree redrawn live.

``partition_explorer()`` returns an ipywidgets box: sliders for the link latency, the hash-rate
share of the left half of the network, and how long the partition lasts; each change reruns a
small seeded simulation (``scenario_partition``) and redraws its fork tree. Nothing here is
needed to *understand* the network - it is there to play with. Taught in notebook 04.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..crypto.keys import PrivateKey
from ..errors import InvalidTransaction
from ..ledger import COIN, Transaction
from ..network.simulator import LinkSpec, Simulator
from .fork_tree import ForkTree, fork_tree_figure, fork_tree_text

__all__ = ["PartitionOutcome", "scenario_partition", "partition_explorer"]


@dataclass
class PartitionOutcome:
    sim: Simulator
    before: ForkTree                 # just before the partition heals: two competing tips
    after: ForkTree                  # after healing and settling: one tip
    left: list[str]
    right: list[str]
    payment: Transaction | None = None   # paid on the left during the partition (``payment=True``)

    @property
    def reorg_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        for r in self.sim.reorgs():
            depths[r["node"]] = max(depths.get(r["node"], 0), r["depth"])
        return depths


def scenario_partition(seed: int = 7, n_nodes: int = 12, latency: float = 2.0, jitter: float = 3.0,
                       left_share: float = 0.4, start_blocks: float = 5, partition_blocks: float = 10,
                       block_interval: float = 600.0, after_blocks: float = 3,
                       payment: bool = False) -> PartitionOutcome:
    """``n_nodes`` nodes in two halves (each half a random mesh, plus two links between them);
    the halves are cut apart after ``start_blocks`` block intervals for ``partition_blocks``
    intervals, then healed. ``left_share`` of the hash rate is in the left half.

    ``payment=True``: node n0 mines one block at the start (so it owns a coin everybody knows
    about) and pays 1 coin to Bob one block interval into the partition, on the left side, from a
    coin with at least 4 confirmations (one that both sides have)."""
    half = n_nodes // 2
    left = [f"n{i}" for i in range(half)]
    right = [f"n{i}" for i in range(half, n_nodes)]
    sim = Simulator(seed=seed, block_interval=block_interval)
    for name in left:
        sim.add_node(name, hashrate=left_share / len(left))
    for name in right:
        sim.add_node(name, hashrate=(1 - left_share) / len(right))
    link = LinkSpec(latency=latency, jitter=jitter)
    sim.connect_random(degree=2, link=link, names=left)
    sim.connect_random(degree=2, link=link, names=right)
    for a, b in ((left[0], right[0]), (left[half // 2], right[half // 2])):
        sim.connect(a, b, link)
    start = start_blocks * block_interval
    heal = start + partition_blocks * block_interval
    sim.partition([left, right], start=start, heal=heal)
    paid: list[Transaction] = []
    if payment:
        sim.schedule(1.0, lambda s: s.mine_now(left[0]))
        bob = PrivateKey.from_seed(b"bob").address()

        def pay(s: Simulator) -> None:
            try:
                paid.append(s.pay(left[0], bob, COIN, min_confirmations=4))
            except InvalidTransaction:
                pass                      # n0's coin was on a branch that lost a race before the cut
        sim.schedule(start + block_interval, pay)
    sim.run(until=heal - 1e-6)
    before = ForkTree.from_simulator(sim, reference=right[0])
    sim.run(until=heal + after_blocks * block_interval)
    sim.settle()
    after = ForkTree.from_simulator(sim, reference=right[0])
    return PartitionOutcome(sim, before, after, left, right, paid[0] if paid else None)


def partition_explorer(seed: int = 7, n_nodes: int = 12):
    """Sliders for latency, the left half's hash-rate share and the partition length; a live fork tree."""
    import ipywidgets as widgets
    from IPython.display import display

    latency = widgets.FloatLogSlider(value=2.0, base=10, min=-1, max=2.5, step=0.1, description="latency (s)")
    share = widgets.FloatSlider(value=0.4, min=0.05, max=0.95, step=0.05, description="left share")
    length = widgets.IntSlider(value=10, min=0, max=30, description="partition")
    out = widgets.Output()

    def redraw(*_):
        outcome = scenario_partition(seed, n_nodes, latency=latency.value, jitter=latency.value,
                                     left_share=share.value, partition_blocks=length.value)
        depths = outcome.reorg_depths
        with out:
            out.clear_output(wait=True)
            fork_tree_figure(outcome.after, title=f"after healing: deepest reorg {max(depths.values(), default=0)} "
                                                  f"blocks, {len(outcome.after.stale())} stale blocks").show()
            print(fork_tree_text(outcome.after))

    for w in (latency, share, length):
        w.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([latency, share, length]), out])
    display(box)
    return box
