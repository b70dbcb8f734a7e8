"""[tooling] The central baseline: the same model trained the ordinary way, by one owner.

To see what decentralization costs we train the chain's model without a chain: the same
genesis weights, the same dataset, batch size, optimizer, learning-rate schedule and gradient
clipping, in float (float64 by default, the chain's canonical precision), batches drawn by an
ordinary seeded generator. ``optimizer="chain"`` (default) is the chain's own rule in float
(plain SGD, or Lion with the same betas and schedule); ``"adamw"`` is an ordinary nanoGPT-like
AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on matrices, the chain's warm-up, clipping 1.0)
for reference. After ``n`` steps its validation loss is the number to compare with the
chain's after ``n`` blocks (one applied gradient per block), and its wall time per step is the
denominator of the *decentralization tax*. Taught in notebook 09; ``benchmarks/llm_chain.py``
measures it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..model import to_model
from ..model.fixed_point import from_model
from ..proof_of_gradient import canonical_torch

__all__ = ["CentralRun", "central_training", "Lion", "make_optimizer"]


@dataclass
class CentralRun:
    steps: list[int] = field(default_factory=list)          # steps at which the loss was measured
    val_losses: list[float] = field(default_factory=list)   # validation loss (the guard's records)
    seconds: float = 0.0                                     # CPU time (process time) of the training steps only
    n_steps: int = 0
    weights: np.ndarray | None = None                        # the final weights, as integers (for evaluation)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, self.n_steps)

    @property
    def final_loss(self) -> float:
        return self.val_losses[-1]


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023) in float, as the chain runs it in integers (``proof_of_gradient.update``):
    ``w -= lr * sign(beta1 m + (1 - beta1) g)``, then ``m = beta2 m + (1 - beta2) g``; no weight decay."""

    def __init__(self, params, lr: float, betas: tuple[float, float]):
        super().__init__(params, dict(lr=lr, betas=betas))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                m = self.state[p].setdefault("m", torch.zeros_like(p))
                p.add_(torch.sign(b1 * m + (1 - b1) * p.grad), alpha=-group["lr"])
                m.mul_(b2).add_(p.grad, alpha=1 - b2)


def make_optimizer(pog, model, optimizer: str = "chain") -> tuple[torch.optim.Optimizer, Callable[[int], float]]:
    """``(optimizer, lr_at(step))`` for central training (see the module docstring)."""
    from ..proof_of_gradient.update import LION, lr_units
    if optimizer == "chain":
        optimizer = "lion" if pog.optimizer == LION else "sgd"
    if optimizer == "sgd":                    # the chain's SGD rate, or the old network's 1/8 on a Lion chain
        lr = pog.lr if pog.optimizer != LION else 1 / 8
        return torch.optim.SGD(model.parameters(), lr=lr), lambda t: lr
    if optimizer == "lion":
        betas = (pog.beta1_num / 2**16, pog.beta2_num / 2**16)
        return Lion(model.parameters(), 0.0, betas), lambda t: lr_units(pog, t) * 2.0**-pog.scale_log2
    if optimizer == "adamw":
        decay = [p for p in model.parameters() if p.dim() >= 2]
        rest = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.1), dict(params=rest, weight_decay=0.0)],
                                lr=1e-3, betas=(0.9, 0.99))
        warm = max(1, pog.warmup_steps)
        return opt, lambda t: 1e-3 * min(1.0, t / warm)
    raise ValueError(f"unknown optimizer {optimizer!r}: chain, sgd, lion or adamw")


def central_training(spec, n_steps: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                     eval_every: int | None = None, optimizer: str = "chain",
                     eval_at: Sequence[int] = (), stop=None, batches: Sequence | None = None) -> CentralRun:
    """Train ``spec``'s model centrally for ``n_steps`` steps; validation loss at step 0, every
    ``eval_every`` steps, at the steps ``eval_at`` and at the end (not timed). ``stop``: an object
    with ``is_set()`` (a ``threading.Event``) checked before every step; when set, training ends
    there (a background run told to give up). ``batches``: the record indices of each step (for
    instance the batches a chain's blocks trained on), instead of batches drawn with ``seed``."""
    if batches is not None and len(batches) < n_steps:
        raise ValueError(f"batches: {len(batches)} given for {n_steps} steps")
    pog = spec.pog
    model = to_model(pog.model, pog.genesis_weights(), pog.scale_log2, dtype=dtype)
    opt, lr_at = make_optimizer(pog, model, optimizer)
    rng = np.random.default_rng(seed)
    n_val = len(spec.validation) if pog.max_validation_records <= 0 else min(len(spec.validation),
                                                                              pog.max_validation_records)
    vx, vy = spec.validation.batch(np.arange(n_val))
    run = CentralRun()

    def evaluate(step: int) -> None:
        with torch.no_grad(), canonical_torch():
            _, loss = model(vx, vy)
        run.steps.append(step)
        run.val_losses.append(float(loss))

    evaluate(0)
    for step in range(1, n_steps + 1):
        if stop is not None and stop.is_set():
            break
        start = time.process_time()
        idx = rng.integers(0, len(spec.train), pog.batch_size) if batches is None else np.asarray(batches[step - 1])
        x, y = spec.train.batch(idx)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        if pog.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), pog.clip_norm)
        opt.step()
        run.seconds += time.process_time() - start
        run.n_steps = step
        if (eval_every and step % eval_every == 0) or step == n_steps or step in eval_at:
            if run.steps[-1] != step:
                evaluate(step)
    run.weights = from_model(model, pog.scale_log2)
    return run
