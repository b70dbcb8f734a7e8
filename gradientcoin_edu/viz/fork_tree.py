"""[tooling] Fork trees: every block that was mined, drawn as a tree, with each node's tip marked.

When two miners find blocks at nearly the same time, or when the network is split, the chain
forks: the block tree gets branches and different nodes follow different tips. Once one branch
has more work, every node reorganizes onto it and the other branch's blocks become *stale*
(their transactions go back to the mempool). A picture shows this better than a table:
``fork_tree_figure`` draws heights left to right, the best chain on the middle line, side
branches above and below, and a marker for each group of nodes that share a tip.

``fork_tree_text`` gives the same information as plain text (for terminals, for tests and for a
notebook viewed without JavaScript). Taught in notebook 04; used by notebook 05.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..crypto.hashes import hash_to_hex

__all__ = ["TreeBlock", "ForkTree", "segments", "layout", "fork_tree_figure", "fork_tree_text"]


@dataclass(frozen=True)
class TreeBlock:
    hash: bytes
    prev: bytes
    height: int
    miner: str = ""
    time: float = 0.0
    public: bool = True


@dataclass
class ForkTree:
    """Blocks (by hash), the reference best chain, and each node's tip."""

    blocks: dict[bytes, TreeBlock]
    main: list[bytes]                                # best chain of the reference node, genesis first
    tips: dict[str, bytes] = field(default_factory=dict)
    genesis: bytes | None = None

    @classmethod
    def from_simulator(cls, sim, reference: str | None = None, include_private: bool = True) -> "ForkTree":
        """Snapshot of a ``Simulator``: all mined blocks, ``reference``'s best chain, every live tip."""
        ref = sim.node(reference or sim.live()[0])
        genesis = ref.chain.genesis.hash
        blocks = {genesis: TreeBlock(genesis, bytes(32), 0, "genesis")}
        for r in sim.blocks.values():
            if include_private or r.public:
                blocks[r.hash] = TreeBlock(r.hash, r.prev, r.height, r.miner, r.time, r.public)
        return cls(blocks, ref.best_chain(), dict(sim.tips()), genesis)

    def stale(self) -> list[bytes]:
        """Blocks not on the reference best chain."""
        main = set(self.main)
        return [h for h in self.blocks if h not in main]

    def tip_groups(self) -> dict[bytes, list[str]]:
        """tip hash -> the nodes on it."""
        groups: dict[bytes, list[str]] = {}
        for name, tip in self.tips.items():
            groups.setdefault(tip, []).append(name)
        return groups

    def children(self) -> dict[bytes, list[bytes]]:
        kids: dict[bytes, list[bytes]] = {}
        for h, b in self.blocks.items():
            if b.prev in self.blocks:
                kids.setdefault(b.prev, []).append(h)
        return kids


def segments(tree: ForkTree) -> list[list[bytes]]:
    """The tree cut into straight runs of blocks: the best chain first, then each side branch
    (a branch that forks again continues with its longest child; the others become new runs)."""
    main = set(tree.main)
    kids = tree.children()
    out = [[h for h in tree.main if h in tree.blocks]]

    def branch_length(h: bytes) -> int:
        best, stack = 0, [(h, 1)]
        while stack:
            node, n = stack.pop()
            best = max(best, n)
            stack += [(k, n + 1) for k in kids.get(node, [])]
        return best

    def by_time(hashes):
        return sorted(hashes, key=lambda k: (tree.blocks[k].time, k))

    pending = [k for h in tree.main for k in by_time(kids.get(h, [])) if k not in main]
    pending += [h for h, b in tree.blocks.items() if b.prev not in tree.blocks and h not in main]
    placed = set(out[0])
    while pending:
        first = pending.pop(0)
        if first in placed:
            continue
        run = [first]
        while True:                                    # follow the longest child
            nxt = sorted(kids.get(run[-1], []), key=lambda k: (-branch_length(k), tree.blocks[k].time, k))
            if not nxt:
                break
            run.append(nxt[0])
        out.append(run)
        placed.update(run)
        pending = [k for h in run for k in by_time(kids.get(h, [])) if k not in placed] + pending
    return out


def layout(tree: ForkTree) -> dict[bytes, tuple[int, int]]:
    """(x, y) for each block: x = height; the best chain at y = 0, side branches on lanes +1, -1, +2, ...

    A lane is reused once the branch that held it has ended.
    """
    runs = segments(tree)
    pos = {h: (tree.blocks[h].height, 0) for h in runs[0]}
    lane_end: dict[int, int] = {}
    for run in runs[1:]:
        start, end = tree.blocks[run[0]].height, tree.blocks[run[-1]].height
        k, lane = 1, None
        while lane is None:
            for candidate in (k, -k):
                if lane_end.get(candidate, -1) < start - 1:
                    lane = candidate
                    break
            k += 1
        lane_end[lane] = end
        for h in run:
            pos[h] = (tree.blocks[h].height, lane)
    return pos


def _short(h: bytes) -> str:
    return hash_to_hex(h)[:8]


def fork_tree_figure(tree: ForkTree, title: str = "Block tree", height: int = 380, show_tips: bool = True):
    """A plotly figure of the tree: best chain, stale blocks, private blocks, and tip markers."""
    import plotly.graph_objects as go

    pos = layout(tree)
    main = set(tree.main)
    edge_x, edge_y = [], []
    for h, b in tree.blocks.items():
        if b.prev in pos and h in pos:
            (x0, y0), (x1, y1) = pos[b.prev], pos[h]
            edge_x += [x0, x1, None]
            edge_y += [y0, y1, None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=edge_x, y=edge_y, mode="lines", line=dict(color="#999", width=1.5),
                             hoverinfo="skip", showlegend=False))
    kinds = {
        "best chain": [h for h in pos if h in main],
        "stale (abandoned)": [h for h in pos if h not in main and tree.blocks[h].public],
        "private (not published)": [h for h in pos if h not in main and not tree.blocks[h].public],
    }
    colors = {"best chain": "#1f77b4", "stale (abandoned)": "#d62728", "private (not published)": "#ff7f0e"}
    for kind, hashes in kinds.items():
        if not hashes:
            continue
        fig.add_trace(go.Scatter(
            x=[pos[h][0] for h in hashes], y=[pos[h][1] for h in hashes], mode="markers", name=kind,
            marker=dict(size=11, color=colors[kind], symbol="square", line=dict(width=1, color="white")),
            text=[f"height {tree.blocks[h].height}<br>{_short(h)}<br>miner {tree.blocks[h].miner}"
                  f"<br>t = {tree.blocks[h].time:.0f} s" for h in hashes],
            hovertemplate="%{text}<extra></extra>"))
    if show_tips:
        for i, (tip, names) in enumerate(sorted(tree.tip_groups().items(), key=lambda kv: sorted(kv[1]))):
            if tip not in pos:
                continue
            x, y = pos[tip]
            label = _names(names)
            fig.add_annotation(x=x, y=y, text=f"tip of {label}", showarrow=True, arrowhead=2,
                               ax=30, ay=-30 - 18 * (i % 3), font=dict(size=11))
    fig.update_layout(title=title, height=height, xaxis_title="height", template="plotly_white",
                      yaxis=dict(showticklabels=False, zeroline=False, title="branch"),
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=40, r=20, t=50, b=40))
    return fig


def _names(names: Sequence[str]) -> str:
    names = sorted(names, key=lambda n: (len(n), n))
    return ", ".join(names) if len(names) <= 4 else f"{names[0]} ... {names[-1]} ({len(names)} nodes)"


def fork_tree_text(tree: ForkTree, max_blocks: int = 40) -> str:
    """The tree as text: one line per run of blocks, ``*`` best chain, ``x`` stale, ``p`` private."""
    main = set(tree.main)
    groups = tree.tip_groups()
    lines = []
    for i, run in enumerate(segments(tree)):
        first, last = tree.blocks[run[0]], tree.blocks[run[-1]]
        mark = "".join("*" if h in main else ("x" if tree.blocks[h].public else "p") for h in run)
        if len(mark) > max_blocks:
            mark = mark[:max_blocks // 2] + "..." + mark[-max_blocks // 2:]
        tips = [f"{_names(groups[h])} at {tree.blocks[h].height}" for h in run if h in groups]
        name = "best chain" if i == 0 else f"branch off height {first.height - 1}"
        lines.append(f"{name:>22}: heights {first.height:>3}-{last.height:<3} {mark}"
                     + (f"  <- tip of {'; '.join(tips)}" if tips else ""))
    return "\n".join(lines)
