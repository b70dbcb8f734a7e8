"""The blocked, in-place update and clipping norm give the very integers and bits of the plain formulas.

The plain formulas below are the definitions of docs/protocol.md section 7 (and of the clipping
norm's fixed summation order, section 3) written as whole-vector NumPy, as the package had them
before it computed them block by block. Consensus needs byte-identical states: every test here
compares bytes, on random inputs and on the adversarial ones (int32 extremes of Q, momentum at and
beyond its range, exact rounding ties, weights at the overflow limit, every schedule phase, block
boundaries of every kind).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradientcoin_edu.errors import InvalidProof
from gradientcoin_edu.model.gpt import GPTConfig
from gradientcoin_edu.proof_of_gradient import gradient as G
from gradientcoin_edu.proof_of_gradient import update as U
from gradientcoin_edu.proof_of_gradient.params import PoGParams

MICRO = GPTConfig.preset("micro")


# --- the reference: the formulas written plainly ---------------------------------------------
def ref_round_shift(v, m):
    if m <= 0:
        return v << np.int64(-m)
    half = np.int64(1) << np.int64(m - 1)
    return np.sign(v) * ((np.abs(v) + half) >> np.int64(m))


def ref_apply_update(state, q, params):
    state = np.asarray(state, dtype=np.int64)
    n = params.n_params
    if params.optimizer == U.SGD:
        new = state - ref_round_shift(np.asarray(q, dtype=np.int64) * np.int64(params.lr_num), -params.update_shift)
        w = new
    else:
        w, m, t = state[:n], state[n:2 * n], int(state[2 * n])
        g = np.asarray(q, dtype=np.int64) << np.int64(8)
        b1, b2 = np.int64(params.beta1_num), np.int64(params.beta2_num)
        direction = np.sign(b1 * m + (np.int64(65536) - b1) * g)
        new_w = w - np.int64(U.lr_units(params, t + 1)) * direction
        new_m = ref_round_shift(b2 * m + (np.int64(65536) - b2) * g, 16)
        new = np.concatenate([new_w, new_m, np.array([t + 1], dtype=np.int64)])
        w = new_w
    if np.any(np.abs(w) >= U.WEIGHT_LIMIT):
        raise InvalidProof("weights-overflow", "reference")
    return new


def ref_sum_of_squares(g):
    s = np.asarray(g, dtype=np.float64).reshape(-1) ** 2
    while s.size > 1:
        carry = s[-1:] if s.size % 2 else s[:0]
        s = np.concatenate([s[0:s.size - 1:2] + s[1::2], carry])
    return float(s[0]) if s.size else 0.0


# --- helpers ---------------------------------------------------------------------------------
def lion(**kw):
    base = dict(model=MICRO, optimizer=1, lr_shift=7, warmup_steps=5, lr_half_life=3, lr_min_shift=2)
    base.update(kw)
    return PoGParams(**base)


def same(params, state, q):
    """Both implementations: the same bytes, or the same refusal."""
    try:
        want = ref_apply_update(state, q, params)
    except InvalidProof as err:
        with pytest.raises(InvalidProof) as got:
            U.apply_update(state, q, params)
        assert got.value.reason == err.reason
        return None
    got = U.apply_update(state, q, params)
    assert got.dtype == np.int64 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    return got


def adversarial_q(rng, n):
    q = rng.integers(-2**31, 2**31, n, dtype=np.int64)
    q[rng.random(n) < 0.2] = 2**31 - 1
    q[rng.random(n) < 0.2] = -2**31
    q[rng.random(n) < 0.2] = 0
    q[rng.random(n) < 0.1] = rng.choice([1, -1], size=1)[0]
    return q.astype(np.int32)


def tie_momentum(rng, q, params):
    """Momentum values that put ``b2*m + (1-b2)*G`` exactly on a tie (…+2^15 after the >>16), where
    the choice is possible: m = (target - (1-b2)*G) / b2 when b2 divides it."""
    g = q.astype(np.int64) << 8
    b2 = params.beta2_num
    target = (rng.integers(-2**20, 2**20, q.size) << 16) + (1 << 15) * rng.choice([1, -1], q.size)
    m = (target - (65536 - b2) * g) // b2
    return m


BLOCKS = [1, 2, 3, 7, 64, 1000, U.BLOCK]


# --- Lion ------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", BLOCKS)
def test_lion_random_and_extreme(monkeypatch, block):
    monkeypatch.setattr(U, "BLOCK", block)
    rng = np.random.default_rng(block)
    params = lion()
    n = params.n_params
    for t in (0, 1, 4, 5, 6, 9, 40, 2**31 - 2):                       # warm-up, peak, halvings, floor
        w = rng.integers(-2**40, 2**40, n)
        m = rng.integers(-2**39, 2**39, n)
        m[rng.random(n) < 0.1] = 0
        state = np.concatenate([w, m, [t]]).astype(np.int64)
        same(params, state, adversarial_q(rng, n))
        same(params, state, rng.integers(-300, 300, n).astype(np.int32))


def test_lion_ties_in_rounding():
    rng = np.random.default_rng(7)
    params = lion(beta2_num=1 << 15)                                  # b2 = 1/2: every tie is reachable
    n = params.n_params
    q = rng.integers(-2**20, 2**20, n).astype(np.int32)
    m = tie_momentum(rng, q, params)
    v = params.beta2_num * m + (65536 - params.beta2_num) * (q.astype(np.int64) << 8)
    assert np.mean(np.abs(v) % 65536 == 32768) > 0.99                 # the inputs really are ties
    state = np.concatenate([np.zeros(n, np.int64), m, [3]]).astype(np.int64)
    got = same(params, state, q)
    assert got is not None


def test_lion_zero_direction_and_betas_at_the_ends():
    rng = np.random.default_rng(8)
    for b1, b2 in [(0, 0), (65535, 65535), (0, 65535), (65535, 0), (32768, 32768)]:
        params = lion(beta1_num=b1, beta2_num=b2)
        n = params.n_params
        q = adversarial_q(rng, n)
        m = -(np.int64(65536 - b1) * (q.astype(np.int64) << 8)) // max(b1, 1)   # c = 0 where b1 divides
        state = np.concatenate([rng.integers(-2**30, 2**30, n), m, [1]]).astype(np.int64)
        same(params, state, q)


def test_lion_overflow_is_refused_by_both():
    params = lion()
    n = params.n_params
    peak = U.lr_units(params, 10)
    w = np.full(n, U.WEIGHT_LIMIT - peak, np.int64)                   # one step from the limit
    q = np.full(n, -5, np.int32)                                      # negative gradient: W rises
    state = np.concatenate([w, np.zeros(n, np.int64), [9]]).astype(np.int64)
    with pytest.raises(InvalidProof, match="weights"):
        U.apply_update(state, q, params)
    same(params, state, q)
    w[:] = U.WEIGHT_LIMIT - peak - 1                                  # just inside: accepted by both
    same(params, np.concatenate([w, np.zeros(n, np.int64), [9]]).astype(np.int64), q)


def test_lion_beyond_the_documented_ranges_wraps_the_same():
    """Outside |m| < 2^39 int64 products wrap; the blocks wrap in the same order as the formula."""
    rng = np.random.default_rng(9)
    params = lion()
    n = params.n_params
    m = rng.integers(-2**62, 2**62, n)
    state = np.concatenate([rng.integers(-2**40, 2**40, n), m, [2]]).astype(np.int64)
    same(params, state, adversarial_q(rng, n))


def test_lion_multi_block_model_default_block():
    rng = np.random.default_rng(10)
    params = PoGParams(optimizer=1, lr_shift=10)                      # nano: 108,288 parameters, 6.6 blocks
    n = params.n_params
    assert n > 6 * U.BLOCK and n % U.BLOCK
    state = np.concatenate([rng.integers(-2**40, 2**40, n), rng.integers(-2**39, 2**39, n), [11]]).astype(np.int64)
    same(params, state, adversarial_q(rng, n))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), b1=st.integers(0, 65535), b2=st.integers(0, 65535),
       t=st.integers(0, 100), block=st.sampled_from(BLOCKS), qscale=st.integers(0, 31),
       mscale=st.integers(0, 40))
def test_lion_hypothesis(monkeypatch, seed, b1, b2, t, block, qscale, mscale):
    monkeypatch.setattr(U, "BLOCK", block)
    rng = np.random.default_rng(seed)
    params = lion(beta1_num=b1, beta2_num=b2)
    n = params.n_params
    q = rng.integers(-(1 << qscale), 1 << qscale, n).astype(np.int32)
    m = rng.integers(-(1 << mscale), 1 << mscale, n)
    state = np.concatenate([rng.integers(-2**40, 2**40, n), m, [t]]).astype(np.int64)
    same(params, state, q)


# --- SGD -------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("kw", [dict(), dict(lr_num=3, lr_shift=20), dict(lr_num=5, lr_shift=0, scale_log2=16)])
def test_sgd_both_shift_directions(monkeypatch, block, kw):
    monkeypatch.setattr(U, "BLOCK", block)
    params = PoGParams(model=MICRO, **kw)
    rng = np.random.default_rng(block)
    n = params.n_params
    q = adversarial_q(rng, n)
    same(params, rng.integers(-2**55, 2**55, n).astype(np.int64), q)
    if params.update_shift < 0:                                       # exact ties: Q*lr_num = odd * 2^(m-1)
        k = -params.update_shift
        ties = (rng.integers(-2**8, 2**8, n) * 2 + 1) << (k - 1)
        if params.lr_num == 1:
            same(params, np.zeros(n, np.int64), ties.astype(np.int32))
    w = np.full(n, U.WEIGHT_LIMIT - 1, np.int64)                      # the overflow refusal agrees
    same(params, w, np.full(n, -2**31, np.int32))


def test_sgd_still_undoes_exactly():
    params = PoGParams(model=MICRO)
    rng = np.random.default_rng(3)
    n = params.n_params
    w = rng.integers(-2**40, 2**40, n).astype(np.int64)
    q = adversarial_q(rng, n)
    assert U.undo_update(U.apply_update(w, q, params), q, params).tobytes() == w.tobytes()


# --- the clipping norm ------------------------------------------------------------------------
SIZES = [0, 1, 2, 3, 5, 7, 100, 2**15 - 1, 2**15, 2**15 + 1, 2**16 - 1, 2**16 + 1, 3 * 2**15 + 5,
         108288, 2**20 + 12345]


@pytest.mark.parametrize("n", SIZES)
def test_sum_of_squares_same_bits(n):
    rng = np.random.default_rng(n)
    g = rng.standard_normal(n) * np.exp(rng.uniform(-40, 40, n))     # wildly mixed magnitudes: rounding matters
    assert G.sum_of_squares(g).hex() == ref_sum_of_squares(g).hex()


@pytest.mark.parametrize("log2", [1, 2, 3, 5])
def test_sum_of_squares_small_blocks(monkeypatch, log2):
    monkeypatch.setattr(G, "SUM_BLOCK_LOG2", log2)
    rng = np.random.default_rng(log2)
    for n in range(0, 70):
        g = rng.standard_normal(n) * np.exp(rng.uniform(-30, 30, n))
        assert G.sum_of_squares(g).hex() == ref_sum_of_squares(g).hex(), n


def test_sum_of_squares_extremes():
    big = np.array([1e154, 1e154, 1e-160, -1e-160, 3.0, 2.0**-1074, np.inf, 1.0])
    for n in range(1, big.size + 1):
        assert G.sum_of_squares(big[:n]).hex() == ref_sum_of_squares(big[:n]).hex()
    nan = np.array([1.0, np.nan, 2.0])
    assert np.isnan(G.sum_of_squares(nan)) and np.isnan(ref_sum_of_squares(nan))
    # catastrophic order dependence: a different order would give a different float
    g = np.array([1e8, 1.0, -1e8, 1.0] * 40000 + [3.0])
    assert G.sum_of_squares(g).hex() == ref_sum_of_squares(g).hex()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000), log2=st.integers(1, 12),
       spread=st.integers(0, 300))
def test_sum_of_squares_hypothesis(monkeypatch, seed, n, log2, spread):
    monkeypatch.setattr(G, "SUM_BLOCK_LOG2", log2)
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(n) * np.exp(rng.uniform(-spread, spread, n) / 3)
    assert G.sum_of_squares(g).hex() == ref_sum_of_squares(g).hex()


def test_clipped_gradient_same_bits():
    rng = np.random.default_rng(5)
    g = rng.standard_normal(108288) * 3
    norm = np.sqrt(ref_sum_of_squares(g))
    want = g * (1.0 / norm)
    assert G.clip_gradient(g, 1.0).tobytes() == want.tobytes()


# --- loading integer weights into the float model ------------------------------------------------
def test_load_weights_same_bits_as_to_float():
    """``load_weights`` converts per tensor in place; the floats are those of ``to_float`` (astype, ldexp)."""
    import torch
    from gradientcoin_edu.model.fixed_point import flatten_params, load_weights, to_float
    from gradientcoin_edu.model.gpt import GPT
    rng = np.random.default_rng(11)
    m64, m32 = GPT(MICRO, dtype=torch.float64), GPT(MICRO)
    n = m64.num_params()
    for w in (rng.integers(-2**62, 2**62, n), rng.integers(-2**40, 2**40, n),
              rng.integers(-2**10, 2**10, n) << rng.integers(0, 52, n),             # beyond 2^53: rounded
              np.full(n, 2**53 + 1), np.full(n, -2**63 + 1)):
        w = np.asarray(w, dtype=np.int64)
        w.setflags(write=False)                                                    # as a frozen state
        for s in (0, 7, 32, 60):
            load_weights(m64, w, s)
            assert flatten_params(m64).numpy().tobytes() == to_float(w, s).tobytes()
            load_weights(m32, w, s)
            assert flatten_params(m32).numpy().tobytes() == to_float(w, s).astype(np.float32).tobytes()
