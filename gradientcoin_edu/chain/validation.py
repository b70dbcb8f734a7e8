"""[consensus] Block validation: every rule a block must pass before a node builds on it.

The rules, in the order a node checks them (cheap first), each with its ``reason``:

0. **Body against header** (``check_tx_root`` and the work rule's ``check_body``) — the
   transactions hash to ``tx_root`` (``bad-tx-root``) and the payload is what the header
   commits to (``unexpected-payload`` under proof-of-work: there is none). A failure raises
   ``MutatedBlock``: the body was changed after the header was made, so the hash says nothing
   about the block and must not be remembered as invalid.
1. **Linkage** — the parent is known (``unknown-parent``) and not invalid (``invalid-parent``).
2. **Timestamp** — later than the median of the parent and its 10 ancestors' times
   (``time-too-old``; the *median-time-past* can't be pushed around by one miner), and at
   most ``max_future_seconds`` ahead of our clock (``time-too-new``). On a retargeting chain
   (``check_time_warp``, BIP 94 and BIP 54): the first block of a difficulty period is at
   most ``timewarp_grace`` seconds earlier than its parent (``time-timewarp-attack``), and the
   last block of a period is not earlier than the period's first (``time-negative-period``).
3. **Difficulty** — ``bits`` equal what the retarget rule computes (``bad-diffbits``).
4. **Work** — the work rule accepts the header (``bad-pow`` for proof-of-work).
5. **Block contents** (``check_block``) — at most ``max_block_bytes`` (``block-too-large``),
   the first transaction and only the first is a coinbase (``missing-coinbase``,
   ``extra-coinbase``), and no transaction twice (``duplicate-tx``).
6. **Transactions** — applied to the UTXO set when the block is connected: every spend
   valid (``double-spend``, ``missing-input``, ``bad-signature`` ... from the ledger),
   coinbase at most subsidy + fees (``bad-coinbase-amount``); then the work rule's full
   check (``connect``).

Steps 0-5 need only the block and its ancestors' headers; step 6 needs the UTXO set at
the parent, so ``Chain`` runs it when it connects the block (immediately when it extends
the best chain, later if its branch becomes the heaviest). A block that passes 0-4 and fails
5 or 6 is *invalid*: its body is the genuine one and its header carries valid work, so the
node remembers its hash. Bitcoin must treat a duplicated transaction as a mutation
(CVE-2012-2459: its merkle tree gives ``[a, b, c]`` and ``[a, b, c, c]`` one root); our
``"chain"`` tree gives every list its own root, so a duplicate in a list that matches
``tx_root`` is the block's own fault. Taught in notebook 03; ``docs/protocol.md`` sections 1
and 9 give the reasons for each rule.
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..errors import InvalidBlock, MutatedBlock
from .block import Block, BlockHeader, compute_tx_root, txid_of
from .params import ChainParams

__all__ = ["median_time", "check_tx_root", "check_block", "check_header_context", "check_time_warp"]


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


def check_time_warp(header: BlockHeader, params: ChainParams, height: int,
                    time_at_height: Callable[[int], int]) -> None:
    """The time-warp rules of a retargeting chain for a block at ``height``.

    ``time_at_height(h)`` is the time of the block's ancestor at height ``h``. The first block
    of a period may be at most ``params.timewarp_grace`` seconds earlier than its parent
    (BIP 94, testnet4: 600 s of a two-week period); the last block of a period may not be
    earlier than the period's first block (BIP 54's fix of the Murch-Zawy variant).
    """
    interval = params.retarget_interval
    if interval <= 0 or not params.enforce_timewarp or height <= 0:
        return
    if height % interval == 0:
        parent_time = time_at_height(height - 1)
        if header.time < parent_time - params.timewarp_grace:
            raise InvalidBlock("time-timewarp-attack", f"block time {header.time} starts a difficulty period more "
                               f"than {params.timewarp_grace} s before its parent's time {parent_time}")
    if interval > 1 and height % interval == interval - 1:
        first = time_at_height(height - (interval - 1))
        if header.time < first:
            raise InvalidBlock("time-negative-period", f"block time {header.time} ends a difficulty period "
                               f"before the period's first block ({first})")


def check_tx_root(block: Block) -> None:
    """Rule 0 (the chain's part): ``tx_root`` is the ``"chain"`` merkle root of the txids;
    ``MutatedBlock("bad-tx-root")`` otherwise."""
    if compute_tx_root(block.txs) != block.header.tx_root:
        raise MutatedBlock("bad-tx-root", "tx_root is not the merkle root of the block's transactions")


def check_block(block: Block, params: ChainParams) -> None:
    """Rule 5: what can be checked from the block alone (its body already matches its header)."""
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
