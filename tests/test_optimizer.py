"""The chain's optimizer: Lion in exact integers, its state committed in ``weights_root``.

The update is checked against its float definition; the learning-rate schedule against its
formula; the state (weights, momentum, step counter) is consensus: every node derives the same
bits, a reorg restores it bit for bit, snapshots and restarts carry it, a light client can prove
a chunk of it, and a miner who skips the momentum (publishing the SGD-like update) is refused."""
from __future__ import annotations

import numpy as np
import pytest

from gradientcoin_edu.errors import InvalidProof, ModelError, ParseError
from gradientcoin_edu.ledger import Wallet
from gradientcoin_edu.llm import LLMChain, LLMSpec
from gradientcoin_edu.llm.baseline import central_training
from gradientcoin_edu.llm.light import n_chunks, prove_weights_chunk, verify_weights_chunk
from gradientcoin_edu.llm.pruning import prune
from gradientcoin_edu.model.fixed_point import weights_root
from gradientcoin_edu.proof_of_gradient import PoGParams, ProofOfGradient
from gradientcoin_edu.proof_of_gradient.update import (LION, M_EXTRA_BITS, apply_update, invertible, lr_units,
                                                       split_state, undo_update)
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)

CLOCK = lambda: 2_000_000_000                      # noqa: E731
MINER = Wallet.from_seed("optim-miner")


@pytest.fixture(scope="module")
def lion():
    from gradientcoin_edu.model import GPTConfig
    return PoGParams(model=GPTConfig.preset("micro"), optimizer=LION, lr_num=1, lr_shift=10, warmup_steps=4,
                     lr_half_life=3, lr_min_shift=2)


def test_the_chain_presets_use_lion(spec):
    assert spec.pog.optimizer == LION and spec.pog.state_size == 2 * spec.pog.n_params + 1
    assert LLMSpec.builtin("demo").pog.optimizer == LION


def test_lion_step_is_the_float_definition_in_integers(lion):
    rng = np.random.default_rng(0)
    n = lion.n_params
    w0 = lion.genesis_weights()
    q1, q2 = (rng.integers(-2**20, 2**20, n).astype(np.int32) for _ in range(2))
    q1[:5] = 0                                                       # sign(0) = 0: those weights stay
    s1 = apply_update(w0, q1, lion)
    s2 = apply_update(s1, q2, lion)
    b1, b2 = lion.beta1_num / 2**16, lion.beta2_num / 2**16
    (w_0, m0, t0), (w_1, m1, t1), (w_2, m2, t2) = (split_state(s, lion) for s in (w0, s1, s2))
    assert (t0, t1, t2) == (0, 1, 2) and not m0.any()
    # step 1: m = 0, so the direction is sign(Q); the step is lr_units(1) weight units
    assert np.array_equal(w_0 - w_1, lr_units(lion, 1) * np.sign(q1))
    g1, g2 = (q.astype(np.float64) * 2**M_EXTRA_BITS for q in (q1, q2))   # the gradient in momentum units
    assert np.array_equal(m1, np.sign(q1) * np.floor(np.abs((1 - b2) * g1) + 0.5))
    # step 2: float definition (exact here: the products are integers below 2^53)
    c = lion.beta1_num * m1.astype(np.float64) + (2**16 - lion.beta1_num) * g2
    assert np.array_equal(w_1 - w_2, lr_units(lion, 2) * np.sign(c).astype(np.int64))
    v = b2 * m1 + (1 - b2) * g2
    assert np.max(np.abs(m2 - v)) <= 0.5 + 1e-9                      # one rounding, to nearest


def test_the_schedule_warms_up_then_halves_to_a_floor(lion):
    peak = 1 << (lion.scale_log2 - lion.lr_shift)
    got = [lr_units(lion, t) for t in range(1, 16)]
    assert got[:4] == [peak // 4, peak // 2, 3 * peak // 4, peak]    # warm-up over 4 steps
    assert got[3:6] == [peak] * 3 and got[6:9] == [peak // 2] * 3   # halving every 3 steps ...
    assert got[9:] == [peak // 4] * 6                                 # ... down to peak / 2^2


def test_lion_cannot_be_undone_from_q_but_sgd_can(lion):
    q = np.ones(lion.n_params, dtype=np.int32)
    s = apply_update(lion.genesis_weights(), q, lion)
    assert not invertible(lion)
    with pytest.raises(ModelError) as err:
        undo_update(s, q, lion)
    assert err.value.reason == "not-invertible"
    sgd = lion.replace(optimizer=0, lr_shift=2)
    w = sgd.genesis_weights()
    assert invertible(sgd) and np.array_equal(undo_update(apply_update(w, q, sgd), q, sgd), w)


def test_lion_refuses_weights_leaving_the_range_and_a_state_of_the_wrong_size(lion):
    s = lion.genesis_weights().copy()
    s[0] = 2**62 - 1
    with pytest.raises(InvalidProof) as err:
        apply_update(s, -np.ones(lion.n_params, dtype=np.int32), lion)
    assert err.value.reason == "weights-overflow"
    with pytest.raises(ModelError):
        apply_update(s[:-1], np.ones(lion.n_params, dtype=np.int32), lion)


def test_optimizer_fields_are_committed_and_checked(lion):
    assert PoGParams.parse(lion.serialize()) == lion
    assert lion.replace(warmup_steps=5).hash != lion.hash
    for bad in (dict(optimizer=2), dict(beta1_num=2**16), dict(lr_shift=40), dict(lr_min_shift=32)):
        with pytest.raises(ModelError):
            lion.replace(**bad)
    with pytest.raises(ParseError):
        PoGParams.parse(lion.serialize()[:-1])


def test_the_plain_work_rule_undoes_lion_exactly(spec):
    chain = LLMChain(spec, clock=CLOCK)
    blocks = [chain.mine_and_add(MINER.address) for _ in range(3)]
    rule = ProofOfGradient(spec.pog, spec.train, spec.validation, genesis_hash=spec.genesis.hash())
    states = [rule.weights]
    undos = []
    for h, b in enumerate(blocks, 1):
        undos.append(rule.connect(b, None, h))
        states.append(rule.weights)
    for b, u, before in zip(reversed(blocks), reversed(undos), reversed(states[:-1])):
        rule.disconnect(b, u)
        assert np.array_equal(rule.weights, before)


def test_a_reorg_restores_the_optimizer_state_bit_for_bit(spec):
    a = LLMChain(spec, clock=CLOCK)
    main = [a.mine_and_add(MINER.address) for _ in range(12)]
    states = [a.weights_at(h).copy() for h in range(13)]
    fork = LLMChain(spec, clock=CLOCK)
    for b in main[:3]:
        fork.add_block(b)
    side = [fork.mine_and_add(Wallet.from_seed("other").address, time=fork.tip.header.time + 7) for _ in range(11)]
    for b in side:                                                     # a longer branch from height 3
        a.add_block(b)
    assert a.tip.hash == side[-1].hash() and np.array_equal(a.weights, fork.weights)
    assert np.array_equal(a.weights_at(3), states[3])                  # momentum and step counter included
    b = LLMChain(spec, clock=CLOCK)                                    # and back: the main branch grows longer
    for blk in main:
        b.add_block(blk)
    for blk in side:
        b.add_block(blk)
    assert np.array_equal(b.weights, fork.weights)
    assert split_state(b.weights, spec.pog)[2] == 14                   # 14 updates on the side branch


def test_snapshots_restarts_and_pruning_carry_the_state(spec, tmp_path):
    path = tmp_path / "node.sqlite"
    chain = LLMChain(spec, store=str(path), clock=CLOCK, snapshot_interval=100)
    for _ in range(20):
        chain.mine_and_add(MINER.address)
    tip_state = chain.weights.copy()
    snap = chain.rule.snapshot(10)
    assert len(snap) == 12 + 8 * spec.pog.state_size
    _, state10 = chain.rule.parse_snapshot(snap)
    assert np.array_equal(state10, chain.weights_at(10)) and split_state(state10, spec.pog)[1].any()
    report = prune(chain, keep=6)
    assert report.blocks_pruned > 0
    h = chain.height - spec.params.query_window                        # queries may still name these
    assert weights_root(chain.weights_at(h), spec.pog.chunk_bytes) == chain.header_at(h).weights_root
    chain.close()
    again = LLMChain(spec, store=str(path), clock=CLOCK, snapshot_interval=100)
    assert np.array_equal(again.weights, tip_state)                    # weights, momentum and step counter
    again.mine_and_add(MINER.address)
    again.close()


def test_a_light_client_proves_a_chunk_of_the_momentum(spec):
    chain = LLMChain(spec, clock=CLOCK)
    for _ in range(3):
        chain.mine_and_add(MINER.address)
    last = n_chunks(spec) - 1                                          # the last chunk holds momentum and t
    proof = prove_weights_chunk(chain, 3, last)
    assert verify_weights_chunk(chain.header_at(3), proof, spec)
    assert int.from_bytes(proof.chunk[-8:], "little") == 3             # the step counter
    assert not verify_weights_chunk(chain.header_at(2), proof, spec)


def test_a_miner_who_skips_the_momentum_is_refused(spec):
    """The attacker publishes a correct gradient but moves the weights by ``lr * sign(Q)`` without
    updating the momentum and the step counter (cheaper to keep, or a node on the old rules): the
    committed state does not match, ``weights-root-mismatch``, and nothing changes."""
    from dataclasses import replace
    from gradientcoin_edu.chain import Block
    from gradientcoin_edu.errors import InvalidBlock
    from gradientcoin_edu.chain.work import header_target
    from gradientcoin_edu.proof_of_gradient import attempt
    miner = LLMChain(spec, clock=CLOCK)
    block = miner.mine(MINER.address).block
    for nonce in range(64):        # the forged header is another ticket (the block hash): one that wins
        a = attempt(miner.rule.params, miner.dataset, block.header, miner.weights, nonce)
        forged = miner.weights.copy()
        forged[:spec.pog.n_params] -= lr_units(spec.pog, 1) * np.sign(a.q).astype(np.int64)
        header = replace(a.header, weights_root=weights_root(forged, spec.pog.chunk_bytes))
        if int.from_bytes(header.hash(), "little") <= header_target(header):
            break
    victim = LLMChain(spec, clock=CLOCK)
    before = victim.weights.copy()
    with pytest.raises(InvalidBlock) as err:
        victim.add_block(Block(header, block.txs, a.payload))
    assert err.value.reason == "weights-root-mismatch"
    assert np.array_equal(victim.weights, before) and victim.height == 0
    victim.add_block(block)                                            # the honest block still connects
    assert victim.height == 1


def test_central_lion_in_float64_matches_the_chain_step_for_step(spec):
    """Parity in miniature: the chain's integer Lion against float64 Lion after 30 steps on the
    same batches (each block's, as its ticket chose them), so that only the arithmetic differs."""
    from gradientcoin_edu.proof_of_gradient.batch import batch_seed, select_indices
    chain = LLMChain(spec, clock=CLOCK)
    for _ in range(30):
        chain.mine_and_add(MINER.address)
    blocks = [e.block for e in chain.active_chain()][1:]
    batches = [select_indices(spec.train, b.header.prev_hash, batch_seed(b.header), spec.pog.batch_size)
               for b in blocks]
    central = central_training(spec, 30, eval_every=30, batches=batches)
    drawn = central_training(spec, 30, eval_every=30)           # other batches: the loss moves much more
    gap, batch_gap = abs(chain.val_loss() - central.final_loss), abs(drawn.final_loss - central.final_loss)
    assert gap < 0.01 * central.final_loss, (chain.val_loss(), central.final_loss)
    print(f"chain {chain.val_loss():.4f}  central on its batches {central.final_loss:.4f}  on drawn batches {drawn.final_loss:.4f}")
    assert gap < batch_gap
    with pytest.raises(ValueError, match="batches"):
        central_training(spec, 30, batches=batches[:29])


def test_the_evaluation_scores_exactly_the_corpus_templates():
    from gradientcoin_edu.llm.evaluation import evaluate, is_corpus_sentence, sentence_prompts, sum_prompts
    from gradientcoin_edu.model import generate_corpus
    lines = [line for line in generate_corpus(3, 300).splitlines() if "+" not in line]
    assert lines and all(is_corpus_sentence(line) for line in lines)          # every template line passes
    for bad in ("the cat sees a red ball", "the cat sees a red ball..", "ada has 1 boxs.", "the dog is red.",
                "the box box box bo", "bob has 3 box.", ""):
        assert not is_corpus_sentence(bad), bad
    spec = LLMSpec.builtin("demo")
    prompts = sentence_prompts(spec)
    assert len(prompts) == 40 and len(set(prompts)) == 40 and all(p.startswith("\n") for p in prompts)
    sums = sum_prompts(spec)                                  # every distinct sum of the validation text
    import re
    val_text = spec.tokenizer.decode(spec.validation.records.reshape(-1).tolist())
    distinct = {line for line in val_text.split("\n")[1:-1] if re.fullmatch(r"\d+\+\d+=\d+", line)}
    assert len(sums) == len(distinct) == 94 and all(want == f"{eval(p[1:-1])}\n" for p, want in sums)   # noqa: S307
    assert len(sum_prompts(spec, 50)) == 50
    e = evaluate(spec, spec.pog.genesis_weights(), n_sentences=5, n_sums=5)
    assert (e.sentences_valid, e.sums_correct) == (0.0, 0.0)                  # a newborn model knows nothing
