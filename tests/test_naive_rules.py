"""The naive rule set of the attack lab (``gradientcoin_edu/naive_rules.py``) really is the old,
insecure behaviour: each attack of notebook 14 passes it, and the real rules refuse the same bytes."""
from __future__ import annotations

from dataclasses import replace

import pytest

from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)
from gradientcoin_edu.chain import BlockHeader, compute_tx_root
from gradientcoin_edu.errors import InvalidBlock, InvalidProof, MutatedBlock
from gradientcoin_edu.ledger import COIN, Transaction, TxOut, Wallet
from gradientcoin_edu.llm import LLMChain, miner_id_for
from gradientcoin_edu.naive_rules import NaiveInvalidCache, naive_check_block, naive_mine, naive_ticket

CLOCK = lambda: 2_000_000_000                      # noqa: E731
EASY = 2**252
ALICE, MALLORY = Wallet.from_seed("naive-alice"), Wallet.from_seed("naive-mallory")


def _coinbase_to(address, extra=b""):
    return (Transaction.coinbase(1, [TxOut(50 * COIN, address)], extra=extra),)


@pytest.fixture(scope="module")
def naive_block(spec):
    g = spec.genesis.header
    template = BlockHeader(1, g.hash(), bytes(32), time=g.time + 600, bits=g.bits, miner_id=miner_id_for(ALICE.address))
    return naive_mine(spec.pog, spec.train, template, _coinbase_to(ALICE.address), spec.pog.genesis_weights(), EASY)


def test_naive_rules_accept_a_stolen_block_and_siblings_from_one_ticket(spec, naive_block):
    w = spec.pog.genesis_weights()
    ticket = naive_check_block(spec.pog, spec.train, w, naive_block, EASY)
    for txs in (_coinbase_to(MALLORY.address), _coinbase_to(ALICE.address, b"sibling")):
        variant = replace(naive_block, txs=txs, header=replace(naive_block.header, tx_root=compute_tx_root(txs)))
        assert variant.hash() != naive_block.hash()
        assert naive_check_block(spec.pog, spec.train, w, variant, EASY) == ticket == naive_ticket(variant.header)


def test_naive_rules_still_check_the_gradient(spec, naive_block):
    w = spec.pog.genesis_weights()
    q = bytearray(naive_block.payload)
    q[0:4] = (int.from_bytes(q[0:4], "little", signed=True) + 1000).to_bytes(4, "little", signed=True)
    from gradientcoin_edu.proof_of_gradient.commit import grad_root
    header = replace(naive_block.header, grad_root=grad_root(bytes(q), spec.pog.chunk_bytes))
    forged = replace(naive_block, header=header, payload=bytes(q))
    with pytest.raises(InvalidProof) as err:
        naive_check_block(spec.pog, spec.train, w, forged, 2**256 - 1)
    assert err.value.reason == "gradient-mismatch"


def test_the_naive_invalid_cache_is_poisoned_by_a_mutated_copy_the_real_chain_is_not(spec):
    source = LLMChain(spec, clock=CLOCK)
    blocks = [source.mine_and_add(ALICE.address) for _ in range(2)]
    p = bytearray(blocks[0].payload)
    p[10] ^= 1
    mutated = replace(blocks[0], payload=bytes(p))
    naive = NaiveInvalidCache(LLMChain(spec, clock=CLOCK))
    with pytest.raises(MutatedBlock):
        naive.add_block(mutated)
    for block, reason in zip(blocks, ("known-invalid", "invalid-parent")):
        with pytest.raises(InvalidBlock) as err:
            naive.add_block(block)
        assert err.value.reason == reason
    real = LLMChain(spec, clock=CLOCK)
    with pytest.raises(MutatedBlock):
        real.add_block(mutated)
    assert all(real.add_block(b) is not None for b in blocks) and real.tip.hash == blocks[-1].hash()
