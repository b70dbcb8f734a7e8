"""[tooling] One error hierarchy for the whole package.

Every rejection in gradientcoin_edu raises a subclass of :class:`GradientCoinError`.
Each error carries a short machine-readable ``reason`` (for example ``"double-spend"``)
and a sentence for humans. Tests assert on ``reason``; notebooks print the sentence.
A function that raises one of these leaves every piece of state exactly as it was.

Taught in notebook 02 (transactions) and used by every later notebook.
"""
from __future__ import annotations

__all__ = [
    "GradientCoinError",
    "CryptoError",
    "InvalidKey",
    "InvalidSignature",
    "ParseError",
    "InvalidTransaction",
    "InvalidBlock",
    "MutatedBlock",
    "StoreError",
    "NetworkError",
    "InvalidMessage",
    "ModelError",
    "InvalidProof",
    "KernelError",
    "UsageError",
]


class GradientCoinError(Exception):
    """Base class: ``reason`` is a short kebab-case code, ``args[0]`` a sentence."""

    layer = "gradientcoin"

    def __init__(self, reason: str, message: str | None = None):
        self.reason = reason
        self.message = message or reason
        super().__init__(f"[{self.layer}:{reason}] {self.message}")


class CryptoError(GradientCoinError):
    layer = "crypto"


class InvalidKey(CryptoError):
    layer = "key"


class InvalidSignature(CryptoError):
    layer = "signature"


class ParseError(GradientCoinError):
    """Bytes that do not decode into the record asked for."""

    layer = "parse"


class InvalidTransaction(GradientCoinError):
    layer = "transaction"


class InvalidBlock(GradientCoinError):
    layer = "block"


class MutatedBlock(InvalidBlock):
    """A block whose body does not match its header's commitments (transactions, payload).

    The header, and so the hash, may belong to a genuine block whose bytes someone changed on
    the way: a node drops the copy without remembering the hash as invalid."""

    layer = "mutated-block"


class StoreError(GradientCoinError):
    layer = "store"


class NetworkError(GradientCoinError):
    layer = "network"


class InvalidMessage(NetworkError):
    layer = "message"


class ModelError(GradientCoinError):
    layer = "model"


class InvalidProof(InvalidBlock):
    """A proof-of-gradient that does not check out (a block-level rejection)."""

    layer = "proof-of-gradient"


class KernelError(GradientCoinError):
    """Bad input to a hashing kernel (NaN gradient, wrong dtype, bad chunk size)."""

    layer = "kernel"


class UsageError(GradientCoinError):
    """A user mistake on the command line or in a data dir (a busy port, a locked or unusable
    folder, an argument out of range). The ``gradientcoin`` command prints the sentence on one
    line and exits with status 2; nothing stored has been changed."""

    layer = "usage"
