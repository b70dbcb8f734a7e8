"""[consensus] One network of the decentralized LLM: its rules, its data and its genesis block.

Everything a node needs before it sees a single block: the :class:`LLMParams` (with the
proof-of-gradient parameters inside), the genesis training and validation records, the
tokenizer, the chain constants (:class:`~gradientcoin_edu.chain.ChainParams`) and the genesis
block, which commits to all of it:

* its header's ``weights_root`` is the Merkle root of the genesis weights (every node derives
  them from ``init_seed``; the first gradient is computed at exactly these integers);
* its coinbase carries ``"GCLM" ‖ SHA-256(LLMParams bytes)`` (the parameters' commitment: the
  model config, the dataset and validation roots, the tokenizer hash, the number formats, the
  guard margin, the data and query rules), and its payload - which under proof-of-gradient holds
  a gradient, but genesis has none - carries the parameter bytes themselves, so a new node can
  read the rules from block 0 and check them against the hash.

``LLMSpec.builtin("demo")`` builds the network of ``gradientcoin demo`` from the built-in corpus.
Taught in notebook 09.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..chain import Block, BlockHeader, ChainParams, compute_tx_root
from ..chain.block import ZERO_HASH
from ..errors import InvalidBlock, ParseError
from ..ledger import Transaction, TxOut
from ..model import CharTokenizer, Dataset, GPTConfig, builtin_datasets
from ..proof_of_gradient import PoGParams
from .params import PRESETS, LLMParams

__all__ = ["LLMSpec", "GENESIS_TAG", "EASIEST_BITS", "DEMO_BITS", "read_genesis"]

GENESIS_TAG = b"GCLM"
EASIEST_BITS = 0x2100FFFF     # target 0xFFFF * 2^240: a ticket wins with probability 1 - 2^-16
DEMO_BITS = 0x2100BFFF        # target 0xBFFF * 2^240 (3/4 of all hashes): four tickets (gradients) for three blocks
GENESIS_TIME = 1_700_000_000
_MESSAGE = b"a language model nobody owns"
# Chosen from measurements (docs/decentralized_llm.md): learning rate 1/8 (1/4 makes single steps
# overshoot: honest updates raised the validation loss by up to 0.2-0.45 nats, so a tight guard
# stalled the chain); with 1/8 honest steps rise by at most ~0.05, and the guard margin is twice that.
POG_DEFAULTS = dict(lr_num=1, lr_shift=3, validation_margin=0.1)
# The optimizer (docs/benchmarks_llm.md "The on-chain optimizer"): Lion in integers, peak step
# 2^-10 (about 1e-3), 20 warm-up steps, halving every 2,000 steps down to 2^-13; beta2 = 63570 / 2^16 = 0.97
# (the momentum remembers ~33 steps instead of ~100: central float64 runs of 400 / 500 steps got 22 % / 28 %
# of 100 held-out sums right against 10 % / 23 % with 0.99, mean of 3 seeds; docs/benchmarks_llm.md).
# The guard reads the first 16 validation records (a quarter of the old 64: 4x cheaper; a flood of poison
# moved the loss on all 64 records no further than with the 64-record guard - docs/benchmarks_llm.md).
POG_DEFAULTS.update(optimizer=1, lr_shift=10, warmup_steps=20, lr_half_life=2000, lr_min_shift=3, beta2_num=63570,
                    max_validation_records=16)


@dataclass(frozen=True, eq=False)
class LLMSpec:
    """The rules, data and genesis block of one network (``LLMSpec.builtin(preset)``)."""

    params: LLMParams
    chain_params: ChainParams
    train: Dataset                  # the genesis training records (data transactions add more)
    validation: Dataset             # the guard's records
    tokenizer: CharTokenizer
    preset: str = "custom"

    @classmethod
    def builtin(cls, preset: str = "demo", seed: int = 0, bits: int = DEMO_BITS,
                pog: dict | None = None, **llm_changes) -> "LLMSpec":
        """The network of preset ``preset`` on the built-in corpus of ``seed``.

        ``bits``: the (fixed) difficulty; ``pog``: changes to the proof-of-gradient parameters
        (e.g. ``{"validation_margin": 0.1}``); other keywords change :class:`LLMParams` fields.
        """
        if preset not in PRESETS:
            raise KeyError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        p = PRESETS[preset]
        model = GPTConfig.preset(p["model"])
        tokenizer = CharTokenizer()
        train, val = builtin_datasets(model.block_size, seed=seed, n_lines=p["n_lines"], tokenizer=tokenizer)
        pog_params = PoGParams.for_data(train, val, model, tokenizer=tokenizer, **{**POG_DEFAULTS, **p.get("pog", {}), **(pog or {})})
        params = LLMParams(pog_params, **{**p["llm"], **llm_changes})
        return cls(params, chain_params_for(params, bits, preset), train, val, tokenizer, preset)

    @cached_property
    def genesis(self) -> Block:
        """Block 0: weights root of the genesis weights, the parameters' hash in the coinbase."""
        coinbase = Transaction.coinbase(0, [TxOut(0, bytes(20))], extra=GENESIS_TAG + self.params.hash + _MESSAGE)
        header = BlockHeader(version=1, prev_hash=ZERO_HASH, tx_root=compute_tx_root([coinbase]),
                             weights_root=self.params.pog.genesis_weights_root(), time=self.chain_params.genesis_time,
                             bits=self.chain_params.start_bits)
        return Block(header, (coinbase,), self.params.serialize())

    @property
    def pog(self) -> PoGParams:
        return self.params.pog

    def __repr__(self) -> str:
        m = self.pog.model
        return (f"LLMSpec({self.preset}: GPT {m.n_layer}x{m.n_embd}, {self.pog.n_params:,} parameters, "
                f"{len(self.train)} training records, genesis {self.genesis.hash_hex()[:16]}..)")


def chain_params_for(params: LLMParams, bits: int, preset: str) -> ChainParams:
    """Chain constants: fixed difficulty ``bits`` (no retargeting), blocks big enough for a gradient."""
    return ChainParams(name=f"llm-{preset}", genesis_time=GENESIS_TIME, genesis_message=_MESSAGE,
                       pow_limit_bits=EASIEST_BITS, genesis_bits=bits, retarget_interval=0,
                       max_block_bytes=params.pog.payload_bytes + 1_000_000)


def read_genesis(block: Block) -> LLMParams:
    """The parameters a genesis block commits to; ``InvalidBlock("bad-genesis")`` if it does not add up."""
    try:
        params = LLMParams.parse(block.payload)
    except ParseError as err:
        raise InvalidBlock("bad-genesis", f"genesis payload is not chain parameters: {err.message}") from None
    extra = block.txs[0].inputs[0].signature[4:] if block.txs and block.txs[0].is_coinbase else b""
    if extra[:4] != GENESIS_TAG or extra[4:36] != params.hash:
        raise InvalidBlock("bad-genesis", "the coinbase does not commit to the parameters in the payload")
    if block.header.weights_root != params.pog.genesis_weights_root():
        raise InvalidBlock("bad-genesis", "weights_root is not the root of the genesis weights")
    return params
