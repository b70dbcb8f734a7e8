"""[consensus] The decentralized LLM as a chain: a ``Chain`` whose work rule is the model.

:class:`LLMChain` is a :class:`~gradientcoin_edu.chain.Chain` wired with an :class:`LLMRule`
(proof-of-gradient + data + answers) and the network's genesis block. Everything a node does
with blocks - validation, most-work fork choice, reorgs (the weights and the dataset move back
and forth with them), the SQLite store and restart from it - is the chain's: this class
overrides no method of ``Chain`` (``tests/test_layers.py`` checks it); its ``__init__`` only
plugs the rule, the genesis block, the store and a snapshot listener into the chain's seams.
It adds what a user of the model wants::

    chain = LLMChain(LLMSpec.builtin("demo"), store="node.sqlite")
    block, proof, _ = chain.mine(miner_address, txs)  # train: one proof-of-gradient block
    chain.add_block(block)                            # every node does this (and verifies it)
    chain.weights_at(h), chain.val_loss()             # the model after block h, its validation loss
    chain.answer(Query("\\n3+4=", h, 2))              # deterministic greedy answer
    chain.find_answer(query_txid)                     # the committed answer to a paid query
    chain.contributions()                             # who added data, and its share of each batch

Every ``snapshot_interval`` blocks the node stores a snapshot of the weights (if it has a
store), which lets it prune old gradients (``pruning.py``) and still restart: the chain loads
the latest snapshot and replays only the blocks after it. Taught in notebooks 09 and 10.
"""
from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..chain import Block, BlockStore, Chain, ChainEvent
from ..crypto.hashes import hash_to_hex
from ..ledger import KIND_INFERENCE_QUERY, KIND_TRAINING_DATA, Transaction
from ..model import to_model
from ..model.fixed_point import weights_root
from ..proof_of_gradient import validation_loss
from .commitment import read_commitment
from .inference import AnswerRecord, Query
from .miner import MinedBlock, mine_llm_block
from .rule import LLMRule
from .spec import LLMSpec

__all__ = ["LLMChain", "Contribution"]


@dataclass(frozen=True)
class Contribution:
    """A data transaction on the chain: where its records are and how much of a batch they weigh."""

    height: int              # the block that admitted it
    txid: bytes
    stratum: int             # 1, 2, ... (0 is the genesis corpus)
    first_record: int
    n_records: int
    batch_share: float       # its weight / all weights: the expected share of a batch's slots


class LLMChain(Chain):
    """A node's chain of the decentralized LLM (see the module docstring).

    ``spec``: the network. ``store``: a ``BlockStore`` or a path (restart: the chain is rebuilt
    from it). ``check_validation=False``: no validation guard and no data screen (experiments
    only: a guarded node would refuse such a chain's blocks). ``snapshot_interval``: blocks
    between weight snapshots in the store (default: the network's advisory value).
    """

    def __init__(self, spec: LLMSpec, store: BlockStore | str | None = None, *,
                 clock: Callable[[], float] = _time.time, check_validation: bool = True,
                 snapshot_interval: int | None = None, coinbase_maturity: int = 0):
        self.spec = spec
        self.snapshot_interval = snapshot_interval or spec.params.snapshot_interval
        rule = LLMRule(spec, check_validation)
        rule.bind(self)                    # it reads our blocks (bound before the store is replayed)
        super().__init__(spec.chain_params, rule, store, genesis=spec.genesis,
                         clock=clock, coinbase_maturity=coinbase_maturity)
        self.listeners.append(self._on_event)

    # ------------------------------------------------------------------ the model
    @property
    def rule(self) -> LLMRule:
        return self.work_rule

    @property
    def weights(self) -> np.ndarray:
        """The integer weights at the tip (read-only)."""
        return self.rule.weights

    @property
    def dataset(self):
        """The training records at the tip (the genesis corpus plus every contribution so far)."""
        return self.rule.dataset

    def weights_at(self, height: int) -> np.ndarray:
        """The integer weights after block ``height`` of the best chain."""
        return self.rule.weights_at(height)

    def weights_root_at(self, height: int) -> bytes:
        return weights_root(self.weights_at(height), self.spec.pog.chunk_bytes)

    def val_loss(self, height: int | None = None) -> float:
        """Validation loss (float64, the guard's records) of the model after block ``height`` (default: tip)."""
        if height is None or height == self.height:
            return self.rule.val_loss()
        return validation_loss(self.spec.pog, self.spec.validation, self.weights_at(height))

    def model(self, height: int | None = None, dtype=None):
        """A float ``GPT`` holding the weights after block ``height`` (default: tip), for exploring."""
        import torch
        w = self.weights if height is None else self.weights_at(height)
        return to_model(self.spec.pog.model, w, self.spec.pog.scale_log2, dtype=dtype or torch.float64)

    # ------------------------------------------------------------------ mining and asking
    def mine(self, miner_address: bytes, txs: Sequence[Transaction] = (), *,
             time: int | None = None, tag: bytes = b"", strict: bool = True,
             on_attempt: Callable[[int], None] | None = None) -> MinedBlock:
        """Mine a block on the tip with ``txs`` (see ``miner.mine_llm_block``); it is not added yet.
        Returns ``(block, proof, rejected)``."""
        if time is None:
            time = self.tip.header.time + self.params.target_spacing
        return mine_llm_block(self, miner_address, txs, time=time, tag=tag, strict=strict,
                              on_attempt=on_attempt)

    def mine_and_add(self, miner_address: bytes, txs: Sequence[Transaction] = (), **kwargs) -> Block:
        block = self.mine(miner_address, txs, **kwargs).block
        self.add_block(block)
        return block

    def answer(self, query: Query) -> str:
        """What the model after block ``query.height`` answers (deterministic; anyone can recompute it)."""
        return self.rule.answer(query).text

    def find_answer(self, query_txid: bytes) -> tuple[int, AnswerRecord] | None:
        """(height of the block that answered it, the answer record) for a mined query, or None."""
        for entry in reversed(self.active_chain()):
            for tx in entry.block.txs:
                if tx.txid == query_txid and tx.kind == KIND_INFERENCE_QUERY:
                    query = Query.parse(tx.payload)
                    return entry.height, AnswerRecord(tx.txid, query.height, self.answer(query))
        return None

    def answers_in(self, height: int) -> list[AnswerRecord]:
        """The answer records block ``height`` commits to, in block order (recomputed)."""
        block = self.block_at(height)
        return [AnswerRecord(tx.txid, (q := Query.parse(tx.payload)).height, self.answer(q))
                for tx in block.txs[1:] if tx.kind == KIND_INFERENCE_QUERY]

    def commitment_at(self, height: int):
        return read_commitment(self.block_at(height).txs[0])

    # ------------------------------------------------------------------ snapshots
    def _on_event(self, event: ChainEvent) -> None:
        if (event.kind == "connected" and self.store is not None and event.height > 0
                and event.height % self.snapshot_interval == 0 and self.is_active(event.block.hash())):
            self.write_snapshot(event.height)

    def write_snapshot(self, height: int | None = None) -> None:
        """Store the weights after block ``height`` (default: the tip) for restarts."""
        height = self.height if height is None else height
        self.store.put_snapshot(self.block_at(height).hash(), height, self.rule.snapshot(height))

    # ------------------------------------------------------------------ summaries
    def miners(self) -> dict[bytes, int]:
        """Blocks of the best chain per miner id."""
        out: dict[bytes, int] = {}
        for entry in self.active_chain()[1:]:
            out[entry.header.miner_id] = out.get(entry.header.miner_id, 0) + 1
        return out

    def contributions(self) -> list[Contribution]:
        """Every data contribution on the best chain, in chain order, with its stratum (section 5 of
        ``docs/protocol.md``) and its expected share of a batch's slots."""
        d = self.dataset
        starts, weights = getattr(d, "starts", (0,)), getattr(d, "weights", (1,))
        txs = [(entry.height, tx.txid) for entry in self.active_chain()[1:]
               for tx in entry.block.txs[1:] if tx.kind == KIND_TRAINING_DATA]
        total, ends = sum(weights), starts[1:] + (len(d),)
        return [Contribution(h, txid, s, starts[s], ends[s] - starts[s], weights[s] / total)
                for s, (h, txid) in enumerate(txs, start=1)]

    def summary(self) -> str:
        return (f"height {self.height}, tip {self.tip.hash_hex()[:16]}.., weights root "
                f"{self.rule.weights_root().hex()[:16]}.., {len(self.dataset)} training records, "
                f"validation loss {self.val_loss():.3f}")

    def __repr__(self) -> str:
        return f"LLMChain({self.spec.preset}, height={self.height}, tip={hash_to_hex(self.tip.hash)[:16]}..)"
