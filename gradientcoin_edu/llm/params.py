"""[consensus] The rules of the decentralized LLM: what a data contribution and a paid query must satisfy.

A GradientCoin chain that trains a language model needs, besides the proof-of-gradient
parameters (:class:`~gradientcoin_edu.proof_of_gradient.PoGParams`: the model, the committed
data, the number formats, the guard margin), a few more constants that every node must agree on:

* **training data** (kind ``KIND_TRAINING_DATA``): the fee per record, how many records one
  transaction and one block may add, and the *screen*: the model at the parent block must find
  the contribution about as likely as its validation text - mean cross-entropy at most
  ``data_margin`` nats above the validation loss - or the contribution is refused;
* **the guard**: ``anchored_guard`` strengthens the validation guard of docs/protocol.md §8 (an update
  may raise the validation loss by at most the margin *over its parent*) to "at most the margin
  over the *best* validation loss of the chain so far", which also bounds the sum of many small
  rises (measured in ``docs/decentralized_llm.md``);
* **batch selection**: ``data_share_pct``, the largest share of each batch that contributed
  records may fill, however many there are (the genesis corpus keeps the rest); see
  ``proof_of_gradient/batch.py`` and ``docs/protocol.md`` sections 5-6;
* **inference** (kind ``KIND_INFERENCE_QUERY``): the smallest fee, the longest prompt, the most
  tokens an answer may have, how many blocks back a query may name its weights
  (``query_window``), how many queries one block may answer.

:class:`LLMParams` holds them all; its ``hash`` is what the genesis block commits to, so two
nodes with different rules are on different networks. Presets: ``"tiny"`` (the ``micro`` model,
for tests: milliseconds per block), ``"demo"`` (the ``nano`` model, for ``gradientcoin demo``
and notebooks 09-10: about 0.1 s per block on one CPU core), ``"gpu"`` (the ``gpu`` model).
Taught in notebook 09.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field, replace

from ..crypto.hashes import sha256
from ..errors import ModelError, ParseError
from ..proof_of_gradient import PoGParams

__all__ = ["LLMParams", "PRESETS"]

_FORMAT = "<QIIdBBQIIIIIB"         # see LLMParams.serialize: the numbers after the PoG parameters


@dataclass(frozen=True)
class LLMParams:
    """Consensus constants of one decentralized-LLM network (see the module docstring)."""

    pog: PoGParams = field(default_factory=PoGParams)
    # --- training data -------------------------------------------------------------------
    data_fee_per_record: int = 1_000         # smallest units a contribution pays per record
    max_records_per_tx: int = 64             # records (block_size + 1 tokens each) in one contribution
    max_records_per_block: int = 256         # records one block may add to the dataset
    data_margin: float = 1.0                 # screen: contribution loss <= validation loss + 1 nat
    screen_data: bool = True                 # False: no screen (only the block guard protects the model)
    anchored_guard: bool = True              # guard against the best validation loss so far (else: the parent's)
    # --- inference -------------------------------------------------------------------------
    query_fee: int = 10_000                  # smallest fee of a query (earned by the answering miner)
    max_prompt_chars: int = 64
    max_new_tokens: int = 32
    query_window: int = 6                    # a query in block H names weights of a height in [H-6, H-1]
    max_queries_per_block: int = 8
    snapshot_interval: int = 25              # advisory: nodes keep weight snapshots every 25 blocks
    # --- batch selection (docs/protocol.md section 5) ---------------------------------------
    data_share_pct: int = 25                 # contributed records fill at most 25 % of each batch

    def __post_init__(self):
        ints = (self.data_fee_per_record, self.max_records_per_tx, self.max_records_per_block, self.query_fee,
                self.max_prompt_chars, self.max_new_tokens, self.query_window, self.max_queries_per_block,
                self.snapshot_interval)
        if any(not isinstance(v, int) or v < 0 for v in ints):
            raise ModelError("bad-params", "fees, limits and windows are non-negative integers")
        if min(self.max_records_per_tx, self.max_new_tokens, self.query_window, self.snapshot_interval) < 1:
            raise ModelError("bad-params", "max_records_per_tx, max_new_tokens, query_window and "
                                           "snapshot_interval must be at least 1")
        if not (isinstance(self.data_share_pct, int) and 1 <= self.data_share_pct <= 100):
            raise ModelError("bad-params", "data_share_pct is an integer percentage in 1..100")
        if not (math.isfinite(self.data_margin) and self.data_margin >= 0):
            raise ModelError("bad-params", "data_margin must be a finite number >= 0")

    @property
    def block_size(self) -> int:
        return self.pog.model.block_size

    @property
    def record_tokens(self) -> int:
        """Tokens in one record: a model input plus the next-token target."""
        return self.pog.model.block_size + 1

    def replace(self, **changes) -> "LLMParams":
        return replace(self, **changes)

    # --- bytes -------------------------------------------------------------------------------
    def serialize(self) -> bytes:
        """Canonical bytes: u16 length + PoGParams bytes, then the numbers (little-endian)."""
        pog = self.pog.serialize()
        return (len(pog).to_bytes(2, "little") + pog
                + struct.pack(_FORMAT, self.data_fee_per_record, self.max_records_per_tx, self.max_records_per_block,
                              self.data_margin, int(self.screen_data), int(self.anchored_guard), self.query_fee,
                              self.max_prompt_chars,
                              self.max_new_tokens, self.query_window, self.max_queries_per_block,
                              self.snapshot_interval, self.data_share_pct))

    @classmethod
    def parse(cls, data: bytes) -> "LLMParams":
        data = bytes(data)
        if len(data) < 2:
            raise ParseError("bad-llm-params", "too short")
        n = int.from_bytes(data[:2], "little")
        if len(data) != 2 + n + struct.calcsize(_FORMAT):
            raise ParseError("bad-llm-params", "length does not match")
        pog = PoGParams.parse(data[2:2 + n])
        (fee, per_tx, per_block, margin, screen, anchored, qfee, prompt, tokens, window, queries,
         snapshots, share) = struct.unpack(_FORMAT, data[2 + n:])
        if screen > 1 or anchored > 1:
            raise ParseError("bad-llm-params", "flags must be 0 or 1")
        try:
            return cls(pog, fee, per_tx, per_block, margin, bool(screen), bool(anchored), qfee, prompt, tokens,
                       window, queries, snapshots, share)
        except ModelError as err:
            raise ParseError("bad-llm-params", err.message) from None

    @property
    def hash(self) -> bytes:
        """SHA-256 of ``serialize()``: what the genesis block commits to."""
        return sha256(self.serialize())


# Named presets: the model preset, the corpus size and the rules. Times: one block mined and
# verified on one CPU core of the project's (shared, noisy) machines.
PRESETS: dict[str, dict] = {
    # micro GPT (4.8k parameters, context 8): a block in a few ms. For tests.
    "tiny": dict(model="micro", n_lines=600, llm=dict(max_records_per_tx=16, max_new_tokens=8, max_prompt_chars=16,
                                                      snapshot_interval=5),
                 pog=dict(lr_shift=7, warmup_steps=5)),    # a 5k-parameter model takes a larger Lion step
    # nano GPT (108k parameters, context 32): ~0.1 s a block; validation loss 4.57 -> ~2.1 in 100 blocks.
    "demo": dict(model="nano", n_lines=4000, llm=dict()),
    # nanoGPT's baby GPT (10.7M parameters): for a GPU; blocks of 43 MB (not for the simulator's 4 MB messages).
    "gpu": dict(model="gpu", n_lines=40000, llm=dict(max_records_per_tx=16)),
}
