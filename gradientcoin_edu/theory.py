"""[tooling] Why a gradient step can be checked: softmax regression, the attention objective of the theory papers.

The theory behind GradientCoin (Gao, Song, Yin 2023; Deng, Li, Song 2023, "Attention scheme
inspired softmax regression") studies one attention head as a regression problem::

    L(x) = 1/2 || softmax(A x) - b ||^2  +  lam/2 || x ||^2,   softmax(u) = <exp(u), 1_n>^-1 exp(u)

with A (n, d), b (n,), x (d,). With s = softmax(Ax), J = diag(s) - s s^T and r = s - b:

    gradient  = A^T J r + lam x
    Hessian   = A^T (J J + diag(w) - w s^T - s w^T) A + lam I,   w = J r
              = A^T (I - s 1^T) diag(s * (2 s - b - s.r)) (I - 1 s^T) A + lam I   (same matrix)

Without the penalty L is not convex; with lam above ``convexity_threshold(A, b)`` it is
strongly convex everywhere, gradient descent and Newton's method converge, and a single gradient
certifies how far a point is from optimal: L(x) - L* <= ||grad L(x)||^2 / (2 mu). A GPT has no
such certificate, which is why proof-of-gradient recomputes the gradient instead.
Taught in notebook 12 (``notebooks/12_why_a_gradient_step_can_be_checked.ipynb``).

Everything here is float64 NumPy; ``autograd_gradient`` / ``autograd_hessian`` are the torch
oracles the analytic formulas are checked against.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SoftmaxRegression",
    "softmax",
    "loss",
    "gradient",
    "hessian",
    "loss_torch",
    "autograd_gradient",
    "autograd_hessian",
    "convexity_threshold",
    "smoothness_bound",
    "strong_convexity",
    "min_hessian_eigenvalue",
    "suboptimality_bound",
    "Trajectory",
    "gradient_descent",
    "newton_step",
    "newton",
]


# ----------------------------------------------------------------------------- validation

def _as_problem(A, b, x=None, lam: float = 0.0):
    """Convert to float64 arrays and check shapes: A (n, d), b (n,), x (d,), lam >= 0."""
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"A must be a non-empty 2-D matrix of shape (n, d), got shape {A.shape}")
    n, d = A.shape
    if b.shape != (n,):
        raise ValueError(f"b must have shape (n,) = ({n},) to match A of shape {A.shape}, got {b.shape}")
    if x is not None:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (d,):
            raise ValueError(f"x must have shape (d,) = ({d},) to match A of shape {A.shape}, got {x.shape}")
    lam = float(lam)
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam (the regularization strength) must be a finite number >= 0, got {lam!r}")
    for name, arr in (("A", A), ("b", b), ("x", x)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
    return A, b, x, lam


@dataclass(frozen=True, eq=False)
class SoftmaxRegression:
    """One problem instance: A (n, d), b (n,), lam >= 0. Methods evaluate L, its gradient, its Hessian."""
    A: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    lam: float = 0.0

    def __post_init__(self):
        A, b, _, lam = _as_problem(self.A, self.b, None, self.lam)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "lam", lam)

    @classmethod
    def random(cls, n: int = 16, d: int = 6, lam: float = 0.0, scale: float = 1.0, seed: int = 0):
        """A ~ N(0, scale^2), b a random probability vector (a target attention row)."""
        rng = np.random.default_rng(seed)
        return cls(scale * rng.standard_normal((n, d)), rng.dirichlet(np.ones(n)), lam)

    @property
    def dim(self) -> int:
        return self.A.shape[1]

    def with_lam(self, lam: float) -> "SoftmaxRegression":
        return SoftmaxRegression(self.A, self.b, lam)

    def loss(self, x) -> float:
        return loss(self.A, self.b, x, self.lam)

    def gradient(self, x) -> np.ndarray:
        return gradient(self.A, self.b, x, self.lam)

    def hessian(self, x) -> np.ndarray:
        return hessian(self.A, self.b, x, self.lam)


# ----------------------------------------------------------------------------- the objective

def softmax(u) -> np.ndarray:
    """<exp(u), 1>^-1 exp(u), computed as exp(u - max u) so that large u cannot overflow."""
    u = np.asarray(u, dtype=np.float64)
    e = np.exp(u - u.max())
    return e / e.sum()


def loss(A, b, x, lam: float = 0.0) -> float:
    """L(x) = 1/2 ||softmax(Ax) - b||^2 + lam/2 ||x||^2."""
    A, b, x, lam = _as_problem(A, b, x, lam)
    r = softmax(A @ x) - b                                        # (n,)
    return 0.5 * float(r @ r) + 0.5 * lam * float(x @ x)


def gradient(A, b, x, lam: float = 0.0) -> np.ndarray:
    """A^T J (s - b) + lam x, with s = softmax(Ax) and J = diag(s) - s s^T (the softmax Jacobian)."""
    A, b, x, lam = _as_problem(A, b, x, lam)
    s = softmax(A @ x)                                            # (n,)
    r = s - b                                                     # (n,)
    Jr = s * r - s * (s @ r)                                      # (n,)  J r without forming J
    return A.T @ Jr + lam * x                                     # (d,)


def hessian(A, b, x, lam: float = 0.0) -> np.ndarray:
    """A^T (J J + diag(w) - w s^T - s w^T) A + lam I with w = J (s - b).

    J J is the Gauss-Newton part (always positive semi-definite); the rest is
    sum_i r_i * (Hessian of s_i), which can be indefinite: that is where non-convexity comes from.
    """
    A, b, x, lam = _as_problem(A, b, x, lam)
    s = softmax(A @ x)                                            # (n,)
    J = np.diag(s) - np.outer(s, s)                               # (n, n)
    w = J @ (s - b)                                               # (n,)
    B = J @ J + np.diag(w) - np.outer(w, s) - np.outer(s, w)      # (n, n)
    H = A.T @ B @ A + lam * np.eye(A.shape[1])                    # (d, d)
    return 0.5 * (H + H.T)                                        # exactly symmetric


# ----------------------------------------------------------------------------- the autograd oracle

def loss_torch(A, b, x, lam: float = 0.0):
    """The same objective in torch float64 (differentiable in x)."""
    import torch
    s = torch.softmax(A @ x, dim=0)
    return 0.5 * ((s - b) ** 2).sum() + 0.5 * lam * (x * x).sum()


def _torch_inputs(A, b, x, lam):
    import torch
    A, b, x, lam = _as_problem(A, b, x, lam)
    return torch.from_numpy(A), torch.from_numpy(b), torch.from_numpy(x.copy()), lam


def autograd_gradient(A, b, x, lam: float = 0.0) -> np.ndarray:
    """The gradient as torch.autograd computes it (the oracle for :func:`gradient`)."""
    At, bt, xt, lam = _torch_inputs(A, b, x, lam)
    xt.requires_grad_(True)
    loss_torch(At, bt, xt, lam).backward()
    return xt.grad.numpy()


def autograd_hessian(A, b, x, lam: float = 0.0) -> np.ndarray:
    """The Hessian by torch.autograd.functional.hessian (the oracle for :func:`hessian`)."""
    import torch
    At, bt, xt, lam = _torch_inputs(A, b, x, lam)
    return torch.autograd.functional.hessian(lambda v: loss_torch(At, bt, v, lam), xt).numpy()


# ----------------------------------------------------------------------------- convexity

def convexity_threshold(A, b) -> float:
    """A lam above which L is strongly convex everywhere: 1/2 (1 + max b - min b) ||A||_2^2.

    Proof (notebook 12 has it in full). Write u = A v for a unit vector v, s = softmax(Ax),
    r = s - b, rbar = s.r and delta = u - (s.u) 1. Then the Hessian's quadratic form is

        v^T H v = sum_j s_j delta_j^2 (2 s_j - b_j - rbar)  +  lam.

    The coefficient is >= -(1 + max b - min b), because ||s||^2 - 2 s_j <= 1 and
    b_j - s.b <= max b - min b; and sum_j s_j delta_j^2 = Var_s(u) <= ||u||^2 / 2 <= ||A||^2 / 2.
    So the smallest eigenvalue of H is at least lam - convexity_threshold(A, b). The bound is
    safe, not tight: the threshold measured at sampled points is usually far smaller.
    """
    A, b, _, _ = _as_problem(A, b)
    return 0.5 * (1.0 + float(b.max() - b.min())) * float(np.linalg.norm(A, 2)) ** 2


def smoothness_bound(A, b, lam: float = 0.0) -> float:
    """An upper bound on the Hessian's largest eigenvalue: convexity_threshold(A, b) + lam.

    Same argument as :func:`convexity_threshold`: the coefficient 2 s_j - b_j - rbar is at most
    1 + max b - min b, because 2 s_j - ||s||^2 <= 1 and s.b - b_j <= max b - min b.
    """
    A, b, _, lam = _as_problem(A, b, None, lam)
    return convexity_threshold(A, b) + lam


def strong_convexity(A, b, lam: float) -> float:
    """The guaranteed strong-convexity constant mu = lam - convexity_threshold(A, b) (<= 0: none)."""
    A, b, _, lam = _as_problem(A, b, None, lam)
    return lam - convexity_threshold(A, b)


def min_hessian_eigenvalue(A, b, xs, lam: float = 0.0) -> np.ndarray:
    """Smallest Hessian eigenvalue at each row of ``xs`` (k, d) -> (k,)."""
    xs = np.atleast_2d(np.asarray(xs, dtype=np.float64))
    return np.array([np.linalg.eigvalsh(hessian(A, b, x, lam))[0] for x in xs])


def suboptimality_bound(A, b, x, lam: float) -> float:
    """Certificate L(x) - L* <= ||grad L(x)||^2 / (2 mu), valid when mu = lam - threshold > 0."""
    mu = strong_convexity(A, b, lam)
    if mu <= 0:
        raise ValueError(f"no certificate: lam = {lam} does not exceed the convexity threshold "
                         f"{convexity_threshold(A, b):.4g}, so L need not be strongly convex")
    g = gradient(A, b, x, lam)
    return float(g @ g) / (2.0 * mu)


# ----------------------------------------------------------------------------- optimizers

@dataclass
class Trajectory:
    """Iterates of an optimizer: points (T+1, d), losses (T+1,), gradient norms (T+1,)."""
    xs: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray

    @property
    def x(self) -> np.ndarray:
        return self.xs[-1]


def _record(problem: SoftmaxRegression, xs: list) -> Trajectory:
    return Trajectory(np.array(xs), np.array([problem.loss(x) for x in xs]),
                      np.array([np.linalg.norm(problem.gradient(x)) for x in xs]))


def gradient_descent(problem: SoftmaxRegression, x0, steps: int = 200, step_size: float | None = None) -> Trajectory:
    """x <- x - eta grad L(x), with eta = 1 / smoothness_bound by default (never increases L)."""
    x = _as_problem(problem.A, problem.b, x0, problem.lam)[2]
    eta = 1.0 / smoothness_bound(problem.A, problem.b, problem.lam) if step_size is None else float(step_size)
    xs = [x]
    for _ in range(steps):
        x = x - eta * problem.gradient(x)
        xs.append(x)
    return _record(problem, xs)


def newton_step(A, b, x, lam: float) -> np.ndarray:
    """One pure Newton step x - H^-1 grad (raises ValueError where H is not positive definite)."""
    A, b, x, lam = _as_problem(A, b, x, lam)
    H, g = hessian(A, b, x, lam), gradient(A, b, x, lam)
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        raise ValueError("the Hessian is not positive definite here, so the Newton step is not a "
                         "descent direction; raise lam above convexity_threshold(A, b)") from None
    return x - np.linalg.solve(L.T, np.linalg.solve(L, g))


def newton(problem: SoftmaxRegression, x0, steps: int = 20, tol: float = 1e-14) -> Trajectory:
    """Damped Newton: full step when it lowers L enough (Armijo), else halve it; stops at ||grad|| <= tol.

    Far from the optimum the damping keeps it safe; near it the full step is always taken and
    convergence is quadratic (the number of correct digits doubles each step).
    """
    A, b, lam = problem.A, problem.b, problem.lam
    x = _as_problem(A, b, x0, lam)[2]
    xs = [x]
    for _ in range(steps):
        g = problem.gradient(x)
        if np.linalg.norm(g) <= tol:
            break
        direction = newton_step(A, b, x, lam) - x                 # (d,)
        t, f0, slope = 1.0, problem.loss(x), float(g @ direction)
        slack = 8 * np.finfo(float).eps * abs(f0)   # near x* the decrease drowns in rounding
        while problem.loss(x + t * direction) > f0 + 1e-4 * t * slope + slack and t > 1e-10:
            t *= 0.5
        x = x + t * direction
        xs.append(x)
    return _record(problem, xs)
