"""Reference solutions for notebook 14 (for instructors): ``SOLUTIONS = {"14.k": function}``."""
from __future__ import annotations

from dataclasses import replace

from gradientcoin_edu.chain.block import compute_tx_root
from gradientcoin_edu.ledger import Transaction, TxOut


def steal_block(block, thief_address: bytes, note: bytes):
    """14.2: the same proof; a new coinbase of the same height paying the whole reward to the thief
    and carrying the note; tx_root recomputed."""
    coinbase = block.txs[0]
    stolen = Transaction.coinbase(coinbase.coinbase_height, [TxOut(coinbase.total_out(), thief_address)], extra=note)
    txs = (stolen, *block.txs[1:])
    return replace(block, header=replace(block.header, tx_root=compute_tx_root(txs)), txs=txs)


def timewarp_ok(height: int, time: int, parent_time: int, interval: int, grace: int) -> bool:
    """14.3: BIP 94 - a period's first block may be at most ``grace`` seconds before its parent."""
    return height % interval != 0 or time >= parent_time - grace


def is_mutated(block) -> bool:
    """14.1: rule 0 for proof-of-work - the transactions must hash to tx_root and the payload be empty."""
    return compute_tx_root(block.txs) != block.header.tx_root or block.payload != b""


SOLUTIONS = {"14.1": is_mutated, "14.2": steal_block, "14.3": timewarp_ok}
