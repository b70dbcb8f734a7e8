"""[tooling] A live dashboard of a running network, for a notebook: fork tree, heights, loss, mempool, rejections.

Feed it real nodes through their RPC, or the in-process simulator::

    from gradientcoin_edu.rpc import NodeClient
    from gradientcoin_edu.viz.dashboard import Dashboard, ClientFeed, SimulatorFeed
    dash = Dashboard(ClientFeed({"n1": NodeClient("/tmp/n1"), "n2": NodeClient("/tmp/n2")}))
    dash.display()                  # a plotly FigureWidget (or a figure with a display handle), then
    dash.watch(seconds=60)          # it updates in place every second while the network runs
    dash.static()                   # the final frame as a plain Figure (for nbval and rendered pages)

Five panels: the **fork tree** (every block any node knows, the best chain on the middle line,
stale branches above and below, each node's tip marked), the **height per node**, the
**validation-loss curve** of the chain's model (proof-of-gradient chains), the **mempool** per
node, and the **recent rejections** with their reasons (rejected blocks, misbehaving and banned
peers). A feed is anything with ``snapshot() -> Snapshot``; :class:`ClientFeed` polls each node's
``status``, ``blocktree``, ``events`` and ``losscurve`` RPC methods (incrementally), and
:class:`SimulatorFeed` reads a ``Simulator`` or ``LLMSimulator`` directly.

Without widget support (plotly 6+ needs ``anywidget`` for ``FigureWidget``) the dashboard is an
ordinary figure redrawn through an IPython display handle: it still updates while the cell runs.
A ``FigureWidget`` shows nothing in a saved notebook without its widget state, so
:meth:`Dashboard.static` returns the same picture as an ordinary ``plotly.graph_objects.Figure``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from ..crypto.hashes import hash_to_hex, hex_to_hash
from .fork_tree import ForkTree, TreeBlock, layout

__all__ = ["Snapshot", "Feed", "ClientFeed", "SimulatorFeed", "Dashboard", "REJECTION_KINDS"]

REJECTION_KINDS = ("block-rejected", "misbehaving", "ban", "wrong-network")
MAX_ROWS = 8


@dataclass
class Snapshot:
    """What the dashboard draws: per node (height, tip, mempool), the block tree, loss, rejections."""

    nodes: dict[str, dict]                                   # name -> {"height", "tip": bytes, "mempool"}
    tree: ForkTree
    loss: dict[int, float] = field(default_factory=dict)     # height -> validation loss
    rejections: list[dict] = field(default_factory=list)     # {"node", "kind", "reason", "peer", "block"}


class Feed(Protocol):
    def snapshot(self) -> Snapshot: ...


# ============================================================================ feeds

class ClientFeed:
    """Real nodes through their RPC (``rpc.NodeClient``), polled incrementally. A node that does not
    answer (stopped, restarting) keeps its last known values and is marked ``down``."""

    def __init__(self, clients: dict):
        self.clients = dict(clients)
        self.blocks: dict[bytes, TreeBlock] = {}
        self.block_seq = {name: 0 for name in self.clients}
        self.event_seq = {name: 0 for name in self.clients}
        self.nodes: dict[str, dict] = {}
        self.loss: dict[int, float] = {}
        self.rejections: list[dict] = []
        self.genesis: bytes | None = None

    def add(self, name: str, client) -> None:
        """Follow one more node (a student who joined), or a restarted node's new client."""
        self.clients[name] = client
        self.block_seq[name] = 0
        self.event_seq[name] = 0

    def snapshot(self) -> Snapshot:
        from ..rpc import RpcError
        for name, client in self.clients.items():
            try:
                self._poll(name, client)
            except RpcError:
                self.nodes.setdefault(name, {"height": 0, "tip": None, "mempool": 0})["down"] = True
        tips = {n: s["tip"] for n, s in self.nodes.items() if s.get("tip") is not None}
        return Snapshot(dict(self.nodes), self._tree(tips), dict(self.loss), list(self.rejections[-MAX_ROWS:]))

    def _poll(self, name: str, client) -> None:
        status = client.status()
        tree = client.blocktree(self.block_seq[name])
        for b in tree["blocks"]:
            h = hex_to_hash(b["hash"])
            self.blocks.setdefault(h, TreeBlock(h, hex_to_hash(b["prev"]), b["height"], b["miner_id"]))
            self.block_seq[name] = max(self.block_seq[name], b["seq"])
            if b["height"] == 0:
                self.genesis = h
        events = client.events(self.event_seq[name])
        self.event_seq[name] = events["last"]
        for e in events["events"]:
            if e["kind"] in REJECTION_KINDS:
                self.rejections.append({"node": name, "kind": e["kind"],
                                        "reason": _reason(e),
                                        "peer": str(e.get("peer") or "")[:12], "block": e.get("hash") or ""})
        if "val_loss" in status:
            self.loss.update({int(h): v for h, v in client.call("losscurve").items()})
        self.nodes[name] = {"height": status["height"], "tip": hex_to_hash(status["tip"]),
                            "mempool": status["mempool"], "down": False}

    def _tree(self, tips: dict[str, bytes]) -> ForkTree:
        blocks = dict(self.blocks)
        if not blocks:
            g = bytes(32)
            return ForkTree({g: TreeBlock(g, bytes(32), 0, "genesis")}, [g], {}, g)
        best = max(tips.values(), key=lambda h: blocks[h].height if h in blocks else -1, default=self.genesis)
        return ForkTree(blocks, _path_to(blocks, best), tips, self.genesis)


class SimulatorFeed:
    """The in-process network simulator (``Simulator`` or ``LLMSimulator``)."""

    def __init__(self, sim, reference: str | None = None):
        self.sim, self.reference = sim, reference
        self.loss: dict[int, float] = {}
        self._loss_tip: bytes | None = None

    def snapshot(self) -> Snapshot:
        sim = self.sim
        live = sim.live()
        ref = self.reference or live[0]
        tree = ForkTree.from_simulator(sim, ref)
        nodes = {n: {"height": sim.node(n).height, "tip": sim.node(n).tip, "mempool": len(sim.node(n).mempool),
                     "down": False} for n in live}
        chain = sim.node(ref).chain
        if hasattr(chain, "val_loss") and self._loss_tip != chain.tip_hash:
            self._loss_tip = chain.tip_hash
            self.loss[chain.height] = float(chain.val_loss())
        rejections = [{"node": e.get("node", ""), "kind": e["kind"], "reason": _reason(e),
                       "peer": str(e.get("peer") or "")[:12],
                       "block": hash_to_hex(e["hash"])[:16] if isinstance(e.get("hash"), bytes) else ""}
                      for e in sim.log if e["kind"] in REJECTION_KINDS]
        return Snapshot(nodes, tree, dict(self.loss), rejections[-MAX_ROWS:])


def _reason(event: dict) -> str:
    return str(event.get("reason") or event.get("detail") or event.get("offence") or "")


def _path_to(blocks: dict[bytes, TreeBlock], tip: bytes | None) -> list[bytes]:
    path = []
    while tip is not None and tip in blocks:
        path.append(tip)
        tip = blocks[tip].prev if blocks[tip].height > 0 else None
    return path[::-1]


# ============================================================================ the dashboard

class Dashboard:
    """A ``FigureWidget`` with five panels, refreshed from ``feed`` by :meth:`update`."""

    def __init__(self, feed: Feed, title: str = "GradientCoin network", height: int = 820):
        self.feed, self.title = feed, title
        self.frames = 0
        self._handle = None
        self.widget = False
        self.figure = self._build(height)
        self.last: Snapshot | None = None

    def _build(self, height: int):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
        fig = make_subplots(rows=3, cols=2, row_heights=[0.42, 0.29, 0.29], vertical_spacing=0.09,
                            specs=[[{"colspan": 2}, None], [{}, {}], [{}, {"type": "table"}]],
                            subplot_titles=("Block tree (best chain in the middle, stale branches around it)",
                                            "Height per node", "Validation loss of the chain's model",
                                            "Mempool per node (transactions waiting)", "Recent rejections"))
        try:
            w = go.FigureWidget(fig)         # updates in place in Jupyter (plotly >= 6 needs anywidget)
            self.widget = True
        except ImportError:
            w = go.Figure(fig)               # no widget support: redrawn through a display handle
            self.widget = False
        w.add_trace(go.Scatter(x=[], y=[], mode="lines", line=dict(color="#999", width=1.2), hoverinfo="skip",
                               showlegend=False), row=1, col=1)
        w.add_trace(go.Scatter(x=[], y=[], mode="markers", name="best chain",
                               marker=dict(size=9, symbol="square", color="#1f77b4")), row=1, col=1)
        w.add_trace(go.Scatter(x=[], y=[], mode="markers", name="stale",
                               marker=dict(size=9, symbol="square", color="#d62728")), row=1, col=1)
        w.add_trace(go.Scatter(x=[], y=[], mode="markers+text", name="node tips", textposition="top center",
                               marker=dict(size=14, symbol="triangle-down", color="#2ca02c")), row=1, col=1)
        w.add_trace(go.Bar(x=[], y=[], name="height", marker_color="#1f77b4", showlegend=False), row=2, col=1)
        w.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name="validation loss", showlegend=False,
                               line=dict(color="#9467bd")), row=2, col=2)
        w.add_trace(go.Bar(x=[], y=[], name="mempool", marker_color="#ff7f0e", showlegend=False), row=3, col=1)
        w.add_trace(go.Table(header=dict(values=["node", "what", "reason", "peer / block"]),
                             cells=dict(values=[[], [], [], []])), row=3, col=2)
        w.update_layout(title=self.title, height=height, template="plotly_white",
                        legend=dict(orientation="h", y=1.02, x=0.6), margin=dict(l=40, r=20, t=80, b=30))
        w.update_yaxes(showticklabels=False, row=1, col=1)
        w.update_xaxes(title_text="height", row=1, col=1)
        w.update_xaxes(title_text="height", row=2, col=2)
        return w

    def update(self) -> Snapshot:
        """Take a snapshot from the feed and redraw every panel (in one batch)."""
        snap = self.feed.snapshot()
        tree = snap.tree
        pos = layout(tree) if tree.main else {}
        main = set(tree.main)
        ex, ey = [], []
        for h, b in tree.blocks.items():
            if h in pos and b.prev in pos:
                ex += [pos[b.prev][0], pos[h][0], None]
                ey += [pos[b.prev][1], pos[h][1], None]
        best = [h for h in pos if h in main]
        stale = [h for h in pos if h not in main]
        groups: dict[bytes, list[str]] = {}
        for name, info in snap.nodes.items():
            if info.get("tip") in pos:
                groups.setdefault(info["tip"], []).append(name + (" (down)" if info.get("down") else ""))
        names = sorted(snap.nodes)
        heights = sorted(snap.loss)
        rej = snap.rejections[-MAX_ROWS:]
        t = self.figure.data
        with self.figure.batch_update():
            t[0].x, t[0].y = ex, ey
            t[1].x, t[1].y = [pos[h][0] for h in best], [pos[h][1] for h in best]
            t[1].text = [f"{hash_to_hex(h)[:12]} by {tree.blocks[h].miner}" for h in best]
            t[2].x, t[2].y = [pos[h][0] for h in stale], [pos[h][1] for h in stale]
            t[3].x = [pos[h][0] for h in groups]
            t[3].y = [pos[h][1] + 0.35 for h in groups]
            t[3].text = [", ".join(v) for v in groups.values()]
            t[4].x, t[4].y = names, [snap.nodes[n]["height"] for n in names]
            t[5].x, t[5].y = heights, [snap.loss[h] for h in heights]
            t[6].x, t[6].y = names, [snap.nodes[n]["mempool"] for n in names]
            t[7].cells.values = [[r["node"] for r in rej], [r["kind"] for r in rej], [r["reason"] for r in rej],
                                 [r["peer"] or r["block"] for r in rej]]
        self.frames += 1
        self.last = snap
        if self._handle is not None:
            self._handle.update(self.figure)
        return snap

    def display(self):
        """Show the dashboard in a notebook (the widget, or a figure whose display handle is refreshed)."""
        from IPython.display import display
        if self.widget:
            display(self.figure)
        else:
            self._handle = display(self.figure, display_id=True)

    def watch(self, seconds: float, every: float = 1.0, until=None) -> Snapshot:
        """Update every ``every`` seconds for ``seconds`` (or until ``until()`` is true); the last snapshot."""
        deadline = time.monotonic() + seconds
        snap = self.update()
        while time.monotonic() < deadline and not (until is not None and until()):
            time.sleep(max(0.0, min(every, deadline - time.monotonic())))
            snap = self.update()
        return snap

    def static(self):
        """The current frame as a plain ``plotly.graph_objects.Figure`` (renders without widgets)."""
        import plotly.graph_objects as go
        if self.last is None:
            self.update()
        return go.Figure(self.figure)
