"""[consensus] From a float gradient to integers that can be hashed: ``Q = round(g / Δ)``.

With ``Δ = 2^-k`` the division is an exact multiplication by ``2^k``; rounding is half to
even, values beyond the int32 range saturate, NaN or infinity is refused
(``KernelError("non-finite")``). :func:`quantize` below *is* the definition - three lines of
NumPy. ``gradientcoin_edu.kernels.quantize`` computes the same bits faster (threaded NumPy on
the CPU, Triton on a GPU; ``tests/test_kernels.py`` checks it against this function), and a
CUDA tensor is handed to it. The payload of a block is ``Q`` as little-endian int32 bytes in
the canonical parameter order. Taught in notebook 08.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import InvalidProof, KernelError

__all__ = ["quantize", "dequantize", "payload_from_q", "q_from_payload"]


def quantize(g, quantum_log2: int) -> np.ndarray:
    """``Q = clamp(rint(g * 2^k))`` as an int32 NumPy array (same shape as ``g``)."""
    if hasattr(g, "is_cuda") and g.is_cuda:                       # a GPU tensor: the Triton kernel
        return kernels.quantize(g, quantum_log2).cpu().numpy()
    x = np.asarray(g, dtype=np.float64) * 2.0**quantum_log2           # exact: a power of two
    if not np.isfinite(x).all():
        raise KernelError("non-finite", "the gradient holds NaN or inf")
    return np.rint(np.clip(x, -2.0**31, 2.0**31 - 1)).astype(np.int32)   # half to even, saturated


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
