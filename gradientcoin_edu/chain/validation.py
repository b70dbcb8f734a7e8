"""Block validation: every rule a block must pass before a node builds on it.

The rules, in the order a node checks them (cheap first), each with its ``reason``:

1. **Linkage** — the parent is known (``unknown-parent``) and not invalid (``invalid-parent``).
2. **Timestamp** — later than the median of the parent and its 10 ancestors' times
   (``time-too-old``; the *median-time-past* can't be pushed around by one miner), and at
   most ``max_future_seconds`` ahead of our clock (``time-too-new``).
3. **Difficulty** — ``bits`` equal what the retarget rule computes (``bad-diffbits``).
4. **Work** — the work rule accepts the header (``bad-pow`` for proof-of-work).
5. **Block contents** (``check_block``) — at most ``max_block_bytes`` (``block-too-large``),
   the first transaction and only the first is a coinbase (``missing-coinbase``,
   ``extra-coinbase``), no transaction twice (``duplicate-tx``), and ``tx_root`` is the
   ``"chain"`` merkle root of the txids (``bad-tx-root``).
6. **Transactions** — applied to the UTXO set when the block is connected: every spend
   valid (``double-spend``, ``missing-input``, ``bad-signature`` ... from the ledger),
   coinbase at most subsidy + fees (``bad-coinbase-amount``); then the work rule's full
   check (``connect``).

Steps 1-5 need only the block and its ancestors' headers; step 6 needs the UTXO set at
the parent, so ``Chain`` runs it when it connects the block (immediately when it extends
the best chain, later if its branch becomes the heaviest). Taught in notebook 03.
"""
from __future__ import annotations

from typing import Sequence

from ..errors import InvalidBlock
from .block import Block, BlockHeader, compute_tx_root, txid_of
from .params import ChainParams

__all__ = ["median_time", "check_block", "check_header_context"]


def median_time(times: Sequence[int]) -> int:
    """Median of the last ``mtp_window`` block times (Bitcoin's ``GetMedianTimePast``)."""
    ordered = sorted(times)
    return ordered[len(ordered) // 2]


def check_header_context(header: BlockHeader, params: ChainParams, *, median_time_past: int,
                         expected_bits: int, now: float) -> None:
    """Rules 2 and 3: timestamps and difficulty, given facts about the parent's branch."""
    if header.time <= median_time_past:
        raise InvalidBlock("time-too-old",
                           f"block time {header.time} is not after the median time past {median_time_past}")
    if header.time > now + params.max_future_seconds:
        raise InvalidBlock("time-too-new",
                           f"block time {header.time} is more than {params.max_future_seconds} s in the future")
    if header.bits != expected_bits:
        raise InvalidBlock("bad-diffbits", f"bits {header.bits:#010x}, the retarget rule says {expected_bits:#010x}")


def check_block(block: Block, params: ChainParams) -> None:
    """Rule 5: what can be checked from the block alone."""
    size = block.size()
    if size > params.max_block_bytes:
        raise InvalidBlock("block-too-large", f"{size} bytes, the limit is {params.max_block_bytes}")
    if not block.txs or not block.txs[0].is_coinbase:
        raise InvalidBlock("missing-coinbase", "a block starts with its coinbase transaction")
    if any(tx.is_coinbase for tx in block.txs[1:]):
        raise InvalidBlock("extra-coinbase", "only the first transaction may be a coinbase")
    txids = [txid_of(tx) for tx in block.txs]
    if len(set(txids)) != len(txids):
        raise InvalidBlock("duplicate-tx", "the same transaction appears twice")
    if compute_tx_root(block.txs) != block.header.tx_root:
        raise InvalidBlock("bad-tx-root", "tx_root is not the merkle root of the block's transactions")
