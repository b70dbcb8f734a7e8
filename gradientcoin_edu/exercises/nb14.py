"""[tooling] Checks for notebook 14, "The attack lab".

14.1 a check: rule 0 - does a proof-of-work block's body match its header (mutated or not)?
14.2 an attack: steal a block under the naive rules with a coinbase of your own - paying the whole
reward to you and carrying your note (the naive ticket and batch seed do not cover the transactions;
the notebook's ``steal`` helper keeps Alice's coinbase and takes no note, so it is not an answer).
14.3 a check: BIP 94's time-warp rule for the first block of a difficulty period. 14.1 compares
the student's answer with the chain's own ``Chain.check_body`` on genuine, mutated and
invalid-but-genuine regtest blocks; 14.2 mines a block of the ``tiny`` LLM network under the naive
rules (``naive_rules.py``) and runs the student's theft through ``naive_check_block``; 14.3
compares the student's rule with the library's ``chain.validation.check_time_warp`` on boundary
cases. The thief, the note and the parent time are drawn afresh at every call, and the library's
own functions are refused. A stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

from functools import lru_cache

from . import exercise
from ._own_work import fresh_rng, guarded

_EASY = 2**252                   # the naive target: about 1 ticket in 16 wins


@lru_cache(maxsize=1)
def _victim_block():
    """(params, dataset, parent weights, Alice's block mined under the naive rules)."""
    import torch

    from ..chain.block import BlockHeader
    from ..ledger import COIN, Transaction, TxOut
    from ..llm import LLMSpec, miner_id_for
    from ..naive_rules import naive_mine

    torch.set_num_threads(1)
    spec = LLMSpec.builtin("tiny")
    alice = bytes.fromhex("a1" * 20)
    genesis = spec.genesis.header
    coinbase = Transaction.coinbase(1, [TxOut(40 * COIN, alice), TxOut(10 * COIN, alice)], extra=b"alice's block")
    template = BlockHeader(1, genesis.hash(), bytes(32), time=genesis.time + 600, bits=genesis.bits,
                           miner_id=miner_id_for(alice))
    weights = spec.pog.genesis_weights()
    block = naive_mine(spec.pog, spec.train, template, [coinbase], weights, _EASY)
    return spec.pog, spec.train, weights, block


@exercise("14.2", "steal a block under the naive rules")
def check_steal_block(candidate) -> None:
    import struct

    from ..chain.block import Block
    from ..errors import InvalidBlock
    from ..naive_rules import naive_check_block

    from dataclasses import replace

    from ..chain.block import compute_tx_root
    from ..ledger import Transaction, TxOut

    call = guarded(candidate, (), "steal_block")
    params, dataset, weights, mined = _victim_block()
    rng = fresh_rng()
    # Alice's block with a coinbase of a height and a reward drawn afresh (the naive rules do not look
    # at them: that is the hole), so that no amount or height printed in the notebook is the answer
    alice = mined.txs[0].outputs[0].address
    coinbase = Transaction.coinbase(rng.randrange(2, 10**6), [TxOut(rng.randrange(1, 10**10), alice),
                                                              TxOut(rng.randrange(1, 10**10), alice)], extra=b"alice")
    block = replace(mined, txs=(coinbase,), header=replace(mined.header, tx_root=compute_tx_root((coinbase,))))
    naive_check_block(params, dataset, weights, block, _EASY)                  # the check's own sanity
    thief, note = rng.randbytes(20), b"mallory " + rng.randbytes(rng.randrange(1, 12))
    stolen = call(block, thief, note)
    assert stolen is not None, "steal_block returned None - did you forget `return`?"
    assert isinstance(stolen, Block), "return a Block"
    coinbase = stolen.txs[0] if stolen.txs else None
    assert coinbase is not None and coinbase.is_coinbase, "the stolen block must still start with a coinbase"
    assert coinbase.outputs and all(out.address == thief for out in coinbase.outputs), \
        "every coinbase output must pay the thief"
    assert len(coinbase.outputs) == 1, "pay the thief in one output"
    assert coinbase.total_out() == block.txs[0].total_out(), "take the whole reward, no more and no less"
    height = block.txs[0].coinbase_height
    assert coinbase.inputs[0].signature == struct.pack("<I", height) + note, (
        "the new coinbase must be a coinbase of the same height that carries `note` as its extra data - "
        "build a new one rather than editing Alice's outputs")
    assert stolen.payload == block.payload, "keep the payload: the gradient is the work you are stealing"
    h, g = stolen.header, block.header
    assert (h.prev_hash, h.miner_id, h.nonce, h.grad_root) == (g.prev_hash, g.miner_id, g.nonce, g.grad_root), (
        "keep the parent, the miner id, the nonce and grad_root: they are what the naive ticket covers")
    try:
        naive_check_block(params, dataset, weights, stolen, _EASY)
    except InvalidBlock as err:
        hint = ("Hint: a header commits to its transactions - what in it must change when they do?"
                if err.reason == "bad-tx-root" else "")
        raise AssertionError(f"the naive rules refuse your block ({err.reason}). {hint}") from None


@exercise("14.3", "the time-warp rule (BIP 94)")
def check_timewarp_ok(candidate) -> None:
    from ..chain.block import BlockHeader
    from ..chain.params import ChainParams
    from ..chain.validation import check_time_warp
    from ..errors import InvalidBlock

    call = guarded(candidate, (check_time_warp,), "timewarp_ok")
    parent_time = 1_700_000_000 + fresh_rng().randrange(10**6)
    cases = []
    for interval in (6, 10, 2016):
        for grace in (0, 600, 7200):
            for height in (interval, 2 * interval, interval + 1, 3 * interval - 2, 5 * interval):
                for dt in (-grace - 1, -grace, -grace + 1, -1, 0, 1, 3600):
                    cases.append((height, parent_time + dt, interval, grace))
    for height, time, interval, grace in cases:
        params = ChainParams.preset("regtest").with_changes(retarget_interval=interval, timewarp_grace_seconds=grace,
                                                            enforce_timewarp=True)
        header = BlockHeader(1, bytes(32), bytes(32), time=time)
        try:                                         # the period's first block is far back: no negative period
            check_time_warp(header, params, height, lambda h, parent=height - 1: parent_time if h == parent else 0)
            want = True
        except InvalidBlock:
            want = False
        got = call(height, time, parent_time, interval, grace)
        assert got is not None, "timewarp_ok returned None - did you forget `return`?"
        assert bool(got) == want, (
            f"height {height}, time {time}, parent time {parent_time}, interval {interval}, grace {grace}: "
            f"expected {want}, you return {got}. Hint: which blocks does BIP 94 constrain, and how far may such a "
            "block's time fall behind its parent's?")


@lru_cache(maxsize=1)
def _pow_cases():
    """Proof-of-work blocks, each with whether the library's rule 0 calls it mutated."""
    from dataclasses import replace

    from ..chain import Chain, ChainParams, compute_tx_root, mine, mine_block
    from ..errors import MutatedBlock
    from ..ledger import COIN, Transaction, TxOut, Wallet

    params = ChainParams.preset("regtest")
    now = params.genesis_time + 10**7
    chain = Chain(params, clock=lambda: now)
    miner, alice = Wallet.from_seed("nb14-miner"), Wallet.from_seed("nb14-alice")
    for _ in range(2):
        chain.add_block(mine_block(chain, miner.address, time=chain.tip.header.time + 600, progress=False))
    pay = miner.pay(chain.utxo, alice.address, COIN, fee=5)
    genuine = mine_block(chain, miner.address, [pay], time=chain.tip.header.time + 600, progress=False)
    extra = Transaction.coinbase(7, [TxOut(1, alice.address)], extra=b"extra")
    over = mine_block(chain, miner.address, time=chain.tip.header.time + 600, fees=1, progress=False)  # invalid
    doubled = (*genuine.txs, pay)
    other = mine_block(chain, alice.address, time=chain.tip.header.time + 600, progress=False)
    blocks = [genuine, over, other,
              replace(genuine, payload=b"\x00"),                       # a payload attached
              replace(genuine, txs=genuine.txs[:1]),                    # a transaction dropped
              replace(genuine, txs=(*genuine.txs, extra)),             # one added
              replace(genuine, txs=doubled),                            # one duplicated
              replace(genuine, txs=(genuine.txs[1], genuine.txs[0])),   # reordered
              mine(replace(genuine, txs=doubled, header=replace(genuine.header, tx_root=compute_tx_root(doubled),
                                                                 nonce=0)), progress=False)]   # committed: invalid
    cases = []
    for block in blocks:
        try:
            chain.check_body(block)
            cases.append((block, False))
        except MutatedBlock:
            cases.append((block, True))
    return tuple(cases)


@exercise("14.1", "mutated or not: the body against the header")
def check_is_mutated(candidate) -> None:
    from ..chain import Chain

    call = guarded(candidate, ((Chain, "check_body"),), "is_mutated")
    cases = _pow_cases()
    assert sum(m for _, m in cases) >= 4 and sum(not m for _, m in cases) >= 3      # the check's own sanity
    for block, want in cases:
        got = call(block)
        assert got is not None, "is_mutated returned None - did you forget `return`?"
        assert bool(got) == want, (
            f"a block with {len(block.txs)} transactions and a {len(block.payload)}-byte payload: expected "
            f"{want}, you return {got}. Hint: mutated means the body does not match what the header commits to - "
            "what does a proof-of-work header commit to, for the transactions and for the payload? A block that "
            "breaks another rule (too much reward, a duplicated transaction the header commits to) is invalid, "
            "not mutated.")
