"""Fixtures shared by the model, proof-of-gradient and LLM tests. Import them by name into a test
module (``from _fixtures import one_torch_thread``): an autouse fixture then applies to that module only."""
from __future__ import annotations

import pytest
import torch

from gradientcoin_edu.llm import LLMSpec
from gradientcoin_edu.proof_of_gradient import gradient as gradient_module


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small models: one thread is fastest, and stable on a shared CPU (restored afterwards)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def spec() -> LLMSpec:
    """The tiny LLM preset."""
    return LLMSpec.builtin("tiny")


@pytest.fixture
def gradients(monkeypatch) -> list:
    """Counts the gradients computed (every ticket and every verification costs one): one entry per
    ``compute_gradient`` call, in any thread."""
    calls = []
    real = gradient_module.compute_gradient

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gradient_module, "compute_gradient", counting)
    return calls
