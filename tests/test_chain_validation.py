"""Chain: every validation rule rejects with its reason and leaves the state unchanged;
most-work fork choice; reorgs, including a reorg that meets an invalid block."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from _chain_helpers import ALICE, BOB, MINER, NOW, PARAMS, extend, new_chain, next_block, remine, state, with_txs
from gradientcoin_edu.chain import (
    AddResult, Block, BlockStore, Chain, bits_to_target, bits_to_work,
    calculate_next_bits, genesis_block, make_block, mine, target_to_bits,
)
from gradientcoin_edu.errors import InvalidBlock
from gradientcoin_edu.ledger import COIN, Transaction, TxIn, TxOut


def rejects(chain: Chain, block: Block, reason: str) -> None:
    """Assert ``block`` is rejected with ``reason`` and the chain (and its store) did not change."""
    before = state(chain)
    with pytest.raises(InvalidBlock) as info:
        chain.add_block(block)
    assert info.value.reason == reason, info.value
    assert state(chain) == before


@pytest.fixture
def chain():
    c = new_chain(store=BlockStore(":memory:"))
    extend(c, 3)
    return c


# ------------------------------------------------------------------ basics

def test_genesis_and_first_blocks():
    c = new_chain()
    assert c.height == 0 and c.tip.hash == genesis_block(PARAMS).hash()
    blocks = extend(c, 3)
    assert c.height == 3 and c.tip.hash == blocks[-1].hash()
    assert [c.block_at(h) for h in (1, 2, 3)] == blocks
    assert c.balance(MINER.address) == 3 * PARAMS.subsidy(1)
    assert c.tip.chain_work == sum(bits_to_work(c.header_at(h).bits) for h in range(4))


def test_duplicate_is_reported_and_changes_nothing(chain):
    before = state(chain)
    assert chain.add_block(chain.block_at(2)) is AddResult.DUPLICATE
    assert state(chain) == before


def test_payment_moves_coins_and_fee_goes_to_miner(chain):
    tx = MINER.pay(chain.utxo, ALICE.address, 7 * COIN, fee=5000)
    reward_before = chain.balance(MINER.address)
    assert chain.add_block(next_block(chain, txs=[tx])) is AddResult.EXTENDED
    assert chain.balance(ALICE.address) == 7 * COIN
    assert chain.balance(MINER.address) == reward_before - 7 * COIN - 5000 + PARAMS.subsidy(4) + 5000


# ------------------------------------------------------------------ one negative test per rule

def test_unknown_parent(chain):
    block = next_block(chain)
    orphan = remine(block, prev_hash=bytes(range(32)))
    rejects(chain, orphan, "unknown-parent")


def test_time_not_after_median_time_past(chain):
    mtp = chain.median_time_past()
    rejects(chain, next_block(chain, time=mtp), "time-too-old")
    assert chain.add_block(next_block(chain, time=mtp + 1)) is AddResult.EXTENDED


def test_time_too_far_in_the_future(chain):
    rejects(chain, next_block(chain, time=NOW + PARAMS.max_future_seconds + 1), "time-too-new")
    assert chain.add_block(next_block(chain, time=NOW + PARAMS.max_future_seconds)) is AddResult.EXTENDED


def test_bits_must_match_the_retarget_rule(chain):
    block = next_block(chain)
    harder = remine(block, bits=target_to_bits(bits_to_target(block.header.bits) // 2))
    rejects(chain, harder, "bad-diffbits")


def test_bad_proof_of_work(chain):
    block = next_block(chain)
    target = bits_to_target(block.header.bits)
    nonce = next(n for n in range(1000) if block.header.with_nonce(n).hash_value() > target)
    rejects(chain, replace(block, header=block.header.with_nonce(nonce)), "bad-pow")


def test_proof_of_work_blocks_have_zero_gradient_roots(chain):
    rejects(chain, remine(next_block(chain), grad_root=b"\x01" * 32), "unexpected-root")


def test_proof_of_work_blocks_carry_no_payload(chain):
    rejects(chain, replace(next_block(chain), payload=b"gradient"), "unexpected-payload")


def test_block_size_limit():
    params = PARAMS.with_changes(max_block_bytes=400)
    c = new_chain(params)
    extend(c, 1)
    small = next_block(c)
    assert small.size() <= 400
    tx = MINER.pay(c.utxo, ALICE.address, COIN, fee=0)
    big = next_block(c, txs=[tx])
    assert big.size() > 400
    rejects(c, big, "block-too-large")
    assert c.add_block(small) is AddResult.EXTENDED


def test_tx_root_must_commit_to_the_transactions(chain):
    block = next_block(chain)
    rejects(chain, remine(block, tx_root=bytes(32)), "bad-tx-root")


def test_first_transaction_must_be_a_coinbase(chain):
    block = next_block(chain)
    tx = MINER.pay(chain.utxo, ALICE.address, COIN)
    rejects(chain, with_txs(block, [tx, block.txs[0]]), "missing-coinbase")
    rejects(chain, with_txs(block, []), "missing-coinbase")


def test_only_the_first_transaction_is_a_coinbase(chain):
    block = next_block(chain)
    second = Transaction.coinbase(4, [TxOut(1, BOB.address)], extra=b"again")
    rejects(chain, with_txs(block, [block.txs[0], second]), "extra-coinbase")


def test_no_transaction_twice(chain):
    tx = MINER.pay(chain.utxo, ALICE.address, COIN)
    block = next_block(chain, txs=[tx])
    rejects(chain, with_txs(block, [*block.txs, tx]), "duplicate-tx")


def test_coinbase_may_claim_at_most_subsidy_plus_fees(chain):
    tx = MINER.pay(chain.utxo, ALICE.address, COIN, fee=1000)
    greedy = make_block(chain, MINER.address, [tx], time=chain.tip.header.time + 600, fees=1001)
    rejects(chain, mine(greedy, progress=False), "bad-coinbase-amount")
    honest = make_block(chain, MINER.address, [tx], time=chain.tip.header.time + 600)
    assert chain.add_block(mine(honest, progress=False)) is AddResult.EXTENDED


def test_coinbase_must_commit_to_its_height(chain):
    block = next_block(chain)
    wrong = Transaction.coinbase(99, block.txs[0].outputs)
    rejects(chain, with_txs(block, [wrong]), "bad-coinbase-height")


def test_double_spend_across_blocks(chain):
    tx = MINER.pay(chain.utxo, ALICE.address, COIN)
    spent_utxo = chain.utxo.copy()
    chain.add_block(next_block(chain, txs=[tx]))
    again = MINER.pay(spent_utxo, BOB.address, COIN)           # built from the old coins: spends them again
    assert {i.outpoint for i in again.inputs} & {i.outpoint for i in tx.inputs}
    rejects(chain, next_block(chain, txs=[again], fees=0), "double-spend")


def test_double_spend_inside_one_block(chain):
    tx1 = MINER.pay(chain.utxo, ALICE.address, COIN)
    tx2 = MINER.pay(chain.utxo, BOB.address, COIN)
    rejects(chain, next_block(chain, txs=[tx1, tx2], fees=0), "double-spend")


def test_spending_a_coin_that_never_existed(chain):
    fake = Transaction(inputs=(TxIn(b"\x42" * 32, 0),), outputs=(TxOut(COIN, ALICE.address),))
    rejects(chain, next_block(chain, txs=[fake], fees=0), "missing-input")


def test_bad_signature(chain):
    tx = MINER.pay(chain.utxo, ALICE.address, COIN)
    forged = replace(tx, outputs=(TxOut(COIN, BOB.address), *tx.outputs[1:]))   # redirected after signing
    rejects(chain, next_block(chain, txs=[forged], fees=0), "bad-signature")


def test_child_of_an_invalid_block_is_rejected(chain):
    fork = chain.entry_at(1).hash
    side = extend(chain, 2, parent=fork)                       # side branch, not heavier: stored only
    fake = Transaction(inputs=(TxIn(b"\x42" * 32, 0),), outputs=(TxOut(COIN, ALICE.address),))
    bad = next_block(chain, parent=side[-1].hash(), txs=[fake], fees=0)
    rejects(chain, bad, "missing-input")                       # heavier, but fails to connect
    rejects(chain, bad, "known-invalid")
    assert bad.hash() in chain.invalid
    rejects(chain, next_block(chain, parent=bad.hash()), "invalid-parent")


# ------------------------------------------------------------------ fork choice and reorgs

def test_side_branch_then_reorg_to_the_heavier_branch():
    c = new_chain()
    main = extend(c, 3)
    side = [next_block(c, parent=main[0].hash(), miner=ALICE)]
    assert c.add_block(side[0]) is AddResult.SIDE_BRANCH       # height 2, less work than height 3
    side.append(next_block(c, parent=side[0].hash(), miner=ALICE))
    assert c.add_block(side[1]) is AddResult.SIDE_BRANCH       # equal work: first seen stays
    assert c.tip.hash == main[-1].hash()
    side.append(next_block(c, parent=side[1].hash(), miner=ALICE))
    assert c.add_block(side[2]) is AddResult.REORG
    assert [c.block_at(h) for h in (1, 2, 3, 4)] == [main[0], *side]
    assert c.balance(ALICE.address) == 3 * PARAMS.subsidy(1)
    assert c.balance(MINER.address) == PARAMS.subsidy(1)
    assert not c.is_active(main[1].hash()) and main[1].hash() in c


def test_reorg_gives_the_same_state_as_a_fresh_chain_on_that_branch():
    c = new_chain()
    main = extend(c, 2)
    tx = MINER.pay(c.utxo, BOB.address, COIN, fee=10)
    main.append(next_block(c, txs=[tx]))
    c.add_block(main[-1])
    side = extend(c, 3, parent=main[0].hash(), miner=ALICE)
    assert c.tip.hash == side[-1].hash()
    fresh = new_chain()
    for block in [main[0], *side]:
        fresh.add_block(block)
    assert c.utxo == fresh.utxo
    assert c.balance(BOB.address) == 0                      # the payment is undone with its block


def test_blocks_of_two_branches_in_any_order():
    source = new_chain()
    a = extend(source, 3)
    b = extend(source, 4, parent=source.genesis.hash, miner=ALICE)
    for order in ([*a, *b], [*b, *a], [b[0], a[0], b[1], a[1], a[2], b[2], b[3]]):
        c = new_chain()
        for block in order:
            c.add_block(block)
        assert c.tip.hash == b[-1].hash() and c.utxo == source.utxo


def test_reorg_into_an_invalid_block_returns_to_the_old_branch():
    c = new_chain(store=BlockStore(":memory:"))
    main = extend(c, 3)
    side = extend(c, 1, parent=main[0].hash(), miner=ALICE)
    fake = Transaction(inputs=(TxIn(b"\x42" * 32, 0),), outputs=(TxOut(COIN, ALICE.address),))
    bad = next_block(c, parent=side[0].hash(), txs=[fake], fees=0, miner=ALICE)
    assert c.add_block(bad) is AddResult.SIDE_BRANCH          # equal work: its transactions are not checked yet
    before = state(c)
    tip = next_block(c, parent=bad.hash(), miner=ALICE)      # makes the bad branch the heaviest
    with pytest.raises(InvalidBlock) as info:
        c.add_block(tip)
    assert info.value.reason == "missing-input"
    after = state(c)
    assert after[:4] == before[:4]                            # tip, UTXO set and best chain as before
    rows, stored_tip = before[4]
    assert after[4] == ([r for r in rows if r[0] != bad.hash()], stored_tip)   # store: only bad's status changed
    assert {bad.hash(), tip.hash()} <= c.invalid and side[0].hash() not in c.invalid
    assert c.store.get(bad.hash()).status == c.store.get(tip.hash()).status == "invalid"   # marks kept on disk
    assert c.add_block(next_block(c)) is AddResult.EXTENDED   # and the node carries on


def test_equal_work_keeps_the_first_seen_tip():
    c = new_chain()
    a = extend(c, 1)
    b = next_block(c, parent=c.genesis.hash, miner=ALICE)
    assert c.add_block(b) is AddResult.SIDE_BRANCH
    assert c.tip.hash == a[0].hash()


def test_listeners_hear_disconnects_then_connects():
    c = new_chain()
    main = extend(c, 2)
    events = []
    c.listeners.append(events.append)
    side = extend(c, 3, parent=c.genesis.hash, miner=ALICE)
    assert [(e.kind, e.height) for e in events] == [
        ("disconnected", 2), ("disconnected", 1), ("connected", 1), ("connected", 2), ("connected", 3)]
    assert [e.block for e in events[2:]] == side and events[0].block == main[1]


def test_locator_and_headers_after():
    c = new_chain()
    blocks = extend(c, 30)
    loc = c.locator()
    assert loc[0] == c.tip.hash and loc[-1] == c.genesis.hash
    assert len(loc) < 30
    peer = new_chain()
    for block in blocks[:12]:
        peer.add_block(block)
    headers = c.headers_after(peer.locator())
    assert [h.hash() for h in headers] == [b.hash() for b in blocks[12:]]
    assert c.headers_after(c.locator()) == []


# ------------------------------------------------------------------ difficulty retargeting

def test_retarget_every_interval_and_reject_stale_bits():
    params = PARAMS.with_changes(genesis_bits=target_to_bits(2**250), retarget_interval=4, target_spacing=600)
    c = new_chain(params)
    for _ in range(3):                                     # heights 1..3 four times too fast
        c.add_block(next_block(c, time=c.tip.header.time + 150))
    expected = calculate_next_bits(params, params.start_bits, c.tip.header.time, c.genesis.header.time)
    assert c.next_bits() == expected
    assert bits_to_target(expected) < bits_to_target(params.start_bits)       # harder
    stale = remine(next_block(c), bits=params.start_bits)
    rejects(c, stale, "bad-diffbits")
    assert c.add_block(next_block(c)) is AddResult.EXTENDED
    assert c.tip.header.bits == expected


def test_heavier_branch_wins_over_a_longer_one():
    """Most *work*, not most blocks: a short branch of harder blocks beats a long easy one."""
    params = PARAMS.with_changes(retarget_interval=2, target_spacing=600)
    c = new_chain(params)
    slow = [next_block(c, time=c.genesis.header.time + 600 * 4)]
    c.add_block(slow[0])
    slow.append(next_block(c, time=slow[0].header.time + 600 * 4))
    c.add_block(slow[1])                                       # easiest target: little work each
    fast_chain = new_chain(params)
    fast = []
    for _ in range(2):
        fast.append(next_block(fast_chain, time=fast_chain.tip.header.time + 1))
        fast_chain.add_block(fast[-1])
    fast.append(next_block(fast_chain, time=fast_chain.tip.header.time + 1))   # height 3: 4x harder
    fast_chain.add_block(fast[-1])
    assert bits_to_work(fast[-1].header.bits) > bits_to_work(slow[-1].header.bits)
    extra_slow = next_block(c, time=slow[1].header.time + 600 * 4)
    c.add_block(extra_slow)                                    # slow branch: 3 blocks, easy
    for block in fast:
        c.add_block(block)
    assert c.height == 3 and c.tip.hash == fast[-1].hash()


# ------------------------------------------------------------------ fork choice as a property

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1000), st.booleans()), min_size=1, max_size=12))
def test_tip_is_always_the_first_seen_heaviest_valid_block(steps):
    """Random trees of blocks, some invalid (their coinbase claims one unit too much, which only
    shows when they are connected): the tip is always the first-seen block of most work among those
    with no invalid block on their branch, and the UTXO set is the one that branch gives."""
    c = new_chain()
    known, bad, order = [c.genesis.hash], set(), {c.genesis.hash: 0}
    for i, (pick, invalid) in enumerate(steps):
        parent = known[pick % len(known)]
        block = next_block(c, parent=parent, fees=1 if invalid else 0, extra=bytes([i]))
        is_bad = invalid or parent in bad
        before = state(c)
        try:
            c.add_block(block)
        except InvalidBlock as err:
            assert is_bad, err
            assert err.reason in ("bad-coinbase-amount", "invalid-parent")
            assert state(c) == before
        if block.hash() in c:
            known.append(block.hash())
            order[block.hash()] = i + 1
        if is_bad:
            bad.add(block.hash())
        good = [h for h in known if h not in bad]
        assert c.tip.hash == max(good, key=lambda h: (c.get(h).chain_work, -order[h]))
    fresh = new_chain()
    for entry in c.active_chain()[1:]:
        fresh.add_block(entry.block)
    assert fresh.utxo == c.utxo and fresh.tip.hash == c.tip.hash
