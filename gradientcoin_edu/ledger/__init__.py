"""Ledger layer: transactions and the UTXO set (whitepaper sections 2 and 9; notebook 02)."""
from .transaction import (
    COIN, COINBASE_INDEX, KIND_INFERENCE_QUERY, KIND_PAYMENT, KIND_TRAINING_DATA, KINDS, MAX_MONEY,
    MAX_TX_SIZE, NULL_TXID, OutPoint, Transaction, TxIn, TxOut, check_transaction,
)
from .utxo import Coin, CoinsView, UndoRecord, UtxoSet
from .wallet import Wallet, build_payment, select_coins

__all__ = [
    "COIN", "COINBASE_INDEX", "KIND_INFERENCE_QUERY", "KIND_PAYMENT", "KIND_TRAINING_DATA", "KINDS",
    "MAX_MONEY", "MAX_TX_SIZE", "NULL_TXID", "OutPoint", "Transaction", "TxIn", "TxOut", "check_transaction",
    "Coin", "CoinsView", "UndoRecord", "UtxoSet", "Wallet", "build_payment", "select_coins",
]
