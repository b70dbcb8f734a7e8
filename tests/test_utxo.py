"""The UTXO set (ledger/utxo.py) and the wallet helper (ledger/wallet.py): every spending rule
with its reason, rejection leaves the set unchanged, apply/undo and reorgs restore it exactly."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from gradientcoin_edu.errors import GradientCoinError, InvalidBlock, InvalidTransaction, ParseError
from gradientcoin_edu.ledger import (
    COIN, MAX_MONEY, OutPoint, Transaction, TxIn, TxOut, UndoRecord, UtxoSet, Wallet, build_payment, select_coins,
)

SUBSIDY = 50 * COIN
ALICE, BOB, CAROL = (Wallet.from_seed(n) for n in ("alice", "bob", "carol"))


def coinbase(height: int, wallet: Wallet = ALICE, amount: int = SUBSIDY, extra: bytes = b"") -> Transaction:
    return Transaction.coinbase(height, [TxOut(amount, wallet.address)], extra)


@pytest.fixture
def utxos() -> UtxoSet:
    """Alice mined blocks 0 and 1: two coins of 50."""
    u = UtxoSet()
    u.apply_block([coinbase(0)], 0, SUBSIDY)
    u.apply_block([coinbase(1)], 1, SUBSIDY)
    return u


def first_coin(u: UtxoSet, wallet: Wallet = ALICE) -> tuple[OutPoint, TxOut]:
    return u.coins_of(wallet.address)[0]


def spend(u: UtxoSet, outputs, wallet: Wallet = ALICE, coins=None, signer: Wallet | None = None) -> Transaction:
    """Spend ``coins`` (default: the wallet's first coin) to ``outputs``, signed by ``signer``."""
    coins = coins or [first_coin(u, wallet)]
    tx = Transaction(inputs=tuple(TxIn(op.txid, op.index) for op, _ in coins), outputs=tuple(outputs))
    for i, (_, out) in enumerate(coins):
        tx = tx.sign_input(i, (signer or wallet).key, out)
    return tx


def rejected(u: UtxoSet, tx: Transaction) -> str:
    before = u.copy()
    with pytest.raises(InvalidTransaction) as err:
        u.validate_transaction(tx)
    assert u == before
    return err.value.reason


def rejected_block(u: UtxoSet, txs, height=None, subsidy=SUBSIDY, error=GradientCoinError) -> str:
    before = u.copy()
    with pytest.raises(error) as err:
        u.apply_block(txs, u.height + 1 if height is None else height, subsidy)
    assert u == before, "a rejected block must leave the set unchanged"
    return err.value.reason


# ------------------------------------------------------------------ valid spends
def test_a_payment_returns_its_fee_and_moves_the_coins(utxos):
    tx = spend(utxos, [TxOut(30 * COIN, BOB.address), TxOut(19 * COIN, ALICE.address)])
    assert utxos.validate_transaction(tx) == 1 * COIN
    undo = utxos.apply_block([coinbase(2, CAROL, SUBSIDY + COIN), tx], 2, SUBSIDY)
    assert undo.fees == COIN
    assert (ALICE.balance(utxos), BOB.balance(utxos), CAROL.balance(utxos)) == (69 * COIN, 30 * COIN, 51 * COIN)
    assert utxos.total_value() == 150 * COIN                   # all money ever minted, fee moved to the miner
    assert utxos.get(OutPoint(tx.txid, 0)) == TxOut(30 * COIN, BOB.address)
    assert utxos.spent_by(tx.inputs[0].outpoint) == tx.txid


def test_combine_two_coins_and_spend_a_coin_made_in_the_same_block(utxos):
    combine = spend(utxos, [TxOut(100 * COIN, BOB.address)], coins=utxos.coins_of(ALICE.address))
    then = Transaction(inputs=(TxIn(combine.txid, 0),), outputs=(TxOut(60 * COIN, CAROL.address),
                                                                  TxOut(40 * COIN, BOB.address)))
    then = then.sign_input(0, BOB.key, combine.outputs[0])
    utxos.apply_block([coinbase(2), combine, then], 2, SUBSIDY)
    assert BOB.balance(utxos) == 40 * COIN and CAROL.balance(utxos) == 60 * COIN


def test_coinbase_may_claim_exactly_subsidy_plus_fees(utxos):
    tx = spend(utxos, [TxOut(49 * COIN, BOB.address)])
    assert rejected_block(utxos, [coinbase(2, amount=SUBSIDY + COIN + 1), tx], error=InvalidBlock) == "bad-coinbase-amount"
    utxos.apply_block([coinbase(2, amount=SUBSIDY + COIN), tx], 2, SUBSIDY)


# ------------------------------------------------------------------ transaction rules (one per reason)
def test_missing_input(utxos):
    op, out = first_coin(utxos)
    ghost = [(OutPoint(op.txid, 5), out)]
    assert rejected(utxos, spend(utxos, [TxOut(1, BOB.address)], coins=ghost)) == "missing-input"


def test_double_spend_of_a_spent_output(utxos):
    tx = spend(utxos, [TxOut(50 * COIN, BOB.address)])
    utxos.apply_block([coinbase(2), tx], 2, SUBSIDY)
    again = Transaction(inputs=tx.inputs, outputs=(TxOut(50 * COIN, CAROL.address),))
    again = again.sign_input(0, ALICE.key, TxOut(50 * COIN, ALICE.address))
    assert rejected(utxos, again) == "double-spend"


def test_double_spend_within_one_block_rolls_back_the_whole_block(utxos):
    to_bob = spend(utxos, [TxOut(50 * COIN, BOB.address)])
    to_carol = spend(utxos, [TxOut(50 * COIN, CAROL.address)])
    assert utxos.validate_transaction(to_bob) == utxos.validate_transaction(to_carol) == 0
    assert rejected_block(utxos, [coinbase(2), to_bob, to_carol], error=InvalidTransaction) == "double-spend"


def test_overspend(utxos):
    assert rejected(utxos, spend(utxos, [TxOut(50 * COIN + 1, BOB.address)])) == "overspend"


def test_bad_signature(utxos):
    tx = spend(utxos, [TxOut(10 * COIN, BOB.address)])
    forged = bytearray(tx.inputs[0].signature)
    forged[10] ^= 1
    tampered = Transaction(inputs=(TxIn(tx.inputs[0].prev_txid, tx.inputs[0].prev_index, bytes(forged),
                                        tx.inputs[0].pubkey),), outputs=tx.outputs)
    assert rejected(utxos, tampered) == "bad-signature"
    redirected = Transaction(inputs=tx.inputs, outputs=(TxOut(10 * COIN, CAROL.address),))   # signature for Bob
    assert rejected(utxos, redirected) == "bad-signature"
    op, _ = first_coin(utxos)
    unsigned = Transaction(inputs=(TxIn(op.txid, op.index, b"", ALICE.key.public_key().to_bytes()),),
                           outputs=tx.outputs)
    assert rejected(utxos, unsigned) == "bad-signature"


def test_wrong_key(utxos):
    assert rejected(utxos, spend(utxos, [TxOut(10 * COIN, BOB.address)], signer=BOB)) == "wrong-key"
    op, _ = first_coin(utxos)
    no_key = Transaction(inputs=(TxIn(op.txid, op.index),), outputs=(TxOut(1, BOB.address),))
    assert rejected(utxos, no_key) == "wrong-key"


def test_bad_amount(utxos):
    huge = [TxOut(MAX_MONEY, BOB.address), TxOut(MAX_MONEY, CAROL.address)]
    assert rejected(utxos, spend(utxos, huge)) == "bad-amount"
    with pytest.raises(InvalidTransaction) as err:
        TxOut(-5, BOB.address)
    assert err.value.reason == "bad-amount"


def test_structural_rules_apply_in_validation(utxos):
    coins = [first_coin(utxos)] * 2
    assert rejected(utxos, spend(utxos, [TxOut(1, BOB.address)], coins=coins)) == "duplicate-input"
    assert rejected(utxos, Transaction(inputs=(), outputs=(TxOut(1, BOB.address),))) == "no-inputs"
    assert rejected(utxos, spend(utxos, [])) == "no-outputs"
    assert rejected(utxos, coinbase(2)) == "unexpected-coinbase"


def test_immature_coinbase():
    u = UtxoSet(coinbase_maturity=2)
    u.apply_block([coinbase(0)], 0, SUBSIDY)
    tx = spend(u, [TxOut(SUBSIDY, BOB.address)])
    assert rejected(u, tx) == "immature-coinbase"                 # would be mined at height 1
    assert rejected_block(u, [coinbase(1), tx], error=InvalidTransaction) == "immature-coinbase"
    u.apply_block([coinbase(1)], 1, SUBSIDY)
    assert u.validate_transaction(tx) == 0                        # height 2: two confirmations


# ------------------------------------------------------------------ block rules
def test_block_rules(utxos):
    tx = spend(utxos, [TxOut(10 * COIN, BOB.address)])
    assert rejected_block(utxos, [], error=InvalidBlock) == "missing-coinbase"
    assert rejected_block(utxos, [tx], error=InvalidBlock) == "missing-coinbase"
    assert rejected_block(utxos, [coinbase(2), tx, coinbase(2, BOB)], error=InvalidBlock) == "extra-coinbase"
    assert rejected_block(utxos, [coinbase(3)], error=InvalidBlock) == "bad-coinbase-height"
    assert rejected_block(utxos, [coinbase(2, extra=bytes(200))], error=InvalidBlock) == "bad-coinbase"
    data_coinbase = Transaction(inputs=coinbase(2).inputs, outputs=coinbase(2).outputs, kind=1, payload=b"x")
    assert rejected_block(utxos, [data_coinbase], error=InvalidBlock) == "bad-coinbase"
    assert rejected_block(utxos, [Transaction(inputs=(TxIn(bytes(32), 0xFFFFFFFF, b"\x02"),),
                                              outputs=coinbase(2).outputs)], error=InvalidBlock) == "bad-coinbase-height"
    assert rejected_block(utxos, [coinbase(3)], height=3, error=InvalidBlock) == "bad-height"
    assert rejected_block(utxos, [coinbase(2)], subsidy=-1, error=InvalidBlock) == "bad-coinbase-amount"
    assert rejected_block(utxos, [Transaction.coinbase(2, [])], error=InvalidTransaction) == "no-outputs"


def test_a_bad_last_transaction_undoes_the_good_ones_before_it(utxos):
    good = spend(utxos, [TxOut(50 * COIN, BOB.address)])
    bad = spend(utxos, [TxOut(50 * COIN, BOB.address)], wallet=ALICE,
                coins=[utxos.coins_of(ALICE.address)[1]], signer=CAROL)
    assert rejected_block(utxos, [coinbase(2), good, bad], error=InvalidTransaction) == "wrong-key"


def test_duplicate_tx_guard(utxos):
    # Unreachable through apply_block (coinbases commit to their height, spent inputs are gone);
    # the guard keeps a bug from silently overwriting a coin, which would break undo.
    cb = coinbase(1)
    with pytest.raises(InvalidBlock) as err:
        utxos._add_outputs(cb, 2, [])
    assert err.value.reason == "duplicate-tx"


# ------------------------------------------------------------------ undo and reorgs
def test_apply_then_undo_restores_exactly(utxos):
    before = utxos.copy()
    tx = spend(utxos, [TxOut(20 * COIN, BOB.address), TxOut(29 * COIN, ALICE.address)])
    undo = utxos.apply_block([coinbase(2, amount=SUBSIDY + COIN), tx], 2, SUBSIDY)
    assert utxos != before
    utxos.undo_block(undo)
    assert utxos == before and utxos.height == 1
    assert utxos.spent_by(tx.inputs[0].outpoint) is None


def test_undo_rules(utxos):
    undo = utxos.apply_block([coinbase(2)], 2, SUBSIDY)
    first = utxos.copy()
    undo3 = utxos.apply_block([coinbase(3)], 3, SUBSIDY)
    for wrong in (undo, UndoRecord(3, (), (OutPoint(bytes(32), 0),), 0)):
        before = utxos.copy()
        with pytest.raises(InvalidBlock) as err:
            utxos.undo_block(wrong)
        assert err.value.reason == "bad-undo" and utxos == before
    utxos.undo_block(undo3)
    assert utxos == first
    with pytest.raises(InvalidBlock) as err:
        utxos.undo_block(undo3)
    assert err.value.reason == "bad-undo"


def test_undo_record_bytes_round_trip(utxos):
    tx = spend(utxos, [TxOut(10 * COIN, BOB.address)])
    undo = utxos.apply_block([coinbase(2), tx], 2, SUBSIDY + 40 * COIN)
    assert UndoRecord.parse(undo.serialize()) == undo
    for data in (undo.serialize()[:-1], undo.serialize() + b"\x00"):
        with pytest.raises(ParseError):
            UndoRecord.parse(data)


def _random_block(u: UtxoSet, draw, height: int) -> list[Transaction]:
    wallets = (ALICE, BOB, CAROL)
    txs, used = [coinbase(height, wallets[draw(st.integers(0, 2))])], set()
    for _ in range(draw(st.integers(0, 3))):
        payer, payee = draw(st.sampled_from(wallets)), draw(st.sampled_from(wallets))
        if payer.balance(u) == 0:
            continue
        amount = draw(st.integers(1, 10 * COIN))
        try:
            tx = payer.pay(u, payee.address, amount, fee=draw(st.integers(0, 1000)), exclude=used)
        except InvalidTransaction:
            continue
        used |= {i.outpoint for i in tx.inputs}
        txs.append(tx)
    fees = sum(u.validate_transaction(tx, height) for tx in txs[1:])
    cb_out = txs[0].outputs[0]
    txs[0] = Transaction.coinbase(height, [TxOut(SUBSIDY + fees, cb_out.address)])
    return txs


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_property_apply_then_undo_in_reverse_restores_every_snapshot(data):
    u, snapshots, undos = UtxoSet(), [], []
    for height in range(data.draw(st.integers(1, 6))):
        snapshots.append(u.copy())
        undos.append(u.apply_block(_random_block(u, data.draw, height), height, SUBSIDY))
        assert u.total_value() == (height + 1) * SUBSIDY          # value is conserved; fees go to miners
    for snapshot, undo in zip(reversed(snapshots), reversed(undos)):
        u.undo_block(undo)
        assert u == snapshot


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_property_reorg_equals_rebuilding_from_scratch(data):
    """Apply a common prefix and branch A, undo A, apply branch B: same as prefix + B from scratch."""
    def build(blocks):
        u = UtxoSet()
        for height, txs in enumerate(blocks):
            u.apply_block(txs, height, SUBSIDY)
        return u
    u, prefix = UtxoSet(), []
    for height in range(data.draw(st.integers(1, 3))):
        prefix.append(_random_block(u, data.draw, height))
        u.apply_block(prefix[-1], height, SUBSIDY)
    fork = u.copy()
    undos = []
    for height in range(len(prefix), len(prefix) + data.draw(st.integers(1, 3))):
        undos.append(u.apply_block(_random_block(u, data.draw, height), height, SUBSIDY))
    branch_b, v = [], fork.copy()
    for height in range(len(prefix), len(prefix) + data.draw(st.integers(1, 3))):
        branch_b.append(_random_block(v, data.draw, height))
        v.apply_block(branch_b[-1], height, SUBSIDY)
    for undo in reversed(undos):
        u.undo_block(undo)
    assert u == fork
    for height, txs in enumerate(branch_b, start=len(prefix)):
        u.apply_block(txs, height, SUBSIDY)
    assert u == build(prefix + branch_b)


# ------------------------------------------------------------------ reading and copying
def test_copy_is_independent_and_equality_compares_contents(utxos):
    twin = utxos.copy()
    assert twin == utxos and twin is not utxos
    twin.apply_block([coinbase(2)], 2, SUBSIDY)
    assert twin != utxos and len(twin) == len(utxos) + 1
    assert utxos != "not a set"


def test_listing_and_balances(utxos):
    assert len(utxos) == 2 and utxos.balance(ALICE.address) == 100 * COIN and utxos.balance(BOB.address) == 0
    assert list(utxos) == sorted(op for op, _ in utxos.items())
    op, out = utxos.items()[0]
    assert op in utxos and utxos.get(op) == out and utxos.coin(op).is_coinbase
    assert utxos.get(OutPoint(bytes(32), 0)) is None


# ------------------------------------------------------------------ wallet helper
def test_build_payment_selects_coins_adds_change_and_pays_the_fee(utxos):
    tx = ALICE.pay(utxos, BOB.address, 70 * COIN, fee=1000)
    assert len(tx.inputs) == 2                                     # combined two coins of 50
    assert tx.outputs[0] == TxOut(70 * COIN, BOB.address)
    assert tx.outputs[1] == TxOut(30 * COIN - 1000, ALICE.address)  # change
    assert utxos.validate_transaction(tx) == 1000


def test_build_payment_split_exact_amount_has_no_change(utxos):
    tx = build_payment(utxos, ALICE.key, [(BOB.address, 20 * COIN), (CAROL.address, 30 * COIN)])
    assert len(tx.inputs) == 1 and len(tx.outputs) == 2
    assert utxos.validate_transaction(tx) == 0


def test_build_payment_errors_and_exclude(utxos):
    with pytest.raises(InvalidTransaction) as err:
        ALICE.pay(utxos, BOB.address, 100 * COIN, fee=1)
    assert err.value.reason == "insufficient-funds"
    with pytest.raises(InvalidTransaction) as err:
        BOB.pay(utxos, ALICE.address, 1)
    assert err.value.reason == "insufficient-funds"
    with pytest.raises(InvalidTransaction) as err:
        ALICE.pay(utxos, BOB.address, 1, fee=-1)
    assert err.value.reason == "bad-amount"
    first = ALICE.pay(utxos, BOB.address, 10 * COIN)
    second = ALICE.pay(utxos, BOB.address, 10 * COIN, exclude={i.outpoint for i in first.inputs})
    assert {i.outpoint for i in first.inputs}.isdisjoint(i.outpoint for i in second.inputs)
    assert select_coins(utxos, ALICE.address, 0)                   # at least one coin even for zero
