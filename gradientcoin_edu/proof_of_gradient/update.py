"""The weight update in exact integer arithmetic: ``W_new = W_parent - apply(Q)``.

One SGD step ``w -= lr * g`` with ``w = W * 2^-s``, ``g ≈ Q * 2^-k`` and ``lr = lr_num / 2^lr_shift``
moves the integer weights by ``lr_num * Q * 2^e`` with ``e = s - k - lr_shift``:

* ``e >= 0``: ``apply(Q) = (lr_num * Q) << e`` - exact, no rounding at all. The default
  parameters (s = 32, k = 24, lr = 1/4) give ``e = 6``.
* ``e < 0``: ``apply(Q) = round(lr_num * Q / 2^-e)``, rounding to nearest with ties away
  from zero, computed as ``sign(v) * ((|v| + 2^(-e-1)) >> -e)`` on int64.

All in int64 with the ranges checked (``PoGParams`` refuses parameters that could overflow;
a weight reaching ``2^62`` in size makes the block invalid), so every node gets the same
bits and ``W_parent = W_new + apply(Q)`` restores the parent exactly. Taught in notebook 08.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidProof
from .params import PoGParams

__all__ = ["apply", "apply_update", "undo_update", "WEIGHT_LIMIT"]

WEIGHT_LIMIT = 2**62          # |W| must stay below this (so W ± apply(Q) never overflows int64)


def apply(q: np.ndarray, params: PoGParams) -> np.ndarray:
    """The integer amount ``apply(Q)`` subtracted from the weights (int64, same shape as Q)."""
    v = np.asarray(q, dtype=np.int64) * np.int64(params.lr_num)       # |v| < 2^62
    e = params.update_shift
    if e >= 0:
        return v << np.int64(e)
    m = np.int64(-e)
    half = np.int64(1) << (m - 1)
    return np.sign(v) * ((np.abs(v) + half) >> m)                      # ties away from zero


def apply_update(weights: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """``W_new = W - apply(Q)``, a new int64 array. ``InvalidProof("weights-overflow")`` when a
    weight would leave ``(-2^62, 2^62)``."""
    w = np.asarray(weights, dtype=np.int64)
    new = w - apply(q, params)
    if np.any(np.abs(new) >= WEIGHT_LIMIT):
        raise InvalidProof("weights-overflow", "the update drives a weight out of the int64 fixed-point range")
    return new


def undo_update(new_weights: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """The exact inverse: ``W = W_new + apply(Q)``."""
    return np.asarray(new_weights, dtype=np.int64) + apply(q, params)
