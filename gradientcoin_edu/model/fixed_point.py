"""[consensus] Weights as integers: the model state every node agrees on bit for bit.

Floating-point results depend on the order of additions, so two honest computers rarely
agree on the last bits of a float. The chain therefore never stores floats: a weight ``w``
is the integer ``W = round(w * 2^s)`` (fixed point with scale ``2^-s``, int64), and all
parameters, in one fixed order, form one canonical int vector. Its little-endian bytes are
cut into fixed-size chunks; ``weights_root`` is the Merkle root of the chunks' SHA-256
digests, computed with the same kernels that hash gradients (one code path), so a light
client can check one chunk of the model against a block header.

Initial weights come from a seed through :class:`~gradientcoin_edu.model.rng.HashRNG`
(SHA-256 counter mode): integers, no floating point at all, hence identical on every
platform and library version. Taught in notebook 07 (and 08, 10).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .. import kernels
from ..crypto.hashes import sha256
from ..crypto.merkle import MerkleProof, merkle_proof, verify_proof
from ..errors import ModelError
from .gpt import GPT, GPTConfig
from .rng import HashRNG, as_seed

__all__ = [
    "SCALE_LOG2", "INIT_RANGE_LOG2", "DEFAULT_CHUNK_BYTES",
    "param_spec", "num_params", "to_float", "from_float", "flatten_params",
    "from_model", "load_weights", "to_model", "init_weights",
    "weights_bytes", "weights_root", "weights_chunk", "weights_chunk_proof", "verify_weights_chunk",
]

SCALE_LOG2 = 32          # s: a weight is W * 2^-32; |w| < 2^31 fits int64, |w| < 2^21 converts to float64 exactly
INIT_RANGE_LOG2 = -5     # matrices start uniform in [-2^-5, 2^-5): std 0.018, close to GPT-2's 0.02
DEFAULT_CHUNK_BYTES = 4096


@lru_cache(maxsize=None)
def _spec(cfg: GPTConfig) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    with torch.device("meta"):                       # shapes only, no memory, no RNG
        model = GPT(cfg)
    layernorms = {n for n, m in model.named_modules() if isinstance(m, torch.nn.LayerNorm)}
    out = []
    for name, p in model.named_parameters():         # definition order; the tied lm_head appears once
        module, kind = name.rsplit(".", 1)
        role = ("ones" if kind == "weight" else "zeros") if module in layernorms else \
               ("zeros" if kind == "bias" else "uniform")
        out.append((name, tuple(p.shape), role))
    return tuple(out)


def param_spec(cfg: GPTConfig) -> list[tuple[str, tuple[int, ...]]]:
    """The canonical parameter order: ``[(name, shape), ...]`` as ``GPT.named_parameters()``
    lists them (module definition order; the tied output layer counted once)."""
    return [(name, shape) for name, shape, _ in _spec(cfg)]


def count_params(cfg: GPTConfig) -> int:
    """The parameter count by arithmetic on the config, without building the model: per layer
    12·C² matrix weights, 2·C layer-norm weights and, with biases, 11·C biases; then the token
    and position embeddings (the output layer is tied to the first), the final layer norm.
    Equal to :func:`num_params` (a test checks it); cheap for any size, so a config too large
    to build is refused at once (building a 4,096-layer model on the meta device took 40-70 s)."""
    c, b = cfg.n_embd, int(bool(cfg.bias))
    return cfg.vocab_size * c + cfg.block_size * c + c * (1 + b) + cfg.n_layer * (12 * c * c + 2 * c + 11 * c * b)


@lru_cache(maxsize=None)
def num_params(cfg: GPTConfig) -> int:
    """Parameters of the model (``PoGParams.n_params`` asks several times per block: cached)."""
    return sum(int(np.prod(shape)) for _, shape in param_spec(cfg))


def to_float(w: np.ndarray, scale_log2: int = SCALE_LOG2) -> np.ndarray:
    """Integer weights -> float64 values ``W * 2^-s`` (exact while ``|W| < 2^53``)."""
    return np.ldexp(np.asarray(w, dtype=np.int64).astype(np.float64), -scale_log2)


def from_float(x, scale_log2: int = SCALE_LOG2) -> np.ndarray:
    """Float values -> integer weights ``rint(x * 2^s)`` (round half to even), int64.
    Raises ``ModelError`` for NaN, infinity or values too large for int64."""
    x = np.ldexp(np.asarray(x, dtype=np.float64), scale_log2)
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) >= 2.0**63):
        raise ModelError("weights-out-of-range", "weights must be finite and below 2^(63-s) in size")
    return np.rint(x).astype(np.int64)


def flatten_params(model: GPT) -> torch.Tensor:
    """All parameters in canonical order as one flat tensor (model's dtype and device)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def from_model(model: GPT, scale_log2: int = SCALE_LOG2) -> np.ndarray:
    """The canonical integer vector of a float model."""
    return from_float(flatten_params(model).double().cpu().numpy(), scale_log2)


@torch.no_grad()
def load_weights(model: GPT, w: np.ndarray, scale_log2: int = SCALE_LOG2) -> GPT:
    """Copy integer weights into ``model`` (converted to the model's dtype); returns it.

    ``w`` may also be a chain *state* vector (``proof_of_gradient.update``): the weights come
    first, the optimizer's state after them, and only the weights are loaded."""
    w = np.asarray(w).reshape(-1)
    n = model.num_params()
    if w.size < n:
        raise ModelError("weights-size", f"{w.size} weights for a model of {n}")
    w = np.asarray(w[:n], dtype=np.int64)
    factor = 2.0 ** -scale_log2
    offset = 0
    for p in model.parameters():                     # per tensor, no model-sized temporaries
        k = p.numel()
        if p.dtype == torch.float64 and p.device.type == "cpu" and p.is_contiguous():
            # int64 -> float64 (rounded to nearest, as astype), times 2^-s (exact: the bits of ldexp)
            np.multiply(w[offset: offset + k], factor, out=p.detach().numpy().reshape(-1), casting="unsafe")
        else:
            p.copy_(torch.from_numpy(to_float(w[offset: offset + k], scale_log2)).view(p.shape))
        offset += k
    return model


def to_model(cfg: GPTConfig, w: np.ndarray, scale_log2: int = SCALE_LOG2,
             dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> GPT:
    """A fresh :class:`GPT` holding integer weights ``w``."""
    with torch.random.fork_rng(devices=[]):          # GPT() draws an init we overwrite: keep the user's RNG
        model = GPT(cfg, dtype=dtype)
    return load_weights(model, w, scale_log2).to(device)


def init_weights(cfg: GPTConfig, seed: bytes | str | int = 0, scale_log2: int = SCALE_LOG2,
                 init_range_log2: int = INIT_RANGE_LOG2) -> np.ndarray:
    """Deterministic initial integer weights from ``seed``.

    Matrices and embeddings: uniform integers in ``[-2^(s+r), 2^(s+r))`` with r =
    ``init_range_log2``, each tensor from its own stream ``HashRNG("init/" ‖ seed ‖ "/" ‖ name)``;
    LayerNorm scales 1, biases 0. Only SHA-256 and integer shifts: platform-independent.
    """
    bits = scale_log2 + init_range_log2 + 1           # the range has 2^bits integers
    if not 1 <= bits <= 63:
        raise ModelError("bad-init", "scale_log2 + init_range_log2 must be in 0..62")
    parts = []
    for name, shape, role in _spec(cfg):
        n = int(np.prod(shape))
        if role == "uniform":
            rng = HashRNG(b"init/" + as_seed(seed) + b"/" + name.encode())
            parts.append(rng.bits(bits, n) - (1 << (bits - 1)))
        else:
            parts.append(np.full(n, (1 << scale_log2) if role == "ones" else 0, dtype=np.int64))
    return np.concatenate(parts).astype(np.int64)


def weights_bytes(w: np.ndarray) -> bytes:
    """Canonical bytes: the int vector as little-endian int64."""
    return np.ascontiguousarray(w, dtype="<i8").tobytes()


def weights_root(w: np.ndarray, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> bytes:
    """Merkle root (``"chain"`` tree) over SHA-256 digests of ``chunk_bytes``-sized chunks of
    ``weights_bytes(w)``: the same hashing kernels as the gradient root."""
    data = np.ascontiguousarray(w, dtype="<i8")
    return kernels.gradient_root(memoryview(data).cast("B"), chunk_bytes)      # the bytes, not copied


def weights_chunk(w: np.ndarray, index: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> bytes:
    """Chunk ``index`` of the canonical weight bytes."""
    data = weights_bytes(w)
    if not 0 <= index * chunk_bytes < len(data):
        raise IndexError(f"chunk {index} outside the weights")
    return data[index * chunk_bytes:(index + 1) * chunk_bytes]


def weights_chunk_proof(w: np.ndarray, index: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES
                        ) -> tuple[bytes, MerkleProof]:
    """Chunk ``index`` and its Merkle proof against ``weights_root(w, chunk_bytes)``."""
    digests = [bytes(d) for d in kernels.chunk_digests(weights_bytes(w), chunk_bytes)]
    return weights_chunk(w, index, chunk_bytes), merkle_proof(digests, index, "chain")


def verify_weights_chunk(chunk: bytes, proof: MerkleProof, root: bytes) -> bool:
    """True when ``chunk`` is chunk ``proof.index`` of the weights committed by ``root``."""
    return verify_proof(sha256(chunk), proof, root)
