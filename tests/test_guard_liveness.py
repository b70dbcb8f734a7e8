"""Liveness of the anchored guard under a data flood (docs/protocol.md section 8, "Liveness";
``benchmarks/guard_liveness.py`` measures it on the ``demo`` preset).

The attacker pays for records the trained model finds implausible - the corpus written backwards -
after every block, hoping that once they fill part of every batch, every update raises the validation
loss past the anchored bound and no ticket can pass: the chain stops. The screen is what refuses them.
These tests play that attacker on the ``tiny`` preset: a stretch of chain played with the consensus
rule's functions (``llm.poisoning.run_blocks``: proof-of-gradient attempts, the screen's comparison per
transaction, the 25 % cap, the anchored guard; at most 50 tickets a block), and the flood's transaction
offered to a real ``LLMChain`` trained as far, whose consensus rule must refuse it."""
from __future__ import annotations

import pytest

from gradientcoin_edu.chain import AddResult
from gradientcoin_edu.errors import InvalidBlock
from gradientcoin_edu.ledger import Wallet
from gradientcoin_edu.llm import LLMChain, LLMSpec, build_data_tx
from gradientcoin_edu.llm.poisoning import PoisonRun, run_blocks
from gradientcoin_edu.model import generate_corpus
from gradientcoin_edu.proof_of_gradient import validation_loss

WARM = 120            # honest blocks before the flood: the model has learnt (validation loss 4.5 -> 1.5)
PER_BLOCK = 32        # records offered after every block
BLOCKS = 40


@pytest.fixture(scope="module")
def trained():
    spec = LLMSpec.builtin("tiny")
    w = spec.pog.genesis_weights()
    v = validation_loss(spec.pog, spec.validation, w)
    run = run_blocks(spec, PoisonRun(w, bytes(32), spec.train, v, v), WARM)
    assert not run.stalled and run.val < v - 2                     # an honest chain that learnt
    return run


def backwards_text() -> str:
    return "".join(line[::-1] + "\n" for line in generate_corpus(b"flood", 3000).splitlines())


def flood(spec, start: PoisonRun) -> tuple[PoisonRun, int]:
    """The backwards corpus offered after every block; returns the run and the blocks it mined."""
    run = run_blocks(spec, start.fork(), BLOCKS, PER_BLOCK, text=backwards_text())
    return run, len(run.losses)


def test_without_the_screen_an_implausible_flood_stalls_the_anchored_guard(trained):
    """What the screen prevents: with it switched off the records go in, fill part of every batch, and
    within a few blocks no ticket passes the anchored guard."""
    unscreened = LLMSpec.builtin("tiny", data_margin=1e9)
    run, mined = flood(unscreened, trained)
    assert run.attacker_records > 0 and run.screened_out == 0
    assert run.stalled and mined < BLOCKS
    assert run.guard_refused >= 50                                 # the last block: every ticket refused


def test_the_screen_refuses_the_flood_and_the_chain_goes_on(trained):
    spec = LLMSpec.builtin("tiny")
    run, mined = flood(spec, trained)
    offered = BLOCKS * -(-PER_BLOCK // spec.params.max_records_per_tx)
    assert run.attacker_records == 0 and run.screened_out == offered   # refused at the door, every one
    assert not run.stalled and mined == BLOCKS
    assert run.best <= trained.best                                # the model never got worse than its best


def test_a_real_chain_trained_as_far_refuses_the_flood_at_the_door():
    """The comparison the stretch above makes is the consensus rule's: an ``LLMChain`` after as many
    blocks refuses a block carrying the flood's first transaction (``data-implausible``), and its
    miner leaves the transaction out and goes on."""
    spec = LLMSpec.builtin("tiny")
    attacker, miner = Wallet.from_seed("flood attacker"), Wallet.from_seed("flood miner")
    chain = LLMChain(spec, clock=lambda: 2_000_000_000)
    chain.mine_and_add(attacker.address)                           # the attacker's coins for the fees
    for _ in range(WARM - 1):
        chain.mine_and_add(miner.address)
    rt, per_tx = spec.params.record_tokens, spec.params.max_records_per_tx
    tx = build_data_tx(chain.utxo, attacker.key, backwards_text()[: per_tx * rt], spec.params)
    with pytest.raises(InvalidBlock) as err:
        chain.mine(miner.address, [tx])
    assert err.value.reason == "data-implausible"
    block, _, left_out = chain.mine(miner.address, [tx], strict=False)
    assert left_out == [(tx, "data-implausible")]
    assert chain.add_block(block) is AddResult.EXTENDED and chain.height == WARM + 1    # it goes on without it
