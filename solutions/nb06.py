"""Reference solutions for notebook 06 (for instructors): ``SOLUTIONS = {"06.k": function}``."""
from __future__ import annotations


def cluster(spends: list[list]) -> list[set]:
    """06.1: union-find over addresses; the addresses of one transaction's inputs are joined."""
    parent: dict = {}

    def find(a):
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for addresses in spends:
        for a in addresses:
            find(a)
        for a in addresses[1:]:
            parent[find(a)] = find(addresses[0])
    groups: dict = {}
    for a in parent:
        groups.setdefault(find(a), set()).add(a)
    return list(groups.values())


def change_index(amounts: list[int]) -> int | None:
    """06.2: two outputs, exactly one a multiple of 0.01 coin (1 000 000 units): the other is the change."""
    if len(amounts) != 2:
        return None
    round_ = [a % 1_000_000 == 0 for a in amounts]
    if round_.count(True) != 1:
        return None
    return round_.index(False)


SOLUTIONS = {"06.1": cluster, "06.2": change_index}
