"""[consensus] The UTXO set: every coin that exists right now, and the rules for spending one.

Bitcoin keeps no account balances. The ledger is the set of *unspent transaction outputs*:
outpoint (txid, index) -> output (amount, address). A transaction is valid when every input
names a coin in the set, proves it owns it (the public key hashes to the coin's address and
the signature checks out), and the inputs hold at least as much as the outputs; the rest is
the fee. Applying a block removes the coins it spends and adds the ones it creates, and
returns an :class:`UndoRecord` with which :meth:`UtxoSet.undo_block` puts everything back
exactly -- that is how a node switches to a heavier chain (a reorg).

Rejections raise :class:`InvalidTransaction` (a rule about one transaction: ``missing-input``,
``double-spend``, ``overspend``, ``wrong-key``, ``bad-signature``, ``immature-coinbase``, ...)
or :class:`InvalidBlock` (a rule about the block: ``missing-coinbase``, ``extra-coinbase``,
``bad-coinbase``, ``bad-coinbase-height``, ``bad-coinbase-amount``, ``bad-height``, ``duplicate-tx``, ``bad-undo``),
and leave the set exactly as it was.

Coinbase maturity (Bitcoin: 100 blocks) is a parameter, 0 by default so that a small
classroom chain can spend its first reward at once. Besides the coins, the set remembers which
transaction spent each spent coin, so a second spend is reported as ``double-spend`` rather
than ``missing-input``; both are undone with the block. Taught in notebook 02.

The spending rules live in :class:`CoinsView`, which only needs to look coins up: the UTXO set
is one view, and the mempool offers another (confirmed coins plus the outputs of transactions
waiting in the pool, minus what the pool already spends), so a transaction that spends an
unconfirmed output is checked by exactly the same rules.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from ..crypto.keys import address_of
from ..errors import InvalidBlock, InvalidTransaction, ParseError
from ..encoding import ByteReader, write_varint
from .transaction import (
    KIND_PAYMENT, MAX_MONEY, OutPoint, Transaction, TxOut, check_transaction,
)

__all__ = ["Coin", "UndoRecord", "CoinsView", "UtxoSet", "MAX_COINBASE_DATA"]

MAX_COINBASE_DATA = 100          # bytes in the coinbase input's data field (height + extra)


@dataclass(frozen=True)
class Coin:
    """An unspent output and where it came from (needed for coinbase maturity)."""

    output: TxOut
    height: int
    is_coinbase: bool = False


@dataclass(frozen=True)
class UndoRecord:
    """What :meth:`UtxoSet.apply_block` changed: enough to reverse it exactly."""

    height: int
    spent: tuple[tuple[OutPoint, Coin, bytes], ...]   # (outpoint, coin, spending txid), in block order
    created: tuple[OutPoint, ...]
    fees: int

    def serialize(self) -> bytes:
        parts = [struct.pack("<IQ", self.height, self.fees), write_varint(len(self.spent))]
        for op, coin, spender in self.spent:
            parts += [op.txid, struct.pack("<I", op.index), coin.output.serialize(),
                      struct.pack("<IB", coin.height, coin.is_coinbase), spender]
        parts.append(write_varint(len(self.created)))
        parts += [op.txid + struct.pack("<I", op.index) for op in self.created]
        return b"".join(parts)

    @classmethod
    def parse(cls, data: bytes) -> "UndoRecord":
        r = ByteReader(bytes(data))
        try:
            height, fees = r.uint(4), r.uint(8)
            spent = tuple((OutPoint(r.take(32), r.uint(4)), Coin(TxOut(r.uint(8), r.take(20)), r.uint(4), bool(r.uint(1))),
                           r.take(32)) for _ in range(r.varint()))
            created = tuple(OutPoint(r.take(32), r.uint(4)) for _ in range(r.varint()))
        except InvalidTransaction as err:
            raise ParseError(err.reason, err.message) from None
        if r.pos != len(r.data):
            raise ParseError("trailing-bytes", "bytes left after the undo record")
        return cls(height, spent, created, fees)


class CoinsView:
    """Coins to look up, and the rules for spending them (a view needs ``coin`` and ``items``).

    ``height`` is the last applied block (-1: none): a transaction is checked as if mined in the
    next one. ``spent_by`` lets a second spend be reported as ``double-spend``.
    """

    coinbase_maturity: int = 0
    height: int = -1

    def coin(self, outpoint: OutPoint) -> Coin | None:
        raise NotImplementedError

    def items(self) -> list[tuple[OutPoint, TxOut]]:
        """All (outpoint, output) pairs, sorted by outpoint."""
        raise NotImplementedError

    def spent_by(self, outpoint: OutPoint) -> bytes | None:
        return None

    def get(self, outpoint: OutPoint) -> TxOut | None:
        coin = self.coin(outpoint)
        return coin.output if coin else None

    def coins_of(self, address: bytes) -> list[tuple[OutPoint, TxOut]]:
        return [(op, out) for op, out in self.items() if out.address == address]

    def balance(self, address: bytes) -> int:
        return sum(out.amount for _, out in self.coins_of(address))

    # ------------------------------------------------------------ rules
    def validate_transaction(self, tx: Transaction, height: int | None = None, *,
                             check_signatures: bool = True) -> int:
        """Check ``tx`` against these coins (as if mined at ``height``, default the next block); return its fee.

        Raises :class:`InvalidTransaction` and changes nothing. ``check_signatures=False`` skips
        only the signature verification (for a block verified before on the same parent).
        """
        if tx.is_coinbase:
            raise InvalidTransaction("unexpected-coinbase", "a coinbase is only valid as a block's first transaction")
        check_transaction(tx)
        height = self.height + 1 if height is None else height
        spent = [self._coin_for_spend(txin.outpoint, height) for txin in tx.inputs]
        total_in = sum(c.output.amount for c in spent)
        if total_in > MAX_MONEY:
            raise InvalidTransaction("bad-amount", "the inputs add up to more than MAX_MONEY")
        if tx.total_out() > total_in:
            raise InvalidTransaction("overspend", f"outputs ({tx.total_out()}) exceed inputs ({total_in})")
        for index, coin in enumerate(spent):
            self._check_owner(tx, index, coin.output, check_signatures)
        return total_in - tx.total_out()

    def _coin_for_spend(self, outpoint: OutPoint, height: int) -> Coin:
        coin = self.coin(outpoint)
        if coin is None:
            if self.spent_by(outpoint) is not None:
                raise InvalidTransaction("double-spend", f"{outpoint} was already spent")
            raise InvalidTransaction("missing-input", f"{outpoint} is not an unspent output")
        if coin.is_coinbase and height - coin.height < self.coinbase_maturity:
            raise InvalidTransaction("immature-coinbase", f"a coinbase output needs {self.coinbase_maturity} confirmations")
        return coin

    @staticmethod
    def _check_owner(tx: Transaction, index: int, spent_output: TxOut, check_signature: bool = True) -> None:
        if address_of(tx.inputs[index].pubkey) != spent_output.address:
            raise InvalidTransaction("wrong-key", f"input {index}: the public key does not belong to the spent address")
        if check_signature and not tx.verify_input(index, spent_output):
            raise InvalidTransaction("bad-signature", f"input {index}: the signature does not verify")


class UtxoSet(CoinsView):
    """outpoint -> coin, with the spending rules. ``height`` is the last applied block (-1: none)."""

    def __init__(self, coinbase_maturity: int = 0):
        self.coinbase_maturity = coinbase_maturity
        self.height = -1
        self._coins: dict[OutPoint, Coin] = {}
        self._spent_by: dict[OutPoint, bytes] = {}     # spent outpoint -> txid that spent it

    # ------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._coins)

    def __contains__(self, outpoint: OutPoint) -> bool:
        return outpoint in self._coins

    def __iter__(self) -> Iterator[OutPoint]:
        return iter(sorted(self._coins))

    def get(self, outpoint: OutPoint) -> TxOut | None:
        coin = self._coins.get(outpoint)
        return coin.output if coin else None

    def coin(self, outpoint: OutPoint) -> Coin | None:
        return self._coins.get(outpoint)

    def items(self) -> list[tuple[OutPoint, TxOut]]:
        """All (outpoint, output) pairs, sorted by outpoint."""
        return [(op, self._coins[op].output) for op in sorted(self._coins)]

    def total_value(self) -> int:
        return sum(c.output.amount for c in self._coins.values())

    def spent_by(self, outpoint: OutPoint) -> bytes | None:
        """The txid that spent ``outpoint``, if it was spent on this chain."""
        return self._spent_by.get(outpoint)

    def copy(self) -> "UtxoSet":
        other = UtxoSet(self.coinbase_maturity)
        other.height, other._coins, other._spent_by = self.height, dict(self._coins), dict(self._spent_by)
        return other

    snapshot = copy

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UtxoSet):
            return NotImplemented
        return (self.height, self._coins, self._spent_by) == (other.height, other._coins, other._spent_by)

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"UtxoSet(height={self.height}, {len(self)} coins, {self.total_value()} units)"

    # ------------------------------------------------------------ blocks
    def apply_block(self, txs: Sequence[Transaction], height: int, subsidy: int, *,
                    check_signatures: bool = True) -> UndoRecord:
        """Validate and apply a block's transactions (coinbase first); return the undo record.

        ``subsidy`` is the new money the block may create: the coinbase may claim at most
        ``subsidy + fees``. On any rejection the set is left exactly as it was.
        ``check_signatures=False``: the chain reconnects a block it verified before on this same
        parent (a reorganisation returns to it), so the signatures, the one expensive check, are
        not verified again (Bitcoin Core keeps a script-execution cache for the same reason).
        """
        if height != self.height + 1:
            raise InvalidBlock("bad-height", f"the next block is at height {self.height + 1}, not {height}")
        spent: list[tuple[OutPoint, Coin, bytes]] = []
        created: list[OutPoint] = []
        try:
            fees = self._apply_txs(list(txs), height, subsidy, spent, created, check_signatures)
        except Exception:                  # any failure: put back what this block touched
            self._revert(spent, created)
            raise
        self.height = height
        return UndoRecord(height, tuple(spent), tuple(created), fees)

    def _apply_txs(self, txs, height, subsidy, spent, created, check_signatures: bool = True) -> int:
        if not txs or not txs[0].is_coinbase:
            raise InvalidBlock("missing-coinbase", "a block starts with its coinbase transaction")
        coinbase = txs[0]
        check_transaction(coinbase)
        if len(coinbase.inputs[0].signature) > MAX_COINBASE_DATA or coinbase.kind != KIND_PAYMENT:
            raise InvalidBlock("bad-coinbase", f"a coinbase is a payment with at most {MAX_COINBASE_DATA} bytes of data")
        if coinbase.coinbase_height != height:
            raise InvalidBlock("bad-coinbase-height", f"the coinbase must commit to height {height}")
        self._add_outputs(coinbase, height, created)
        fees = 0
        for tx in txs[1:]:
            if tx.is_coinbase:
                raise InvalidBlock("extra-coinbase", "only the first transaction may be a coinbase")
            fees += self.validate_transaction(tx, height, check_signatures=check_signatures)
            for txin in tx.inputs:
                spent.append((txin.outpoint, self._coins.pop(txin.outpoint), tx.txid))
                self._spent_by[txin.outpoint] = tx.txid
            self._add_outputs(tx, height, created)
        if not isinstance(subsidy, int) or subsidy < 0 or coinbase.total_out() > subsidy + fees:
            raise InvalidBlock("bad-coinbase-amount",
                               f"the coinbase claims {coinbase.total_out()} > subsidy {subsidy} + fees {fees}")
        return fees

    def _add_outputs(self, tx: Transaction, height: int, created: list[OutPoint]) -> None:
        ops = [OutPoint(tx.txid, i) for i in range(len(tx.outputs))]
        if any(op in self._coins for op in ops):
            raise InvalidBlock("duplicate-tx", "a transaction with this txid still has unspent outputs")
        for op, out in zip(ops, tx.outputs):
            self._coins[op] = Coin(out, height, tx.is_coinbase)
            created.append(op)

    def _revert(self, spent: Iterable[tuple[OutPoint, Coin, bytes]], created: Iterable[OutPoint]) -> None:
        for op, coin, _ in spent:          # first restore what was spent (some of it made in this block),
            self._coins[op] = coin
            del self._spent_by[op]
        for op in created:                 # then remove everything the block made
            del self._coins[op]

    def undo_block(self, undo: UndoRecord) -> None:
        """Reverse the last applied block exactly (blocks are undone newest first)."""
        if undo.height != self.height:
            raise InvalidBlock("bad-undo", f"the tip is at height {self.height}, the undo record is for {undo.height}")
        spent_here = {op for op, _, _ in undo.spent}
        if not all(op in self._coins for op in undo.created if op not in spent_here) or any(
                op in self._coins or self._spent_by.get(op) != spender for op, _, spender in undo.spent):
            raise InvalidBlock("bad-undo", "the undo record does not match this set")
        self._revert(undo.spent, undo.created)
        self.height = undo.height - 1
