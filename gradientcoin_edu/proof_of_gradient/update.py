"""[consensus] The update in exact integer arithmetic: the chain's optimizer, on every node bit for bit.

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


BLOCK = 1 << 14                # elements per block of the in-place passes (a few 128 kB buffers: cache-sized)


def _lion(state: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """Lion, block by block into one freshly allocated state (no state-sized temporaries).

    Per element the same integer operations as the formula in the module docstring, in the same
    order: ``c = b1*m + (2^16-b1)*(Q<<8)``, ``W - lr*sign(c)``, ``round((b2*m + (2^16-b2)*(Q<<8)) /
    2^16)`` ties away from zero. Integer arithmetic is exact, so the blocks give the same integers
    as the whole-vector formula (``tests/test_update_exact.py`` checks it against that formula)."""
    w, m, t = split_state(state, params)
    n = params.n_params
    q = np.asarray(q).reshape(-1)
    if q.dtype.kind not in "iu" or q.dtype.itemsize > 4:
        q = q.astype(np.int64)                                 # as the formula's asarray(q, int64)
    b1, b2 = np.int64(params.beta1_num), np.int64(params.beta2_num)
    c1 = np.int64((_ONE - params.beta1_num) << M_EXTRA_BITS)   # (1-b1)*G = (1-b1)*2^8 * Q: the same
    c2 = np.int64((_ONE - params.beta2_num) << M_EXTRA_BITS)   # integers (mod 2^64, as int64 wraps)
    lr = np.int64(lr_units(params, t + 1))
    half = np.int64(1 << 15)
    new = np.empty(2 * n + 1, dtype=np.int64)
    new_w, new_m = new[:n], new[n:2 * n]
    size = min(BLOCK, n) or 1
    a, b = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        ak, bk, qk, mk = a[:hi - lo], b[:hi - lo], q[lo:hi], m[lo:hi]
        np.multiply(mk, b1, out=ak)                            # direction: sign(b1*m + (1-b1)*G), |.| < 2^55
        np.multiply(qk, c1, out=bk)
        np.add(ak, bk, out=ak)
        np.sign(ak, out=ak)
        np.multiply(ak, lr, out=ak)
        np.subtract(w[lo:hi], ak, out=new_w[lo:hi])
        np.multiply(mk, b2, out=ak)                            # momentum: round((b2*m + (1-b2)*G) / 2^16)
        np.multiply(qk, c2, out=bk)
        np.add(ak, bk, out=ak)
        np.sign(ak, out=bk)
        np.abs(ak, out=ak)
        np.add(ak, half, out=ak)
        np.right_shift(ak, 16, out=ak)
        np.multiply(ak, bk, out=new_m[lo:hi])
    new[2 * n] = t + 1
    return new


def _sgd(state: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """``state - apply(Q)`` block by block (the same integers as the whole-vector formula)."""
    n = state.size
    lr_num, shift = np.int64(params.lr_num), -params.update_shift
    new = np.empty(n, dtype=np.int64)
    size = min(BLOCK, n) or 1
    a, s = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        ak, sk = a[:hi - lo], s[:hi - lo]
        ak[...] = q[lo:hi]
        np.multiply(ak, lr_num, out=ak)                        # |v| < 2^62
        if shift <= 0:
            np.left_shift(ak, np.int64(-shift), out=ak)
        else:
            np.sign(ak, out=sk)
            np.abs(ak, out=ak)
            np.add(ak, np.int64(1) << np.int64(shift - 1), out=ak)
            np.right_shift(ak, np.int64(shift), out=ak)
            np.multiply(ak, sk, out=ak)
        np.subtract(state[lo:hi], ak, out=new[lo:hi])
    return new


def _out_of_range(w: np.ndarray) -> bool:
    """``np.any(np.abs(w) >= WEIGHT_LIMIT)``, block by block (the same int64 ``abs``)."""
    size = min(BLOCK, w.size) or 1
    a = np.empty(size, dtype=np.int64)
    for lo in range(0, w.size, BLOCK):
        ak = a[:min(BLOCK, w.size - lo)]
        np.abs(w[lo:lo + ak.size], out=ak)
        if ak.max() >= WEIGHT_LIMIT:
            return True
    return False


def apply_update(state: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """The child state after gradient ``Q``: a new int64 array. ``InvalidProof("weights-overflow")``
    when a weight would leave ``(-2^62, 2^62)``. Computed in cache-sized blocks without state-sized
    temporaries; the integers are those of the formulas above."""
    state = np.asarray(state, dtype=np.int64)
    q = np.asarray(q)
    if params.optimizer == SGD:
        new = _sgd(state, q, params) if q.shape == state.shape and state.ndim == 1 else state - apply(q, params)
        w = new
    else:
        if q.size != params.n_params:
            raise ModelError("state-size", f"a gradient of {q.size} integers; this chain's model has {params.n_params}")
        new = _lion(state, q, params)
        w = new[:params.n_params]
    if _out_of_range(w):
        raise InvalidProof("weights-overflow", "the update drives a weight out of the int64 fixed-point range")
    return new


def undo_update(new_state: np.ndarray, q: np.ndarray, params: PoGParams) -> np.ndarray:
    """SGD's exact inverse: ``W = W_new + apply(Q)``. ``ModelError("not-invertible")`` for Lion."""
    if not invertible(params):
        raise ModelError("not-invertible", "Lion's rounded momentum cannot be undone from Q: replay from a "
                                           "stored parent state instead")
    return np.asarray(new_state, dtype=np.int64) + apply(q, params)
