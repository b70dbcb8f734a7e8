"""Reference solutions for notebook 07 (for instructors): ``SOLUTIONS = {"07.k": function}``."""
from __future__ import annotations

import math

import numpy as np
import torch


def make_records(ids: list[int], block_size: int) -> np.ndarray:
    """07.1: consecutive, non-overlapping records of block_size + 1 tokens; a short tail is dropped."""
    width = block_size + 1
    count = len(ids) // width
    return np.array(ids[: count * width], dtype=np.int64).reshape(count, width)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """07.2: softmax(q k^T / sqrt(hs)) v with the future masked out. (..., T, hs) -> (..., T, hs)."""
    T = q.shape[-2]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])              # (..., T, T)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
    return att @ v                                                          # (..., T, hs)


SOLUTIONS = {"07.1": make_records, "07.2": attention}
