"""Mining with classic proof-of-work: try nonces until the header hash is below the target.

A miner assembles a block template (``make_block``: a coinbase paying itself the subsidy
plus the fees, the transactions, their merkle root, a timestamp and the ``bits`` the
retarget rule demands), then changes the nonce until SHA-256d of the header, read as a
256-bit number, is at most the target (``mine``). Each try succeeds with probability
about ``(target + 1) / 2^256``, so the number of tries is geometric with mean
``2^256 / (target + 1)``: the work the block proves.

The header puts the nonce in its last four bytes, so the loop hashes a fixed prefix
once and only finishes the hash for each nonce (the "midstate" trick real miners use).
``search_nonces(prefix, target, start, count)`` is the one function a GPU nonce search
(``gradientcoin_edu.kernels.nonce_search``) replaces. Taught in notebook 03.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Sequence

from ..ledger import Transaction, TxOut
from .block import ZERO_HASH, Block, BlockHeader, compute_tx_root
from .bits import bits_to_target

__all__ = ["search_nonces", "mine", "make_block", "mine_block", "block_fees", "MAX_NONCE"]

MAX_NONCE = 2**32 - 1
_CHUNK = 4096                      # nonces per progress-bar update


def search_nonces(prefix: bytes, target: int, start: int, count: int) -> int | None:
    """First nonce in ``[start, start + count)`` with SHA-256d(prefix ‖ nonce u32 LE) <= target."""
    midstate = hashlib.sha256(prefix)
    for nonce in range(start, min(start + count, MAX_NONCE + 1)):
        h = midstate.copy()
        h.update(nonce.to_bytes(4, "little"))
        if int.from_bytes(hashlib.sha256(h.digest()).digest(), "little") <= target:
            return nonce
    return None


def mine(block: Block, max_attempts: int = 2**32, start_nonce: int = 0, progress: bool = True) -> Block | None:
    """Return ``block`` with a nonce that meets its ``bits``, or ``None`` after ``max_attempts`` tries.

    The number of tries it took is ``result.header.nonce - start_nonce + 1``. If ``None``
    comes back, change the time or the coinbase and try again (Bitcoin's "extra nonce").
    """
    target = bits_to_target(block.header.bits)
    prefix = block.header.serialize()[:-4]
    end = min(start_nonce + max_attempts, MAX_NONCE + 1)
    bar = _progress_bar(progress, end - start_nonce)
    try:
        for chunk_start in range(start_nonce, end, _CHUNK):
            count = min(_CHUNK, end - chunk_start)
            nonce = search_nonces(prefix, target, chunk_start, count)
            if nonce is not None:
                if bar is not None:
                    bar.update(nonce - chunk_start + 1)
                return replace(block, header=block.header.with_nonce(nonce))
            if bar is not None:
                bar.update(count)
    finally:
        if bar is not None:
            bar.close()
    return None


def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total if total < MAX_NONCE else None,     # no total: shows count and hash rate
                unit="hash", unit_scale=True, desc="mining", leave=False)


def block_fees(chain, txs: Sequence[Transaction], height: int | None = None) -> int:
    """Total fees of ``txs`` if mined on ``chain``'s tip; raises if any of them is invalid there."""
    height = chain.height + 1 if height is None else height
    trial = chain.utxo.copy()
    placeholder = Transaction.coinbase(height, [TxOut(0, bytes(20))])
    return trial.apply_block([placeholder, *txs], height, 0).fees


def make_block(chain, miner_address: bytes, txs: Sequence[Transaction] = (), *, parent: bytes | None = None,
               time: int | None = None, fees: int | None = None, extra: bytes = b"",
               miner_id: bytes = ZERO_HASH, grad_root: bytes = ZERO_HASH, weights_root: bytes = ZERO_HASH,
               payload: bytes = b"", version: int = 1) -> Block:
    """An unmined block: coinbase (subsidy + fees to ``miner_address``) followed by ``txs``.

    It builds on ``parent`` (a block hash; default the tip). ``fees`` defaults to what
    ``txs`` pay at the tip (for another parent, pass it). ``time`` defaults to the later
    of our clock and the parent's median time past + 1, so the block passes the timestamp
    rules; ``bits`` is what the retarget rule expects; the nonce is 0.
    """
    parent_entry = chain.tip if parent is None else chain.get(parent)
    if parent_entry is None:
        raise KeyError("unknown parent block")
    height = parent_entry.height + 1
    if fees is None:
        if parent_entry is not chain.tip and txs:
            raise ValueError("pass fees= when building on a block other than the tip")
        fees = block_fees(chain, txs, height) if txs else 0
    coinbase = Transaction.coinbase(height, [TxOut(chain.params.subsidy(height) + fees, miner_address)], extra=extra)
    all_txs = (coinbase, *txs)
    if time is None:
        time = max(chain.median_time_past(parent_entry.hash) + 1, int(chain.clock()))
    header = BlockHeader(version=version, prev_hash=parent_entry.hash, tx_root=compute_tx_root(all_txs),
                         grad_root=grad_root, weights_root=weights_root, time=time,
                         bits=chain.next_bits(parent_entry.hash), nonce=0, miner_id=miner_id)
    return Block(header, all_txs, payload)


def mine_block(chain, miner_address: bytes, txs: Sequence[Transaction] = (), *, parent: bytes | None = None,
               time: int | None = None, fees: int | None = None, extra: bytes = b"",
               max_attempts: int = 2**32, progress: bool = True) -> Block:
    """``make_block`` then ``mine``; if the nonces run out, bump the time and go on."""
    template = make_block(chain, miner_address, txs, parent=parent, time=time, fees=fees, extra=extra)
    while (block := mine(template, max_attempts, progress=progress)) is None:
        header = template.header
        template = replace(template, header=replace(header, time=header.time + 1))
    return block
