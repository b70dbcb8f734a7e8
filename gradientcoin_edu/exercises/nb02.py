"""[tooling] Checks for notebook 02, "Transactions and the UTXO ledger".

02.1 the fee of a transaction, 02.2 finding two transactions that spend the same coin.
Each check builds a small seeded ledger with the library and compares the student's
answer with what the UTXO rules say; a stub's ``NotImplementedError`` passes through.
"""
from __future__ import annotations

from ..ledger import COIN, Transaction, TxOut, UtxoSet, Wallet
from . import exercise


def _ledger() -> tuple[UtxoSet, list[Wallet]]:
    """Alice owns coins of 50 and 20 (blocks 0, 1); Bob owns 7 (block 2)."""
    wallets = [Wallet.from_seed(n) for n in ("alice", "bob", "carol")]
    alice, bob, _ = wallets
    utxos = UtxoSet()
    for height, (who, amount) in enumerate([(alice, 50), (alice, 20), (bob, 7)]):
        utxos.apply_block([Transaction.coinbase(height, [TxOut(amount * COIN, who.address)])], height, amount * COIN)
    return utxos, wallets


@exercise("02.1", "the fee of a transaction")
def check_fee(candidate) -> None:
    utxos, (alice, bob, carol) = _ledger()
    txs = [alice.pay(utxos, bob.address, 10 * COIN, fee=1000),
           alice.pay(utxos, carol.address, 60 * COIN, fee=12345),     # combines both of Alice's coins
           bob.pay(utxos, carol.address, 7 * COIN),                   # no change, no fee
           alice.pay(utxos, bob.address, 50 * COIN - 1)]              # the last unit is the fee
    for tx in txs:
        want = utxos.validate_transaction(tx)
        got = candidate(tx, utxos)
        assert got is not None, "fee_of returned None - did you forget `return`?"
        assert got == want, (f"a transaction with {len(tx.inputs)} input(s) and outputs {[o.amount for o in tx.outputs]} "
                             f"pays a fee of {want}, you return {got!r}. Hint: look up each input's spent output "
                             "with utxos.get(txin.outpoint).")


@exercise("02.2", "find a double spend")
def check_conflict(candidate) -> None:
    utxos, (alice, bob, carol) = _ledger()
    a1 = alice.pay(utxos, bob.address, 5 * COIN)                      # spends the 50
    a2 = alice.pay(utxos, carol.address, 6 * COIN)                    # spends the 50 again
    a3 = alice.pay(utxos, carol.address, 60 * COIN)                   # spends 50 and 20
    b1 = bob.pay(utxos, carol.address, 1 * COIN)                      # Bob's own coin
    cases = [([a1, b1], None), ([a1, a2], (0, 1)), ([b1, a1, a2], (1, 2)), ([b1], None), ([], None),
             ([b1, a1, a3, a2], (1, 2)), ([a1, b1, b1], (1, 2))]
    for txs, want in cases:
        got = candidate(list(txs))
        got = tuple(got) if isinstance(got, list) else got
        assert got == want, (f"for {len(txs)} transactions the answer is {want}, you return {got!r}. Hint: remember "
                             "which transaction spent each outpoint (a dict) and stop at the first repeat.")
