"""[consensus] Paid inference: ask the decentralized model a question; anyone can check the answer.

A user who wants the model to complete a prompt sends a transaction of kind
``KIND_INFERENCE_QUERY``. Its payload is a :class:`Query`::

    version u8 (= 1) | height u32 | max_new_tokens u16 | prompt (UTF-8)

``height`` names the weights to use: the model after block ``height`` of the chain. The answer
is **deterministic greedy decoding**: the integer weights are converted exactly to float64, the
model runs in float64 with TF32 off (``canonical_torch``), and each next token is the argmax of
the last position's logits, the lowest token id on a tie; the context is the last
``block_size`` tokens. Same chain, same answer, on every node - so anyone holding the chain can
recompute an answer and check it (:func:`answer`), and the chain can *enforce* it.

Who answers, and who is paid. The query's fee (inputs minus outputs, like any fee) goes to the
miner of the block that includes the query, through the coinbase - and that block must also
commit to the answer (an :class:`AnswerRecord` per query, their Merkle root in the coinbase:
``commitment.py``). Every node recomputes the answers while validating the block, so a miner
that answers wrongly loses the whole block (reward and fees). The answering node earns the fee
exactly when its answer is right; nobody has to trust anybody. (An "anyone may claim the fee
later with an answer transaction" design would need an output locked by a script that checks
an answer; this ledger has only key-locked outputs, and an output spendable by anyone is
stolen by the first miner who sees it.) A light client checks an answer without the weights by
a Merkle proof from the block header to the answer (``light.py``).

Query rules (consensus, in a block at height ``H``; each rejection names its ``reason``):
``bad-query-payload``, ``query-prompt`` (empty, too long, or a character outside the
vocabulary), ``query-tokens`` (0 or more than ``max_new_tokens``), ``query-height`` (not in
``[H - query_window, H - 1]``), ``query-fee-too-low``, ``query-block-full``. Taught in notebook 10.
"""
from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np
import torch

from ..crypto.merkle import merkle_root
from ..errors import InvalidTransaction, ModelError
from ..ledger import KIND_INFERENCE_QUERY, OutPoint, Transaction, UtxoSet, build_payment
from ..model import GPT, CharTokenizer, GPTConfig, load_weights
from ..model.fixed_point import SCALE_LOG2
from ..proof_of_gradient import canonical_torch
from .params import LLMParams

__all__ = ["QUERY_VERSION", "Query", "AnswerRecord", "greedy_decode", "answers_root", "check_query",
           "build_query_tx"]

QUERY_VERSION = 1
_QUERY_HEAD = struct.Struct("<BIH")          # version, height, max_new_tokens


@dataclass(frozen=True)
class Query:
    """What a query transaction asks: complete ``prompt`` with ``max_new_tokens`` tokens, using
    the weights after block ``height``."""

    prompt: str
    height: int
    max_new_tokens: int = 8

    def serialize(self) -> bytes:
        if not (0 <= self.height < 2**32 and 0 <= self.max_new_tokens < 2**16):
            raise InvalidTransaction("bad-query-payload", "height is a u32 and max_new_tokens a u16")
        return _QUERY_HEAD.pack(QUERY_VERSION, self.height, self.max_new_tokens) + self.prompt.encode("utf-8")

    @classmethod
    def parse(cls, payload: bytes) -> "Query":
        if len(payload) < _QUERY_HEAD.size:
            raise InvalidTransaction("bad-query-payload", "too short for a query")
        version, height, tokens = _QUERY_HEAD.unpack(payload[:_QUERY_HEAD.size])
        if version != QUERY_VERSION:
            raise InvalidTransaction("bad-query-payload", f"unknown query version {version}")
        try:
            prompt = payload[_QUERY_HEAD.size:].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidTransaction("bad-query-payload", "the prompt is not valid UTF-8") from None
        return cls(prompt, height, tokens)


@dataclass(frozen=True)
class AnswerRecord:
    """The answer to query ``query_txid``, from the weights after block ``height``."""

    query_txid: bytes
    height: int
    text: str

    def serialize(self) -> bytes:
        """The Merkle leaf: query txid 32 | height u32 | answer text (UTF-8)."""
        return self.query_txid + struct.pack("<I", self.height) + self.text.encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> "AnswerRecord":
        if len(data) < 36:
            raise ModelError("bad-answer", "too short for an answer record")
        try:
            text = data[36:].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelError("bad-answer", "answer text is not UTF-8") from None
        return cls(bytes(data[:32]), struct.unpack("<I", data[32:36])[0], text)


def answers_root(answers: Sequence[AnswerRecord]) -> bytes:
    """``"chain"`` Merkle root over the answer records of a block, in block order."""
    return merkle_root([a.serialize() for a in answers], "chain")


# ----------------------------------------------------------------------------- decoding
_models: dict[GPTConfig, GPT] = {}
_lock = threading.Lock()


@torch.no_grad()
def greedy_decode(cfg: GPTConfig, weights: np.ndarray, tokenizer: CharTokenizer, prompt: str,
                  max_new_tokens: int, scale_log2: int = SCALE_LOG2) -> str:
    """The ``max_new_tokens`` characters the model with integer ``weights`` writes after ``prompt``:
    float64, TF32 off, argmax with the lowest token id on a tie. The same on every node."""
    ids = tokenizer.encode(prompt)
    with _lock, canonical_torch():
        if cfg not in _models:
            with torch.random.fork_rng(devices=[]):
                _models[cfg] = GPT(cfg, dtype=torch.float64)
        model = load_weights(_models[cfg], weights, scale_log2)
        idx = torch.tensor([ids], dtype=torch.long)                         # (1, T)
        out = []
        for _ in range(max_new_tokens):
            logits, _ = model(idx[:, -cfg.block_size:])                      # (1, T, V)
            nxt = int(torch.argmax(logits[0, -1]))                           # first maximum: lowest id
            out.append(nxt)
            idx = torch.cat([idx, torch.tensor([[nxt]])], dim=1)
    return tokenizer.decode(out)


# ----------------------------------------------------------------------------- rules
def check_query(tx: Transaction, params: LLMParams, tokenizer: CharTokenizer, height: int | None = None) -> Query:
    """The query of ``tx`` after the admission rules (``height``: of the block that includes it; no fee)."""
    query = Query.parse(tx.payload)
    if not 1 <= len(query.prompt) <= params.max_prompt_chars:
        raise InvalidTransaction("query-prompt", f"a prompt has 1 to {params.max_prompt_chars} characters")
    try:
        tokenizer.encode(query.prompt)
    except ModelError as err:
        raise InvalidTransaction("query-prompt", err.message) from None
    if not 1 <= query.max_new_tokens <= params.max_new_tokens:
        raise InvalidTransaction("query-tokens", f"an answer has 1 to {params.max_new_tokens} tokens")
    if height is not None and not height - params.query_window <= query.height <= height - 1:
        raise InvalidTransaction("query-height", f"a query in block {height} uses the weights of a block in "
                                                 f"{max(0, height - params.query_window)}..{height - 1}, "
                                                 f"not {query.height}")
    return query


def build_query_tx(utxo: UtxoSet, key, query: Query, params: LLMParams, fee: int | None = None,
                   exclude: Collection[OutPoint] = ()) -> Transaction:
    """A signed query paid from ``key``'s coins; the fee (default the smallest allowed) goes to
    the miner who answers it. The only output is the change back to ``key``."""
    fee = params.query_fee if fee is None else fee
    payload = query.serialize()
    tx = build_payment(utxo, key, [], fee, kind=KIND_INFERENCE_QUERY, payload=payload, exclude=exclude)
    if not tx.outputs:              # the coins held exactly the fee: a transaction needs one output
        tx = build_payment(utxo, key, [(key.address(), 0)], fee, kind=KIND_INFERENCE_QUERY, payload=payload,
                           exclude=exclude)
    return tx
