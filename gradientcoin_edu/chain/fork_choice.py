"""[consensus] The fork-choice rule: of all the branches a node knows, which one it follows.

Blocks form a tree: each points to its parent, and two miners who find a block at the
same time create two branches. Every node follows the branch with the **most cumulative
work** (the sum of ``2^256 / (target + 1)`` over its blocks; whitepaper section 4: "the
longest chain"), the first one seen on a tie, among the blocks not known to be invalid.
This module is that rule and nothing else; the tree, adding blocks and reorganisations are in
``chain.py`` (the ``Chain``), replay from the store and from snapshots in ``replay.py``.

A block of the tree has one of three statuses (kept in the store too):

* ``VALID`` - connected at least once (it passed every rule on top of its parent);
* ``HEADER_OK`` - passed every check that needs no UTXO set, stored on a side branch;
* ``INVALID`` - its body matches its header and breaks a rule, or an ancestor is invalid.

A block the node cannot evaluate for lack of data (``chain.work.MissingData``: pruned, or below a
snapshot with nothing to rebuild from) keeps ``HEADER_OK``: it is left out of the candidates for
now (``Chain.needs_data``, in memory), never marked invalid (``docs/protocol.md`` section 1.3).

Taught in notebook 03.
"""
from __future__ import annotations

from typing import Iterable, Sequence

__all__ = ["VALID", "HEADER_OK", "INVALID", "chain_key", "best_candidate", "fork_point"]

VALID, HEADER_OK, INVALID = "valid", "header-ok", "invalid"   # connected at least once / side branch / rejected

def chain_key(entry) -> tuple[int, int]:
    """What the rule maximises: cumulative work, then earlier arrival (lower ``seq``)."""
    return entry.chain_work, -entry.seq


def best_candidate(entries: Iterable) -> object:
    """The block not known to be invalid with the most work (the first seen on a tie)."""
    return max((e for e in entries if e.status != INVALID), key=chain_key)


def fork_point(entry, active: Sequence) -> object:
    """The last block of ``entry``'s branch that is also on the best chain ``active``."""
    while not (entry.height < len(active) and active[entry.height] is entry):
        entry = entry.parent
    return entry

