"""Checks for notebook 07, "The model".

07.1 cut a token stream into the fixed-length records the chain commits to, 07.2 one head
of causal self-attention. Each check compares the student's function with the library
(``Dataset.from_text``'s rule, a float64 reference attention) on seeded inputs, including
the awkward ones; a stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import exercise


@exercise("07.1", "cut tokens into records")
def check_make_records(candidate) -> None:
    rng = np.random.default_rng(7)
    for n, block_size in [(0, 4), (3, 4), (5, 4), (10, 4), (11, 4), (100, 8), (33, 32), (1, 1)]:
        ids = rng.integers(0, 96, n).tolist()
        width = block_size + 1
        count = n // width
        want = np.array(ids[: count * width], dtype=np.int64).reshape(count, width)
        got = candidate(ids, block_size)
        assert got is not None, "make_records returned None - did you forget `return`?"
        got = np.asarray(got)
        assert got.shape == want.shape, (f"{n} tokens with block_size={block_size} make {count} records of "
                                         f"{width} tokens, shape {want.shape}; you return shape {got.shape}. "
                                         "Hint: records do not overlap and a short tail is dropped.")
        assert np.array_equal(got, want), (f"for {n} tokens with block_size={block_size} the records differ: "
                                           "record i is ids[i*(block_size+1) : (i+1)*(block_size+1)].")


def _reference_attention(q, k, v):
    T = q.shape[-2]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return att @ v


@exercise("07.2", "causal self-attention (one head)")
def check_attention(candidate) -> None:
    gen = torch.Generator().manual_seed(7)
    for B, T, hs in [(1, 1, 4), (2, 5, 8), (3, 8, 16)]:
        q, k, v = (torch.randn(B, T, hs, generator=gen, dtype=torch.float64) for _ in range(3))
        got = candidate(q, k, v)
        assert got is not None, "attention returned None - did you forget `return`?"
        assert tuple(got.shape) == (B, T, hs), f"output shape should be {(B, T, hs)}, got {tuple(got.shape)}"
        want = _reference_attention(q, k, v)
        assert torch.allclose(torch.as_tensor(got, dtype=torch.float64), want, atol=1e-10), (
            "values differ from softmax(q k^T / sqrt(hs), masked so position t sees only 0..t) @ v. "
            "Check the scaling by sqrt(hs) and that the mask hides the *future* (upper triangle).")
    q = torch.zeros(1, 3, 2, dtype=torch.float64)
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    got = torch.as_tensor(candidate(q, q, v), dtype=torch.float64)
    assert torch.allclose(got[0, 0], v[0, 0]), "position 0 may only attend to itself"
