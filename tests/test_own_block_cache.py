"""A node connects the block it just mined without redoing the miner's work (``ProofOfGradient
.remember_mined``, the body and weights-root memories of ``proof_of_gradient/rule.py``), and
nothing else gets that shortcut.

Consensus must not move: the miner's own connect and a foreign node's full verification of the
same blocks end in the same state, bit for bit, for both optimizers. And the attacker's side:
a block that merely *looks* like our own - our header with another payload, another loss sheet, or
our block on other parent weights - is verified in full and refused, because every memory is
keyed on everything its answer depends on (block hash, payload bytes, the parent state itself,
the dataset root).
"""
from __future__ import annotations

import importlib
from collections import Counter

import numpy as np
import pytest

from gradientcoin_edu.chain import AddResult, Block
from gradientcoin_edu.errors import InvalidProof, MutatedBlock
from gradientcoin_edu.ledger import Wallet
from gradientcoin_edu.llm import LLMChain, LLMSpec
from gradientcoin_edu.model.fixed_point import weights_root
from gradientcoin_edu.proof_of_gradient.sheet import join_payload, split_payload
from _fixtures import one_torch_thread  # noqa: F401 (fixture)

CLOCK = lambda: 2_000_000_000                      # noqa: E731  (a fixed clock, long after genesis)
MINER = Wallet.from_seed("own-block miner")
_verify_module = importlib.import_module("gradientcoin_edu.proof_of_gradient.verify")
_update_module = importlib.import_module("gradientcoin_edu.proof_of_gradient.rule")


@pytest.fixture(scope="module", params=["lion", "sgd"])
def spec(request) -> LLMSpec:
    """The tiny preset with each optimizer (Lion: its own; SGD: plain, invertible)."""
    return LLMSpec.builtin("tiny", pog=None if request.param == "lion" else {"optimizer": 0})


@pytest.fixture
def counted(monkeypatch) -> Counter:
    """Counts the gradients ``verify`` recomputes and the updates the rule re-applies."""
    calls: Counter = Counter()

    def wrap(module, name):
        fn = getattr(module, name)

        def counting(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        monkeypatch.setattr(module, name, counting)

    wrap(_verify_module, "canonical_gradient")
    wrap(_update_module, "apply_update")
    return calls


def _state(chain: LLMChain) -> tuple:
    """Everything consensus derives, the weights root computed from scratch."""
    return (chain.tip_hash, weights_root(chain.weights, chain.spec.pog.chunk_bytes), chain.rule.weights_root(),
            chain.weights.tobytes(), chain.dataset.root, chain.val_loss())


def test_own_connect_and_foreign_verification_end_in_the_same_state(spec, counted):
    """Five blocks: the miner connects its own (no gradient, no update recomputed), another node
    verifies each in full (one gradient per block); after every block both hold the same state."""
    miner, other = LLMChain(spec, clock=CLOCK), LLMChain(spec, clock=CLOCK)
    for _ in range(5):
        block = miner.mine(MINER.address).block
        counted.clear()
        assert miner.add_block(block) is AddResult.EXTENDED
        assert counted == Counter()                            # the miner's own result, reused
        assert other.add_block(block) is AddResult.EXTENDED
        assert counted["canonical_gradient"] == 1              # the other node recomputed it
        assert _state(miner) == _state(other)
        assert miner.rule.weights_root() == block.header.weights_root


def test_our_header_with_another_payload_is_refused(spec):
    """Same header, other gradient bytes: the chain drops it as mutated, and the rule, asked directly,
    refuses it with the full check's reason - the cached result of our block is not used."""
    chain = LLMChain(spec, clock=CLOCK)
    block = chain.mine(MINER.address).block
    q_bytes, sheet = split_payload(block.payload, spec.pog.n_params, spec.pog.batch_size)
    other_q = bytes([q_bytes[0] ^ 1]) + bytes(q_bytes[1:])
    forged = Block(block.header, block.txs, join_payload(other_q, sheet))
    with pytest.raises(MutatedBlock) as err:
        chain.add_block(forged)
    assert err.value.reason == "grad-root-mismatch"
    root = chain.rule.weights_root()
    with pytest.raises(InvalidProof) as err:
        chain.rule.connect(forged, chain.tip.header, 1)
    assert err.value.reason == "grad-root-mismatch"
    assert chain.height == 0 and chain.rule.weights_root() == root
    assert chain.add_block(block) is AddResult.EXTENDED         # the genuine copy still connects


def test_our_header_with_another_loss_sheet_is_refused(spec):
    """The loss sheet is under grad_root: a copy of our block with one sheet entry changed (a
    relayer's mutation) is refused, though its Q bytes are ours."""
    chain = LLMChain(spec, clock=CLOCK)
    block = chain.mine(MINER.address).block
    q_bytes, sheet = split_payload(block.payload, spec.pog.n_params, spec.pog.batch_size)
    bad = sheet.copy()
    bad[0] += 1
    forged = Block(block.header, block.txs, join_payload(q_bytes, bad))
    with pytest.raises(MutatedBlock) as err:
        chain.add_block(forged)
    assert err.value.reason == "grad-root-mismatch"
    with pytest.raises(InvalidProof) as err:
        chain.rule.connect(forged, chain.tip.header, 1)
    assert err.value.reason == "grad-root-mismatch"
    assert chain.add_block(block) is AddResult.EXTENDED


def test_our_block_on_other_parent_weights_is_verified_again(spec, counted):
    """The parent hash is the same but the parent weights are not (the rule was reset to other
    weights under the same hash): our cached new weights must not be used; the update is re-applied
    to the weights the rule really holds, and its root does not match the header's."""
    chain = LLMChain(spec, clock=CLOCK)
    block = chain.mine(MINER.address).block
    rule = chain.rule
    tampered = rule.weights.copy()
    tampered[0] += 1
    rule.pog.reset(rule.tip_hash, tampered)
    counted.clear()
    with pytest.raises(InvalidProof) as err:
        rule.connect(block, chain.tip.header, 1)
    assert err.value.reason == "weights-root-mismatch"
    assert counted["apply_update"] == 1                          # recomputed, not taken from the cache
    assert np.array_equal(rule.weights, tampered)                # and nothing moved


def test_the_same_weights_in_another_array_still_connect(spec, counted):
    """The parent state is compared by identity, so equal weights in a new array (a reorg away and
    back) take the slower path - re-apply the update, check its root - and still connect."""
    chain = LLMChain(spec, clock=CLOCK)
    block = chain.mine(MINER.address).block
    rule = chain.rule
    rule.pog.reset(rule.tip_hash, rule.weights.copy())
    counted.clear()
    assert chain.add_block(block) is AddResult.EXTENDED
    assert counted == Counter({"apply_update": 1})               # no gradient: verified on this parent before
    other = LLMChain(spec, clock=CLOCK)
    other.add_block(block)
    assert _state(chain) == _state(other)


def test_a_block_mined_elsewhere_gets_no_shortcut(spec, counted):
    """Two miners: each node fully verifies the other's blocks, whichever of them it mined itself."""
    a, b = LLMChain(spec, clock=CLOCK), LLMChain(spec, clock=CLOCK)
    other_miner = Wallet.from_seed("own-block rival").address
    for i in range(4):
        mine, follow = (a, b) if i % 2 == 0 else (b, a)
        block = mine.mine(MINER.address if i % 2 == 0 else other_miner).block
        mine.add_block(block)
        counted.clear()
        follow.add_block(block)
        assert counted["canonical_gradient"] == 1
    assert _state(a) == _state(b)
