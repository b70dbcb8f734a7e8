"""ProofOfGradient as the chain's WorkRule: real BlockHeader/Block objects, connect and
disconnect restore weights exactly, a rejected block changes nothing, and replaying the same
blocks on a fresh node gives the same weights roots."""
from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from gradientcoin_edu.chain.bits import bits_to_target
from gradientcoin_edu.chain.block import Block, BlockHeader, compute_tx_root
from gradientcoin_edu.chain.work import WorkRule
from gradientcoin_edu.errors import InvalidBlock, InvalidProof, ModelError
from gradientcoin_edu.model import CharTokenizer, builtin_datasets
from gradientcoin_edu.proof_of_gradient import PoGParams, ProofOfGradient
from _fixtures import one_torch_thread  # noqa: F401 (fixtures)

BITS = 0x207FFFFF                      # regtest: the easiest target, about 1 ticket in 2 wins
ALICE = hashlib.sha256(b"alice").digest()
BOB = hashlib.sha256(b"bob").digest()


@pytest.fixture(scope="module")
def setup():
    train, val = builtin_datasets(32)
    params = PoGParams.for_data(train, val, tokenizer=CharTokenizer())
    genesis = BlockHeader(1, bytes(32), compute_tx_root(()), weights_root=params.genesis_weights_root(),
                          time=1_700_000_000, bits=BITS)
    return params, train, val, genesis


def new_rule(setup) -> ProofOfGradient:
    params, train, val, genesis = setup
    return ProofOfGradient(params, train, val, genesis_hash=genesis.hash())


def mine_block(rule: ProofOfGradient, parent: BlockHeader, miner: bytes, start_nonce: int = 0) -> Block:
    template = BlockHeader(1, parent.hash(), compute_tx_root(()), time=parent.time + 600, bits=BITS, miner_id=miner)
    result = rule.mine(template, start_nonce=start_nonce, max_attempts=64)
    assert result is not None
    return Block(result.header, (), result.payload)


@pytest.fixture(scope="module")
def three_blocks(setup):
    """Three blocks mined in a row (by Alice, Bob, Alice) and the weights after each."""
    rule, parent, blocks, roots = new_rule(setup), setup[3], [], []
    for miner in (ALICE, BOB, ALICE):
        block = mine_block(rule, parent, miner)
        rule.check_header(block.header, parent)
        rule.connect(block, parent, len(blocks) + 1)
        blocks.append(block)
        roots.append(rule.weights_root())
        parent = block.header
    return blocks, roots


def test_implements_the_work_rule_protocol(setup):
    rule = new_rule(setup)
    assert isinstance(rule, WorkRule) and rule.name == "proof-of-gradient"
    assert rule.weights_root() == setup[3].weights_root == setup[0].genesis_weights_root()


def test_connect_moves_the_weights_and_commits_to_them(setup, three_blocks):
    blocks, roots = three_blocks
    assert len(set(roots)) == 3
    assert [b.header.weights_root for b in blocks] == roots


def test_disconnect_restores_every_weight_exactly(setup, three_blocks):
    blocks, roots = three_blocks
    rule, parent, undos = new_rule(setup), setup[3], []
    genesis_weights = rule.weights.copy()
    for b in blocks:
        undos.append(rule.connect(b, parent, len(undos) + 1))
        parent = b.header
    after_two = None
    for b, undo in zip(reversed(blocks), reversed(undos)):
        rule.disconnect(b, undo)
        if b is blocks[2]:
            after_two = rule.weights_root()
    assert after_two == roots[1]
    assert np.array_equal(rule.weights, genesis_weights) and rule.tip_hash == setup[3].hash()
    with pytest.raises(ModelError):
        rule.disconnect(blocks[0], undos[0])             # not the tip any more


def test_replay_on_a_fresh_node_gives_identical_roots(setup, three_blocks):
    blocks, roots = three_blocks
    rule, parent, replayed = new_rule(setup), setup[3], []
    for height, b in enumerate(blocks, start=1):
        rule.connect(b, parent, height)
        replayed.append(rule.weights_root())
        parent = b.header
    assert replayed == roots


def test_a_rejected_block_changes_nothing(setup, three_blocks):
    blocks, _ = three_blocks
    rule = new_rule(setup)
    before = (rule.tip_hash, rule.weights.copy(), rule.val_loss())
    good = blocks[0]
    bad_payload = bytearray(good.payload)
    bad_payload[8] ^= 0x40
    forged = Block(good.header, (), bytes(bad_payload))
    with pytest.raises(InvalidProof) as err:
        rule.connect(forged, setup[3], 1)
    assert err.value.reason == "grad-root-mismatch"
    assert (rule.tip_hash, rule.val_loss()) == (before[0], before[2])
    assert np.array_equal(rule.weights, before[1])


def test_stale_parent_is_rejected(setup, three_blocks):
    blocks, _ = three_blocks
    rule = new_rule(setup)
    rule.connect(blocks[0], setup[3], 1)
    stale = mine_block(new_rule(setup), setup[3], BOB, start_nonce=100)   # another child of genesis
    with pytest.raises(InvalidProof) as err:
        rule.connect(stale, setup[3], 1)
    assert err.value.reason == "stale-parent"


def test_check_header_rejects_a_losing_ticket(setup, three_blocks):
    blocks, _ = three_blocks
    rule = new_rule(setup)
    header = blocks[0].header
    hard = BlockHeader(1, header.prev_hash, header.tx_root, header.grad_root, header.weights_root,
                       header.time, 0x03000001, header.nonce, header.miner_id)   # target 1
    with pytest.raises(InvalidBlock) as err:
        rule.check_header(hard, setup[3])
    assert err.value.reason == "bad-ticket" and isinstance(err.value, InvalidProof)


def test_a_whole_block_takes_well_under_a_second(setup):
    """Mine one ticket at the easiest target and verify it (timings are noisy on shared CPUs)."""
    rule = new_rule(setup)
    rule.val_loss()                                           # warm the model cache
    start = time.perf_counter()
    block = mine_block(rule, setup[3], ALICE)
    rule.connect(block, setup[3], 1)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"one block took {elapsed:.2f} s"
