"""A minimal wallet: pick coins you own, pay someone, send the change back to yourself.

A wallet is just a private key plus the habit of looking up its coins in the UTXO set.
To pay ``amount`` with ``fee`` it selects coins (largest first, ties by outpoint, so the
choice is deterministic), creates the payment outputs and, if the coins hold more than
needed, a *change* output back to its own address, then signs every input. Used by
notebook 02 and by the network simulator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

from ..crypto.keys import PrivateKey, address_to_str
from ..errors import InvalidTransaction
from .transaction import KIND_PAYMENT, OutPoint, Transaction, TxIn, TxOut
from .utxo import CoinsView, UtxoSet

__all__ = ["select_coins", "build_payment", "Wallet"]


def select_coins(utxos: CoinsView, address: bytes, target: int,
                 exclude: Collection[OutPoint] = ()) -> list[tuple[OutPoint, TxOut]]:
    """Coins of ``address`` (largest first) whose sum reaches ``target``; raises ``insufficient-funds``."""
    coins = sorted((c for c in utxos.coins_of(address) if c[0] not in exclude),
                   key=lambda c: (-c[1].amount, c[0]))
    chosen, total = [], 0
    for coin in coins:
        if total >= target and chosen:
            break
        chosen.append(coin)
        total += coin[1].amount
    if total < target or not chosen:
        raise InvalidTransaction("insufficient-funds", f"{address_to_str(address)} holds {total} < {target}")
    return chosen


def build_payment(utxos: CoinsView, key: PrivateKey, payments: Sequence[tuple[bytes, int]], fee: int = 0, *,
                  change_address: bytes | None = None, exclude: Collection[OutPoint] = (),
                  kind: int = KIND_PAYMENT, payload: bytes = b"") -> Transaction:
    """A signed transaction paying each ``(address, amount)`` in ``payments`` from ``key``'s coins.

    Change (if any) goes to ``change_address`` (default: the key's own address). ``exclude``
    lists outpoints not to use (e.g. already spent by a transaction waiting in the mempool).
    """
    if isinstance(fee, bool) or not isinstance(fee, int) or fee < 0:
        raise InvalidTransaction("bad-amount", "the fee is a non-negative integer")
    outputs = [TxOut(amount, address) for address, amount in payments]
    target = sum(o.amount for o in outputs) + fee
    coins = select_coins(utxos, key.address(), target, exclude)
    change = sum(out.amount for _, out in coins) - target
    if change:
        outputs.append(TxOut(change, change_address or key.address()))
    tx = Transaction(inputs=tuple(TxIn(op.txid, op.index) for op, _ in coins), outputs=tuple(outputs),
                     kind=kind, payload=payload)
    for index, (_, spent) in enumerate(coins):
        tx = tx.sign_input(index, key, spent)
    return tx


@dataclass(frozen=True)
class Wallet:
    """A named key, for notebooks: ``alice = Wallet.from_seed("alice")``."""

    name: str
    key: PrivateKey

    @classmethod
    def from_seed(cls, name: str) -> "Wallet":
        return cls(name, PrivateKey.from_seed(name.encode()))

    @property
    def address(self) -> bytes:
        return self.key.address()

    def balance(self, utxos: UtxoSet) -> int:
        return utxos.balance(self.address)

    def pay(self, utxos: UtxoSet, to: bytes, amount: int, fee: int = 0, **kwargs) -> Transaction:
        """A signed payment of ``amount`` to address ``to`` (see :func:`build_payment`)."""
        return build_payment(utxos, self.key, [(to, amount)], fee, **kwargs)
