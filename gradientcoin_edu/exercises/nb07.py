"""[tooling] Checks for notebook 07, "The model".

07.1 cut a token stream into the fixed-length records the chain commits to; 07.2 one head of
causal self-attention, checked bit for bit inside the library's ``CausalSelfAttention``
(``model/gpt.py``) on fresh weights and inputs. Inputs are drawn afresh at every call (the
notebook never prints them); the library's own functions and the check's reference are
refused. A stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import exercise
from ._own_work import fresh_np_rng, guarded


@exercise("07.1", "cut tokens into records")
def check_make_records(candidate) -> None:
    from ..llm.data import text_records
    from ..model import Dataset
    rng = fresh_np_rng()                                               # fresh inputs at every call
    call = guarded(candidate, ((Dataset, "from_text"), text_records), "make_records")
    cases = [(int(rng.integers(0, 400)), int(rng.integers(1, 40))) for _ in range(6)]
    cases += [(0, 4), (3, 4), (5, 4), (10, 4), (11, 4), (33, 32), (1, 1)]
    for n, block_size in cases:
        ids = rng.integers(0, 96, n).tolist()
        width = block_size + 1
        count = n // width
        want = np.array(ids[: count * width], dtype=np.int64).reshape(count, width)
        got = call(list(ids), block_size)
        assert got is not None, "make_records returned None - did you forget `return`?"
        got = np.asarray(got)
        assert got.shape == want.shape, (f"{n} tokens with block_size={block_size} make {count} records of "
                                         f"{width} tokens, shape {want.shape}; you return shape {got.shape}. "
                                         "Hint: a record holds block_size + 1 tokens, records do not overlap, "
                                         "and a tail too short for a record is dropped.")
        assert np.array_equal(got, want), (f"for {n} tokens with block_size={block_size} the records differ. "
                                           "Hint: record i starts where record i - 1 ended.")


def _library_attention_block(n_head: int, hs: int, T: int, dtype, gen):
    """The library's attention module with fresh random weights, an input, and its q, k, v per head."""
    from ..model.gpt import CausalSelfAttention, GPTConfig
    C = n_head * hs
    module = CausalSelfAttention(GPTConfig(block_size=max(T, 1), n_head=n_head, n_embd=C)).to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.3)
    x = torch.randn(2, T, C, generator=gen, dtype=dtype)
    with torch.no_grad():
        q, k, v = module.c_attn(x).split(C, dim=2)
        heads = [t.view(2, T, n_head, hs).transpose(1, 2) for t in (q, k, v)]      # 3 x (B, nh, T, hs)
        want = module(x)
    return module, x, heads, want


@exercise("07.2", "causal self-attention (one head)")
def check_attention(candidate) -> None:
    from ..model.gpt import CausalSelfAttention
    gen = torch.Generator().manual_seed(int(fresh_np_rng().integers(0, 2**62)))   # fresh weights and inputs
    call = guarded(candidate, ((CausalSelfAttention, "forward"),), "attention")
    for n_head, hs, T, dtype in [(4, 16, 32, torch.float64), (3, 8, 7, torch.float64), (2, 4, 1, torch.float32),
                                 (6, 12, 20, torch.float32), (1, 64, 9, torch.float64)]:
        module, x, (q, k, v), want = _library_attention_block(n_head, hs, T, dtype, gen)
        with torch.no_grad():
            y = call(q.clone(), k.clone(), v.clone())
            assert y is not None, "attention returned None - did you forget `return`?"
            y = torch.as_tensor(y)
            assert tuple(y.shape) == tuple(q.shape), (f"for q, k, v of shape {tuple(q.shape)} (batch, heads, T, hs) "
                                                      f"the output has that shape too; yours is {tuple(y.shape)}. "
                                                      "Hint: work on the last two dimensions only.")
            got = module.c_proj(y.to(dtype).transpose(1, 2).contiguous().view(x.shape))
        if torch.equal(got, want):
            continue
        T_ = q.shape[-2]
        if torch.allclose(got, want, rtol=1e-5, atol=1e-6 if dtype == torch.float32 else 1e-12):
            raise AssertionError(
                f"right to the last few bits but not bit for bit (head size {hs}, {dtype}). The chain needs "
                "the same bits on every node: do the library's operations in the library's order - divide "
                "the scores by the square root of hs (multiplying by its inverse rounds differently) and let "
                "torch compute the softmax (a softmax of your own sums in another order).")
        if T_ > 1 and torch.allclose(torch.as_tensor(y)[..., 1:, :], _full_attention(q, k, v)[..., 1:, :]):
            raise AssertionError("position t may only look at positions 0..t: hide the future before the softmax.")
        raise AssertionError(f"the attention output differs (head size {hs}, T={T_}). Hint: the weights of "
                             "position t are a softmax over its scaled scores with positions 0..t, and the "
                             "output mixes the values with those weights.")


def _full_attention(q, k, v):
    return F.softmax((q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1)), dim=-1) @ v
