"""Common-input ownership, the change heuristic, and fresh-key wallets (whitepaper section 10)."""
from __future__ import annotations

from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.ledger import COIN, Transaction, TxIn, TxOut, UtxoSet
from gradientcoin_edu.privacy import (
    AddressClusters, FreshKeyWallet, cluster_addresses, guess_change_output, input_addresses, linkage_report,
)


def _fund(utxo: UtxoSet, addresses, amount=COIN + 123):
    coinbase = Transaction.coinbase(utxo.height + 1, [TxOut(amount, a) for a in addresses])
    utxo.apply_block([coinbase], utxo.height + 1, amount * len(addresses))
    return coinbase


def test_a_multi_input_payment_links_the_payers_addresses():
    utxo = UtxoSet()
    alice = FreshKeyWallet("alice")
    a1, a2 = alice.new_address(), alice.new_address()
    funding = _fund(utxo, [a1, a2])
    shop = PrivateKey.from_seed(b"shop").address()
    tx = alice.pay(utxo, shop, int(1.5 * COIN))
    assert len(tx.inputs) == 2 and sorted(input_addresses(tx)) == sorted([a1, a2])
    utxo.validate_transaction(tx)                         # a real, valid transaction
    change = tx.outputs[1].address
    assert change not in (a1, a2) and change in alice.keys
    clusters = cluster_addresses([funding, tx])
    assert clusters.same_owner(a1, a2) and not clusters.same_owner(a1, shop)
    assert not clusters.same_owner(a1, change)
    assert guess_change_output(tx) == 1                   # 1.5 coins is round, the change is not
    with_change = cluster_addresses([funding, tx], use_change=True)
    assert with_change.same_owner(a1, change)


def test_reuse_keeps_one_address():
    dave = FreshKeyWallet("dave", reuse=True)
    assert dave.new_address() == dave.new_address() and len(dave.addresses) == 1


def test_change_heuristic_needs_exactly_one_round_output():
    a, b = PrivateKey.from_seed(b"a").address(), PrivateKey.from_seed(b"b").address()
    tx = lambda *amounts: Transaction(inputs=(TxIn(bytes(32), 0),), outputs=tuple(TxOut(x, a) for x in amounts))
    assert guess_change_output(tx(COIN, 123)) == 1
    assert guess_change_output(tx(123, 2 * COIN)) == 0
    assert guess_change_output(tx(COIN, COIN)) is None
    assert guess_change_output(tx(1, 2)) is None
    assert guess_change_output(tx(COIN, 1, 2)) is None
    assert guess_change_output(Transaction.coinbase(1, [TxOut(COIN, b), TxOut(3, a)])) is None


def test_union_find_and_report():
    uf = AddressClusters()
    for x, y in [(b"a", b"b"), (b"c", b"d"), (b"b", b"d")]:
        uf.union(x, y)
    uf.add_address(b"e")
    assert [sorted(c) for c in uf.clusters()] == [[b"a", b"b", b"c", b"d"], [b"e"]]
    report = linkage_report(uf, {b"a": "x", b"b": "x", b"c": "y", b"e": "z", b"never": "w"})
    assert report["owners"] == {"x": {"addresses": 2, "clusters": 1}, "y": {"addresses": 1, "clusters": 1},
                                "z": {"addresses": 1, "clusters": 1}}
    assert report["wrong_links"] == 1                     # x and y ended up together (a CoinJoin would do that)
