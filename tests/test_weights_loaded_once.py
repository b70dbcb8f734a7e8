"""A thread's model skips loading weights it already holds (``proof_of_gradient.gradient._load``).

``verify`` loads the parent's weights for the loss sheet's spot check and again for the gradient; the
second load is skipped. Each test plays a way the skip could make a node compute on the wrong
weights: another array with the same contents, a writeable array changed in place, a model written
by someone else, a freed array whose memory comes back, another thread. In every one the weights
are loaded again, and the gradient's bits are the ones a fresh model computes.
"""
from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
import torch

from gradientcoin_edu.llm import LLMSpec
from gradientcoin_edu.model.fixed_point import load_weights
from gradientcoin_edu.proof_of_gradient import gradient as gradient_module
from gradientcoin_edu.proof_of_gradient.batch import select_batch
from gradientcoin_edu.proof_of_gradient.gradient import canonical_gradient, record_losses
from gradientcoin_edu.proof_of_gradient.verify import ModelState, freeze


@pytest.fixture(scope="module")
def net():
    spec = LLMSpec.builtin("tiny")
    p = spec.pog
    _, x, y = select_batch(spec.train, bytes(32), bytes(32), p.batch_size)
    return p, x, y


@pytest.fixture
def loads(monkeypatch):
    calls = []
    monkeypatch.setattr(gradient_module, "load_weights", lambda m, w, s: calls.append(w) or load_weights(m, w, s))
    return calls


def state(p, seed: int) -> np.ndarray:
    w = np.array(p.genesis_weights(), dtype=np.int64)
    w[: p.n_params] += np.random.default_rng(seed).integers(-3, 4, p.n_params)
    return ModelState(bytes(32), w).weights                          # frozen, as a chain state is


def fresh(p, w, x, y):
    """The gradient on a model built for this call alone."""
    model = gradient_module.GPT(p.model, dtype=torch.float64)
    load_weights(model, w, p.scale_log2)
    model.zero_grad(set_to_none=True)
    _, loss = model(x, y)
    loss.backward()
    return torch.cat([q.grad.reshape(-1) for q in model.parameters()]).numpy()


def grad(p, w, x, y):
    return canonical_gradient(p, w, x, y)[0]


def test_the_same_frozen_state_is_loaded_once_and_gives_the_same_bits(net, loads):
    p, x, y = net
    w = state(p, 1)
    record_losses(p.model, w, x[:1], y[:1], scale_log2=p.scale_log2)
    g = grad(p, w, x, y)
    assert len(loads) == 1                                           # the spot check's load served both
    other = state(p, 2)
    grad(p, other, x, y)
    g_again = grad(p, w, x, y)                                       # back to w: loaded again
    assert len(loads) == 3 and np.array_equal(g, g_again)
    assert np.array_equal(g, fresh_clipped(p, w, x, y))


def test_another_array_with_the_same_contents_is_loaded(net, loads):
    p, x, y = net
    w = state(p, 3)
    twin = ModelState(bytes(32), np.array(w)).weights                 # equal, but another object
    grad(p, w, x, y)
    grad(p, twin, x, y)
    assert len(loads) == 2


def test_a_writeable_array_is_always_loaded_and_a_change_in_place_is_seen(net, loads):
    p, x, y = net
    w = np.array(state(p, 4))                                        # writeable
    g1 = grad(p, w, x, y)
    w[: p.n_params] += 1                                             # changed in place
    g2 = grad(p, w, x, y)
    assert len(loads) == 2 and not np.array_equal(g1, g2)
    assert np.array_equal(g2, fresh_clipped(p, w, x, y))


def fresh_clipped(p, w, x, y):
    g = fresh(p, w, x, y)
    norm = float(np.sqrt(gradient_module.sum_of_squares(g)))
    return g * (p.clip_norm / norm) if p.clip_norm > 0 and norm > p.clip_norm else g


def test_a_model_written_by_a_caller_of_lock_model_is_loaded_again(net, loads):
    """A benchmark (or a student) takes the thread's model and writes other weights into it itself:
    the model no longer claims to hold the state it loaded before."""
    p, x, y = net
    w, other = state(p, 5), state(p, 6)
    g = grad(p, w, x, y)
    with gradient_module._lock_model(p.model, torch.float64, "cpu") as model:
        load_weights(model, other, p.scale_log2)                     # not through _load
    g_after = grad(p, w, x, y)
    assert len(loads) == 2 and np.array_equal(g, g_after)           # w, then w again (the caller's load is its own)


def test_a_freed_state_is_never_taken_for_a_new_one(net, loads):
    """The claim is a weak reference: once the array is freed, an array at the same address is loaded."""
    p, x, y = net
    for seed in range(6):
        w = state(p, 10 + seed)
        assert np.array_equal(grad(p, w, x, y), fresh_clipped(p, w, x, y))
        del w
        gc.collect()
    assert len(loads) == 6


def test_each_thread_loads_its_own_model(net, loads):
    p, x, y = net
    w = state(p, 7)
    g = grad(p, w, x, y)
    out = []
    t = threading.Thread(target=lambda: out.append(grad(p, w, x, y)))
    t.start()
    t.join()
    assert len(loads) == 2 and np.array_equal(out[0], g)


def test_freeze_marks_a_state_that_the_skip_may_trust(net):
    w = np.zeros(4, dtype=np.int64)
    assert not gradient_module.is_frozen(w)
    assert gradient_module.is_frozen(freeze(w))
    assert not gradient_module.is_frozen(w[:2])                      # a view: its base could be written
