"""The central baseline: the same model trained the ordinary way, by one owner.

To see what decentralization costs we train the chain's model without a chain: the same
genesis weights, the same dataset, batch size, learning rate and gradient clipping, plain SGD
in float (float64 by default, the chain's canonical precision), batches drawn by an ordinary
seeded generator. After ``n`` steps its validation loss is the number to compare with the
chain's after ``n`` blocks (one applied gradient per block), and its wall time per step is the
denominator of the *decentralization tax*. Taught in notebook 09; ``benchmarks/llm_chain.py``
measures it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..model import to_model
from ..proof_of_gradient import canonical_torch

__all__ = ["CentralRun", "central_training"]


@dataclass
class CentralRun:
    steps: list[int] = field(default_factory=list)          # steps at which the loss was measured
    val_losses: list[float] = field(default_factory=list)   # validation loss (the guard's records)
    seconds: float = 0.0                                     # wall time of the training steps only
    n_steps: int = 0

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, self.n_steps)

    @property
    def final_loss(self) -> float:
        return self.val_losses[-1]


def central_training(spec, n_steps: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                     eval_every: int | None = None) -> CentralRun:
    """Train ``spec``'s model centrally for ``n_steps`` SGD steps; validation loss at step 0, every
    ``eval_every`` steps and at the end (not timed)."""
    pog = spec.pog
    model = to_model(pog.model, pog.genesis_weights(), pog.scale_log2, dtype=dtype)
    opt = torch.optim.SGD(model.parameters(), lr=pog.lr)
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
        start = time.perf_counter()
        x, y = spec.train.batch(rng.integers(0, len(spec.train), pog.batch_size))
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        if pog.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), pog.clip_norm)
        opt.step()
        run.seconds += time.perf_counter() - start
        run.n_steps = step
        if (eval_every and step % eval_every == 0) or step == n_steps:
            if run.steps[-1] != step:
                evaluate(step)
    return run
