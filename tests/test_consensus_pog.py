"""Proof-of-gradient under attack: each test plays the attacker.

On the old rules (batch seed and ticket over parent, miner id, nonce and grad_root only; no loss sheet;
delta 2^-20 with a cap of 8; no size bound; a node's own-block shortcut hashing any payload):
a stolen proof with a new coinbase connected, a sibling from the same ticket connected, a 109k-
parameter model had 0.2 free elements per gradient, n_head = 0 raised ZeroDivisionError, a huge
genesis model was allocated, and a malformed copy of a node's own block raised KernelError.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gradientcoin_edu.chain import AddResult, Block, compute_tx_root
from gradientcoin_edu.chain.work import header_target
from gradientcoin_edu.errors import InvalidBlock, ModelError, ParseError
from gradientcoin_edu.ledger import TxOut, Wallet
from gradientcoin_edu.llm import LLMChain, LLMParams, LLMSpec, read_genesis
from gradientcoin_edu.llm.commitment import commitment_coinbase, read_commitment
from gradientcoin_edu.llm.miner import mine_proof
from gradientcoin_edu.llm.rule import miner_id_for
from gradientcoin_edu.model import GPTConfig
from gradientcoin_edu.proof_of_gradient import PoGParams
from gradientcoin_edu.proof_of_gradient import grad_root, join_payload
from gradientcoin_edu.proof_of_gradient.params import GRIND_LOG2, MAX_PARAMS
from _fixtures import gradients, one_torch_thread, spec  # noqa: F401 (fixtures)

CLOCK = lambda: 2_000_000_000                      # noqa: E731
ALICE = Wallet.from_seed("pog-alice")
MALLORY = Wallet.from_seed("pog-mallory")


def state(chain: LLMChain):
    return chain.tip.hash, chain.height, chain.rule.weights_root(), chain.utxo.copy(), len(chain.dataset)


def redressed(chain: LLMChain, block: Block, header_changes: dict, txs=None) -> Block:
    """``block`` re-dressed without a new gradient: other header fields (and transactions), the same Q;
    the attacker grinds free fields (the coinbase tag) until the new header hash wins."""
    txs = tuple(block.txs if txs is None else txs)
    for tag in range(200):
        coinbase = commitment_coinbase(txs[0].coinbase_height, list(txs[0].outputs), read_commitment(txs[0]),
                                       tag.to_bytes(2, "little"))
        all_txs = (coinbase, *txs[1:])
        header = replace(block.header, tx_root=compute_tx_root(all_txs), **header_changes)
        if int.from_bytes(header.hash(), "little") <= header_target(header):
            return Block(header, all_txs, block.payload)
    raise AssertionError("no winning header")


def test_a_stolen_proof_with_a_new_coinbase_is_rejected(spec, gradients):
    chain = LLMChain(spec, clock=CLOCK)
    honest = chain.mine(ALICE.address).block
    cb = honest.txs[0]
    theirs = commitment_coinbase(cb.coinbase_height, [TxOut(cb.outputs[0].amount, MALLORY.address)], read_commitment(cb))
    before, n = state(chain), len(gradients)
    # Mallory names herself as the miner: her batch is another one, Alice's loss sheet does not match
    # it (one record's forward pass, no gradient), nor would Alice's Q
    stolen = redressed(chain, honest, dict(miner_id=miner_id_for(MALLORY.address)), (theirs,))
    with pytest.raises(InvalidBlock) as err:
        chain.add_block(stolen)
    assert err.value.reason == "loss-sheet-mismatch"
    assert len(gradients) == n
    # she keeps Alice's miner id: the coinbase must pay that id's address (no gradient spent on it)
    stolen = redressed(chain, honest, {}, (theirs,))
    with pytest.raises(InvalidBlock) as err:
        chain.add_block(stolen)
    assert err.value.reason == "coinbase-not-to-miner" and len(gradients) == n
    assert all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b for a, b in zip(before[:3], state(chain)[:3]))
    assert chain.add_block(honest) is AddResult.EXTENDED            # Alice's block is untouched
    assert chain.balance(ALICE.address) > 0 and chain.balance(MALLORY.address) == 0


def test_a_sibling_from_the_same_ticket_is_rejected_a_valid_one_costs_fresh_gradients(spec, gradients):
    """Equivocation: Alice makes a second version of her winning block (another time: conflicting
    transactions work the same way, through tx_root). Re-using the proof: rejected. A valid sibling
    needs a new proof: measured, it costs gradients like any block (about 2 at this target)."""
    chain = LLMChain(spec, clock=CLOCK)
    chain.add_block(chain.mine(ALICE.address).block)
    first = chain.mine(ALICE.address).block
    chain.add_block(first)
    other = LLMChain(spec, clock=CLOCK)                 # a merchant's node that has not seen `first`
    other.add_block(chain.block_at(1))
    sibling = redressed(other, first, dict(time=first.header.time + 1))
    with pytest.raises(InvalidBlock) as err:
        other.add_block(sibling)
    assert err.value.reason == "loss-sheet-mismatch"
    n = len(gradients)
    proof = mine_proof(other.rule, replace(first.header, time=first.header.time + 1, nonce=0))
    fresh = len(gradients) - n
    assert fresh == proof.attempts >= 1                 # a valid sibling: fresh gradients, like a new block
    assert other.add_block(Block(proof.header, first.txs, proof.payload)) is AddResult.EXTENDED


def test_a_payload_that_does_not_match_its_header_costs_the_node_no_gradient(spec, gradients):
    """A genuine header with another payload (junk Q, another loss sheet, truncated): dropped before
    any gradient, and as *mutated* (the hash is not marked: the genuine block is still accepted)."""
    chain = LLMChain(spec, clock=CLOCK)
    honest = chain.mine(ALICE.address).block
    n_q = 4 * spec.pog.n_params
    junk = np.random.default_rng(1).integers(-1000, 1000, spec.pog.n_params).astype("<i4").tobytes()
    other_sheet = honest.payload[:n_q] + bytes(8 * spec.pog.batch_size)
    n = len(gradients)
    for payload in (junk + honest.payload[n_q:], other_sheet, honest.payload[:-1], b""):
        with pytest.raises(InvalidBlock) as err:
            chain.add_block(Block(honest.header, honest.txs, payload))
        assert err.value.reason in ("payload-size", "grad-root-mismatch")
    assert len(gradients) == n
    assert chain.add_block(honest) is AddResult.EXTENDED


def test_a_junk_block_costs_the_node_one_record_forward_pass_and_no_gradient(spec, gradients, monkeypatch):
    """Mallory grinds a winning header over a junk payload (``D = 2`` hashes at this target: whatever
    her hash rate, that is all a junk block costs her) with a junk loss sheet. The node recomputes the
    loss of one record it picks itself (one forward pass on one record), finds the mismatch and stops:
    no gradient. (Under the block stamp, a forger who paid the stamp's hashes - 2^13 here, 8 to 800
    times fewer seconds on a faster hasher - cost the node one full gradient.)"""
    import importlib
    verify_module = importlib.import_module("gradientcoin_edu.proof_of_gradient.verify")
    spot = []
    real = verify_module.record_losses
    monkeypatch.setattr(verify_module, "record_losses", lambda *a, **k: spot.append(len(a[2])) or real(*a, **k))
    chain = LLMChain(spec, clock=CLOCK)
    chain.mine_and_add(ALICE.address)
    template = chain.mine(MALLORY.address).block
    p = spec.pog
    junk = join_payload(np.random.default_rng(2).integers(-1000, 1000, p.n_params).astype("<i4").tobytes(),
                        np.random.default_rng(3).integers(0, 2**34, p.batch_size))
    header = replace(template.header, grad_root=grad_root(junk, p.chunk_bytes))
    hashes = 0
    for nonce in range(10_000):
        header, hashes = replace(header, nonce=nonce), hashes + 1
        if int.from_bytes(header.hash(), "little") <= header_target(header):
            break
    assert hashes <= 64
    n = len(gradients)
    with pytest.raises(InvalidBlock) as err:
        chain.add_block(Block(header, template.txs, junk))
    assert err.value.reason == "loss-sheet-mismatch" and len(gradients) == n
    assert spot == [1]                                   # one forward pass, on one record
    assert chain.height == 1


def test_a_malformed_copy_of_our_own_block_is_an_invalid_block_not_a_kernel_error(spec):
    chain = LLMChain(spec, clock=CLOCK)
    mined = chain.mine(ALICE.address).block             # remembered as our own: connect skips the gradient
    for payload in (mined.payload[:-1], mined.payload[:-5], mined.payload + b"\0"):
        with pytest.raises(InvalidBlock):
            chain.rule.connect(Block(mined.header, mined.txs, payload), chain.tip.header, 1)
        assert chain.rule.height == 0
    assert chain.add_block(mined) is AddResult.EXTENDED


def test_a_reorg_back_to_verified_blocks_recomputes_no_gradient(spec, gradients):
    chain = LLMChain(spec, clock=CLOCK)
    a = [chain.mine_and_add(ALICE.address) for _ in range(2)]
    rival = LLMChain(spec, clock=CLOCK)
    b = [rival.mine_and_add(MALLORY.address, time=2_000_000_000 + 7 * i) for i in range(3)]
    for block in b:
        chain.add_block(block)                          # the heavier branch: reorg to it
    assert chain.tip.hash == b[-1].hash()
    for block in a:
        rival.add_block(block)
    rival_more = LLMChain(spec, clock=CLOCK)
    for block in a:
        rival_more.add_block(block)
    c = [rival_more.mine_and_add(ALICE.address) for _ in range(2)]   # a's branch grows past b's
    n = len(gradients)
    for block in c:
        chain.add_block(block)
    assert chain.tip.hash == c[-1].hash()
    assert len(gradients) - n == len(c)                # only the two new blocks; a[0], a[1] not recomputed


# --- section 3: the tolerance is derived, and the grinding bound asserted -----------------------

@pytest.mark.parametrize("preset", ["micro", "nano", "gpu"], ids=["micro", "nano", "baby-gpt"])
def test_free_elements_per_gradient_are_below_2_to_the_minus_10_at_every_preset(preset):
    """(The "gpu" preset is only built here, not run: the id avoids the CUDA-only marker.)"""
    p = PoGParams(model=GPTConfig.preset(preset))
    assert p.free_elements < 2.0**-GRIND_LOG2
    assert p.grinding_factor <= 1.001
    with pytest.raises(ModelError) as err:               # the old tolerance is refused
        p.replace(delta_log2=20)
    assert err.value.reason == "bad-tolerance"


# --- section 7: parsers and bounds ---------------------------------------------------------------

def test_n_head_zero_is_a_parse_error_everywhere(spec):
    bad = GPTConfig.preset("micro").serialize()[:12] + (0).to_bytes(4, "little") + GPTConfig.preset("micro").serialize()[16:]
    with pytest.raises(ParseError):
        GPTConfig.parse(bad)
    raw = spec.pog.serialize()
    with pytest.raises(ParseError):
        PoGParams.parse(bad + raw[24:])
    llm = spec.params.serialize()
    with pytest.raises(ParseError):
        LLMParams.parse(llm[:2] + bad + llm[2 + 24:])


def test_a_genesis_with_a_huge_model_is_refused_before_allocating(spec):
    huge = GPTConfig(vocab_size=4096, block_size=1024, n_layer=4096, n_head=64, n_embd=4096)
    with pytest.raises(ModelError) as err:
        PoGParams(model=huge)
    assert err.value.reason == "model-too-large" and str(MAX_PARAMS // 1000) in err.value.message.replace(",", "")
    raw = spec.params.serialize()
    forged = raw[:2] + huge.serialize() + raw[2 + 24:]
    g = spec.genesis
    with pytest.raises(InvalidBlock) as err:
        read_genesis(Block(g.header, g.txs, forged))
    assert err.value.reason == "bad-genesis" and "MAX_PARAMS" in err.value.message


def test_a_light_client_pins_the_chunk_count_from_the_chain_parameters(spec):
    """The attacker re-labels the real bytes of one chunk as another, choosing the leaf count in the
    proof so that the Merkle path hashes the same way (a carried-up last leaf). The old check,
    trusting ``proof.leaf_count``, accepted such a relabelling; the pinned count refuses it."""
    from gradientcoin_edu.crypto.hashes import sha256
    from gradientcoin_edu.crypto.merkle import MerkleProof, verify_proof
    from gradientcoin_edu.llm.light import WeightsChunkProof, n_chunks, prove_weights_chunk, verify_weights_chunk
    chain = LLMChain(spec, clock=CLOCK)
    chain.mine_and_add(ALICE.address)
    header, count = chain.header_at(1), n_chunks(spec)
    relabelled = []
    for real in range(count):
        p = prove_weights_chunk(chain, 1, real)
        for index in range(count):
            for leaves in range(index + 1, 2 * count):
                fake = MerkleProof(index, leaves, p.proof.siblings, p.proof.mode)
                if index != real and verify_proof(sha256(p.chunk), fake, header.weights_root):   # the old rule
                    relabelled.append(WeightsChunkProof(1, index, p.chunk, fake))
    assert relabelled, "no relabelling of this tree shape: the attack needs a carried-up last chunk"
    assert not any(verify_weights_chunk(header, fake, spec) for fake in relabelled)
    assert all(verify_weights_chunk(header, prove_weights_chunk(chain, 1, i), spec) for i in range(count))


def test_a_forged_gradient_is_refused_before_the_answers_and_the_screen_are_computed(monkeypatch):
    """A winning header over a junk gradient, carrying paid queries and a junk answers root: the
    node refuses it for its loss sheet (one record's forward pass) without computing a single
    answer - the answers of 8 long queries cost several verifications, so checking them first let
    a forger make a node work far beyond what refusing the gradient costs."""
    import dataclasses

    import numpy as np

    from gradientcoin_edu.chain import Block, compute_tx_root
    from gradientcoin_edu.chain.work import header_target
    from gradientcoin_edu.errors import InvalidBlock
    from gradientcoin_edu.ledger import TxOut, Wallet
    from gradientcoin_edu.llm import LLMChain, LLMSpec
    from gradientcoin_edu.llm import rule as llm_rule
    from gradientcoin_edu.llm.commitment import Commitment, commitment_coinbase
    from gradientcoin_edu.llm.inference import Query, build_query_tx
    from gradientcoin_edu.llm.miner import block_template, select_txs
    from gradientcoin_edu.proof_of_gradient import grad_root, join_payload

    spec = LLMSpec.builtin("tiny")
    clock = lambda: 2_000_000_000                                # noqa: E731
    mallory = Wallet.from_seed("forger with queries")
    honest, victim = LLMChain(spec, clock=clock), LLMChain(spec, clock=clock)
    for _ in range(3):
        block = honest.mine(mallory.address).block
        honest.add_block(block)
        victim.add_block(block)
    coins = honest.utxo.coins_of(mallory.address)
    txs = [build_query_tx(honest.utxo, mallory.key, Query(f"q{i} abcdefgh", honest.height, 8), spec.params,
                          exclude=[o for o, _ in coins if o != op]) for i, (op, _) in enumerate(coins)]
    chosen, contents, fees, _ = select_txs(honest.rule, honest.utxo, honest.height + 1, txs, True)
    header, all_txs = block_template(honest, chosen, contents, fees, mallory.address)
    coinbase = commitment_coinbase(honest.height + 1, [TxOut(all_txs[0].outputs[0].amount, mallory.address)],
                                   Commitment(honest.dataset.root, bytes(32)), b"")   # a junk answers root
    all_txs = (coinbase, *all_txs[1:])
    junk = join_payload(np.random.default_rng(7).integers(-50, 50, spec.pog.n_params).astype("<i4").tobytes(),
                        np.zeros(spec.pog.batch_size, dtype=np.int64))
    header = dataclasses.replace(header, tx_root=compute_tx_root(all_txs), grad_root=grad_root(junk, spec.pog.chunk_bytes))
    target = header_target(header)
    header = next(h for h in (dataclasses.replace(header, nonce=n) for n in range(1000))
                  if int.from_bytes(h.hash(), "little") <= target)
    forged = Block(header, all_txs, junk)
    answered = []
    real_answers = llm_rule.LLMRule.answers
    monkeypatch.setattr(llm_rule.LLMRule, "answers", lambda self, c: answered.append(c) or real_answers(self, c))
    with pytest.raises(InvalidBlock) as err:
        victim.add_block(forged)
    assert err.value.reason == "loss-sheet-mismatch" and answered == []
    assert victim.tip_hash == honest.tip_hash


@pytest.mark.parametrize("cfg", [
    GPTConfig(vocab_size=31, block_size=16, n_layer=1, n_head=1, n_embd=8),
    GPTConfig(vocab_size=65, block_size=64, n_layer=3, n_head=4, n_embd=48),
    GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=16, bias=False),
    GPTConfig(vocab_size=4096, block_size=128, n_layer=6, n_head=8, n_embd=256),
])
def test_the_parameter_count_by_arithmetic_equals_the_built_models(cfg):
    """The size bound is checked on a count computed from the config alone (no model built):
    it must be exactly the count of the model that would be built."""
    from gradientcoin_edu.model.fixed_point import count_params, num_params
    assert count_params(cfg) == num_params(cfg)


def test_a_huge_model_is_refused_without_building_it(monkeypatch):
    """The attacker's genesis names a 4,096-layer model: refusing it used to build that model on
    the meta device first (40-70 s of CPU); the arithmetic count refuses it without building."""
    from gradientcoin_edu.model import fixed_point

    def built(cfg):
        raise AssertionError(f"the model {cfg} was built to be counted")
    monkeypatch.setattr(fixed_point, "_spec", built)
    huge = GPTConfig(vocab_size=4096, block_size=1024, n_layer=4096, n_head=64, n_embd=4096)
    with pytest.raises(ModelError) as err:
        PoGParams(model=huge)
    assert err.value.reason == "model-too-large"
