"""[policy] Peer scoring: count what each peer does wrong, and stop listening to the ones that keep at it.

An open network cannot choose its participants, so every node protects itself. Each offence a
peer commits (a malformed or oversized message, an invalid block or transaction, a flood of
messages) adds *misbehaviour points*; at ``ban_score`` points (100, as in Bitcoin Core) the peer
is disconnected and banned for ``ban_seconds``. An invalid block costs 100 at once: producing one
takes deliberate effort, so there is no innocent explanation. Messages beyond a per-peer rate
(a token bucket: ``rate`` cost units per second, bursts up to ``burst``) are dropped unread. A
message's cost (``message_cost``) grows with its size and with the work its command asks of us, and
what a ``getdata`` makes us send is charged on top (``charge``); a dropped message costs points in
proportion, so a peer that floods with big messages is banned after a handful of them.

Connection slots: ``select_eviction`` chooses which inbound peer to drop when all slots are taken,
in the spirit of Bitcoin Core's ``SelectNodeToEvict``: protect peers from a few distinct network
groups (chosen by a keyed hash an attacker cannot predict), the peers with the lowest measured
ping, the peers that most recently gave us a new block or transaction, and the longest-connected
half; evict the youngest peer of the most crowded network group among the rest, preferring one
that has been connected for ``grace`` seconds (long enough to answer a ping) over one that has
just arrived. Throwaway identities are new, useless and come from a few machines: they evict each
other, not the honest peers, even when everyone shares one network group (a classroom).

Offences are named with short codes so tests and notebooks can ask "why was this peer banned?".
Nothing here knows how messages travel; time is passed in. Taught in notebook 04.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import hashlib

__all__ = ["PENALTIES", "MESSAGE_COSTS", "message_cost", "PeerPolicy", "PeerState", "PeerBook",
           "EvictionCandidate", "select_eviction"]

# offence -> misbehaviour points
PENALTIES: dict[str, int] = {
    "malformed-message": 20,     # bytes that do not decode (bad checksum, truncated, unknown command)
    "oversized-message": 50,     # over the size limit: costs the receiver memory and time
    "invalid-block": 100,        # a block that breaks a consensus rule (bad PoW, double spend, ...)
    "invalid-tx": 20,            # a transaction that can never be valid (bad signature, malformed)
    "flood": 1,                  # each message over the rate limit
    "unsolicited": 2,            # a large object nobody asked for
    "protocol": 1,               # a message out of order (e.g. anything before "version")
    "repeated-request": 100,     # a getdata naming one object more than once: never honest (amplification)
    "unsolicited-orphan": 10,    # a block nobody asked for whose parent we lack (fills the orphan pool)
}

# command -> base cost of handling it (cost units; a ping is 1). Sizes are added by message_cost.
MESSAGE_COSTS: dict[str, int] = {
    "version": 10, "verack": 1, "ping": 1, "pong": 1, "inv": 1, "getdata": 2, "notfound": 1,
    "getblocks": 20, "block": 1, "tx": 1,
}


def message_cost(command: str, nbytes: int) -> float:
    """Cost units of a message: its command's base cost, plus one unit per kilobyte (per 100 kB
    for blocks and transactions, which we asked for: unasked ones are punished by the node)."""
    per = 100_000 if command in ("block", "tx") else 1000
    return MESSAGE_COSTS.get(command, 1) + nbytes / per


@dataclass(frozen=True)
class PeerPolicy:
    """How strict a node is with its peers."""

    ban_score: int = 100           # points at which a peer is dropped and banned
    ban_seconds: float = 24 * 3600.0
    rate: float = 200.0            # cost units per second a peer may use on average (a ping costs 1)
    burst: float = 2000.0          # ... and in one burst
    max_bans: int = 10_000         # banned identities remembered (the oldest ban goes first)


@dataclass
class PeerState:
    """What a node remembers about one peer."""

    peer: str
    score: int = 0
    offences: Counter = field(default_factory=Counter)
    tokens: float = 0.0
    last_refill: float = 0.0
    banned_until: float = float("-inf")
    version_seen: bool = False
    best_height: int = 0
    messages: int = 0              # messages received (accepted by the rate limiter)
    dropped: int = 0               # messages dropped by the rate limiter


class PeerBook:
    """Per-peer scores, rate limits and bans, for one node."""

    def __init__(self, policy: PeerPolicy | None = None):
        self.policy = policy or PeerPolicy()
        self.peers: dict[str, PeerState] = {}
        self.bans: dict[str, float] = {}          # peer -> banned until (survives disconnects)

    def get(self, peer: str, now: float) -> PeerState:
        state = self.peers.get(peer)
        if state is None:
            state = PeerState(peer, tokens=self.policy.burst, last_refill=now)
            self.peers[peer] = state
        return state

    def is_banned(self, peer: str, now: float) -> bool:
        return self.bans.get(peer, float("-inf")) > now

    def allow_message(self, peer: str, now: float, cost: float = 1.0) -> bool:
        """Token bucket: True if the peer may spend ``cost`` now. A refused message is an offence
        worth 1 point per 100 cost units (at least 1)."""
        state = self.get(peer, now)
        state.tokens = min(self.policy.burst, state.tokens + (now - state.last_refill) * self.policy.rate)
        state.last_refill = now
        if state.tokens >= cost:
            state.tokens -= cost
            state.messages += 1
            return True
        state.dropped += 1
        self.misbehaving(peer, "flood", now, points=1 + int(cost // 100))
        return False

    def charge(self, peer: str, now: float, cost: float) -> None:
        """Take ``cost`` more units (work a message made us do); the bucket may go below zero."""
        self.get(peer, now).tokens -= cost

    def misbehaving(self, peer: str, offence: str, now: float, points: int | None = None) -> bool:
        """Add the offence's points; returns True when this pushes the peer over the ban score."""
        state = self.get(peer, now)
        state.offences[offence] += 1
        if self.is_banned(peer, now):
            return False                           # already banned: nothing new to do
        state.score += PENALTIES.get(offence, 10) if points is None else points
        if state.score >= self.policy.ban_score:
            self.bans[peer] = now + self.policy.ban_seconds
            if len(self.bans) > self.policy.max_bans:
                for p in [p for p, until in self.bans.items() if until <= now]:
                    del self.bans[p]
                while len(self.bans) > self.policy.max_bans:
                    del self.bans[min(self.bans, key=self.bans.get)]
            return True
        return False

    def forget(self, peer: str) -> None:
        """Drop the per-connection state (the ban, if any, stays)."""
        self.peers.pop(peer, None)

    def summary(self) -> dict[str, dict]:
        """{peer: {"score": ..., "offences": {...}, "banned": bool}} for display and tests."""
        return {p: {"score": s.score, "offences": dict(s.offences), "banned": p in self.bans,
                    "messages": s.messages, "dropped": s.dropped} for p, s in self.peers.items()}


@dataclass(frozen=True)
class EvictionCandidate:
    """What eviction looks at for one inbound peer (times on the node's clock)."""

    peer: str
    connected_at: float
    last_block: float = float("-inf")      # when it last gave us a block that moved our tip
    last_tx: float = float("-inf")         # when it last gave us a new valid transaction
    netgroup: str = ""                     # where it connects from (an IPv4 /16)
    min_ping: float = float("inf")         # its fastest answer to one of our pings (seconds; inf: none yet)


def select_eviction(candidates: list[EvictionCandidate], salt: bytes = b"", protect_netgroups: int = 4,
                    protect_blocks: int = 4, protect_txs: int = 4, protect_ping: int = 8,
                    now: float | None = None, grace: float = 0.0) -> str | None:
    """The inbound peer to evict to make room for a new one, or None (everyone is protected).

    Protected, in this order: the longest-connected peer of ``protect_netgroups`` network groups
    (picked by a hash keyed with ``salt``), the ``protect_ping`` peers with the lowest ``min_ping``,
    the ``protect_blocks`` / ``protect_txs`` peers that most recently gave us a new block /
    transaction, then the longest-connected half of the rest. Of the rest, the network group with
    the most peers loses its youngest peer, among those connected at least ``grace`` seconds before
    ``now`` if there are any (a peer that just arrived has had no chance to answer a ping or relay
    anything: a key churned every half second must not push it out before it could)."""
    rest = list(candidates)

    def protect(key, n: int, only=lambda c: True) -> None:
        keep = sorted((c for c in rest if only(c)), key=key)[:n]
        for c in keep:
            rest.remove(c)

    # a few distinct network groups, picked by a keyed hash an attacker cannot aim at
    groups = sorted({c.netgroup for c in rest}, key=lambda g: hashlib.sha256(salt + g.encode()).digest())
    for g in groups[:protect_netgroups]:
        protect(lambda c: c.connected_at, 1, lambda c, g=g: c.netgroup == g)
    protect(lambda c: (c.min_ping, c.connected_at), protect_ping, lambda c: c.min_ping < float("inf"))
    protect(lambda c: -c.last_block, protect_blocks, lambda c: c.last_block > float("-inf"))
    protect(lambda c: -c.last_tx, protect_txs, lambda c: c.last_tx > float("-inf"))
    protect(lambda c: c.connected_at, len(rest) // 2)          # the longest-connected half
    if not rest:
        return None
    by_group: dict[str, list[EvictionCandidate]] = {}
    for c in rest:
        by_group.setdefault(c.netgroup, []).append(c)
    crowded = max(by_group.values(), key=lambda cs: (len(cs), max(c.connected_at for c in cs)))
    if now is not None and grace > 0:
        settled = [c for c in crowded if now - c.connected_at >= grace]
        if not settled:                            # everyone just arrived: the one that had the most time goes
            return min(crowded, key=lambda c: c.connected_at).peer
        crowded = settled
    return max(crowded, key=lambda c: c.connected_at).peer
