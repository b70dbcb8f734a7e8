"""Verification side by side (``ProofOfGradient.prepare``, used by ``LLMSimulator``).

The simulator starts verifying a new block on every node it will reach, in a thread pool, so
that on a machine with two cores the nodes check it at the same time. That must change nothing
but the wall time: a node that connects the block uses the prepared result only if it was
computed on exactly the inputs the connect would use (the very tip state, the very dataset, the
same payload bytes, the same guard setting), and it is the same ``verify`` call - a forged
block prepared ahead is refused with the same reason, and a block prepared on a tip the node
has since left is verified again from scratch.
"""
from __future__ import annotations

import dataclasses
import importlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gradientcoin_edu.chain import AddResult, Block
from gradientcoin_edu.chain.work import header_target
from gradientcoin_edu.errors import InvalidBlock
from gradientcoin_edu.ledger import Wallet
from gradientcoin_edu.llm import LLMChain, LLMSpec
from gradientcoin_edu.llm.network import LLMSimulator
from gradientcoin_edu.model.fixed_point import weights_root
from gradientcoin_edu.proof_of_gradient import grad_root, join_payload
from gradientcoin_edu.proof_of_gradient.sheet import split_payload
from _fixtures import one_torch_thread  # noqa: F401 (fixture)

CLOCK = lambda: 2_000_000_000                      # noqa: E731
ALICE, BOB = Wallet.from_seed("parallel alice"), Wallet.from_seed("parallel bob")
_rule_module = importlib.import_module("gradientcoin_edu.proof_of_gradient.rule")


@pytest.fixture(scope="module")
def spec() -> LLMSpec:
    return LLMSpec.builtin("tiny")


@pytest.fixture
def pool():
    with ThreadPoolExecutor(2) as executor:
        yield executor


@pytest.fixture
def verifications(monkeypatch) -> Counter:
    """Counts the full ``verify`` calls the rule makes, in any thread."""
    calls: Counter = Counter()
    fn = _rule_module.verify

    def counting(*args, **kwargs):
        calls["verify"] += 1
        return fn(*args, **kwargs)
    monkeypatch.setattr(_rule_module, "verify", counting)
    return calls


def _state(chain: LLMChain) -> tuple:
    return (chain.tip_hash, weights_root(chain.weights, chain.spec.pog.chunk_bytes), chain.weights.tobytes(),
            chain.dataset.root, chain.val_loss())


def test_a_prepared_block_connects_to_the_same_state_without_a_second_verification(spec, pool, verifications):
    miner, prepared, plain = (LLMChain(spec, clock=CLOCK) for _ in range(3))
    for _ in range(4):
        block = miner.mine(ALICE.address).block
        miner.add_block(block)
        verifications.clear()
        assert prepared.rule.prepare(block, pool) is True
        assert prepared.add_block(block) is AddResult.EXTENDED
        assert verifications["verify"] == 1                  # the prepared call, not another one
        assert plain.add_block(block) is AddResult.EXTENDED
        assert verifications["verify"] == 2
        assert _state(prepared) == _state(plain) == _state(miner)
    assert not prepared.rule.pog._prepared                       # used once, then gone


def test_a_forged_block_prepared_ahead_is_refused_with_the_full_checks_reason(spec, pool):
    """A winning header over a junk gradient (size, grad_root and loss sheet all right): the worker's
    ``InvalidProof`` reaches the connect, and the block is marked invalid as usual."""
    honest = LLMChain(spec, clock=CLOCK)
    block = honest.mine(ALICE.address).block
    _, sheet = split_payload(block.payload, spec.pog.n_params, spec.pog.batch_size)
    junk = join_payload(np.random.default_rng(1).integers(-50, 50, spec.pog.n_params).astype("<i4").tobytes(), sheet)
    header = dataclasses.replace(block.header, grad_root=grad_root(junk, spec.pog.chunk_bytes))
    target = header_target(header)
    header = next(h for h in (header.with_nonce(n) for n in range(1000)) if int.from_bytes(h.hash(), "little") <= target)
    forged = Block(header, block.txs, junk)      # the honest sheet (right if the winning nonce is the same)
    victim = LLMChain(spec, clock=CLOCK)
    before = _state(victim)
    assert victim.rule.prepare(forged, pool) is True
    with pytest.raises(InvalidBlock) as err:
        victim.add_block(forged)
    assert err.value.reason in ("gradient-mismatch", "loss-sheet-mismatch")   # the batch: same nonce or not
    assert _state(victim) == before
    with pytest.raises(InvalidBlock) as err:
        victim.add_block(forged)
    assert err.value.reason == "known-invalid"
    assert victim.add_block(block) is AddResult.EXTENDED       # the honest block still connects


def test_a_block_prepared_on_other_state_is_verified_again(spec, pool, verifications):
    """Prepared on the tip's state; then the node holds equal weights in another array (as after a
    snapshot load): the prepared result, keyed on the state object itself, is not used - the block
    is verified again - and the node ends where the miner is."""
    miner = LLMChain(spec, clock=CLOCK)
    block = miner.mine(ALICE.address).block
    miner.add_block(block)
    node = LLMChain(spec, clock=CLOCK)
    assert node.rule.prepare(block, pool) is True
    node.rule.pog._prepared[block.hash()].future.result()            # the worker has finished
    node.rule.pog.reset(node.rule.tip_hash, node.rule.weights.copy())
    verifications.clear()
    assert node.add_block(block) is AddResult.EXTENDED
    assert verifications["verify"] == 1                          # verified again, here
    assert _state(node) == _state(miner)


def test_reorganisations_around_a_prepared_block_end_in_the_miners_state(spec, pool):
    """Prepared on genesis; the node first takes a rival block, then the prepared block's branch
    overtakes it. Disconnecting the rival restores the genesis state object itself, so the
    prepared result may be used (same inputs); either way the node ends in the miner's state."""
    a, b = LLMChain(spec, clock=CLOCK), LLMChain(spec, clock=CLOCK)
    first = a.mine(ALICE.address).block
    a.add_block(first)
    rival = b.mine(BOB.address).block
    node = LLMChain(spec, clock=CLOCK)
    assert node.rule.prepare(first, pool) is True
    node.add_block(rival)
    node.add_block(first)                                      # a side branch: stored, not connected
    second = a.mine(ALICE.address).block
    a.add_block(second)
    node.add_block(second)                                     # more work: reorganise onto first, second
    assert _state(node) == _state(a)


def test_a_block_with_another_payload_than_the_prepared_one_gets_no_shortcut(spec, pool, verifications):
    """The same header with other payload bytes (a mutated copy) is dropped as mutated; the genuine
    copy then connects with a full verification or the prepared one, never the mutated copy's."""
    miner, node = LLMChain(spec, clock=CLOCK), LLMChain(spec, clock=CLOCK)
    block = miner.mine(ALICE.address).block
    q_bytes, sheet = split_payload(block.payload, spec.pog.n_params, spec.pog.batch_size)
    mutated = Block(block.header, block.txs, join_payload(bytes([q_bytes[0] ^ 1]) + bytes(q_bytes[1:]), sheet))
    assert node.rule.prepare(mutated, pool) is False           # its body does not match its header
    assert node.rule.prepare(block, pool) is True
    with pytest.raises(InvalidBlock) as err:
        node.add_block(mutated)
    assert err.value.reason == "grad-root-mismatch"
    assert node.add_block(block) is AddResult.EXTENDED
    miner.add_block(block)
    assert _state(node) == _state(miner)


def test_a_prepared_verification_cancelled_before_it_ran_is_done_at_the_connect(spec, verifications):
    """``LLMSimulator.close()`` shuts its pool down and cancels the verifications still queued; a node
    that connects such a block afterwards verifies it itself (it used to raise ``CancelledError``
    out of ``add_block``) and ends in the miner's state."""
    miner, node = LLMChain(spec, clock=CLOCK), LLMChain(spec, clock=CLOCK)
    block = miner.mine(ALICE.address).block
    miner.add_block(block)
    executor, gate = ThreadPoolExecutor(1), threading.Event()
    executor.submit(gate.wait, 10)                              # the only worker is busy: the check queues
    assert node.rule.prepare(block, executor) is True
    executor.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert node.rule.pog._prepared[block.hash()].future.cancelled()
    verifications.clear()
    assert node.add_block(block) is AddResult.EXTENDED
    assert verifications["verify"] == 1                         # done here, at the connect
    assert _state(node) == _state(miner)


def test_the_simulator_ends_in_the_same_chain_with_and_without_parallel_verification(spec):
    """Three miners, 12 blocks, the same seed: identical tips, weights and stale blocks either way."""
    def run(workers: int):
        sim = LLMSimulator(spec, seed=5, parallel_verify=workers)
        try:
            for name in ("m1", "m2", "m3"):
                sim.add_node(name)
            sim.connect_random(degree=2)
            sim.run(blocks=12)
            sim.settle()
            chains = [sim.node(n).chain for n in sim.live()]
            return [_state(c) for c in chains], sorted(sim.stale_blocks())
        finally:
            sim.close()

    parallel, serial = run(2), run(0)
    assert parallel == serial
    assert len({s for s in parallel[0]}) == 1                 # and the nodes agree
