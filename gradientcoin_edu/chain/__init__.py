"""Chain layer: blocks, proof-of-work, validation, fork choice and the block store.

Read in this order: ``bits.py`` (compact targets), ``bitcoin_header.py`` (real Bitcoin
headers), ``block.py`` (our blocks), ``work.py`` (the work rule), ``params.py`` and
``retarget.py`` (network constants, difficulty), ``validation.py`` (the rules),
``fork_choice.py`` (the most-work rule), ``chain.py`` (the ``Chain``: the block tree, adding
blocks, reorgs), ``store.py`` (SQLite) and ``replay.py`` (restart from it), ``pow.py`` (mining). Notebook 03 teaches it.
"""
from .bitcoin_header import GENESIS_HEADER_HEX, BitcoinHeader
from .bits import (bits_to_target, bits_to_work, decode_compact, encode_compact, expected_attempts,
                   target_to_bits, target_to_work)
from .block import ZERO_HASH, Block, BlockHeader, compute_tx_root
from .chain import AddResult, BlockIndex, Chain, ChainEvent
from .params import COIN, PRESETS, ChainParams, genesis_block, get_params
from .pow import block_fees, make_block, mine, mine_block, search_nonces
from .retarget import calculate_next_bits, next_bits
from .store import BlockStore, StoredBlock
from .validation import check_block, check_header_context, check_time_warp, check_tx_root, median_time
from .work import ProofOfWork, WorkRule

__all__ = [
    "BitcoinHeader", "GENESIS_HEADER_HEX",
    "bits_to_target", "bits_to_work", "decode_compact", "encode_compact", "expected_attempts",
    "target_to_bits", "target_to_work",
    "ZERO_HASH", "Block", "BlockHeader", "compute_tx_root",
    "AddResult", "BlockIndex", "Chain", "ChainEvent",
    "COIN", "PRESETS", "ChainParams", "genesis_block", "get_params",
    "block_fees", "make_block", "mine", "mine_block", "search_nonces",
    "calculate_next_bits", "next_bits",
    "BlockStore", "StoredBlock",
    "check_block", "check_header_context", "check_time_warp", "check_tx_root", "median_time",
    "ProofOfWork", "WorkRule",
]
