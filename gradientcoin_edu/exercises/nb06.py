"""[tooling] Checks for notebook 06, "Privacy on a public ledger".

06.1 the common-input-ownership clusters, 06.2 spotting the change output by its amount.
Each check compares the student's function with ``gradientcoin_edu.privacy`` (or a stated rule)
on seeded inputs; a stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import random

from ..ledger import COIN
from ..privacy import AddressClusters
from . import exercise


def _as_clusters(result) -> set[frozenset]:
    assert result is not None, "cluster returned None - did you forget `return`?"
    return {frozenset(c) for c in result}


@exercise("06.1", "common-input-ownership clusters")
def check_clusters(candidate) -> None:
    rng = random.Random(606)
    fixed = [
        ([], set()),
        ([["a"]], {frozenset("a")}),
        ([["a", "b"], ["c"], ["b", "d"]], {frozenset("abd"), frozenset("c")}),
        ([["a", "b"], ["c", "d"], ["d", "a"]], {frozenset("abcd")}),
    ]
    for spends, want in fixed:
        got = _as_clusters(candidate([list(s) for s in spends]))
        assert got == want, (f"for the input-address lists {spends} the clusters are {sorted(map(sorted, want))}, "
                             f"you return {sorted(map(sorted, got))}. Hint: every address that signs an input of "
                             "one transaction joins the same cluster, and clusters that share an address merge.")
    for n in (5, 30, 100):
        addresses = [f"addr{i}" for i in range(n)]
        spends = [rng.sample(addresses, rng.choice([1, 1, 2, 3])) for _ in range(n // 2)]
        uf = AddressClusters()
        for s in spends:
            for a in s:
                uf.add_address(a)
            for a in s[1:]:
                uf.union(s[0], a)
        want = set(uf.clusters())
        got = _as_clusters(candidate([list(s) for s in spends]))
        assert got == want, f"with {len(spends)} random transactions your clusters differ from the library's"


def change_index_reference(amounts: list[int], round_unit: int = COIN // 100) -> int | None:
    """Two outputs, exactly one a round number (a multiple of 0.01 coin): the other one is the change."""
    if len(amounts) != 2:
        return None
    round_ = [a % round_unit == 0 for a in amounts]
    if round_.count(True) != 1:
        return None
    return round_.index(False)


@exercise("06.2", "spot the change output")
def check_change_index(candidate) -> None:
    rng = random.Random(62)
    cases = [[3 * COIN, 1_234_567], [987_654_321, 25 * COIN // 10], [2 * COIN, 5 * COIN], [123, 456],
             [COIN], [COIN, 2, 3], [50_000_000, 4_999_999_000]]
    for _ in range(20):
        pay = rng.randrange(1, 100) * COIN // 100
        change = rng.randrange(1, 10 * COIN)
        cases.append([pay, change] if rng.random() < 0.5 else [change, pay])
    for amounts in cases:
        want = change_index_reference(amounts)
        got = candidate(list(amounts))
        assert got == want, (f"outputs {amounts}: the change is {'output ' + str(want) if want is not None else 'not identifiable (None)'}, "
                             f"you return {got!r}. Hint: with exactly two outputs and exactly one of them a multiple "
                             "of 0.01 coin (1 000 000 units), the *other* one is the change; otherwise return None.")
