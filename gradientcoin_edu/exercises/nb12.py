"""Checks for notebook 12, "Why a gradient step can be checked" (softmax regression).

12.1 the gradient by hand, 12.2 the convexity threshold, 12.3 one Newton step. Each check
compares the student's function with :mod:`gradientcoin_edu.theory` on a few seeded problems
of different shapes; a stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import numpy as np

from .. import theory
from . import exercise

_SHAPES = [(3, 2), (12, 4), (5, 7), (1, 3)]          # (n, d): tall, wide and the one-row case


def _problems(lam_over_threshold: float | None = None):
    """Seeded (A, b, x, lam) for every shape; lam is a fixed 0.3 or a multiple of the threshold."""
    for i, (n, d) in enumerate(_SHAPES):
        rng = np.random.default_rng(1200 + i)
        A, b, x = 1.5 * rng.standard_normal((n, d)), rng.dirichlet(np.ones(n)), rng.standard_normal(d)
        lam = 0.3 if lam_over_threshold is None else lam_over_threshold * theory.convexity_threshold(A, b)
        yield A, b, x, lam


def _vector(out, shape: tuple, what: str) -> np.ndarray:
    assert out is not None, f"{what} returned None - did you forget `return`?"
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} should return numbers (a NumPy array), got {type(out).__name__}") from None
    assert arr.shape == shape, f"{what} should have shape {shape}, got {arr.shape}"
    return arr


@exercise("12.1", "the gradient of softmax regression by hand")
def check_gradient(candidate) -> None:
    for A, b, x, lam in _problems():
        got = _vector(candidate(A.copy(), b.copy(), x.copy(), lam), x.shape, "your gradient")
        want = theory.gradient(A, b, x, lam)
        assert np.allclose(got, want, rtol=1e-7, atol=1e-10), (
            f"for A of shape {A.shape} you return {np.round(got, 6)}, autograd says {np.round(want, 6)}. "
            "Hint: A.T @ (J @ (s - b)) + lam * x with J = diag(s) - s s^T.")


@exercise("12.2", "the convexity threshold")
def check_threshold(candidate) -> None:
    for A, b, _, _ in _problems():
        got = candidate(A.copy(), b.copy())
        assert got is not None, "your threshold returned None - did you forget `return`?"
        assert np.ndim(got) == 0, f"the threshold is one number, got an array of shape {np.shape(got)}"
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise AssertionError(f"the threshold should be a number, got {type(got).__name__}") from None
        want = theory.convexity_threshold(A, b)
        assert np.isclose(got, want, rtol=1e-9), (
            f"for A of shape {A.shape} you return {got:.6g}, the bound is {want:.6g}. Hint: "
            "0.5 * (1 + b.max() - b.min()) * ||A||_2^2, with the spectral norm np.linalg.norm(A, 2).")


@exercise("12.3", "one Newton step")
def check_newton_step(candidate) -> None:
    for A, b, x, lam in _problems(lam_over_threshold=1.25):
        got = _vector(candidate(A.copy(), b.copy(), x.copy(), lam), x.shape, "your Newton step")
        want = theory.newton_step(A, b, x, lam)
        assert np.allclose(got, want, rtol=1e-7, atol=1e-10), (
            f"for A of shape {A.shape} you return {np.round(got, 6)}, expected {np.round(want, 6)}. "
            "Hint: x - np.linalg.solve(H, g): solve with the Hessian, never invert it.")
