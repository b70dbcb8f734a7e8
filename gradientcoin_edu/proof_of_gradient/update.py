"""The update in exact integer arithmetic: the chain's optimizer, on every node bit for bit.

The chain's model *state* is one int64 vector: the weights ``W`` (value ``W * 2^-s``), then the
optimizer's state. A block's quantized gradient ``Q`` (value ``Q * 2^-k``) moves it; every node
computes the same integers, and the header's ``weights_root`` commits to the whole state.

**Plain SGD** (``params.optimizer == 0``; state = ``W``). ``w -= lr * g`` with
``lr = lr_num / 2^lr_shift`` moves ``W`` by ``lr_num * Q * 2^e``, ``e = s - k - lr_shift``:

* ``e >= 0``: ``apply(Q) = (lr_num * Q) << e`` - exact, no rounding at all;
* ``e < 0``: ``apply(Q) = round(lr_num * Q / 2^-e)``, ties away from zero.

``W_parent = W_new + apply(Q)`` restores the parent exactly (``undo_update``).

**Lion** (``params.optimizer == 1``; state = ``W ‖ m ‖ t``: the momentum ``m`` in units of
``2^-(k+8)`` - 256 per gradient quantum, so that ``(1 - beta2) * Q`` of a small gradient element
is not rounded away - one per weight, and the number of updates ``t``). Chen et al. 2023, "Symbolic
Discovery of Optimization Algorithms", with ``beta = beta_num / 2^16``:

    t  <- t + 1
    G  =  Q * 2^8                                # the gradient in momentum units
    c  =  beta1 * m + (1 - beta1) * G            # exact: beta1_num * m + (2^16 - beta1_num) * G
    W  <- W - lr(t) * sign(c)                    # exact: lr(t) is an integer number of weight units
    m  <- round(beta2 * m + (1 - beta2) * G)     # one rounding, ties away from zero

The step ``lr(t)`` (``lr_units``) is the schedule, a chain parameter: ``lr_num * 2^(s -
lr_shift)`` weight units at its peak, rising linearly over ``warmup_steps`` updates, then
halving every ``lr_half_life`` updates down to the peak ``/ 2^lr_min_shift``. Only integer
multiplications, shifts and a sign: no square root, no division of floats, nothing a
platform could round differently. The rounding of ``m`` forgets bits, so Lion cannot be undone
from ``Q`` alone: a node keeps parent states (``llm.rule`` replays from a checkpoint; the
plain work rule keeps the parent state in its undo record). Taught in notebook 08;
``docs/protocol.md`` section 7.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidProof, ModelError
from .params import PoGParams

__all__ = ["apply", "apply_update", "undo_update", "invertible", "split_state", "model_weights",
           "lr_units", "WEIGHT_LIMIT", "SGD", "LION", "M_EXTRA_BITS"]

WEIGHT_LIMIT = 2**62          # |W| must stay below this (so W ± apply(Q) never overflows int64)
SGD, LION = 0, 1              # values of PoGParams.optimizer
_ONE = 1 << 16                # betas are fractions of 2^16
M_EXTRA_BITS = 8              # the momentum is kept in units of 2^-(k+8): finer than the gradient's quantum


def _round_shift(v: np.ndarray, m: int) -> np.ndarray:
    """``round(v / 2^m)`` on int64, ties away from zero: ``sign(v) * ((|v| + 2^(m-1)) >> m)``."""
    if m <= 0:
        return v << np.int64(-m)
    half = np.int64(1) << np.int64(m - 1)
    return np.sign(v) * ((np.abs(v) + half) >> np.int64(m))


def apply(q: np.ndarray, params: PoGParams) -> np.ndarray:
    """SGD: the integer amount ``apply(Q)`` subtracted from the weights (int64, same shape as Q)."""
    v = np.asarray(q, dtype=np.int64) * np.int64(params.lr_num)       # |v| < 2^62
    return _round_shift(v, -params.update_shift)


def invertible(params: PoGParams) -> bool:
    """True when ``undo_update`` can recover the parent state from the child and ``Q`` (plain SGD)."""
    return params.optimizer == SGD


def split_state(state: np.ndarray, params: PoGParams) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``(W, m, t)`` views of a state vector (``m`` is None and ``t`` 0 for SGD)."""
    state = np.asarray(state, dtype=np.int64)
    if state.shape != (params.state_size,):
        raise ModelError("state-size", f"a state of {state.size} integers; this chain's has {params.state_size}")
    n = params.n_params
    if params.optimizer == SGD:
        return state, None, 0
    return state[:n], state[n:2 * n], int(state[2 * n])


def model_weights(state: np.ndarray, params: PoGParams) -> np.ndarray:
    """The weights part of a state vector."""
    return split_state(state, params)[0]


def lr_units(params: PoGParams, t: int) -> int:
    """Lion's step at update ``t`` (1, 2, ...) in weight units ``2^-s``: warm-up, then halvings."""
    peak = params.lr_num << (params.scale_log2 - params.lr_shift)
    if params.warmup_steps and t < params.warmup_steps:
        return peak * t // params.warmup_steps
    halvings = (t - params.warmup_steps) // params.lr_half_life if params.lr_half_life else 0
    return peak >> min(halvings, params.lr_min_shift)


def _lion(state: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    w, m, t = split_state(state, params)
    q = np.asarray(q, dtype=np.int64) << np.int64(M_EXTRA_BITS)         # in momentum units; |Q|, |m| < 2^39
    b1, b2 = np.int64(params.beta1_num), np.int64(params.beta2_num)
    direction = np.sign(b1 * m + (_ONE - b1) * q)                       # exact: |.| < 2^55
    new_w = w - np.int64(lr_units(params, t + 1)) * direction
    new_m = _round_shift(b2 * m + (_ONE - b2) * q, 16)
    return np.concatenate([new_w, new_m, np.array([t + 1], dtype=np.int64)])


def apply_update(state: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """The child state after gradient ``Q``: a new int64 array. ``InvalidProof("weights-overflow")``
    when a weight would leave ``(-2^62, 2^62)``."""
    state = np.asarray(state, dtype=np.int64)
    if params.optimizer == SGD:
        new = state - apply(q, params)
        w = new
    else:
        new = _lion(state, q, params)
        w = new[:params.n_params]
    if np.any(np.abs(w) >= WEIGHT_LIMIT):
        raise InvalidProof("weights-overflow", "the update drives a weight out of the int64 fixed-point range")
    return new


def undo_update(new_state: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """SGD's exact inverse: ``W = W_new + apply(Q)``. ``ModelError("not-invertible")`` for Lion."""
    if not invertible(params):
        raise ModelError("not-invertible", "Lion's rounded momentum cannot be undone from Q: replay from a "
                                           "stored parent state instead")
    return np.asarray(new_state, dtype=np.int64) + apply(q, params)
