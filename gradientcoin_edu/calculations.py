"""[tooling] Whitepaper section 11: how likely is an attacker to undo a payment after z confirmations?

An attacker with a share q of the hash rate (the honest network has p = 1 - q) pays a merchant,
waits until the merchant has seen z blocks on top of the payment, and meanwhile mines a secret
chain without it. If the secret chain ever catches up with the honest one, the attacker
publishes it and the payment is undone (a double spend). Nakamoto computes the probability of
that in section 11 of the Bitcoin whitepaper; this module reproduces his numbers to every printed
decimal, gives the exact version of the same calculation, and checks both by simulation.

Used by the network notebook (the 30-45 % attacker race). ``python -m gradientcoin_edu.calculations``
prints the whitepaper's tables.

Reference: S. Nakamoto, "Bitcoin: A Peer-to-Peer Electronic Cash System", 2008, section 11.
The exact (negative-binomial) version: C. Grunspan and R. Perez-Marco, "Double spend races", 2017.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "catch_up_probability",
    "attacker_success_probability",
    "attacker_success_probability_exact",
    "min_confirmations",
    "whitepaper_tables",
    "format_whitepaper_tables",
    "DoubleSpendEstimate",
    "simulate_double_spend",
    "wilson_interval",
]

# Truncation of the simulated catch-up race: an attacker who has fallen D blocks behind still
# catches up with probability (q/p)^D; the simulation stops and counts a loss once that is below
# this number, so the estimate is biased by at most this much (far below its statistical error).
_GIVE_UP_BELOW = 1e-12


# ----------------------------------------------------------------------------- validation

def _check_q(q: float) -> float:
    try:
        q = float(q)
    except (TypeError, ValueError):
        raise ValueError(f"q (the attacker's share of the hash rate) must be a number, got {q!r}") from None
    if not 0.0 <= q < 1.0:   # also rejects NaN
        raise ValueError(f"q (the attacker's share of the hash rate) must lie in [0, 1), got {q!r}")
    return q


def _check_z(z: int) -> int:
    if isinstance(z, bool):
        raise ValueError(f"z (the number of confirmations) must be a non-negative integer, got {z!r}")
    try:
        z = operator.index(z)   # accepts int and NumPy integers, refuses 2.5 and "3"
    except TypeError:
        raise ValueError(f"z (the number of confirmations) must be a non-negative integer, got {z!r}") from None
    if z < 0:
        raise ValueError(f"z (the number of confirmations) must be a non-negative integer, got {z}")
    return z


# ----------------------------------------------------------------------------- the formulas

def catch_up_probability(q: float, z: int) -> float:
    """Probability that an attacker ever catches up from z blocks behind: (q/p)^z, or 1 if q >= p.

    This is the gambler's-ruin result the whitepaper quotes: each next block is the honest
    network's with probability p and the attacker's with probability q; "catching up" means the
    attacker's chain becomes as long as the honest one.
    """
    q, z = _check_q(q), _check_z(z)
    p = 1.0 - q
    return 1.0 if q >= p else (q / p) ** z


def attacker_success_probability(q: float, z: int) -> float:
    """The whitepaper's probability that an attacker with hash share q undoes a payment after z confirmations.

    Nakamoto's formula (section 11): while the honest network finds z blocks, the attacker's
    progress k is taken to be Poisson with mean lambda = z q / p, and from z - k blocks behind
    he catches up with probability (q/p)^(z-k)::

        P = 1 - sum_{k=0}^{z} lambda^k e^-lambda / k! * (1 - (q/p)^(z-k))

    This is an *approximation*: it assumes the honest blocks "took the average expected time"
    (exactly z/p block intervals). In reality that time is random too, and the attacker's
    progress is negative-binomial, see :func:`attacker_success_probability_exact`. The two are
    close in absolute terms but not in relative terms: for q = 0.1 the whitepaper gives
    0.0009137 at z = 5, the exact race 0.0017818, about twice as much. The whitepaper numbers
    are what this function reproduces.

    Numerics: we evaluate the same sum rearranged into positive terms only (the Poisson tail
    beyond z plus the catch-up terms), with the Poisson weights in log space. The result agrees
    with a literal port of the whitepaper's C code (see tests) but does not lose the small
    probabilities of large z to cancellation, and does not underflow when exp(-lambda) would.
    """
    q, z = _check_q(q), _check_z(z)
    p = 1.0 - q
    if q >= p:
        return 1.0                              # the attacker catches up for sure
    if q == 0.0:
        return 1.0 if z == 0 else 0.0
    lam = z * q / p

    def poisson(k: int) -> float:
        return math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) if lam > 0 else float(k == 0)

    caught_up = sum(poisson(k) * (q / p) ** (z - k) for k in range(z + 1))   # behind by z-k, catches up
    return min(1.0, caught_up + _tail(poisson, z + 1))                        # already ahead: k > z


def attacker_success_probability_exact(q: float, z: int) -> float:
    """The same race without the Poisson approximation: the attacker's progress is negative-binomial.

    The number k of attacker blocks found before the honest network's z-th block has
    P(k) = C(k+z-1, k) p^z q^k (block by block, each is the attacker's with probability q).
    Then P = sum_{k<=z} P(k) (q/p)^(z-k) + P(k > z). For z = 0 the merchant has not waited at
    all and P = 1. This is what :func:`simulate_double_spend` with ``model="exact"`` estimates.
    """
    q, z = _check_q(q), _check_z(z)
    p = 1.0 - q
    if q >= p or z == 0:
        return 1.0
    if q == 0.0:
        return 0.0

    def neg_binomial(k: int) -> float:
        log_c = math.lgamma(k + z) - math.lgamma(k + 1) - math.lgamma(z)
        return math.exp(log_c + z * math.log(p) + k * math.log(q))

    caught_up = sum(neg_binomial(k) * (q / p) ** (z - k) for k in range(z + 1))
    return min(1.0, caught_up + _tail(neg_binomial, z + 1))


def _tail(weight, start: int) -> float:
    """sum_{k >= start} weight(k) for a weight that, from ``start`` on, decays at least geometrically."""
    total, k = 0.0, start
    while True:
        term = weight(k)
        total += term
        if term <= 1e-18 * max(total, 1e-300) or term == 0.0:
            return total
        k += 1


def min_confirmations(q: float, p_max: float = 0.001) -> int:
    """The smallest z for which the whitepaper's attacker success probability is below ``p_max``.

    The whitepaper's last table ("solving for P less than 0.1 %"): q = 0.10 needs z = 5, q = 0.45
    needs z = 340. For q >= 0.5 no number of confirmations is enough, so that raises ValueError.
    The probability falls with z, so we gallop to an upper bound and then bisect.
    """
    q = _check_q(q)
    if not 0.0 < p_max <= 1.0:
        raise ValueError(f"p_max must lie in (0, 1], got {p_max!r}")
    if q >= 0.5:
        raise ValueError(f"an attacker with q = {q} >= 0.5 catches up with probability 1; "
                         "no number of confirmations keeps P below p_max")

    def safe(z: int) -> bool:
        return attacker_success_probability(q, z) < p_max

    lo, hi = 0, 1                       # invariant: safe(hi) once the gallop ends; not safe(z) for z < lo
    while not safe(hi):
        lo, hi = hi + 1, 2 * hi
    while lo < hi:
        mid = (lo + hi) // 2
        if safe(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


# ----------------------------------------------------------------------------- the tables

_TABLE_Q = {0.1: range(0, 11), 0.3: range(0, 51, 5)}
_TABLE_MIN_Z = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45)


def whitepaper_tables() -> dict[str, list[tuple]]:
    """The three tables of whitepaper section 11, recomputed.

    Returns ``{"q=0.1": [(z, P), ...], "q=0.3": [(z, P), ...], "P < 0.001": [(q, z), ...]}``;
    the printed whitepaper rounds P to seven decimals (see :func:`format_whitepaper_tables`).
    """
    tables: dict[str, list[tuple]] = {
        f"q={q}": [(z, attacker_success_probability(q, z)) for z in zs] for q, zs in _TABLE_Q.items()
    }
    tables["P < 0.001"] = [(q, min_confirmations(q, 0.001)) for q in _TABLE_MIN_Z]
    return tables


def format_whitepaper_tables() -> str:
    """The tables as the whitepaper prints them (``z=1 P=0.2045873``, ``q=0.10 z=5``)."""
    tables = whitepaper_tables()
    lines: list[str] = []
    for name in ("q=0.1", "q=0.3"):
        lines.append(name)
        lines += [f"z={z:<3d} P={prob:.7f}" for z, prob in tables[name]]
        lines.append("")
    lines.append("P < 0.001")
    lines += [f"q={q:.2f} z={z}" for q, z in tables["P < 0.001"]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- simulation

def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (sensible even with 0 or all successes)."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    zq = NormalDist().inv_cdf(0.5 + confidence / 2)
    phat = successes / trials
    denom = 1 + zq**2 / trials
    centre = (phat + zq**2 / (2 * trials)) / denom
    half = zq * math.sqrt(phat * (1 - phat) / trials + zq**2 / (4 * trials**2)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)           # exact ends, not 1e-17
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class DoubleSpendEstimate:
    """Result of :func:`simulate_double_spend`: success rate with a confidence interval."""
    q: float
    z: int
    model: str               # "exact" or "whitepaper"
    trials: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float
    confidence: float

    def contains(self, value: float) -> bool:
        """Does the confidence interval contain ``value``?"""
        return self.ci_low <= value <= self.ci_high


def simulate_double_spend(q: float, z: int, trials: int = 100_000, seed: int = 0,
                          model: str = "exact", confidence: float = 0.95) -> DoubleSpendEstimate:
    """Monte-Carlo double-spend race (no network: a seeded race between two block streams).

    Time is measured in average block intervals of the whole network. Honest blocks arrive as a
    Poisson process of rate p, the attacker's as one of rate q (the whitepaper's model: block
    finding is memoryless, each next block is the attacker's with probability q).

    1. The attacker starts his secret chain when he pays. The merchant waits for z honest
       blocks; ``model="exact"`` draws the time that takes (z exponential gaps of mean 1/p),
       ``model="whitepaper"`` uses the whitepaper's assumption that it takes exactly the
       expected time z/p. We count the attacker's blocks k found by then (by drawing his
       exponential gaps one by one).
    2. If k >= z the attacker is already level and wins. Otherwise the race goes on block by
       block: the deficit z - k grows by one with probability p and shrinks with probability q;
       he wins if it reaches 0. Once (q/p)^deficit < 1e-12 we count a loss (bias <= 1e-12).

    ``model="exact"`` estimates :func:`attacker_success_probability_exact`; ``"whitepaper"``
    estimates :func:`attacker_success_probability`. Requires q < 0.5 (otherwise the attacker
    wins with probability 1 and the race need not end).
    """
    q, z = _check_q(q), _check_z(z)
    if q >= 0.5:
        raise ValueError(f"simulate_double_spend needs q < 0.5 (got {q}): with q >= p the attacker "
                         "catches up with probability 1 and the race need not end")
    if model not in ("exact", "whitepaper"):
        raise ValueError(f"model must be 'exact' or 'whitepaper', got {model!r}")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials <= 0:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    p = 1.0 - q
    rng = np.random.default_rng(seed)

    # phase 1: attacker blocks found while the merchant waits for z honest blocks
    if model == "exact":
        wait = rng.exponential(1.0 / p, size=(trials, z)).sum(axis=1)          # (trials,)
    else:
        wait = np.full(trials, z / p)                                           # (trials,)
    attacker = _arrivals_before(wait, q, rng)                                   # (trials,)

    # phase 2: the catch-up race from the remaining deficit
    deficit = z - attacker                                                      # (trials,)
    won = _catch_up(np.maximum(deficit, 0), q, rng)                             # (trials,) bool
    successes = int(won.sum())
    low, high = wilson_interval(successes, trials, confidence)
    return DoubleSpendEstimate(q, z, model, trials, successes, successes / trials, low, high, confidence)


def _arrivals_before(deadline: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Number of arrivals of a rate-``rate`` Poisson process in [0, deadline], per trial."""
    count = np.zeros(deadline.shape, dtype=np.int64)
    if rate == 0.0:
        return count
    clock = np.zeros(deadline.shape)
    active = np.arange(deadline.size)
    while active.size:
        clock[active] += rng.exponential(1.0 / rate, size=active.size)
        arrived = clock[active] <= deadline[active]
        count[active[arrived]] += 1
        active = active[arrived]
    return count


def _catch_up(deficit: np.ndarray, q: float, rng: np.random.Generator) -> np.ndarray:
    """Does the attacker ever erase his deficit? Gambler's-ruin walk, one block per step."""
    give_up = 1 if q == 0.0 else max(1, math.ceil(math.log(_GIVE_UP_BELOW) / math.log(q / (1 - q))))
    deficit = deficit.copy()
    won = deficit <= 0
    active = np.flatnonzero((deficit > 0) & (deficit < give_up))
    while active.size:
        attacker_block = rng.random(active.size) < q
        deficit[active] += np.where(attacker_block, -1, 1)
        won[active[deficit[active] == 0]] = True
        active = active[(deficit[active] > 0) & (deficit[active] < give_up)]
    return won


if __name__ == "__main__":   # pragma: no cover
    print(format_whitepaper_tables())
