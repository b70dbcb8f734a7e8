"""[policy] A minimal wallet: pick coins you own, pay someone, send the change back to yourself.

A wallet is just a private key plus the habit of looking up its coins in the UTXO set.
To pay ``amount`` with ``fee`` it selects coins (largest first, ties by outpoint, so the
choice is deterministic), creates the payment outputs and, if the coins hold more than
needed, a *change* output back to its own address, then signs every input. Used by
notebook 02 and by the network simulator.

A node's wallet spends through :class:`WalletCoins`, which hides *immature* coins: a coinbase
output with fewer than ``COINBASE_SAFE_DEPTH`` confirmations, and an output of a transaction
still waiting in the mempool that depends on one. Consensus may allow spending a fresh reward
at once (the LLM chain's ``coinbase_maturity`` is 0), but a short reorg that abandons the
reward's block makes the coin vanish, and with it the payment and everything built on that
payment (change spent by a contribution, then by a query): they can never be mined again.
Bitcoin Core's wallet likewise counts a reward as "immature" until it may be spent, and
consensus there asks 100 blocks for the same reason. A payment from any *other* output whose
block is abandoned is not lost: it goes back to the mempool with its children and is mined
again. Change of our own waiting transactions stays spendable (the mempool keeps chains).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

from ..crypto.keys import PrivateKey, address_to_str
from ..errors import InvalidTransaction
from .transaction import KIND_PAYMENT, OutPoint, Transaction, TxIn, TxOut
from .utxo import Coin, CoinsView, UtxoSet

__all__ = ["select_coins", "build_payment", "Wallet", "WalletCoins", "COINBASE_SAFE_DEPTH"]

# Confirmations before a node's wallet spends a coinbase output. A reward with k confirmations is
# lost only to a reorg abandoning k blocks or more. In the classroom of notebook 13 (node logs of
# five runs, docs/protocol.md section 11) 78 of 93 reorgs abandoned 1 block, 11 abandoned 2, 3
# abandoned 3 and 1 abandoned 4: 3 confirmations cover every same-height reorg and the 2-block
# ones, for two more blocks (a few seconds there) of waiting for a miner's first reward.
COINBASE_SAFE_DEPTH = 3


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


class WalletCoins(CoinsView):
    """The coins of ``view`` (the UTXO set, or a mempool's view of it) that a wallet spends: all
    but the *immature* ones (see the module text). A live view, like the one it wraps.

    ``depth``: confirmations a coinbase output needs (a coin in the tip's block has 1)."""

    def __init__(self, view: CoinsView, depth: int = COINBASE_SAFE_DEPTH):
        self.view, self.depth = view, int(depth)
        self.coinbase_maturity = view.coinbase_maturity

    @property
    def height(self) -> int:
        return self.view.height

    def coin(self, outpoint: OutPoint) -> Coin | None:
        coin = self.view.coin(outpoint)
        return None if coin is None or self.is_immature(outpoint, coin) else coin

    def spent_by(self, outpoint: OutPoint) -> bytes | None:
        return self.view.spent_by(outpoint)

    def items(self) -> list[tuple[OutPoint, TxOut]]:
        return [(op, out) for op, out in self.view.items() if not self.is_immature(op)]

    def coins_of(self, address: bytes) -> list[tuple[OutPoint, TxOut]]:
        return [(op, out) for op, out in self.view.coins_of(address) if not self.is_immature(op)]

    def immature_of(self, address: bytes) -> list[tuple[OutPoint, TxOut]]:
        """``address``'s coins the wallet will not spend yet."""
        return [(op, out) for op, out in self.view.coins_of(address) if self.is_immature(op)]

    def young_coinbase(self, coin: Coin) -> bool:
        return coin.is_coinbase and self.view.height - coin.height + 1 < self.depth

    def is_immature(self, outpoint: OutPoint, coin: Coin | None = None) -> bool:
        """A young coinbase output, or an output of a waiting transaction that spends one (directly
        or through waiting parents)."""
        coin = coin or self.view.coin(outpoint)
        if coin is not None and self.young_coinbase(coin):
            return True
        pool = getattr(self.view, "pool", None)          # a mempool's view: look through waiting parents
        if pool is None or outpoint.txid not in pool.entries:
            return False
        return self._waits_on_young_coinbase(outpoint.txid, pool, set())

    def _waits_on_young_coinbase(self, txid: bytes, pool, seen: set) -> bool:
        if txid in seen:
            return False
        seen.add(txid)
        for txin in pool.entries[txid].tx.inputs:
            op = txin.outpoint
            if op.txid in pool.entries:
                if self._waits_on_young_coinbase(op.txid, pool, seen):
                    return True
            else:
                coin = self.view.utxos.coin(op)
                if coin is not None and self.young_coinbase(coin):
                    return True
        return False


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
