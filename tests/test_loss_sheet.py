"""The loss sheet (docs/protocol.md section 4): each test plays a cheater against it.

On the code before the sheet (payload ``Q`` then a 4-byte hash stamp), a junk block whose forger
had paid the stamp's hashes cost the node a full gradient, and nothing recomputed a record's loss:
``test_a_junk_sheet_costs_the_node_one_record_and_no_gradient`` counts the gradients (one there,
none here), and the other tests need the sheet's functions, which did not exist.
"""
from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from gradientcoin_edu.chain.block import BlockHeader
from gradientcoin_edu.errors import InvalidProof
from gradientcoin_edu.llm import LLMSpec
from gradientcoin_edu.proof_of_gradient import GradientProof, ModelState, attempt, proof_from_q, verify
from gradientcoin_edu.proof_of_gradient.batch import batch_seed, select_batch
from gradientcoin_edu.proof_of_gradient.sheet import SHEET_DELTA, sheet_mismatches, spot_order
from gradientcoin_edu.proof_of_gradient.verify import spot_check
from _fixtures import gradients, one_torch_thread  # noqa: F401 (fixtures)

EASIEST = 2**256 - 1
PARENT = bytes(range(32))
TEMPLATE = BlockHeader(1, PARENT, bytes(32), time=1_700_000_600, bits=0x207FFFFF, miner_id=bytes(range(1, 33)))


@pytest.fixture(scope="module")
def net():
    spec = LLMSpec.builtin("tiny")
    p, w = spec.pog, spec.pog.genesis_weights()
    honest = attempt(p, spec.train, TEMPLATE, w, 0)
    _, x, y = select_batch(spec.train, PARENT, batch_seed(honest.header), p.batch_size)
    return spec, p, w, honest, x, y


def reason(spec, w, proof, rng=None) -> str:
    try:
        verify(spec.pog, spec.train, spec.validation, ModelState(PARENT, w), proof, EASIEST, spot_rng=rng)
    except InvalidProof as err:
        return err.reason
    return "accepted"


def test_an_honest_sheet_passes_the_spot_check_at_every_record(net):
    """A record's loss from a forward pass on that record alone (the spot check) and from the batch's
    forward pass (the miner) agree far inside the allowance, at every position: no honest block is
    ever refused by the node's random choice."""
    spec, p, w, honest, x, y = net
    for seed in range(4 * p.batch_size):
        spot_check(p, w, x, y, honest.sheet, random.Random(seed))
    assert reason(spec, w, GradientProof(honest.header, honest.payload), random.Random(1)) == "accepted"


def test_a_junk_sheet_costs_the_node_one_record_and_no_gradient(net, gradients):
    """The junk forger: a winning header over junk Q and a junk sheet. Whichever record the node picks,
    the spot check refuses it - before any gradient."""
    spec, p, w, honest, *_ = net
    junk = proof_from_q(p, TEMPLATE, w, np.ones(p.n_params, dtype=np.int32),
                        sheet=np.random.default_rng(0).integers(0, 2**34, p.batch_size))
    for seed in range(8):
        assert reason(spec, w, junk, random.Random(seed)) == "loss-sheet-mismatch"
    assert gradients == []


def test_one_wrong_entry_is_caught_at_the_spot_check_with_probability_1_over_B_and_always_in_the_end(net):
    """The cheater who skipped one record's loss (k = 1 of B = 16): one node's spot check finds it with
    probability 1/16, a network of 10 nodes with 1 - (15/16)^10 = 0.476; the full check always does."""
    spec, p, w, honest, x, y = net
    bad = honest.sheet.copy()
    bad[5] += 2**20                                       # about 0.0002 nats off: a guess, not a computation
    rng, trials, caught = random.Random(7), 400, 0
    for _ in range(trials):
        try:
            spot_check(p, w, x, y, bad, rng)
        except InvalidProof as err:
            assert err.reason == "loss-sheet-mismatch"
            caught += 1
    b = p.batch_size
    mean, sd = trials / b, (trials * (1 / b) * (1 - 1 / b)) ** 0.5
    assert abs(caught - mean) <= 4 * sd, (caught, mean, sd)
    n_nodes, networks = 10, 200                           # each node picks its own record
    found = sum(any(rng.randrange(b) == 5 for _ in range(n_nodes)) for _ in range(networks))
    expected = 1 - (1 - 1 / b) ** n_nodes
    assert abs(found / networks - expected) <= 4 * (expected * (1 - expected) / networks) ** 0.5
    cheat = proof_from_q(p, TEMPLATE, w, honest.q, sheet=bad)
    for seed in range(3):                                 # whatever the spot choice: refused
        assert reason(spec, w, cheat, random.Random(seed)) == "loss-sheet-mismatch"


def test_a_wrong_entry_the_spot_check_missed_costs_the_node_a_forward_pass_and_no_backward_pass(net, monkeypatch):
    """The same cheater (one entry of 16 guessed), on a node whose spot check picked another record
    (15 times in 16): the node checks every entry from the gradient's own forward pass *before* the
    backward pass, so the lie costs it a forward pass, not a gradient. Before this order, the node
    ran the backward pass and only then compared the sheet (one backward pass counted here)."""
    import torch
    spec, p, w, honest, x, y = net
    bad = honest.sheet.copy()
    bad[5] += 2**20
    cheat = proof_from_q(p, TEMPLATE, w, honest.q, sheet=bad)
    backward, real = [], torch.Tensor.backward
    monkeypatch.setattr(torch.Tensor, "backward", lambda self, *a, **k: backward.append(1) or real(self, *a, **k))
    seeds = [s for s in range(40) if spot_order(p.batch_size, random.Random(s)) != [5]][:3]
    for seed in seeds:                                    # the spot check looks elsewhere and passes
        with pytest.raises(InvalidProof, match="record 5 of the batch") as err:
            verify(spec.pog, spec.train, spec.validation, ModelState(PARENT, w), cheat, EASIEST,
                   spot_rng=random.Random(seed))
        assert err.value.reason == "loss-sheet-mismatch"
    assert backward == []
    assert reason(spec, w, GradientProof(honest.header, honest.payload), random.Random(seeds[0])) == "accepted"
    assert backward == [1]                                # the counter sees the honest block's one backward pass


def test_a_replayed_sheet_under_another_header_is_refused_at_the_spot_check(net, gradients):
    """Replaying a valid block's payload (its Q and sheet) under another header: another batch, so
    the sheet is wrong and no gradient is spent."""
    spec, p, w, honest, *_ = net
    other = replace(TEMPLATE, time=TEMPLATE.time + 1)
    replayed = proof_from_q(p, other, w, honest.q, sheet=honest.sheet)
    assert reason(spec, w, replayed, random.Random(3)) == "loss-sheet-mismatch"
    assert gradients == []


def test_the_allowance_admits_either_rounding_only_next_to_a_boundary():
    k = 32
    q = 2.0**-k
    base = 3.0
    near = base + (0.5 + SHEET_DELTA / 4) * q            # x = n + 0.5 + δ/4 quanta: both roundings allowed
    far = base + 0.2 * q                                   # x = n + 0.2: only n
    n = round(base * 2**k)
    assert sheet_mismatches(np.array([n, n + 1]), np.array([near, near]), k).size == 0
    assert sheet_mismatches(np.array([n, n + 1, n - 1]), np.array([far, far, far]), k).tolist() == [1, 2]
    assert sheet_mismatches(np.array([n]), np.array([float("nan")]), k).tolist() == [0]


def test_check_records_without_the_records_losses_is_refused(net):
    """``check_records`` is called with the per-record losses; asking for it without them is a caller's
    mistake, named, before any pass is run."""
    from gradientcoin_edu.proof_of_gradient import canonical_gradient
    spec, p, w, honest, x, y = net
    with pytest.raises(ValueError, match="check_records needs per_record=True"):
        canonical_gradient(p, w, x, y, check_records=lambda losses: None)
