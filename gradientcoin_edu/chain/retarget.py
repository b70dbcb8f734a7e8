"""[consensus] Difficulty retargeting: keep blocks coming at a steady pace whatever the hash rate.

Every ``retarget_interval`` blocks, the network looks at how long the last period took.
If it was faster than ``retarget_interval * target_spacing`` seconds, the target shrinks
(mining gets harder) in proportion; if slower, it grows. One step is clamped to a factor
of ``max_adjust_factor`` (4 in Bitcoin) either way, and the target never exceeds the
network's ``pow_limit``. Every node recomputes this from the headers, so the ``bits`` of
each block are not the miner's choice: a block with any other value is invalid.

This is Bitcoin Core's ``GetNextWorkRequired`` / ``CalculateNextWorkRequired``, including
its off-by-one (a period of N blocks measures N-1 gaps). One difference: Python integers
do not wrap at 2^256, so easy test targets near 2^255 retarget correctly.
Taught in notebook 03.
"""
from __future__ import annotations

from typing import Callable

from .bits import bits_to_target, target_to_bits
from .params import ChainParams

__all__ = ["calculate_next_bits", "next_bits", "is_retarget_height"]


def is_retarget_height(params: ChainParams, height: int) -> bool:
    """True when the block at ``height`` starts a new difficulty period."""
    return params.retarget_interval > 0 and height > 0 and height % params.retarget_interval == 0


def calculate_next_bits(params: ChainParams, last_bits: int, last_time: int, first_time: int) -> int:
    """New bits after a period whose first block has ``first_time`` and last ``last_time``."""
    timespan = params.target_timespan
    factor = params.max_adjust_factor
    actual = min(max(last_time - first_time, timespan // factor), timespan * factor)
    new_target = bits_to_target(last_bits) * actual // timespan
    return target_to_bits(min(new_target, params.pow_limit))


def next_bits(params: ChainParams, parent_height: int, parent_bits: int, parent_time: int,
              time_at_height: Callable[[int], int]) -> int:
    """The bits the child of a block must carry.

    ``time_at_height(h)`` returns the time of the parent's ancestor at height ``h`` (only
    called at a retarget, for the first block of the period ending at the parent).
    """
    height = parent_height + 1
    if not is_retarget_height(params, height):
        return parent_bits
    first_time = time_at_height(parent_height - (params.retarget_interval - 1))
    return calculate_next_bits(params, parent_bits, parent_time, first_time)
