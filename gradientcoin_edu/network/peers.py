"""Peer scoring: count what each peer does wrong, and stop listening to the ones that keep at it.

An open network cannot choose its participants, so every node protects itself. Each offence a
peer commits (a malformed or oversized message, an invalid block or transaction, a flood of
messages) adds *misbehaviour points*; at ``ban_score`` points (100, as in Bitcoin Core) the peer
is disconnected and banned for ``ban_seconds``. An invalid block costs 100 at once: producing one
takes deliberate effort, so there is no innocent explanation. Messages beyond a per-peer rate
(a token bucket: ``rate`` messages per second, bursts up to ``burst``) are dropped unread.

Offences are named with short codes so tests and notebooks can ask "why was this peer banned?".
Nothing here knows how messages travel; time is passed in. Taught in notebook 04.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["PENALTIES", "PeerPolicy", "PeerState", "PeerBook"]

# offence -> misbehaviour points
PENALTIES: dict[str, int] = {
    "malformed-message": 20,     # bytes that do not decode (bad checksum, truncated, unknown command)
    "oversized-message": 50,     # over the size limit: costs the receiver memory and time
    "invalid-block": 100,        # a block that breaks a consensus rule (bad PoW, double spend, ...)
    "invalid-tx": 20,            # a transaction that can never be valid (bad signature, malformed)
    "flood": 1,                  # each message over the rate limit
    "unsolicited": 2,            # a large object nobody asked for
    "protocol": 1,               # a message out of order (e.g. anything before "version")
}


@dataclass(frozen=True)
class PeerPolicy:
    """How strict a node is with its peers."""

    ban_score: int = 100           # points at which a peer is dropped and banned
    ban_seconds: float = 24 * 3600.0
    rate: float = 200.0            # messages per second a peer may send on average
    burst: float = 2000.0          # ... and in one burst


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

    def allow_message(self, peer: str, now: float) -> bool:
        """Token bucket: True if the peer may send another message now. Counts floods as offences."""
        state = self.get(peer, now)
        state.tokens = min(self.policy.burst, state.tokens + (now - state.last_refill) * self.policy.rate)
        state.last_refill = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            state.messages += 1
            return True
        state.dropped += 1
        self.misbehaving(peer, "flood", now)
        return False

    def misbehaving(self, peer: str, offence: str, now: float, points: int | None = None) -> bool:
        """Add the offence's points; returns True when this pushes the peer over the ban score."""
        state = self.get(peer, now)
        state.offences[offence] += 1
        if self.is_banned(peer, now):
            return False                           # already banned: nothing new to do
        state.score += PENALTIES.get(offence, 10) if points is None else points
        if state.score >= self.policy.ban_score:
            self.bans[peer] = now + self.policy.ban_seconds
            return True
        return False

    def forget(self, peer: str) -> None:
        """Drop the per-connection state (the ban, if any, stays)."""
        self.peers.pop(peer, None)

    def summary(self) -> dict[str, dict]:
        """{peer: {"score": ..., "offences": {...}, "banned": bool}} for display and tests."""
        return {p: {"score": s.score, "offences": dict(s.offences), "banned": p in self.bans,
                    "messages": s.messages, "dropped": s.dropped} for p, s in self.peers.items()}
