"""The proof-of-gradient chain parameters, fixed in the genesis block.

Everything a node needs to check a gradient the same way as every other node: which model
(``GPTConfig``), which data (the Merkle roots of the training and validation records), the
number formats (weight scale ``2^-s``, gradient quantum ``Δ = 2^-k``), the learning rate as
an exact fraction ``lr_num / 2^lr_shift``, the batch size, the gradient clipping norm, the
verification tolerance (a deviation of ±1 allowed only within ``δ = 2^-delta_log2`` quanta of
a rounding boundary, at most ``cap`` of them per block) and the validation-loss margin. The
defaults were chosen from measurements; ``docs/proof_of_gradient.md`` gives the numbers and
the commands that produced them.
Taught in notebook 08.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field, replace

import numpy as np

from ..crypto.hashes import sha256
from ..errors import ModelError, ParseError
from ..model.corpus import Dataset
from ..model.fixed_point import SCALE_LOG2, init_weights, num_params, weights_root
from ..model.gpt import GPTConfig

__all__ = ["PoGParams"]

_ZERO = bytes(32)
_FORMAT = "<24s32s32s32sq6id3id"     # see PoGParams.serialize
_OPT_FORMAT = "<B2H3I"                # the optimizer block: optimizer, betas, schedule
_OPT_FIELDS = ("optimizer", "beta1_num", "beta2_num", "warmup_steps", "lr_half_life",
               "lr_min_shift")


@dataclass(frozen=True)
class PoGParams:
    model: GPTConfig = field(default_factory=lambda: GPTConfig.preset("nano"))
    dataset_root: bytes = _ZERO      # "chain" Merkle root of the training records
    validation_root: bytes = _ZERO   # ... of the validation records (the guard's data)
    tokenizer_hash: bytes = _ZERO    # CharTokenizer.hash (how text becomes records)
    init_seed: int = 0               # genesis weights = init_weights(model, init_seed)
    scale_log2: int = SCALE_LOG2     # s: weights are integers W, value W * 2^-s
    quantum_log2: int = 24           # k: gradients quantized to Q = round(g * 2^k)
    chunk_bytes: int = 4096          # gradient / weight bytes hashed per Merkle leaf
    lr_num: int = 1                  # learning rate lr = lr_num / 2^lr_shift = 1/4
    lr_shift: int = 2
    batch_size: int = 16             # records per gradient
    clip_norm: float = 1.0           # the gradient is scaled down to this L2 norm when longer (0: never)
    delta_log2: int = 20             # δ = 2^-20 quanta: how close to x.5 a value must be to allow ±1
    cap: int = 8                     # c: at most this many ±1 deviations per block
    max_validation_records: int = 64 # the guard uses the first 64 validation records (0: all)
    validation_margin: float = 0.25  # nats: the largest validation-loss rise an update may cause
    # --- the optimizer and its schedule (update.py; docs/protocol.md section 7) ---------------
    optimizer: int = 0               # 0 = plain SGD (lr = lr_num / 2^lr_shift); 1 = Lion, integer state
    beta1_num: int = 58982           # Lion beta1 = beta1_num / 2^16 (0.9000): mixes momentum and gradient
    beta2_num: int = 64881           # Lion beta2 = beta2_num / 2^16 (0.9900): the momentum's memory
    warmup_steps: int = 0            # Lion: the rate rises linearly over the first warmup_steps updates
    lr_half_life: int = 0            # Lion: then halves every lr_half_life updates (0: constant) ...
    lr_min_shift: int = 4            # ... down to the peak rate / 2^lr_min_shift

    def __post_init__(self):
        for name in ("dataset_root", "validation_root", "tokenizer_hash"):
            if len(getattr(self, name)) != 32:
                raise ModelError("bad-params", f"{name} must be 32 bytes")
        if not (1 <= self.lr_num < 2**31 and 0 <= self.lr_shift < 63):
            raise ModelError("bad-params", "lr_num must be in 1..2^31-1 and lr_shift in 0..62")
        if self.update_shift > 0 and self.lr_num.bit_length() + 31 + self.update_shift > 62:
            raise ModelError("bad-params", "lr_num * Q * 2^(s-k-lr_shift) could overflow int64")
        if not (self.batch_size >= 1 and self.cap >= 0 and 1 <= self.delta_log2 <= 60):
            raise ModelError("bad-params", "need batch_size >= 1, cap >= 0 and delta_log2 in 1..60")
        if self.chunk_bytes <= 0 or self.chunk_bytes % 64:
            raise ModelError("bad-params", "chunk_bytes must be a positive multiple of 64")
        if not (self.clip_norm >= 0 and math.isfinite(self.clip_norm)):
            raise ModelError("bad-params", "clip_norm must be a finite number >= 0")
        if not self.validation_margin >= 0:
            raise ModelError("bad-params", "validation_margin must be >= 0")
        self._check_optimizer()

    def _check_optimizer(self) -> None:
        if self.optimizer not in (0, 1):
            raise ModelError("bad-params", "optimizer must be 0 (SGD) or 1 (Lion)")
        if not all(0 <= v < 2**16 for v in (self.beta1_num, self.beta2_num)):
            raise ModelError("bad-params", "beta1_num and beta2_num must be in 0..2^16-1")
        if not (0 <= self.warmup_steps < 2**31 and 0 <= self.lr_half_life < 2**31 and 0 <= self.lr_min_shift < 32):
            raise ModelError("bad-params", "warmup_steps and lr_half_life in 0..2^31-1, lr_min_shift in 0..31")
        if self.optimizer == 1 and not (self.lr_shift <= self.scale_log2 and
                                        self.lr_num.bit_length() + self.scale_log2 - self.lr_shift <= 40):
            raise ModelError("bad-params", "the Lion step lr_num * 2^(s - lr_shift) must be an integer below 2^40")

    # --- derived values --------------------------------------------------------------------
    @property
    def delta(self) -> float:
        """δ in quanta (the fused-verify tolerance)."""
        return 2.0 ** -self.delta_log2

    @property
    def lr(self) -> float:
        return self.lr_num / 2**self.lr_shift

    @property
    def update_shift(self) -> int:
        """e = s - k - lr_shift: the update is ``lr_num * Q * 2^e`` weight units."""
        return self.scale_log2 - self.quantum_log2 - self.lr_shift

    @property
    def n_params(self) -> int:
        return num_params(self.model)

    @property
    def payload_bytes(self) -> int:
        """Size of a block's payload: one little-endian int32 per parameter."""
        return 4 * self.n_params

    @property
    def state_size(self) -> int:
        """Integers in the chain's model state: the weights, then the optimizer's state (Lion: the
        momentum, one per weight, and the step counter)."""
        return self.n_params if self.optimizer == 0 else 2 * self.n_params + 1

    def genesis_weights(self):
        """The integer state every node starts from: the weights from ``init_seed`` (then, for
        Lion, zero momentum and step 0)."""
        w = init_weights(self.model, self.init_seed, self.scale_log2)
        if self.optimizer == 0:
            return w
        return np.concatenate([w, np.zeros(self.n_params + 1, dtype=np.int64)])

    def genesis_weights_root(self) -> bytes:
        return weights_root(self.genesis_weights(), self.chunk_bytes)

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def for_data(cls, train: Dataset, validation: Dataset, model: GPTConfig | None = None,
                 tokenizer=None, **overrides) -> "PoGParams":
        """Parameters committing to these datasets (and tokenizer), defaults for the rest."""
        model = model or GPTConfig.preset("nano")
        if train.block_size != model.block_size or validation.block_size != model.block_size:
            raise ModelError("bad-params", "dataset records must be block_size + 1 tokens long")
        roots = dict(dataset_root=train.root, validation_root=validation.root,
                     tokenizer_hash=tokenizer.hash if tokenizer is not None else _ZERO)
        return cls(model=model, **roots, **overrides)

    def replace(self, **changes) -> "PoGParams":
        return replace(self, **changes)

    # --- bytes ------------------------------------------------------------------------------
    def serialize(self) -> bytes:
        """Canonical bytes: model config, the three roots, then the numbers (little-endian)."""
        return struct.pack(_FORMAT, self.model.serialize(), self.dataset_root, self.validation_root,
                           self.tokenizer_hash, self.init_seed, self.scale_log2, self.quantum_log2,
                           self.chunk_bytes, self.lr_num, self.lr_shift, self.batch_size,
                           self.clip_norm, self.delta_log2, self.cap, self.max_validation_records, self.validation_margin
                           ) + self._serialize_optimizer()

    def _serialize_optimizer(self) -> bytes:
        """The optimizer block (appended after the numbers above)."""
        return struct.pack(_OPT_FORMAT, self.optimizer, self.beta1_num, self.beta2_num, self.warmup_steps, self.lr_half_life, self.lr_min_shift)

    @classmethod
    def parse(cls, data: bytes) -> "PoGParams":
        try:
            n = struct.calcsize(_FORMAT)
            (model, droot, vroot, thash, seed, s, k, chunk, lr_num, lr_shift, batch, clip, dlog2,
             cap, max_val, margin) = struct.unpack(_FORMAT, data[:n])
            opt = dict(zip(_OPT_FIELDS, struct.unpack(_OPT_FORMAT, data[n:])))
            return cls(GPTConfig.parse(model), droot, vroot, thash, seed, s, k, chunk, lr_num,
                       lr_shift, batch, clip, dlog2, cap, max_val, margin, **opt)
        except (struct.error, ModelError) as err:
            raise ParseError("bad-pog-params", str(err)) from None

    @property
    def hash(self) -> bytes:
        return sha256(self.serialize())
