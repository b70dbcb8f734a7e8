"""[consensus] The proof-of-gradient chain parameters, fixed in the genesis block.

Everything a node needs to check a gradient the same way as every other node: which model
(``GPTConfig``), which data (the Merkle roots of the training and validation records), the
number formats (weight scale ``2^-s``, gradient quantum ``Δ = 2^-k``), the learning rate as
an exact fraction ``lr_num / 2^lr_shift``, the batch size, the gradient clipping norm, the
verification tolerance (a deviation of ±1 allowed only within ``δ = 2^-delta_log2`` quanta of
a rounding boundary, at most ``cap`` of them per block), the loss sheet's quantum, the
validation-loss margin, and the optimizer with its learning-rate schedule (plain SGD, or Lion
with integer momentum: ``update.py``, ``docs/protocol.md`` section 7). The defaults were chosen from measurements; ``docs/proof_of_gradient.md``
gives the numbers and the commands that produced them.

Derived, not chosen (``docs/protocol.md`` sections 3 and 4; left at None they are computed from
the model, and any value given is checked against the same bounds when the parameters are built):

* ``delta_log2 = bit_length(n_params) + GRIND_LOG2 + 1``, so the expected number of *free*
  elements per gradient (within δ of a rounding boundary: a miner may publish either rounding,
  and each choice is another ticket) is ``2·δ·n_params < 2^-GRIND_LOG2 = 2^-10``;
* ``quantum_log2 = min(24, -NOISE_LOG2 - delta_log2 - log2(clip))``: the quantum is coarse enough
  that the bound on honest float64 noise, ``2^NOISE_LOG2 · clip_norm`` (measured 20-60x lower),
  is at most δ quanta, so honest nodes almost never disagree on a rounding;
* ``cap = 2``: honest deviations per block are expected ``< 2^-10``, two or more ``< 2^-21``;
* ``sheet_log2``: the loss sheet's quantum ``2^-sheet_log2`` nats (``sheet.py``; docs/protocol.md
  section 4): each record's loss is published as ``round(loss · 2^sheet_log2)``. At 32, honest
  float64 noise (about 10^-15 nats) is 10^-5 quanta, far inside the tolerance ``SHEET_DELTA``.

Sizes are bounded (``MAX_PARAMS``, ``MAX_BLOCK_SIZE``, ``MAX_BATCH_TOKENS``), so parameters read
from an untrusted genesis are refused before any weights are allocated.
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
from ..model.fixed_point import SCALE_LOG2, count_params, init_weights, num_params, weights_root
from ..model.gpt import GPTConfig

__all__ = ["PoGParams", "MAX_PARAMS", "MAX_BLOCK_SIZE", "MAX_BATCH_TOKENS", "GRIND_LOG2", "NOISE_LOG2",
           "free_elements_bound", "grinding_factor_bound", "verify_flops"]

_ZERO = bytes(32)
_FORMAT = "<24s32s32s32sq6id3id"     # see PoGParams.serialize

MAX_PARAMS = 2**24            # 16.8 M parameters: int64 weights 134 MB, a verifier's float64 copies < 1 GB
MAX_BLOCK_SIZE = 1024         # tokens of context (attention memory grows with its square)
MAX_BATCH_TOKENS = 2**16      # batch_size * block_size: the activations of one gradient
GRIND_LOG2 = 10               # expected free elements per gradient < 2^-10 (grinding factor < 1.001)
NOISE_LOG2 = -52              # bound on honest float64 gradient noise, in units of clip_norm (measured <= 2^-56.4)
DEFAULT_QUANTUM_LOG2 = 24     # finest quantum used (finer buys nothing: 2^-24 is 0.004% of a median element)
DEFAULT_CAP = 2


_OPT_FORMAT = "<B2H3I"                # the optimizer block: optimizer, betas, schedule
_OPT_FIELDS = ("optimizer", "beta1_num", "beta2_num", "warmup_steps", "lr_half_life",
               "lr_min_shift")
_SHEET_FORMAT = "<i"                  # the loss-sheet block (after the optimizer block): sheet_log2


def verify_flops(n_params: int, batch_size: int, block_size: int, validation_records: int) -> int:
    """FLOPs of one verification: forward + backward on the batch (6·N per token) and one forward
    on the validation records after the update (2·N per token; the loss before is cached)."""
    return 6 * n_params * batch_size * block_size + 2 * n_params * validation_records * block_size


def free_elements_bound(n_params: int, delta_log2: int) -> float:
    """Expected elements within δ of a rounding boundary, ``2·δ·n_params`` (fractional parts uniform)."""
    return 2.0 * n_params * 2.0**-delta_log2


def grinding_factor_bound(n_params: int, delta_log2: int, cap: int) -> float:
    """Expected valid tickets per gradient: ``E[sum_{i <= min(m, cap)} C(m, i)]`` for ``m ~ Poisson(2δN)``
    free elements (each free element doubles the payloads a miner may publish, up to ``cap`` flips)."""
    lam = free_elements_bound(n_params, delta_log2)
    total, p_m = 0.0, math.exp(-lam)
    for m in range(0, 64):
        total += p_m * sum(math.comb(m, i) for i in range(min(m, cap) + 1))
        p_m *= lam / (m + 1)
    return total


@dataclass(frozen=True)
class PoGParams:
    model: GPTConfig = field(default_factory=lambda: GPTConfig.preset("nano"))
    dataset_root: bytes = _ZERO      # "chain" Merkle root of the training records
    validation_root: bytes = _ZERO   # ... of the validation records (the guard's data)
    tokenizer_hash: bytes = _ZERO    # CharTokenizer.hash (how text becomes records)
    init_seed: int = 0               # genesis weights = init_weights(model, init_seed)
    scale_log2: int = SCALE_LOG2     # s: weights are integers W, value W * 2^-s
    quantum_log2: int | None = None  # k: gradients quantized to Q = round(g * 2^k) (None: derived)
    chunk_bytes: int = 4096          # gradient / weight bytes hashed per Merkle leaf
    lr_num: int = 1                  # learning rate lr = lr_num / 2^lr_shift = 1/4
    lr_shift: int = 2
    batch_size: int = 16             # records per gradient
    clip_norm: float = 1.0           # the gradient is scaled down to this L2 norm when longer (0: never)
    delta_log2: int | None = None    # δ = 2^-delta_log2 quanta: how close to x.5 a value must be to allow ±1
    cap: int | None = None           # c: at most this many ±1 deviations per block (None: 2)
    max_validation_records: int = 64 # the guard uses the first 64 validation records (0: all)
    validation_margin: float = 0.25  # nats: the largest validation-loss rise an update may cause
    # --- the optimizer and its schedule (update.py; docs/protocol.md section 7) ---------------
    optimizer: int = 0               # 0 = plain SGD (lr = lr_num / 2^lr_shift); 1 = Lion, integer state
    beta1_num: int = 58982           # Lion beta1 = beta1_num / 2^16 (0.9000): mixes momentum and gradient
    beta2_num: int = 64881           # Lion beta2 = beta2_num / 2^16 (0.9900): the momentum's memory
    warmup_steps: int = 0            # Lion: the rate rises linearly over the first warmup_steps updates
    lr_half_life: int = 0            # Lion: then halves every lr_half_life updates (0: constant) ...
    lr_min_shift: int = 4            # ... down to the peak rate / 2^lr_min_shift
    # --- the loss sheet (sheet.py; docs/protocol.md section 4) -------------------------------
    sheet_log2: int = 32             # each record's loss published as round(loss * 2^sheet_log2)

    def __post_init__(self):
        self._check_sizes()
        self._derive()
        for name in ("dataset_root", "validation_root", "tokenizer_hash"):
            if len(getattr(self, name)) != 32:
                raise ModelError("bad-params", f"{name} must be 32 bytes")
        if not (1 <= self.lr_num < 2**31 and 0 <= self.lr_shift < 63):
            raise ModelError("bad-params", "lr_num must be in 1..2^31-1 and lr_shift in 0..62")
        if self.update_shift > 0 and self.lr_num.bit_length() + 31 + self.update_shift > 62:
            raise ModelError("bad-params", "lr_num * Q * 2^(s-k-lr_shift) could overflow int64")
        if not 1 <= self.delta_log2 <= 60:
            raise ModelError("bad-params", "delta_log2 must be in 1..60")
        if self.chunk_bytes <= 0 or self.chunk_bytes % 64:
            raise ModelError("bad-params", "chunk_bytes must be a positive multiple of 64")
        if not (self.clip_norm >= 0 and math.isfinite(self.clip_norm)):
            raise ModelError("bad-params", "clip_norm must be a finite number >= 0")
        if not self.validation_margin >= 0:
            raise ModelError("bad-params", "validation_margin must be >= 0")
        self._check_optimizer()
        self._check_tolerance()

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

    # --- derived consensus values (docs/protocol.md sections 3 and 4) -------------------------
    def _check_sizes(self) -> None:
        """Refuse models too big to verify, before anything is allocated."""
        m = self.model
        if not isinstance(m, GPTConfig):
            raise ModelError("bad-params", "model must be a GPTConfig")
        if m.block_size > MAX_BLOCK_SIZE:
            raise ModelError("model-too-large", f"block_size {m.block_size} is above the bound {MAX_BLOCK_SIZE}")
        n = count_params(m)                         # arithmetic on the config: nothing built, nothing allocated
        if n > MAX_PARAMS:
            raise ModelError("model-too-large", f"{n:,} parameters is above the bound MAX_PARAMS = {MAX_PARAMS:,}")
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size * m.block_size <= MAX_BATCH_TOKENS):
            raise ModelError("model-too-large", f"batch_size * block_size must be in 1..{MAX_BATCH_TOKENS}")

    def _derive(self) -> None:
        """Fill the fields left at None from the model (see the module docstring)."""
        set_ = lambda name, value: object.__setattr__(self, name, value)     # noqa: E731 (frozen)
        n = num_params(self.model)
        if self.delta_log2 is None:
            set_("delta_log2", n.bit_length() + GRIND_LOG2 + 1)
        if self.quantum_log2 is None:
            set_("quantum_log2", min(DEFAULT_QUANTUM_LOG2, self._max_quantum_log2()))
        if self.cap is None:
            set_("cap", DEFAULT_CAP)
        for name in ("delta_log2", "quantum_log2", "cap", "sheet_log2"):
            if not isinstance(getattr(self, name), int):
                raise ModelError("bad-params", f"{name} must be an integer")

    def _max_quantum_log2(self) -> int:
        """Largest k with the noise bound ``2^NOISE_LOG2 · clip`` at most δ quanta (clip 0 counts as 1)."""
        clip_log2 = math.ceil(math.log2(self.clip_norm)) if self.clip_norm > 0 else 0
        return -NOISE_LOG2 - clip_log2 - self.delta_log2

    def _check_tolerance(self) -> None:
        """The formulas of docs/protocol.md section 3, asserted for every parameter set."""
        n = self.n_params
        if n << (GRIND_LOG2 + 1) >= 1 << self.delta_log2:
            raise ModelError("bad-tolerance", f"2·δ·n_params = {free_elements_bound(n, self.delta_log2):.3g} free "
                             f"elements per gradient, not below 2^-{GRIND_LOG2}: delta_log2 must be at least "
                             f"{n.bit_length() + GRIND_LOG2 + 1} for {n:,} parameters")
        if not 1 <= self.quantum_log2 <= self._max_quantum_log2():
            raise ModelError("bad-tolerance", f"quantum_log2 must be in 1..{self._max_quantum_log2()} so that honest "
                             f"float64 noise (2^{NOISE_LOG2} · clip) stays below δ quanta")
        if not 0 <= self.cap <= 8 or not 16 <= self.sheet_log2 <= 40:
            raise ModelError("bad-params", "cap must be in 0..8 and sheet_log2 in 16..40")

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
        """Size of a block's payload: one little-endian int32 per parameter, then the loss sheet (one
        int64 per record of the batch)."""
        return 4 * self.n_params + 8 * self.batch_size

    @property
    def free_elements(self) -> float:
        """Expected free elements per gradient, ``2·δ·n_params`` (below 2^-10 by construction)."""
        return free_elements_bound(self.n_params, self.delta_log2)

    @property
    def grinding_factor(self) -> float:
        """Expected valid tickets per gradient (see :func:`grinding_factor_bound`)."""
        return grinding_factor_bound(self.n_params, self.delta_log2, self.cap)


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
        return (struct.pack(_OPT_FORMAT, self.optimizer, self.beta1_num, self.beta2_num, self.warmup_steps,
                            self.lr_half_life, self.lr_min_shift) + struct.pack(_SHEET_FORMAT, self.sheet_log2))

    @classmethod
    def parse(cls, data: bytes) -> "PoGParams":
        try:
            n, m = struct.calcsize(_FORMAT), struct.calcsize(_OPT_FORMAT)
            (model, droot, vroot, thash, seed, s, k, chunk, lr_num, lr_shift, batch, clip, dlog2,
             cap, max_val, margin) = struct.unpack(_FORMAT, data[:n])
            opt = dict(zip(_OPT_FIELDS, struct.unpack(_OPT_FORMAT, data[n:n + m])))
            (sheet,) = struct.unpack(_SHEET_FORMAT, data[n + m:])
            return cls(model=GPTConfig.parse(model), dataset_root=droot, validation_root=vroot, tokenizer_hash=thash,
                       init_seed=seed, scale_log2=s, quantum_log2=k, chunk_bytes=chunk, lr_num=lr_num,
                       lr_shift=lr_shift, batch_size=batch, clip_norm=clip, delta_log2=dlog2, cap=cap,
                       max_validation_records=max_val, validation_margin=margin, sheet_log2=sheet, **opt)
        except struct.error as err:
            raise ParseError("bad-pog-params", str(err)) from None
        except (ParseError, ModelError) as err:
            raise ParseError("bad-pog-params", err.message) from None

    @property
    def hash(self) -> bytes:
        return sha256(self.serialize())
