"""Write notebooks/12_why_a_gradient_step_can_be_checked.ipynb from the cells below (clean: no outputs).

Run from the repository root: ``python scripts/build_nb12.py``. Edit the notebook here, not in
Jupyter, so that the committed file stays clean and reviewable.
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild, from any cwd
import nbbuild  # noqa: E402
from nbbuild import SETUP, code, md  # noqa: E402

CELLS = [
    md(r"""# 12 · Why a gradient step can be checked

GradientCoin pays miners for gradients. Before a node accepts a block it must decide whether the
published training step is honest. Is it enough to check that *the loss went down*? For the
problems that the theory papers behind GradientCoin study, almost: they are convex once regularized,
and then one loss evaluation, or even one gradient, says how good a point is. For a GPT it is not,
and this notebook shows why, which is the reason proof-of-gradient recomputes the gradient instead.

**What you will build.** The softmax-regression objective (one attention head, the model problem of
Deng, Li, Song 2023, *Attention scheme inspired softmax regression*, and of Gao, Song, Yin 2023,
*GradientCoin*), its gradient and Hessian derived by hand and checked against `torch.autograd`, a
proven threshold on the regularization above which it is convex, gradient descent and Newton's
method racing on it, and a certificate that tells how far from optimal a point is.

**Learning goals.** After this notebook you can
1. derive the gradient and Hessian of $\tfrac12\|\mathrm{softmax}(Ax)-b\|^2$ and test them against autograd;
2. explain where non-convexity comes from and prove how much $\ell_2$ regularization removes it;
3. recognise linear (gradient descent) and quadratic (Newton) convergence on a log plot;
4. use the bound $f(x)-f^\star \le \|\nabla f(x)\|^2/(2\mu)$ as a certificate, and say why a GPT has none.

Library code: `gradientcoin_edu/theory.py`. Runs in a few seconds on a CPU; no GPU needed."""),
    code(SETUP),
    code(r"""import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from gradientcoin_edu import theory
from gradientcoin_edu.theory import SoftmaxRegression

torch.manual_seed(12)
rng = np.random.default_rng(12)      # every random number below comes from this generator or a fixed seed"""),

    # ---------------------------------------------------------------- 1. the objective
    md(r"""## 1. The objective

One row of an attention matrix is a softmax of scores: with the keys stacked in a matrix
$A\in\mathbb R^{n\times d}$ and a query $x\in\mathbb R^d$, the attention weights are
$\langle \exp(Ax), \mathbf 1_n\rangle^{-1}\exp(Ax)$. Softmax regression asks for the query whose
attention row matches a target distribution $b\in\mathbb R^n$. Exactly the form we use:

$$
L(x) \;=\; \frac12\,\Big\|\,\langle \exp(Ax), \mathbf 1_n\rangle^{-1}\exp(Ax) \;-\; b\,\Big\|_2^2 \;+\; \frac{\lambda}{2}\,\|x\|_2^2 ,
\qquad A\in\mathbb R^{n\times d},\; b\in\mathbb R^n,\; x\in\mathbb R^d,\; \lambda\ge 0 .
$$

We write $s=\mathrm{softmax}(Ax)=\langle \exp(Ax), \mathbf 1_n\rangle^{-1}\exp(Ax)$ and $r=s-b$.
(Deng, Li and Song regularize with $\tfrac12\|\mathrm{diag}(w)Ax\|^2$; we use the plain ridge
$\tfrac\lambda2\|x\|^2$, which keeps every formula short.) Our instance: $n=12$ keys in $d=4$
dimensions, $A$ with $N(0, 1.5^2)$ entries, $b$ a random probability vector."""),
    code(r"""P = SoftmaxRegression.random(n=12, d=4, scale=1.5, seed=0)      # lam = 0 for now
A, b = P.A, P.b
x = rng.standard_normal(4)
s = theory.softmax(A @ x)
print("A", A.shape, " b", b.shape, " x", x.shape, f" L(x) = {P.loss(x):.6f}")
assert np.isclose(s.sum(), 1.0) and np.all(s > 0)                     # softmax is a distribution
assert np.isclose(P.loss(x), 0.5 * np.sum((np.exp(A @ x) / np.exp(A @ x).sum() - b) ** 2))   # the formula above"""),

    # ---------------------------------------------------------------- 2. gradient
    md(r"""## 2. The gradient by hand

Let $u=Ax$. The softmax Jacobian is
$\dfrac{\partial s_i}{\partial u_j} = s_i(\delta_{ij}-s_j)$, that is

$$ J \;=\; \frac{\partial s}{\partial u} \;=\; \mathrm{diag}(s) - s s^\top \qquad(\text{symmetric; } J\mathbf 1 = 0). $$

The chain rule through $L = \tfrac12\|s-b\|^2 + \tfrac\lambda2\|x\|^2$, $s=s(u)$, $u=Ax$ gives

$$ \nabla L(x) \;=\; A^\top J\,(s-b) \;+\; \lambda x . $$

$J\mathbf 1=0$ says that adding the same number to every score changes nothing: that is why
`softmax` may subtract $\max u$ before exponentiating (no overflow). We trust the formula only
after comparing it with `torch.autograd`, which differentiates the code, not our algebra."""),
    code(r"""for lam in (0.0, 0.7):
    for _ in range(5):
        x = 2 * rng.standard_normal(4)
        ours, torchs = theory.gradient(A, b, x, lam), theory.autograd_gradient(A, b, x, lam)
        assert np.allclose(ours, torchs, rtol=1e-12, atol=1e-15), (ours, torchs)
print("analytic gradient == autograd at 10 random points, e.g.", np.round(ours, 6))"""),
    md(r"""### Exercise 12.1 — the gradient by hand

Write the gradient yourself, in NumPy, from the formula above (about four lines). Compute the
softmax stably (subtract the maximum), build $J$, and return a vector of shape `(d,)`."""),
    code(r"""def my_gradient(A, b, x, lam):
    # your code here: s = softmax(A @ x); J = diag(s) - s s^T; return A^T J (s - b) + lam x
    raise NotImplementedError"""),
    code(r"""from gradientcoin_edu.exercises import check
check("12.1", my_gradient)"""),

    # ---------------------------------------------------------------- 3. hessian
    md(r"""## 3. The Hessian

Differentiate $g(u) = J(u)\,r(u)$ once more. With $dr = ds = J\,du$,

$$ d(Jr) \;=\; J\,dr + (dJ)\,r \;=\; J J\,du + \big[\mathrm{diag}(r-\bar r\mathbf 1) - s r^\top\big] J\,du,
\qquad \bar r = s^\top r , $$

because $Jr = s\odot r - s\,(s^\top r)$. Writing $w = Jr = s\odot(r-\bar r\mathbf 1)$ and using the
symmetry of $J$, the bracket times $J$ is $\mathrm{diag}(w) - w s^\top - s w^\top$. So

$$ \nabla^2 L(x) \;=\; A^\top\Big( \underbrace{J J}_{\text{Gauss-Newton}\;\succeq 0} \;+\; \underbrace{\mathrm{diag}(w) - w s^\top - s w^\top}_{\text{curvature of softmax, indefinite}} \Big) A \;+\; \lambda I . $$

The first part alone would make $L$ convex; the second part is where non-convexity comes from."""),
    code(r"""for lam in (0.0, 0.7):
    for _ in range(5):
        x = 2 * rng.standard_normal(4)
        ours, torchs = theory.hessian(A, b, x, lam), theory.autograd_hessian(A, b, x, lam)
        assert np.allclose(ours, torchs, rtol=1e-10, atol=1e-13)
        assert np.allclose(ours, ours.T)
print("analytic Hessian == torch.autograd.functional.hessian at 10 random points")"""),
    md(r"""### A second look at the same matrix

For a direction $v$ put $u = Av$ and centre it with the attention weights:
$\delta = u - (s^\top u)\mathbf 1$. Multiplying out (try it: $\delta$ absorbs the rank-one terms)
gives a form that is easy to bound:

$$ v^\top \nabla^2 L(x)\, v \;=\; \sum_{j=1}^n s_j\,\delta_j^2\,\big(2s_j - b_j - \bar r\big) \;+\; \lambda\|v\|^2 . $$

It is a weighted variance of $u$ under the attention distribution $s$, with signed weights. A
coefficient $2s_j-b_j-\bar r$ turns negative where the target $b_j$ is large but the attention $s_j$
small, i.e. where the model is still wrong."""),
    code(r"""for _ in range(5):
    x, v = 2 * rng.standard_normal(4), rng.standard_normal(4)
    s = theory.softmax(A @ x)
    u = A @ v
    delta = u - (s @ u)
    rbar = s @ (s - b)
    assert np.isclose(v @ theory.hessian(A, b, x) @ v, np.sum(s * delta**2 * (2 * s - b - rbar)), rtol=1e-10, atol=1e-14)
print("quadratic form of the Hessian == weighted variance formula")"""),

    # ---------------------------------------------------------------- 4. non-convexity
    md(r"""## 4. Without regularization the problem is not convex

Sample 400 points (radii up to 4) and look at the smallest Hessian eigenvalue at each. A convex
function has none below zero. Then slice $L$ along the eigenvector of the worst point: convexity
would put the curve below every chord."""),
    code(r"""radii = rng.uniform(0, 4, size=(400, 1))
directions = rng.standard_normal((400, 4))
points = directions / np.linalg.norm(directions, axis=1, keepdims=True) * radii      # (400, 4)
lowest = theory.min_hessian_eigenvalue(A, b, points)                                # (400,)  at lam = 0
print(f"negative curvature at {np.mean(lowest < 0):.0%} of the points; most negative eigenvalue {lowest.min():.3f}")
assert lowest.min() < 0                                  # not convex

worst = points[np.argmin(lowest)]
v = np.linalg.eigh(P.hessian(worst))[1][:, 0]             # direction of most negative curvature
ts = np.linspace(-1, 1, 201)
slice_ = np.array([P.loss(worst + t * v) for t in ts])
ends = slice_[0], slice_[-1]
assert P.loss(worst) > 0.5 * (ends[0] + ends[1])           # the midpoint lies above the chord: concave here

fig = go.Figure([go.Scatter(x=ts, y=slice_, name="L(x + t v), lam = 0"),
                 go.Scatter(x=[-1, 1], y=list(ends), name="chord", line=dict(dash="dash"))])
fig.update_layout(title="A slice through the unregularized loss: above its chord, so not convex",
                  xaxis_title="t", yaxis_title="loss", height=350)
fig.show()"""),

    # ---------------------------------------------------------------- 5. convexity threshold
    md(r"""## 5. How much regularization makes it convex

Bound the two factors of the weighted-variance form.

* The coefficient: $\bar r = \|s\|^2 - s^\top b$, so
  $2s_j - b_j - \bar r = (2s_j - \|s\|^2) - (b_j - s^\top b) \ge -1 - (\max b - \min b)$,
  because $\|s\|^2\le\|s\|_1 = 1$ and $s^\top b$ is an average of the $b_j$.
* The variance: $\sum_j s_j\delta_j^2 = \mathrm{Var}_s(u) \le \tfrac12\|u\|^2 \le \tfrac12\|A\|_2^2\|v\|^2$
  (a variance is at most $(\max u-\min u)^2/4$, and $(u_i-u_k)^2\le 2(u_i^2+u_k^2)$).

Together:
$$ \lambda_{\min}\big(\nabla^2 L(x)\big) \;\ge\; \lambda - \lambda^\star \quad\text{for every } x,\qquad
\lambda^\star = \tfrac12\,\big(1 + \max_j b_j - \min_j b_j\big)\,\|A\|_2^2 . $$

For $\lambda>\lambda^\star$ the objective is $\mu$-strongly convex with $\mu=\lambda-\lambda^\star$. The same
argument bounds the largest eigenvalue by $\lambda^\star+\lambda$ (the smoothness constant).

Since $\nabla^2 L_\lambda = \nabla^2 L_0 + \lambda I$, every eigenvalue moves up by exactly $\lambda$: the
smallest sampled one crosses zero at $\lambda_{\rm emp} = -\min(\text{sampled})$. The proof has to cover
every $x$ and every $A$, so it is cautious; the plot shows by how much."""),
    code(r"""lam_star = theory.convexity_threshold(A, b)
lam_emp = -lowest.min()
print(f"proven threshold lam* = {lam_star:.2f};  measured at 400 points: {lam_emp:.3f}  ({lam_star / lam_emp:.0f}x smaller)")
assert lowest.min() >= -lam_star                                    # the bound holds at every sampled point
assert theory.min_hessian_eigenvalue(A, b, points, lam=1.0001 * lam_star).min() > 0
assert lam_emp < lam_star

lams = np.geomspace(0.05, 2 * lam_star, 200)
fraction_pd = [(lowest + lam > 0).mean() for lam in lams]
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                    subplot_titles=("smallest Hessian eigenvalue", "share of sampled points where the Hessian is positive definite"))
fig.add_scatter(x=lams, y=lams + lowest.min(), name="smallest over 400 sampled points", row=1, col=1)
fig.add_scatter(x=lams, y=lams - lam_star, name="guaranteed: lam - lam*", line=dict(dash="dash"), row=1, col=1)
fig.add_hline(y=0, line=dict(color="gray", width=1), row=1, col=1)
fig.add_scatter(x=lams, y=fraction_pd, name="positive definite share", row=2, col=1)
for value, label in ((lam_emp, "measured"), (lam_star, "proven lam*")):
    fig.add_vline(x=value, line=dict(dash="dot", color="gray"), annotation_text=label)
fig.update_xaxes(type="log", title_text="regularization lam", row=2, col=1)
fig.update_yaxes(range=[-lam_star, lam_star], row=1, col=1)
fig.update_layout(height=550, title="Regularization shifts every eigenvalue up by lam")
fig.show()"""),
    md(r"""**Try it.** Move the slider: the slice of section 4 bends upward as $\lambda$ grows. (In a static
copy of the notebook the figure shows the starting value.)"""),
    code(r"""import ipywidgets as widgets

def draw_slice(lam=0.0):
    ys = [P.with_lam(lam).loss(worst + t * v) for t in ts]
    fig = go.Figure(go.Scatter(x=ts, y=ys))
    fig.update_layout(title=f"L(x + t v) with lam = {lam:.2f}", xaxis_title="t", yaxis_title="loss", height=300)
    fig.show()

widgets.interact(draw_slice, lam=widgets.FloatSlider(value=0.0, min=0.0, max=round(3 * lam_emp, 2), step=0.05));"""),
    md(r"""### Exercise 12.2 — the convexity threshold

Implement $\lambda^\star(A, b) = \tfrac12(1+\max b-\min b)\|A\|_2^2$. Careful: $\|A\|_2$ is the
*spectral* norm (largest singular value), `np.linalg.norm(A, 2)`, not the Frobenius norm."""),
    code(r"""def my_threshold(A, b):
    # your code here (one line)
    raise NotImplementedError"""),
    code(r"""check("12.2", my_threshold)"""),

    # ---------------------------------------------------------------- 6. optimizers
    md(r"""## 6. Gradient descent and Newton's method

Two ways down the hill, both from $x_0 = 0$:

* **gradient descent** $x \leftarrow x - \tfrac1{L}\nabla L(x)$ with $L = \lambda^\star+\lambda$ (the smoothness
  bound, so the loss never goes up). On a strongly convex function the gap shrinks by a constant
  factor per step: a straight line on a log plot (*linear* convergence).
* **Newton's method** $x \leftarrow x - (\nabla^2 L)^{-1}\nabla L$ (halving the step only if it would not
  lower the loss enough). Near the optimum the error is squared at every step (*quadratic*
  convergence): the number of correct digits doubles.

We use $\lambda = 1.5\,\lambda_{\rm emp}$: every Hessian we sampled is positive definite there, though the
proof needs the much larger $\lambda^\star$ (at $\lambda>\lambda^\star$ the penalty dominates and both methods
finish within a few steps; try it by changing `lam_run`)."""),
    code(r"""lam_run = 1.5 * lam_emp
Q = P.with_lam(lam_run)
newton_run = theory.newton(Q, np.zeros(4), steps=20)
gd_run = theory.gradient_descent(Q, np.zeros(4), steps=500)
f_star = min(newton_run.losses.min(), gd_run.losses.min())
gap_gd, gap_newton = gd_run.losses - f_star, newton_run.losses - f_star
print("Newton gradient norms:", " ".join(f"{g:.1e}" for g in newton_run.grad_norms))

assert np.all(np.diff(gd_run.losses) <= 1e-15)                                 # GD never goes up
assert newton_run.grad_norms[-1] < 1e-12 and len(newton_run.grad_norms) <= 7   # Newton: a handful of steps
g = newton_run.grad_norms
assert all(c <= a**1.5 for a, c in zip(g, g[1:]) if a < 1e-2 and c > 1e-14)   # quadratic: digits double
ratios = gd_run.grad_norms[21:120] / gd_run.grad_norms[20:119]
assert 0.5 < ratios.min() and ratios.max() < 1.0                               # linear: a constant factor
assert gd_run.grad_norms[-1] < 1e-12                                          # GD gets there too ...
steps_gd = int(np.flatnonzero(gd_run.grad_norms < 1e-12)[0])
assert steps_gd > 10 * (len(g) - 1)                                           # ... after many times more steps
print(f"gradient norm below 1e-12: Newton after {len(g) - 1} steps, gradient descent after {steps_gd}")

floor = 1e-17                                                                  # log plot: show 0 as the float floor
fig = go.Figure([go.Scatter(y=np.maximum(gap_gd, floor), name="gradient descent", mode="lines"),
                 go.Scatter(y=np.maximum(gap_newton, floor), name="Newton", mode="lines+markers")])
fig.update_yaxes(type="log", title_text="L(x_t) - L*", exponentformat="power")
fig.update_layout(title=f"Linear against quadratic convergence (lam = {lam_run:.2f})", xaxis_title="iteration t", height=380)
fig.show()"""),
    md(r"""### Exercise 12.3 — one Newton step

Return $x - H^{-1}g$ with $g=\nabla L(x)$ and $H=\nabla^2 L(x)$ from section 3. Solve the linear system
(`np.linalg.solve(H, g)`); do not invert $H$."""),
    code(r"""def my_newton_step(A, b, x, lam):
    # your code here: build s, J, w, H and g, then return x - solve(H, g)
    raise NotImplementedError"""),
    code(r"""check("12.3", my_newton_step)"""),

    # ---------------------------------------------------------------- 7. certificate
    md(r"""## 7. "Did this step help?" is cheap for a convex objective

A node that receives a claimed training step $x_{\rm old}\to x_{\rm new}$ can ask two questions.

1. *Did the loss go down?* One evaluation of $L(x_{\rm new})$: as expensive as a forward pass.
2. *How far from the best possible is $x_{\rm new}$?* With $\mu$-strong convexity,
   $L(y)\ge L(x)+\nabla L(x)^\top(y-x)+\tfrac\mu2\|y-x\|^2$ for all $y$; minimizing the right side over $y$
   gives $L^\star \ge L(x) - \|\nabla L(x)\|^2/(2\mu)$, so
   $$ L(x) - L^\star \;\le\; \frac{\|\nabla L(x)\|^2}{2\mu}. $$
   One gradient certifies the gap, without knowing $x^\star$ and without trusting whoever sent $x$.

The certificate needs a *proven* $\mu$, so here we pay the proven threshold: $\lambda = 1.25\,\lambda^\star$,
$\mu = 0.25\,\lambda^\star$. We check it along a gradient-descent run started far away."""),
    code(r"""lam_safe = 1.25 * lam_star
S = P.with_lam(lam_safe)
mu = theory.strong_convexity(A, b, lam_safe)
run = theory.gradient_descent(S, 3 * rng.standard_normal(4), steps=40)
s_star = theory.newton(S, run.x).losses[-1]
true_gap = run.losses - s_star
certificate = np.array([theory.suboptimality_bound(A, b, x, lam_safe) for x in run.xs])
assert np.all(true_gap <= certificate + 1e-15)                  # the certificate never lies
assert np.all(np.diff(run.losses) <= 1e-15)                      # and each step helped: one loss evaluation each
print(f"mu = {mu:.2f}; at step 5 the true gap is {true_gap[5]:.2e}, the certificate says <= {certificate[5]:.2e}")

fig = go.Figure([go.Scatter(y=np.maximum(true_gap, 1e-17), name="true gap L(x) - L*"),
                 go.Scatter(y=np.maximum(certificate, 1e-17), name="certificate |grad|^2 / (2 mu)", line=dict(dash="dash"))])
fig.update_yaxes(type="log", exponentformat="power")
fig.update_layout(title="One gradient bounds the distance to the optimum", xaxis_title="gradient-descent step", height=350)
fig.show()

# the price of a proof: a strong penalty pulls the solution toward 0 and fits the target worse
fit = {name: 0.5 * np.sum((theory.softmax(A @ xs) - b) ** 2)
       for name, xs in (("lam_run", newton_run.x), ("lam_safe", theory.newton(S, np.zeros(4)).x))}
print("fit error 1/2||s - b||^2 at the optimum:", {k: round(float(v), 5) for k, v in fit.items()})
assert fit["lam_safe"] > fit["lam_run"]"""),

    # ---------------------------------------------------------------- 8. GPT
    md(r"""## 8. Why a GPT is different, and what proof-of-gradient does instead

A GPT stacks many attention heads and MLPs, with no regularization strong enough to make it
convex. Section 4 already showed negative curvature for a *single* head. Without a $\mu>0$ a small
gradient certifies nothing (saddle points and poor local minima have small gradients too), and
the loss that matters, the average over the whole training set, is too expensive to evaluate per
block. A miner's step is computed on one batch. Let us see what that means with eight "batches"
$(A_k, b_k)$ that share the same parameters $x$ (no regularization, like a GPT)."""),
    code(r"""data = np.random.default_rng(5)                                            # this section's own seed
batches = [SoftmaxRegression(1.5 * data.standard_normal((12, 4)), data.dirichlet(np.ones(12))) for _ in range(8)]
x_model = data.standard_normal(4)                                          # the current model
eta = 1.0 / theory.smoothness_bound(batches[0].A, batches[0].b)
x_step = x_model - eta * batches[0].gradient(x_model)                     # an honest step on batch 0
change = np.array([B.loss(x_step) - B.loss(x_model) for B in batches])
print("loss change per batch:", np.round(change, 5))
assert change[0] < 0                                                       # good on its own batch
assert np.any(change > 0)                                                  # bad on others

fig = go.Figure(go.Bar(x=[f"batch {k}" for k in range(8)], y=change,
                       marker_color=["seagreen" if c < 0 else "firebrick" for c in change]))
fig.update_layout(title="One honest step on batch 0: the loss change on every batch", yaxis_title="change in loss", height=330)
fig.show()"""),
    md(r"""So "the loss went down" depends on where you look. Worse, a loss check cannot tell *which* work
was done: a step computed on another batch (or on the validation set itself, or by any other
shortcut) may lower the committed batch's loss just as well. Proof-of-gradient therefore asks a
different, decidable question: **is the published gradient the gradient of the committed batch?**
The batch is fixed by a hash of (parent, miner, nonce), so the verifier recomputes that one
gradient and compares. It costs the verifier exactly one gradient, the same as one of the miner's
lottery tickets. (In the real protocol the comparison is on quantized gradients with a tiny
tolerance for floating-point noise; see the proof-of-gradient notebooks.)"""),
    code(r"""committed = 0                                                              # chosen by the block's hash

def loss_check(step_gradient):                       # "did the committed batch's loss go down?"
    return batches[committed].loss(x_model - eta * step_gradient) < batches[committed].loss(x_model)

def recompute_check(step_gradient):                  # proof-of-gradient: recompute and compare
    return np.allclose(step_gradient, batches[committed].gradient(x_model), rtol=0, atol=1e-12)

honest = batches[committed].gradient(x_model)
shortcuts = [k for k in range(1, 8) if loss_check(batches[k].gradient(x_model))]
print(f"steps computed on batches {shortcuts} also lower the loss of batch {committed}")
assert loss_check(honest) and len(shortcuts) > 0                           # the loss check accepts work on other batches
assert recompute_check(honest)                                             # recomputation accepts the honest step ...
assert not any(recompute_check(batches[k].gradient(x_model)) for k in shortcuts)   # ... and no shortcut"""),

    # ---------------------------------------------------------------- summary
    md(r"""## Summary

* Softmax regression $L(x)=\tfrac12\|\mathrm{softmax}(Ax)-b\|^2+\tfrac\lambda2\|x\|^2$ has gradient
  $A^\top J(s-b)+\lambda x$ with $J=\mathrm{diag}(s)-ss^\top$, and Hessian
  $A^\top(JJ+\mathrm{diag}(w)-ws^\top-sw^\top)A+\lambda I$; both agree with `torch.autograd` to rounding.
* Without $\lambda$ it is not convex. For $\lambda>\lambda^\star=\tfrac12(1+\max b-\min b)\|A\|_2^2$ it is strongly
  convex everywhere; the proven threshold is safe but far larger than what we measure at sampled points.
* On a strongly convex objective gradient descent converges linearly, Newton quadratically, and one
  gradient certifies the gap: $L(x)-L^\star\le\|\nabla L(x)\|^2/(2\mu)$.
* A GPT is not convex, and its loss is a sum over far more data than a block can carry; a step can
  help one batch and hurt another, and a loss check cannot tell honest work from a shortcut. So
  proof-of-gradient fixes the batch by hash and **recomputes the gradient**: one gradient of work to
  verify one gradient of work.

## Discussion questions

1. The certificate needed $\lambda>\lambda^\star$, which made the fitted attention row worse. Would you accept a
   weaker guarantee (convex near the optimum only, or $\lambda_{\rm emp}$ measured at samples) in a
   consensus rule? What could an attacker do with the gap between $\lambda_{\rm emp}$ and $\lambda^\star$?
2. Newton's method needs the $d\times d$ Hessian. For a GPT with $10^8$ parameters, what would verifying
   a Newton step cost, and what does that say about which optimizers a proof-of-gradient chain can use?
3. GradientCoin also rejects blocks that raise the loss on a validation set (DESIGN step 6). Section 8
   shows that a loss check cannot prove *which* work was done. What, then, is the validation check
   good for, and why must its margin be wide?"""),
]


NOTEBOOKS = {"12_why_a_gradient_step_can_be_checked.ipynb": CELLS}


if __name__ == "__main__":
    nbbuild.main(NOTEBOOKS)
