"""Checks for notebook 09, "Training on the chain".

09.1 the dataset root a block must commit to after its data contributions; 09.2 the anchored
validation guard. Each check compares the student's function with the library
(:mod:`gradientcoin_edu.llm`) on small hand-made cases; a stub's ``NotImplementedError`` passes
through untouched.
"""
from __future__ import annotations

import math

import numpy as np

from ..model import CharTokenizer, Dataset
from . import exercise

_TOKENIZER = CharTokenizer()


def _dataset() -> Dataset:
    return Dataset.from_text("1+1=2\nthe cat has a hat.\n" * 4, _TOKENIZER, 8)


def _reference_root(dataset: Dataset, texts, record_tokens: int) -> bytes:
    from ..llm.data import text_records
    parts = [text_records(t, _TOKENIZER, record_tokens) for t in texts]
    records = np.concatenate(parts) if parts else np.empty((0, record_tokens), dtype=np.int64)
    return dataset.extend(records).root if len(records) else dataset.root


@exercise("09.1", "the dataset root after a block's contributions")
def check_dataset_root(candidate) -> None:
    cases = [
        ([], "a block without contributions leaves the root as it was"),
        (["2+2=4\n" * 3], "one contribution of 18 characters: two records of 9, nothing left over"),
        (["2+2=4\n" * 3 + "tail"], "a tail shorter than a record is dropped"),
        (["ada has 3 cups.\n", "bob has 2 hats.\n" * 2], "two contributions, in block order"),
        (["bob has 2 hats.\n" * 2, "ada has 3 cups.\n"], "the same two the other way round: another root"),
    ]
    for texts, what in cases:
        dataset = _dataset()
        got = candidate(dataset, list(texts), _TOKENIZER, 9)
        assert got is not None, "your function returned None - did you forget `return`?"
        want = _reference_root(dataset, texts, 9)
        assert isinstance(got, (bytes, bytearray)) and len(got) == 32, "return the 32-byte Merkle root (bytes)"
        assert bytes(got) == want, (f"wrong root when {what}. Hint: cut each text into records of "
                                    "record_tokens token ids (drop the tail), append them all in order "
                                    "with dataset.extend(...), and return the new dataset's .root.")


@exercise("09.2", "the anchored validation guard")
def check_anchored_guard(candidate) -> None:
    m = 0.1
    cases = [
        ([4.5, 4.0, 3.5], 3.45, True, "the loss falls"),
        ([4.5, 4.0, 3.5], 3.59, True, "a small rise, within the margin of the best"),
        ([4.5, 4.0, 3.5], 3.61, False, "a rise of more than the margin"),
        ([4.5, 3.5, 3.58], 3.62, False, "within the margin of the parent (3.58) but not of the best (3.5)"),
        ([4.5, 3.5, 3.58, 3.55], 3.59, True, "the best so far is 3.5: 3.59 is within the margin"),
        ([4.5], 4.55, True, "the first block after genesis"),
        ([4.5, 4.0], math.nan, False, "a NaN loss is never healthy"),
    ]
    for history, new, want, what in cases:
        got = candidate(list(history), new, m)
        assert got is not None, "your function returned None - did you forget `return`?"
        assert bool(got) is want, (f"history {history}, new loss {new}: expected {want} ({what}). Hint: compare "
                                   "with min(history) + margin, and think about what NaN compares to.")
