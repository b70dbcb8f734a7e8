"""[tooling] Checks for notebook 12, "Why a gradient step can be checked" (softmax regression).

12.1 the gradient by hand, 12.2 the convexity threshold, 12.3 one Newton step (also where the
Hessian is indefinite, which the library's ``newton_step`` refuses). Each check draws problems of
random shapes afresh at every call, compares the student's function with
:mod:`gradientcoin_edu.theory`, and refuses the library's own functions; a stub's
``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import numpy as np

from .. import theory
from ..theory import SoftmaxRegression
from . import exercise
from ._own_work import fresh_np_rng, guarded


def _problems(rng: np.random.Generator, lam_over_threshold: float | None = None):
    """Fresh (A, b, x, lam): tall, wide, square and one-row shapes; lam random or a multiple of the threshold."""
    shapes = [(int(rng.integers(6, 20)), int(rng.integers(2, 5))), (int(rng.integers(2, 5)), int(rng.integers(5, 9))),
              (4, 4), (1, int(rng.integers(2, 5)))]
    for n, d in shapes:
        A = float(rng.uniform(0.5, 2.0)) * rng.standard_normal((n, d))
        b, x = rng.dirichlet(np.ones(n)), rng.standard_normal(d)
        if lam_over_threshold is None:
            lam = float(rng.uniform(0, 2))
        else:
            lam = lam_over_threshold * theory.convexity_threshold(A, b)
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
    call = guarded(candidate, (theory.gradient, theory.autograd_gradient, (SoftmaxRegression, "gradient")),
                   "my_gradient")
    rng = fresh_np_rng()
    for A, b, x, lam in _problems(rng):
        got = _vector(call(A.copy(), b.copy(), x.copy(), lam), x.shape, "your gradient")
        want = theory.autograd_gradient(A, b, x, lam)
        assert np.allclose(got, want, rtol=1e-7, atol=1e-10), (
            f"for A of shape {A.shape} you return {np.round(got, 6)}, autograd says {np.round(want, 6)}. "
            "Hint: follow the chain rule of section 2 link by link - the loss through s, s through u = Ax, "
            "u through x - and do not forget the regularizer's share.")


@exercise("12.2", "the convexity threshold")
def check_threshold(candidate) -> None:
    call = guarded(candidate, (theory.convexity_threshold, theory.smoothness_bound, theory.strong_convexity),
                   "my_threshold")
    rng = fresh_np_rng()
    for A, b, _, _ in _problems(rng):
        got = call(A.copy(), b.copy())
        assert got is not None, "your threshold returned None - did you forget `return`?"
        assert np.ndim(got) == 0, f"the threshold is one number, got an array of shape {np.shape(got)}"
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise AssertionError(f"the threshold should be a number, got {type(got).__name__}") from None
        want = 0.5 * (1.0 + b.max() - b.min()) * np.linalg.svd(A, compute_uv=False)[0] ** 2
        assert np.isclose(got, want, rtol=1e-9), (
            f"for A of shape {A.shape} you return {got:.6g}, the bound is {want:.6g}. Hint: which matrix norm "
            "does the proof use - the one of all entries, or the largest stretch of a unit vector?")


@exercise("12.3", "one Newton step")
def check_newton_step(candidate) -> None:
    call = guarded(candidate, (theory.newton_step, theory.newton), "my_newton_step")
    rng = fresh_np_rng()
    cases = list(_problems(rng, lam_over_threshold=1.25))
    while True:                                           # one point where the unregularized Hessian is indefinite
        A, b, x = 1.5 * rng.standard_normal((10, 3)), rng.dirichlet(np.ones(10)), 2 * rng.standard_normal(3)
        eig = np.linalg.eigvalsh(theory.hessian(A, b, x))
        if eig[0] < -1e-3 and np.min(np.abs(eig)) > 1e-3:
            cases.append((A, b, x, 0.0))
            break
    for A, b, x, lam in cases:
        got = _vector(call(A.copy(), b.copy(), x.copy(), lam), x.shape, "your Newton step")
        H, g = theory.autograd_hessian(A, b, x, lam), theory.autograd_gradient(A, b, x, lam)
        want = x - np.linalg.solve(H, g)
        assert np.allclose(got, want, rtol=1e-7, atol=1e-10), (
            f"for A of shape {A.shape}, lam = {lam:.3g} you return {np.round(got, 6)}, expected {np.round(want, 6)}. "
            + ("Here the Hessian is indefinite (lam = 0): the step is still defined, as long as H is invertible. "
               if lam == 0 else "")
            + "Hint: the step solves one linear system with the Hessian of section 3 - built from s, J and w.")
