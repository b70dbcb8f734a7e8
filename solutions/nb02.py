"""Reference solutions for notebook 02 (for instructors): ``SOLUTIONS = {"02.k": function}``."""
from __future__ import annotations


def fee_of(tx, utxos) -> int:
    """02.1: what the spent outputs hold minus what the new outputs hold."""
    total_in = sum(utxos.get(txin.outpoint).amount for txin in tx.inputs)
    return total_in - sum(out.amount for out in tx.outputs)


def find_conflict(txs):
    """02.2: (i, j) for the first transaction j spending a coin already spent by transaction i; else None."""
    spent_by = {}
    for j, tx in enumerate(txs):
        for txin in tx.inputs:
            if txin.outpoint in spent_by:
                return spent_by[txin.outpoint], j
        for txin in tx.inputs:
            spent_by[txin.outpoint] = j
    return None


SOLUTIONS = {"02.1": fee_of, "02.2": find_conflict}
