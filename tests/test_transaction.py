"""Transactions (ledger/transaction.py): the byte format, txid and signature hash, signing,
and every context-free rule with its reason."""
from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import assume, given, settings, strategies as st

from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.errors import InvalidTransaction, ParseError
from gradientcoin_edu.ledger import (
    COINBASE_INDEX, KIND_INFERENCE_QUERY, KIND_TRAINING_DATA, MAX_MONEY, MAX_TX_SIZE, NULL_TXID, OutPoint,
    Transaction, TxIn, TxOut, check_transaction,
)
from gradientcoin_edu.ledger.transaction import encode_varint, read_varint

ALICE, BOB = PrivateKey.from_seed(b"alice"), PrivateKey.from_seed(b"bob")


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _payment(n_inputs: int = 1) -> tuple[Transaction, list[TxOut]]:
    spent = [TxOut(1000 * (i + 1), ALICE.address()) for i in range(n_inputs)]
    inputs = tuple(TxIn(_sha256d(bytes([i])), i) for i in range(n_inputs))
    return Transaction(inputs=inputs, outputs=(TxOut(700, BOB.address()), TxOut(250, ALICE.address()))), spent


# ------------------------------------------------------------------ varints
@pytest.mark.parametrize("n,size", [(0, 1), (0xFC, 1), (0xFD, 3), (0xFFFF, 3), (0x10000, 5),
                                    (0xFFFFFFFF, 5), (0x100000000, 9), (2**64 - 1, 9)])
def test_varint_sizes_and_round_trip(n, size):
    encoded = encode_varint(n)
    assert len(encoded) == size
    assert read_varint(encoded + b"rest") == (n, size)


@pytest.mark.parametrize("data", [b"\xfd\xfc\x00", b"\xfe\xff\xff\x00\x00", b"\xff\xff\xff\xff\xff\x00\x00\x00\x00"])
def test_non_minimal_varints_are_rejected(data):
    with pytest.raises(ParseError) as err:
        read_varint(data)
    assert err.value.reason == "non-canonical-varint"


# ------------------------------------------------------------------ the byte format
def test_serialization_matches_the_documented_layout():
    txin = TxIn(b"\x11" * 32, 3, b"\x22" * 64, b"\x02" + b"\x33" * 32)
    tx = Transaction(2, (txin,), (TxOut(5000, b"\x44" * 20),), locktime=9, kind=KIND_TRAINING_DATA, payload=b"data")
    expected = (struct.pack("<IB", 2, 1) + b"\x01"
                + b"\x11" * 32 + struct.pack("<I", 3) + b"\x40" + b"\x22" * 64 + b"\x21" + b"\x02" + b"\x33" * 32
                + b"\x01" + struct.pack("<Q", 5000) + b"\x44" * 20
                + b"\x04data" + struct.pack("<I", 9))
    assert tx.serialize() == expected
    assert Transaction.parse(expected) == tx
    assert tx.txid == _sha256d(expected)
    assert tx.size == len(expected)


def test_txid_covers_signatures_and_signature_hash_does_not():
    tx, spent = _payment(2)
    signed0 = tx.sign_input(0, ALICE, spent[0])
    assert signed0.txid != tx.txid
    assert signed0.signature_hash(1, spent[1]) == tx.signature_hash(1, spent[1])   # order of signing is free
    both = signed0.sign_input(1, ALICE, spent[1])
    assert both.verify_input(0, spent[0]) and both.verify_input(1, spent[1])
    assert both.inputs[0] == signed0.inputs[0]
    reverse = tx.sign_input(1, ALICE, spent[1]).sign_input(0, ALICE, spent[0])
    assert reverse == both


def test_inputs_of_different_owners_can_be_signed_in_any_order():
    spent = [TxOut(500, ALICE.address()), TxOut(600, BOB.address())]
    tx = Transaction(inputs=(TxIn(_sha256d(b"a"), 0), TxIn(_sha256d(b"b"), 1)), outputs=(TxOut(1100, BOB.address()),))
    one = tx.sign_input(0, ALICE, spent[0]).sign_input(1, BOB, spent[1])
    two = tx.sign_input(1, BOB, spent[1]).sign_input(0, ALICE, spent[0])
    assert one == two and one.verify_input(0, spent[0]) and one.verify_input(1, spent[1])


def test_signature_hash_is_the_documented_preimage():
    tx, spent = _payment(2)
    blanked = tx.serialize()                    # unsigned: signatures and pubkeys empty
    assert tx.sign_input(0, ALICE, spent[0]).serialize(unsigned=True) == blanked
    expected = _sha256d(b"gradientcoin-edu sighash" + blanked + struct.pack("<I", 1)
                        + struct.pack("<Q", spent[1].amount) + spent[1].address)
    assert tx.sign_input(0, ALICE, spent[0]).signature_hash(1, spent[1]) == expected


def test_signing_is_deterministic():
    tx, spent = _payment()
    assert tx.sign_input(0, ALICE, spent[0]) == tx.sign_input(0, ALICE, spent[0])


def test_anything_changed_after_signing_breaks_the_signature():
    tx, spent = _payment()
    signed = tx.sign_input(0, ALICE, spent[0])
    assert signed.verify_input(0, spent[0])
    changed = [
        Transaction(signed.version, signed.inputs, (TxOut(701, BOB.address()),) + signed.outputs[1:]),
        Transaction(signed.version, signed.inputs, (TxOut(700, ALICE.address()),) + signed.outputs[1:]),
        Transaction(signed.version, signed.inputs, signed.outputs, locktime=1),
        Transaction(signed.version + 1, signed.inputs, signed.outputs),
        Transaction(signed.version, signed.inputs, signed.outputs, kind=KIND_INFERENCE_QUERY, payload=b"q"),
    ]
    for other in changed:
        assert not other.verify_input(0, spent[0])
    assert not signed.verify_input(0, TxOut(spent[0].amount + 1, spent[0].address))   # the amount is signed
    assert not signed.verify_input(0, TxOut(spent[0].amount, BOB.address()))          # the key must match
    assert not signed.verify_input(1, spent[0])
    assert not tx.verify_input(0, spent[0])                                           # unsigned


def test_bad_input_index_when_signing():
    tx, spent = _payment()
    for index in (1, -1):
        with pytest.raises(InvalidTransaction) as err:
            tx.sign_input(index, ALICE, spent[0])
        assert err.value.reason == "bad-input-index"


def test_coinbase_carries_its_height():
    a = Transaction.coinbase(7, [TxOut(50, ALICE.address())])
    b = Transaction.coinbase(8, [TxOut(50, ALICE.address())])
    assert a.is_coinbase and a.coinbase_height == 7 and b.coinbase_height == 8
    assert a.inputs[0].outpoint == OutPoint(NULL_TXID, COINBASE_INDEX)
    assert a.txid != b.txid
    assert Transaction.parse(a.serialize()) == a
    tx, _ = _payment()
    assert not tx.is_coinbase and tx.coinbase_height is None


# ------------------------------------------------------------------ field and amount rules
@pytest.mark.parametrize("amount", [-1, MAX_MONEY + 1, 2**64, True, 1.0, "5", None])
def test_bad_amounts_are_rejected(amount):
    with pytest.raises(InvalidTransaction) as err:
        TxOut(amount, ALICE.address())
    assert err.value.reason == "bad-amount"


def test_amount_bounds_are_inclusive():
    assert TxOut(0, ALICE.address()).amount == 0
    assert TxOut(MAX_MONEY, ALICE.address()).amount == MAX_MONEY


@pytest.mark.parametrize("make", [
    lambda: TxOut(1, bytes(19)),
    lambda: TxOut(1, "00" * 20),
    lambda: TxIn(bytes(31), 0),
    lambda: TxIn(bytes(32), -1),
    lambda: TxIn(bytes(32), 2**32),
    lambda: TxIn(bytes(32), 0, signature="sig"),
    lambda: Transaction(version=-1),
    lambda: Transaction(kind=256),
    lambda: Transaction(locktime=2**32),
    lambda: Transaction(payload="text"),
    lambda: Transaction(inputs=("not a TxIn",)),
])
def test_bad_fields_are_rejected(make):
    with pytest.raises(InvalidTransaction) as err:
        make()
    assert err.value.reason == "bad-field"


def test_records_are_immutable():
    tx, _ = _payment()
    with pytest.raises(AttributeError):
        tx.outputs[0].amount = 10**9


# ------------------------------------------------------------------ context-free rules
def _rule(tx: Transaction) -> str:
    with pytest.raises(InvalidTransaction) as err:
        check_transaction(tx)
    return err.value.reason


def test_check_transaction_accepts_a_payment_and_data_kinds():
    tx, _ = _payment()
    check_transaction(tx)
    check_transaction(Transaction(inputs=tx.inputs, outputs=tx.outputs, kind=KIND_TRAINING_DATA, payload=b"text"))
    check_transaction(Transaction(inputs=tx.inputs, outputs=tx.outputs, kind=KIND_INFERENCE_QUERY, payload=b"?"))


def test_check_transaction_rules():
    tx, _ = _payment()
    out = tx.outputs
    assert _rule(Transaction(inputs=(), outputs=out)) == "no-inputs"
    assert _rule(Transaction(inputs=tx.inputs, outputs=())) == "no-outputs"
    assert _rule(Transaction(inputs=tx.inputs * 2, outputs=out)) == "duplicate-input"
    assert _rule(Transaction(inputs=tx.inputs, outputs=(TxOut(MAX_MONEY, BOB.address()),) * 2)) == "bad-amount"
    assert _rule(Transaction(inputs=tx.inputs, outputs=out, kind=3)) == "unknown-kind"
    assert _rule(Transaction(inputs=tx.inputs, outputs=out, payload=b"x")) == "unexpected-payload"
    big = Transaction(inputs=tx.inputs, outputs=out, kind=KIND_TRAINING_DATA, payload=bytes(MAX_TX_SIZE))
    assert _rule(big) == "too-large"


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize("cut", [0, 1, 5, 6, 40, 100])
def test_truncated_bytes_raise_parse_error(cut):
    tx, spent = _payment()
    data = tx.sign_input(0, ALICE, spent[0]).serialize()
    with pytest.raises(ParseError) as err:
        Transaction.parse(data[:cut])
    assert err.value.reason == "truncated"


def test_trailing_bytes_raise_parse_error():
    tx, _ = _payment()
    with pytest.raises(ParseError) as err:
        Transaction.parse(tx.serialize() + b"\x00")
    assert err.value.reason == "trailing-bytes"


def test_oversized_and_non_bytes_input():
    with pytest.raises(ParseError) as err:
        Transaction.parse(bytes(MAX_TX_SIZE + 1))
    assert err.value.reason == "too-large"
    with pytest.raises(ParseError) as err:
        Transaction.parse("00")
    assert err.value.reason == "not-bytes"


def test_amount_above_max_money_in_bytes_is_a_parse_error():
    tx, _ = _payment()
    data = bytearray(tx.serialize())
    offset = data.index(struct.pack("<Q", 700))
    data[offset:offset + 8] = struct.pack("<Q", MAX_MONEY + 1)
    with pytest.raises(ParseError) as err:
        Transaction.parse(bytes(data))
    assert err.value.reason == "bad-amount"


addresses = st.binary(min_size=20, max_size=20)
tx_ins = st.builds(TxIn, st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1),
                   st.binary(max_size=70), st.binary(max_size=40))
tx_outs = st.builds(TxOut, st.integers(0, MAX_MONEY), addresses)
transactions = st.builds(Transaction, st.integers(0, 2**32 - 1), st.lists(tx_ins, max_size=4).map(tuple),
                         st.lists(tx_outs, max_size=4).map(tuple), st.integers(0, 2**32 - 1),
                         st.integers(0, 255), st.binary(max_size=300))


@settings(max_examples=200, deadline=None)
@given(transactions)
def test_serialize_parse_round_trip(tx):
    data = tx.serialize()
    parsed = Transaction.parse(data)
    assert parsed == tx and parsed.serialize() == data and parsed.txid == tx.txid


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parse_of_arbitrary_bytes_round_trips_or_raises_parse_error(data):
    try:
        tx = Transaction.parse(data)
    except ParseError:
        return
    assert tx.serialize() == data


@settings(max_examples=200, deadline=None)
@given(transactions, st.data())
def test_parse_of_a_mutated_transaction_round_trips_or_raises_parse_error(tx, data):
    raw = bytearray(tx.serialize())
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] = data.draw(st.integers(0, 255))
    assume(bytes(raw) != tx.serialize())
    try:
        parsed = Transaction.parse(bytes(raw))
    except ParseError:
        return
    assert parsed.serialize() == bytes(raw) and parsed != tx
