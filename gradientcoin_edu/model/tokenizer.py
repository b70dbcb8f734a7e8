"""[consensus] Character-level tokenizer with a fixed vocabulary, committed by its hash.

A tokenizer turns text into the integers a language model reads (and back). The simplest
one maps each character to its position in a fixed vocabulary string, as in nanoGPT's
Shakespeare-char example. Because every node of the chain must cut text into exactly the
same tokens, the vocabulary itself is part of the chain's parameters: ``serialize()`` gives
its canonical bytes and ``hash`` (SHA-256 of those bytes) is what the chain commits to.
Taught in notebook 07.
"""
from __future__ import annotations

import hashlib
import string
from typing import Iterable

from ..errors import ModelError, ParseError

__all__ = ["DEFAULT_VOCAB", "CharTokenizer"]

# Newline plus the 95 printable ASCII characters (space .. '~'): 96 tokens.
DEFAULT_VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
assert set(string.printable) - set(DEFAULT_VOCAB) == set("\t\r\x0b\x0c")

_MAGIC = b"gradientcoin-chartok/1\n"


class CharTokenizer:
    """One token per character of ``vocab`` (a string without repeated characters)."""

    def __init__(self, vocab: str = DEFAULT_VOCAB):
        if not vocab:
            raise ModelError("empty-vocabulary", "a tokenizer needs at least one character")
        if len(set(vocab)) != len(vocab):
            raise ModelError("duplicate-character", "every vocabulary character must be unique")
        self.vocab = vocab
        self._index = {ch: i for i, ch in enumerate(vocab)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The tokenizer whose vocabulary is the sorted set of characters in ``text``."""
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Text -> token ids. Raises ``ModelError('unknown-character')`` for a character
        outside the vocabulary (never silently drops or replaces it)."""
        try:
            return [self._index[ch] for ch in text]
        except KeyError as err:
            raise ModelError("unknown-character",
                             f"character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text."""
        try:
            return "".join(self.vocab[int(i)] for i in ids)
        except IndexError:
            raise ModelError("unknown-token", f"token id outside 0..{self.vocab_size - 1}") from None

    def serialize(self) -> bytes:
        """Canonical bytes: a fixed magic line, then the vocabulary in UTF-8."""
        return _MAGIC + self.vocab.encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> "CharTokenizer":
        if not data.startswith(_MAGIC):
            raise ParseError("bad-tokenizer", "bytes do not start with the tokenizer magic")
        try:
            return cls(data[len(_MAGIC):].decode("utf-8"))
        except (UnicodeDecodeError, ModelError) as err:
            raise ParseError("bad-tokenizer", f"invalid vocabulary: {err}") from None

    @property
    def hash(self) -> bytes:
        """SHA-256 of ``serialize()``: the 32 bytes a chain commits to."""
        return hashlib.sha256(self.serialize()).digest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and other.vocab == self.vocab

    def __hash__(self) -> int:
        return hash(self.vocab)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, hash={self.hash.hex()[:16]}...)"

    def __len__(self) -> int:
        return self.vocab_size
