"""[consensus] The training data: a built-in corpus, fixed-length records, and their Merkle root.

The package ships no data files and downloads nothing: ``generate_corpus`` writes a text
from a seed, with structure a tiny model visibly learns and that can be *scored* -
arithmetic facts (``"12+7=19"``) and short templated sentences (``"the cat sees a red
ball."``). ``arithmetic_accuracy`` measures how many sums a model completes correctly.

For the chain the text is cut into records of ``block_size + 1`` tokens (input plus the
next-token targets). A :class:`Dataset` is that list of records; its ``root`` - a
``"chain"`` Merkle root over the records' bytes - is what the chain commits to, so a
miner can only train on committed data and anyone can prove one record belongs to it.
``load_text_file`` turns any text file of yours into the same kind of dataset.
Taught in notebook 07 (and used for mining in notebook 08).
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np
import torch

from ..crypto.merkle import MerkleProof, merkle_proof, merkle_root, verify_proof
from ..errors import ModelError, ParseError
from .rng import HashRNG
from .tokenizer import CharTokenizer

__all__ = [
    "generate_corpus", "arithmetic_line", "load_text_file", "Dataset",
    "builtin_datasets", "arithmetic_accuracy", "ARITHMETIC_PROMPT",
]

_NOUNS = ["cat", "dog", "bird", "fish", "fox", "cow", "owl", "ant"]
_COLORS = ["red", "blue", "green", "black", "white"]
_THINGS = ["ball", "box", "hat", "cup", "book"]
_VERBS = ["sees", "likes", "has", "finds", "wants"]
_NAMES = ["ada", "bob", "eve", "max", "zoe"]

ARITHMETIC_PROMPT = "{a}+{b}="


def arithmetic_line(a: int, b: int) -> str:
    """One arithmetic fact, e.g. ``arithmetic_line(12, 7) == "12+7=19\\n"``."""
    return f"{a}+{b}={a + b}\n"


def _sentence(rng: HashRNG) -> str:
    template = rng.randbelow(3)
    if template == 0:
        return f"the {rng.choice(_NOUNS)} {rng.choice(_VERBS)} a {rng.choice(_COLORS)} {rng.choice(_THINGS)}.\n"
    if template == 1:
        n = 2 + rng.randbelow(8)
        return f"{rng.choice(_NAMES)} has {n} {rng.choice(_THINGS)}s.\n"
    return f"the {rng.choice(_THINGS)} is {rng.choice(_COLORS)}.\n"


def generate_corpus(seed: int | str | bytes = 0, n_lines: int = 4000,
                    max_operand: int = 9, sentence_share: float = 0.5) -> str:
    """A deterministic text of ``n_lines`` lines: sums ``a+b=c`` with ``0 <= a, b <= max_operand``
    and, with probability ``sentence_share``, a templated sentence instead.

    Same arguments, same text, on every machine (the randomness is :class:`HashRNG`).
    """
    rng = HashRNG(b"corpus/" + HashRNG(seed).seed)
    share = round(sentence_share * 1000)
    lines = []
    for _ in range(n_lines):
        if rng.randbelow(1000) < share:
            lines.append(_sentence(rng))
        else:
            lines.append(arithmetic_line(rng.randbelow(max_operand + 1), rng.randbelow(max_operand + 1)))
    return "".join(lines)


def load_text_file(path: str | pathlib.Path, tokenizer: CharTokenizer | None = None,
                   block_size: int = 32) -> "Dataset":
    """A dataset from any UTF-8 text file. With no tokenizer, the vocabulary is the file's own
    characters (``CharTokenizer.from_text``); a given tokenizer must cover every character."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    tokenizer = tokenizer or CharTokenizer.from_text(text)
    return Dataset.from_text(text, tokenizer, block_size)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Fixed-length token records, shape ``(N, block_size + 1)``, committed by ``root``.

    Record ``i``'s bytes are its token ids as little-endian uint16; ``root`` is the
    ``"chain"`` Merkle root over those bytes, in order.
    """

    records: np.ndarray                                  # (N, T+1) int64 token ids, read-only

    def __post_init__(self):
        recs = np.ascontiguousarray(self.records, dtype=np.int64)
        if recs.ndim != 2 or recs.shape[1] < 2:
            raise ModelError("bad-dataset", "records must have shape (N, block_size + 1) with block_size >= 1")
        if recs.size and (recs.min() < 0 or recs.max() >= 2**16):
            raise ModelError("bad-dataset", "token ids must fit in uint16")
        recs.setflags(write=False)
        object.__setattr__(self, "records", recs)

    @classmethod
    def from_text(cls, text: str, tokenizer: CharTokenizer, block_size: int) -> "Dataset":
        """Cut ``text`` into consecutive, non-overlapping records of ``block_size + 1`` tokens
        (a short tail is dropped)."""
        ids = np.array(tokenizer.encode(text), dtype=np.int64)
        n = len(ids) // (block_size + 1)
        if n == 0:
            raise ModelError("text-too-short", f"need at least {block_size + 1} characters")
        return cls(ids[: n * (block_size + 1)].reshape(n, block_size + 1))

    def __len__(self) -> int:
        return self.records.shape[0]

    @property
    def block_size(self) -> int:
        return self.records.shape[1] - 1

    def record_bytes(self, i: int) -> bytes:
        """The bytes of record ``i`` that the Merkle tree commits to."""
        return self.records[i].astype("<u2").tobytes()

    @cached_property
    def root(self) -> bytes:
        """``"chain"`` Merkle root over all records: the dataset's 32-byte commitment."""
        return merkle_root([self.record_bytes(i) for i in range(len(self))], "chain")

    def proof(self, i: int) -> MerkleProof:
        """Inclusion proof for record ``i`` (check it with :meth:`verify_record`)."""
        return merkle_proof([self.record_bytes(j) for j in range(len(self))], i, "chain")

    @staticmethod
    def verify_record(record: Sequence[int], proof: MerkleProof, root: bytes) -> bool:
        return verify_proof(np.asarray(record).astype("<u2").tobytes(), proof, root)

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-token targets for the records at ``indices``: two (B, T) int64 tensors."""
        recs = torch.from_numpy(self.records[np.asarray(indices, dtype=np.int64)].copy())  # (B, T+1)
        return recs[:, :-1], recs[:, 1:]

    def extend(self, records: np.ndarray) -> "Dataset":
        """A new dataset with ``records`` appended (how data transactions grow it)."""
        return Dataset(np.concatenate([self.records, np.asarray(records, dtype=np.int64)]))

    def serialize(self) -> bytes:
        """Canonical bytes: u32 record count, u32 record length, then every record's bytes."""
        n, width = self.records.shape
        return n.to_bytes(4, "little") + width.to_bytes(4, "little") + self.records.astype("<u2").tobytes()

    @classmethod
    def parse(cls, data: bytes) -> "Dataset":
        if len(data) < 8:
            raise ParseError("bad-dataset", "too short for a dataset header")
        n, width = int.from_bytes(data[:4], "little"), int.from_bytes(data[4:8], "little")
        if width < 2 or len(data) != 8 + 2 * n * width:
            raise ParseError("bad-dataset", "length does not match the header")
        return cls(np.frombuffer(data, dtype="<u2", offset=8).reshape(n, width).astype(np.int64))


def builtin_datasets(block_size: int = 32, seed: int | str | bytes = 0, n_lines: int = 4000,
                     max_operand: int = 9, tokenizer: CharTokenizer | None = None
                     ) -> tuple[Dataset, Dataset]:
    """The built-in (train, validation) pair: two corpora from independent seeds."""
    tokenizer = tokenizer or CharTokenizer()
    base = HashRNG(seed).seed
    train = generate_corpus(b"train/" + base, n_lines, max_operand)
    val = generate_corpus(b"validation/" + base, max(n_lines // 8, 64), max_operand)
    return (Dataset.from_text(train, tokenizer, block_size),
            Dataset.from_text(val, tokenizer, block_size))


def arithmetic_accuracy(complete: Callable[[str, int], str], max_operand: int = 9,
                        pairs: Sequence[tuple[int, int]] | None = None) -> float:
    """Share of sums ``a+b=`` that ``complete(prompt, n_chars)`` finishes correctly.

    ``complete`` returns the ``n_chars`` characters a model writes after ``prompt`` (greedy,
    e.g. :meth:`GPT.complete`); the answer counts when it is the sum followed by a newline.
    The prompt starts with a newline, as a fresh line of the corpus does. By default every
    pair with ``0 <= a, b <= max_operand`` is asked.
    """
    if pairs is None:
        pairs = [(a, b) for a in range(max_operand + 1) for b in range(max_operand + 1)]
    correct = 0
    for a, b in pairs:
        want = f"{a + b}\n"
        got = complete("\n" + ARITHMETIC_PROMPT.format(a=a, b=b), len(want))
        correct += got == want
    return correct / len(pairs)
