"""Reference solutions for notebook 12 (for instructors): ``SOLUTIONS = {"12.k": function}``."""
from __future__ import annotations

import numpy as np


def gradient(A, b, x, lam):
    """12.1: grad L(x) = A^T J (s - b) + lam x, with s = softmax(Ax), J = diag(s) - s s^T."""
    u = A @ x                                   # (n,)
    s = np.exp(u - u.max())
    s /= s.sum()                                # softmax, without overflow
    J = np.diag(s) - np.outer(s, s)             # (n, n) Jacobian of softmax
    return A.T @ (J @ (s - b)) + lam * x        # (d,)


def convexity_threshold(A, b):
    """12.2: lam* = 1/2 (1 + max b - min b) ||A||_2^2 (the spectral norm)."""
    return 0.5 * (1.0 + b.max() - b.min()) * np.linalg.norm(A, 2) ** 2


def newton_step(A, b, x, lam):
    """12.3: x - H^-1 grad, with the Hessian A^T (J J + diag(w) - w s^T - s w^T) A + lam I."""
    u = A @ x
    s = np.exp(u - u.max())
    s /= s.sum()
    J = np.diag(s) - np.outer(s, s)
    w = J @ (s - b)
    H = A.T @ (J @ J + np.diag(w) - np.outer(w, s) - np.outer(s, w)) @ A + lam * np.eye(len(x))
    g = A.T @ w + lam * x
    return x - np.linalg.solve(H, g)


SOLUTIONS = {"12.1": gradient, "12.2": convexity_threshold, "12.3": newton_step}
