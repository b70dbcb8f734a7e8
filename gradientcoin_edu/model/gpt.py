"""[consensus] A small GPT, nanoGPT-style: the language model the chain trains.

A GPT reads a sequence of token ids and predicts, at every position, the next token. It is
a stack of identical blocks, each *causal self-attention* (every position looks at the
ones before it) followed by a small MLP, with LayerNorm before each and residual
connections around them; token and position embeddings go in, a linear layer (sharing its
weights with the token embedding) gives the logits. This file follows karpathy/nanoGPT's
``model.py`` closely, without dropout (a consensus gradient must be a pure function of
weights and batch) and without flash attention (the explicit softmax is easier to read
and runs in float64, the chain's canonical precision). Taught in notebook 07.

Shapes in comments: B batch, T sequence length, C = n_embd, nh heads, hs = C / nh, V vocab.
"""
from __future__ import annotations

import math
import struct
from dataclasses import astuple, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError, ParseError

__all__ = ["GPTConfig", "PRESETS", "GPT"]


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 96      # CharTokenizer() has 96 characters
    block_size: int = 32      # longest context the model reads
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    bias: bool = True         # biases in Linear layers and LayerNorms, as GPT-2

    _FORMAT = "<6I"

    def __post_init__(self):
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head, self.n_embd) < 1:
            raise ModelError("bad-config", "every size must be positive")
        if self.n_embd % self.n_head:
            raise ModelError("bad-config", "n_embd must be a multiple of n_head")

    @classmethod
    def preset(cls, name: str, **overrides) -> "GPTConfig":
        """A named preset (see ``PRESETS``), optionally with fields replaced."""
        if name not in PRESETS:
            raise ModelError("unknown-preset", f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        return replace(PRESETS[name], **overrides)

    def serialize(self) -> bytes:
        """Canonical bytes (six little-endian uint32), part of the chain parameters."""
        return struct.pack(self._FORMAT, *(int(v) for v in astuple(self)))

    @classmethod
    def parse(cls, data: bytes) -> "GPTConfig":
        try:
            v, t, nl, nh, c, bias = struct.unpack(cls._FORMAT, data)
        except struct.error as err:
            raise ParseError("bad-gpt-config", str(err)) from None
        if bias > 1:
            raise ParseError("bad-gpt-config", "bias flag must be 0 or 1")
        if min(v, t, nl, nh, c) < 1:                 # checked before n_embd % n_head (n_head = 0)
            raise ParseError("bad-gpt-config", "every size must be positive")
        try:
            return cls(v, t, nl, nh, c, bool(bias))
        except ModelError as err:
            raise ParseError("bad-gpt-config", err.message) from None


# Named presets. Times: one float64 forward+backward pass (the proof-of-gradient step), batch
# 16, one thread of the project's shared CPUs (noisy: measured with others at work).
PRESETS: dict[str, GPTConfig] = {
    # 1 layer, 16 wide: 4,976 parameters, ~1.5 ms/step. For gradcheck and fast unit tests.
    "micro": GPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=16),
    # 2 layers, 64 wide: 108,288 parameters, 13-22 ms/step. Initial loss 4.56 (= ln 96).
    # On the chain (SGD, lr 1/4, clip 1): validation loss ~1.5 after 300 blocks; central AdamW
    # (lr 3e-3): ~0.6 after 1000 steps, 38% of the sums a+b= right after 1200 (notebook 07).
    "nano": GPTConfig(block_size=32, n_layer=2, n_head=4, n_embd=64),
    # nanoGPT's "baby GPT" (shakespeare-char): 6 layers, 384 wide, 10.7 M parameters. For a GPU
    # (batch 64 x 128 in float32); not measured on a GPU in this project yet. Too slow for CPU notebooks.
    "gpu": GPTConfig(block_size=128, n_layer=6, n_head=6, n_embd=384),
}


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v at once
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, cfg.block_size, cfg.block_size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                          # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)   # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)   # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)   # (B, nh, T, hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))           # (B, nh, T, T)
        att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))    # no peeking ahead
        att = F.softmax(att, dim=-1)
        y = att @ v                                                       # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)                  # (B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))                      # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))                                   # (B, T, C)
        return x + self.mlp(self.ln_2(x))                                 # (B, T, C)


class GPT(nn.Module):
    """The model. ``GPT(cfg)`` initialises like nanoGPT (normal, std 0.02) from torch's RNG;
    on the chain the initial weights come from ``fixed_point.init_weights`` instead."""

    def __init__(self, cfg: GPTConfig, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.config = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=nn.LayerNorm(cfg.n_embd, bias=cfg.bias),
        ))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight                 # weight tying
        self.apply(self._init_weights)
        self.to(dtype)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        """Number of parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, V) and, with targets (B, T), the mean cross-entropy loss."""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ModelError("sequence-too-long", f"T={T} > block_size={self.config.block_size}")
        pos = torch.arange(T, device=idx.device)                          # (T,)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)         # (B, T, C)
        for block in self.transformer.h:
            x = block(x)                                                  # (B, T, C)
        logits = self.lm_head(self.transformer.ln_f(x))                   # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append ``max_new_tokens`` tokens to ``idx`` (B, T): greedy when temperature is 0,
        else sampled from softmax(logits / temperature) with ``generator``."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size:])
            logits = logits[:, -1, :]                                     # (B, V)
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)                 # (B, 1)
            else:
                probs = F.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)    # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
        return idx

    def complete(self, tokenizer, prompt: str, n_chars: int, temperature: float = 0.0,
                 generator: torch.Generator | None = None) -> str:
        """The ``n_chars`` characters the model writes after ``prompt`` (greedy by default)."""
        device = next(self.parameters()).device
        idx = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)
        out = self.generate(idx, n_chars, temperature, generator)
        return tokenizer.decode(out[0, idx.shape[1]:].tolist())
