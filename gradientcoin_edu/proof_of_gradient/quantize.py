"""From a float gradient to integers that can be hashed: ``Q = round(g / Δ)``.

With ``Δ = 2^-k`` the division is an exact multiplication by ``2^k``; rounding is half to
even, values beyond the int32 range saturate, NaN or infinity is refused
(``KernelError("non-finite")``). The work is done by ``gradientcoin_edu.kernels.quantize``
(NumPy on the CPU, Triton on a GPU; bit-identical). The payload of a block is ``Q`` as
little-endian int32 bytes in the canonical parameter order. Taught in notebook 08.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import InvalidProof

__all__ = ["quantize", "dequantize", "payload_from_q", "q_from_payload"]


def quantize(g, quantum_log2: int) -> np.ndarray:
    """``Q = clamp(rint(g * 2^k))`` as an int32 NumPy array (same shape as ``g``)."""
    q = kernels.quantize(g, quantum_log2)
    return q.cpu().numpy() if hasattr(q, "cpu") else np.asarray(q)


def dequantize(q: np.ndarray, quantum_log2: int) -> np.ndarray:
    """``Q * Δ`` as float64 (what the quantized gradient stands for)."""
    return np.ldexp(np.asarray(q, dtype=np.float64), -quantum_log2)


def payload_from_q(q: np.ndarray) -> bytes:
    """A block's payload: ``Q`` flattened in C order as little-endian int32."""
    return np.ascontiguousarray(q, dtype="<i4").tobytes()


def q_from_payload(payload: bytes, n_params: int) -> np.ndarray:
    """Decode a payload of exactly ``n_params`` int32 values; ``InvalidProof("payload-size")`` otherwise."""
    if len(payload) != 4 * n_params:
        raise InvalidProof("payload-size", f"payload has {len(payload)} bytes, the model needs {4 * n_params}")
    return np.frombuffer(payload, dtype="<i4").astype(np.int32)
