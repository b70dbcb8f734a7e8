"""Softmax regression (notebook 12): analytic derivatives against torch.autograd, the convexity
threshold against sampled Hessians, the optimizers, the certificate, and input validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradientcoin_edu import theory
from gradientcoin_edu.theory import SoftmaxRegression


def _point(d: int, seed: int, radius: float = 2.0) -> np.ndarray:
    return radius * np.random.default_rng(seed).standard_normal(d)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), d=st.integers(1, 6), lam=st.floats(0, 3), scale=st.floats(0.1, 3), seed=st.integers(0, 10**6))
def test_gradient_and_hessian_match_autograd(n, d, lam, scale, seed):
    P = SoftmaxRegression.random(n, d, lam, scale=scale, seed=seed)
    x = _point(d, seed + 1)
    np.testing.assert_allclose(P.gradient(x), theory.autograd_gradient(P.A, P.b, x, lam), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(P.hessian(x), theory.autograd_hessian(P.A, P.b, x, lam), rtol=1e-9, atol=1e-12)
    as_torch = (torch.from_numpy(P.A), torch.from_numpy(P.b), torch.from_numpy(x))
    assert P.loss(x) == pytest.approx(float(theory.loss_torch(*as_torch, lam)), rel=1e-12, abs=1e-15)


def test_gradient_matches_autograd_far_out_where_softmax_is_one_hot():
    P = SoftmaxRegression.random(10, 4, 0.1, scale=3.0, seed=5)
    x = _point(4, 6, radius=60.0)          # |Ax| in the hundreds: naive exp would overflow
    g = P.gradient(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, theory.autograd_gradient(P.A, P.b, x, 0.1), rtol=1e-9, atol=1e-15)


def test_softmax_is_stable_and_sums_to_one():
    s = theory.softmax(np.array([1000.0, 1000.0, -1000.0]))
    np.testing.assert_allclose(s, [0.5, 0.5, 0.0])
    assert theory.softmax(np.zeros(4)).sum() == pytest.approx(1.0)


def test_hessian_compact_form():
    # the notebook's second form: A^T (I - s 1^T) diag(s (2s - b - s.r)) (I - 1 s^T) A + lam I
    P = SoftmaxRegression.random(7, 3, 0.2, seed=3)
    x = _point(3, 4)
    s = theory.softmax(P.A @ x)
    C = np.eye(7) - np.outer(np.ones(7), s)
    H = P.A.T @ C.T @ np.diag(s * (2 * s - P.b - s @ (s - P.b))) @ C @ P.A + 0.2 * np.eye(3)
    np.testing.assert_allclose(H, P.hessian(x), atol=1e-13)


# ----------------------------------------------------------------------------- convexity

def _sample_points(d: int, k: int, seed: int, max_radius: float = 6.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((k, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True) * rng.uniform(0, max_radius, (k, 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unregularized_objective_is_not_convex(seed):
    P = SoftmaxRegression.random(12, 4, scale=1.5, seed=seed)
    assert theory.min_hessian_eigenvalue(P.A, P.b, _sample_points(4, 300, seed)).min() < 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hessian_is_positive_definite_beyond_the_threshold(seed):
    P = SoftmaxRegression.random(12, 4, scale=1.5, seed=seed)
    threshold = theory.convexity_threshold(P.A, P.b)
    xs = np.vstack([_sample_points(4, 300, seed), _sample_points(4, 100, seed + 99, max_radius=100.0)])
    lowest = theory.min_hessian_eigenvalue(P.A, P.b, xs)            # lam = 0
    assert lowest.min() >= -threshold                                # the bound holds ...
    assert lowest.min() < 0                                          # ... and is needed
    lam = 1.01 * threshold
    assert theory.min_hessian_eigenvalue(P.A, P.b, xs, lam).min() >= lam - threshold > 0
    top = np.array([np.linalg.eigvalsh(P.hessian(x))[-1] for x in xs])
    assert top.max() <= theory.smoothness_bound(P.A, P.b, 0.0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), seed=st.integers(0, 10**6), scale=st.floats(0.1, 4))
def test_threshold_bound_holds_for_square_A_and_any_target(n, seed, scale):
    # A = scale * I reaches every direction u; b arbitrary (not a probability vector)
    rng = np.random.default_rng(seed)
    A, b = scale * np.eye(n), rng.uniform(-1, 2, n)
    x = rng.standard_normal(n) * rng.uniform(0, 10 / scale)
    eig = np.linalg.eigvalsh(theory.hessian(A, b, x))
    bound = theory.convexity_threshold(A, b)
    assert -bound - 1e-12 <= eig[0] and eig[-1] <= bound + 1e-12


# ----------------------------------------------------------------------------- optimizers and certificate

@pytest.fixture
def convex_problem() -> SoftmaxRegression:
    P = SoftmaxRegression.random(12, 4, scale=1.5, seed=0)
    return P.with_lam(1.25 * theory.convexity_threshold(P.A, P.b))


def test_gradient_descent_and_newton_converge_to_the_same_point(convex_problem):
    x0 = _point(4, 11, radius=3.0)
    gd = theory.gradient_descent(convex_problem, x0, steps=200)
    nt = theory.newton(convex_problem, x0, steps=20)
    assert np.all(np.diff(gd.losses) <= 1e-15)                      # 1/L steps never go up
    assert gd.grad_norms[-1] < 1e-10 and nt.grad_norms[-1] < 1e-12
    assert len(nt.losses) <= 8                                        # a handful of Newton steps
    np.testing.assert_allclose(gd.x, nt.x, atol=1e-9)


def test_newton_converges_quadratically_where_gd_is_linear():
    P = SoftmaxRegression.random(12, 4, scale=1.5, seed=0)
    lowest = theory.min_hessian_eigenvalue(P.A, P.b, _sample_points(4, 400, 12)).min()
    P = P.with_lam(-1.5 * lowest)                                     # convex where sampled, not proven
    nt = theory.newton(P, np.zeros(4), steps=20)
    g = nt.grad_norms
    late = [(a, c) for a, c in zip(g, g[1:]) if a < 1e-2 and c > 1e-14]
    assert late and all(c <= a**1.5 for a, c in late)                 # digits (at least) double
    gd = theory.gradient_descent(P, np.zeros(4), steps=100)
    ratios = gd.grad_norms[21:80] / gd.grad_norms[20:79]
    assert 0.5 < ratios.min() and ratios.max() < 1                    # a constant factor per step


def test_one_gradient_certifies_the_gap(convex_problem):
    P = convex_problem
    f_star = theory.newton(P, np.zeros(4)).losses[-1]
    for seed in range(20):
        x = _point(4, seed, radius=4.0)
        assert P.loss(x) - f_star <= theory.suboptimality_bound(P.A, P.b, x, P.lam) + 1e-15


def test_no_certificate_and_no_newton_without_convexity():
    P = SoftmaxRegression.random(12, 4, scale=1.5, seed=0)
    with pytest.raises(ValueError, match="no certificate"):
        theory.suboptimality_bound(P.A, P.b, np.zeros(4), 0.0)
    xs = _sample_points(4, 300, 0)
    bad = xs[np.argmin(theory.min_hessian_eigenvalue(P.A, P.b, xs))]
    with pytest.raises(ValueError, match="not positive definite"):
        theory.newton_step(P.A, P.b, bad, 0.0)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize(("A", "b", "x", "lam", "match"), [
    (np.ones(3), np.ones(3), np.ones(1), 0.0, "A must be a non-empty 2-D matrix"),
    (np.ones((0, 2)), np.ones(0), np.ones(2), 0.0, "A must be a non-empty 2-D matrix"),
    (np.ones((3, 2)), np.ones(2), np.ones(2), 0.0, r"b must have shape \(n,\) = \(3,\)"),
    (np.ones((3, 2)), np.ones((3, 1)), np.ones(2), 0.0, r"b must have shape"),
    (np.ones((3, 2)), np.ones(3), np.ones(3), 0.0, r"x must have shape \(d,\) = \(2,\)"),
    (np.ones((3, 2)), np.ones(3), np.ones((2, 1)), 0.0, r"x must have shape"),
    (np.ones((3, 2)), np.ones(3), np.ones(2), -1.0, "lam .* must be a finite number >= 0"),
    (np.ones((3, 2)), np.ones(3), np.ones(2), float("inf"), "lam"),
    (np.full((3, 2), np.nan), np.ones(3), np.ones(2), 0.0, "A contains NaN"),
    (np.ones((3, 2)), np.ones(3), np.array([1.0, np.inf]), 0.0, "x contains NaN or infinity"),
])
@pytest.mark.parametrize("f", [theory.loss, theory.gradient, theory.hessian, theory.newton_step,
                               theory.autograd_gradient, theory.autograd_hessian])
def test_bad_shapes_and_values_are_rejected(f, A, b, x, lam, match):
    with pytest.raises(ValueError, match=match):
        f(A, b, x, lam)


def test_problem_validates_on_construction():
    with pytest.raises(ValueError, match="b must have shape"):
        SoftmaxRegression(np.ones((4, 2)), np.ones(3))
    with pytest.raises(ValueError, match="lam"):
        SoftmaxRegression(np.ones((4, 2)), np.ones(4), lam=-0.5)
    P = SoftmaxRegression(np.ones((4, 2)), np.ones(4), lam=1)
    with pytest.raises(ValueError, match="x must have shape"):
        theory.gradient_descent(P, np.zeros(3), steps=1)
