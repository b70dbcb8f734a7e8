"""[policy] Mining with classic proof-of-work: try nonces until the header hash is below the target.

A miner assembles a block template (``make_block``: a coinbase paying itself the subsidy
plus the fees, the transactions, their merkle root, a timestamp and the ``bits`` the
retarget rule demands), then changes the nonce until SHA-256d of the header, read as a
256-bit number, is at most the target (``mine``). Each try succeeds with probability
about ``(target + 1) / 2^256``, so the number of tries is geometric with mean
``2^256 / (target + 1)``: the work the block proves.

The header puts the nonce in its last four bytes, so the loop hashes a fixed prefix
once and only finishes the hash for each nonce (the "midstate" trick real miners use).
That loop is ``gradientcoin_edu.kernels.nonce_search``: hashlib on the CPU, a Triton
kernel (one nonce per GPU thread) on a CUDA device. ``search_nonces`` and ``mine`` call
it on batches of nonces; easy targets (fewer than ``GPU_MIN_ATTEMPTS`` expected tries,
e.g. the regtest and demo presets) stay on the CPU, where a GPU launch would cost more
than the hashes. Taught in notebook 03.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Sequence

from .. import kernels
from ..ledger import Transaction, TxOut
from .block import ZERO_HASH, Block, BlockHeader, compute_tx_root
from .bits import bits_to_target

__all__ = ["search_nonces", "mine", "make_block", "mine_block", "block_fees", "block_time", "pow_search", "solve_pow",
           "MAX_NONCE"]

MAX_NONCE = 2**32 - 1
CPU_BATCH = 4096                   # nonces per kernel call (and progress-bar step) on the CPU
GPU_BATCH = 1 << 24                # on a GPU: one launch, a few milliseconds
GPU_MIN_ATTEMPTS = 1 << 20         # expected tries below which the search stays on the CPU


def _backend(target: int) -> str | None:
    """``"cpu"`` for easy targets; otherwise None, the kernels' own choice (the GPU when there
    is one). ``GRADIENTCOIN_KERNELS``, when set, always wins."""
    if os.environ.get(kernels.ENV_VAR) or 2**256 // (target + 1) >= GPU_MIN_ATTEMPTS:
        return None
    return "cpu"


def search_nonces(prefix: bytes, target: int, start: int, count: int, *, backend: str | None = None) -> int | None:
    """First nonce in ``[start, start + count)`` with SHA-256d(prefix ‖ nonce u32 LE) <= target.

    ``prefix`` is the header without its nonce (176 bytes for a ``BlockHeader``, 76 for a
    Bitcoin header); the range is cut at ``MAX_NONCE``. None when no nonce in it qualifies.
    ``backend`` (``"cpu"``, ``"triton"``, ``"interpret"``) forces a path of the kernels.
    """
    end = min(start + count, MAX_NONCE + 1)
    if end <= start:
        return None
    return kernels.nonce_search(prefix, target, start, end - start, backend=backend or _backend(target))


def mine(block: Block, max_attempts: int = 2**32, start_nonce: int = 0, progress: bool = True, *,
         backend: str | None = None) -> Block | None:
    """Return ``block`` with a nonce that meets its ``bits``, or ``None`` after ``max_attempts`` tries.

    The number of tries it took is ``result.header.nonce - start_nonce + 1``. If ``None``
    comes back, change the time or the coinbase and try again (Bitcoin's "extra nonce").
    The nonces go to ``kernels.nonce_search`` in batches (``CPU_BATCH``, or ``GPU_BATCH`` on
    the GPU); the progress bar advances once per batch.
    """
    target = bits_to_target(block.header.bits)
    prefix = block.header.serialize()[:-4]
    end = min(start_nonce + max_attempts, MAX_NONCE + 1)
    backend = backend or _backend(target)
    on_gpu = end > start_nonce and kernels.backend_for(backend=backend, prefer_gpu=True) == "triton"
    batch = GPU_BATCH if on_gpu else CPU_BATCH
    bar = _progress_bar(progress, end - start_nonce)
    try:
        for lo in range(start_nonce, end, batch):
            count = min(batch, end - lo)
            nonce = kernels.nonce_search(prefix, target, lo, count, backend=backend)
            if nonce is not None:
                if bar is not None:
                    bar.update(nonce - lo + 1)
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
               payload: bytes = b"", version: int = 1, now: float | None = None) -> Block:
    """An unmined block: coinbase (subsidy + fees to ``miner_address``) followed by ``txs``.

    The one block template of the library: the proof-of-work miner (``mine_block``), the network
    node (``network.assembler``) and the proof-of-gradient miner (``llm.miner``) all build theirs
    here. It builds on ``parent`` (a block hash; default the tip). ``fees`` defaults to what
    ``txs`` pay at the tip (for another parent, pass it). ``time``: exactly this time (tests build
    blocks the rules refuse); by default ``block_time`` of ``now`` (default: the chain's clock),
    so the block passes the timestamp rules; ``bits`` is what the retarget rule expects; the nonce is 0.
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
        time = block_time(chain, parent_entry, chain.clock() if now is None else now)
    header = BlockHeader(version=version, prev_hash=parent_entry.hash, tx_root=compute_tx_root(all_txs),
                         grad_root=grad_root, weights_root=weights_root, time=time,
                         bits=chain.next_bits(parent_entry.hash), nonce=0, miner_id=miner_id)
    return Block(header, all_txs, payload)


def block_time(chain, parent_entry, now: float) -> int:
    """The time of a new block on ``parent_entry``: ``now``, but at least the parent's median time
    past + 1 and, for the first block of a difficulty period, not more than the time-warp grace
    before the parent (as Bitcoin Core's miner: never make a template that the rules refuse)."""
    return max(chain.median_time_past(parent_entry.hash) + 1, int(now),
               _earliest_time_warp_safe(chain.params, parent_entry))


def _earliest_time_warp_safe(params, parent_entry) -> int:
    """The earliest time the time-warp rule allows a child of ``parent_entry`` (as Bitcoin Core's
    miner: never make a template that the rule refuses)."""
    height = parent_entry.height + 1
    if params.enforce_timewarp and params.retarget_interval > 0 and height % params.retarget_interval == 0:
        return parent_entry.header.time - params.timewarp_grace
    return 0


def pow_search(header: BlockHeader, start: int = 0, count: int = 2**32) -> BlockHeader | None:
    """Try nonces ``start, start+1, ...`` (at most ``count``); the header that meets its target, or None.

    This is real proof-of-work on the header's own ``bits``. Under the regtest preset the target
    is 2^255 - 1, so about two tries find a block.
    """
    nonce = search_nonces(header.serialize()[:-4], bits_to_target(header.bits), start, count)
    return None if nonce is None else header.with_nonce(nonce)


def solve_pow(template: Block, max_tries: int = 2**32) -> Block | None:
    """The default solver of a node: ``template`` with a nonce that meets its bits, or None after
    ``max_tries`` nonces."""
    header = pow_search(template.header, 0, max_tries)
    return None if header is None else Block(header, template.txs, template.payload)


def mine_block(chain, miner_address: bytes, txs: Sequence[Transaction] = (), *, parent: bytes | None = None,
               time: int | None = None, fees: int | None = None, extra: bytes = b"",
               max_attempts: int = 2**32, progress: bool = True) -> Block:
    """``make_block`` then ``mine``; if the nonces run out, bump the time and go on."""
    template = make_block(chain, miner_address, txs, parent=parent, time=time, fees=fees, extra=extra)
    while (block := mine(template, max_attempts, progress=progress)) is None:
        header = template.header
        template = replace(template, header=replace(header, time=header.time + 1))
    return block
