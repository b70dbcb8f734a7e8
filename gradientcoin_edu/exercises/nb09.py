"""[tooling] Checks for notebook 09, "Training on the chain".

09.1 the Lion step in integers, checked bit for bit against the library's update
(``proof_of_gradient/update.py``, ``docs/protocol.md`` section 7) on fresh random states; 09.2 the
dataset root a block must commit to after its data contributions; 09.3 the anchored validation
guard. Inputs are drawn afresh at every call (the notebook never prints them); the library's own
functions are refused. A stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from ..model import CharTokenizer, Dataset
from . import exercise
from ._own_work import fresh_np_rng as _fresh_rng
from ._own_work import guarded

_TOKENIZER = CharTokenizer()


def _lion_params(n: int, beta1_num: int, beta2_num: int) -> SimpleNamespace:
    """The fields of ``PoGParams`` that the library's Lion update reads (a small model of n weights)."""
    return SimpleNamespace(optimizer=1, n_params=n, state_size=2 * n + 1, beta1_num=beta1_num, beta2_num=beta2_num,
                           lr_num=1, scale_log2=32, lr_shift=10, warmup_steps=20, lr_half_life=2000, lr_min_shift=3)


def _ties(b2: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """Gradient values q whose momentum share (2^16 - b2) * q * 2^8 / 2^16 ends in exactly one half."""
    qs = np.arange(-4096, 4096, dtype=np.int64)
    tie = qs[((65536 - b2) * (qs << 8)) % 65536 == 32768]
    return rng.choice(tie, count) if len(tie) else np.zeros(count, dtype=np.int64)


@exercise("09.1", "the Lion step in integers")
def check_lion_step(candidate) -> None:
    from ..proof_of_gradient import update
    from ..proof_of_gradient.update import apply_update, lr_units
    rng = _fresh_rng()
    call = guarded(candidate, (apply_update, update._lion, update._round_shift), "lion_step")
    for case in range(5):
        n = int(rng.integers(1, 3000))
        b1 = 58982 if case == 0 else int(rng.integers(1, 65536))
        b2 = 63570 if case == 0 else int(rng.integers(1, 65536))
        params = _lion_params(n, b1, b2)
        t = [0, 1, 19, int(rng.integers(20, 10_000)), int(rng.integers(0, 30_000))][case]
        w = rng.integers(-2**40, 2**40, n)
        m = np.zeros(n, dtype=np.int64) if case == 0 else rng.integers(-2**38, 2**38, n)
        q = rng.integers(-2**20, 2**20, n).astype(np.int32)
        q[: n // 4] = _ties(b2, rng, n // 4)                    # the new momentum is exactly halfway
        q[n // 4: n // 3] = 0
        state = np.concatenate([w, m, np.array([t], dtype=np.int64)])
        want = apply_update(state, q, params)
        step = lr_units(params, t + 1)
        got = call(w.copy(), m.copy(), q.copy(), step, b1, b2)
        assert got is not None, "lion_step returned None - did you forget `return`?"
        new_w, new_m = (np.asarray(v) for v in got)
        assert new_w.shape == (n,) and new_m.shape == (n,), "return (new_w, new_m), two arrays of the weights' length"
        if not np.array_equal(new_w, want[:n]):
            raise AssertionError("the new weights differ. Hint: a weight moves by exactly `step` against the sign of "
                                 "the interpolation of momentum and gradient (beta1), not of the gradient alone; "
                                 "the gradient counts 2^8 momentum units per quantum; where the interpolation is "
                                 "0 the weight stays.")
        if not np.array_equal(new_m, want[n:2 * n]):
            v = np.int64(b2) * m + np.int64(65536 - b2) * (q.astype(np.int64) << np.int64(8))
            if np.all((v % 65536 == 32768)[new_m != want[n:2 * n]]):
                raise AssertionError("the new momentum differs only where it lies exactly halfway between two "
                                     "integers: the chain rounds those away from zero (neither down nor to even)")
            raise AssertionError("the new momentum differs. Hint: it is the beta2 interpolation of momentum and "
                                 "gradient (in momentum units), a fraction of 2^16, rounded to an integer once.")


def _dataset() -> Dataset:
    return Dataset.from_text("1+1=2\nthe cat has a hat.\n" * 4, _TOKENIZER, 8)


def _reference_root(dataset: Dataset, texts, record_tokens: int) -> bytes:
    from ..llm.data import text_records
    parts = [text_records(t, _TOKENIZER, record_tokens) for t in texts]
    records = np.concatenate(parts) if parts else np.empty((0, record_tokens), dtype=np.int64)
    return dataset.extend(records).root if len(records) else dataset.root


@exercise("09.2", "the dataset root after a block's contributions")
def check_dataset_root(candidate) -> None:
    from ..llm.data import contribution_records, text_records
    rng = _fresh_rng()
    call = guarded(candidate, (text_records, contribution_records), "dataset_root_after")
    words = ["ada", "bob", "has", "3", "cups", "2", "hats", "+", "=", "\n", " ", "."]
    fresh = ["".join(rng.choice(words, int(rng.integers(3, 40)))) for _ in range(3)]
    cases = [
        (fresh, "three contributions of random length"),
        ([], "a block without contributions leaves the root as it was"),
        (["2+2=4\n" * 3], "one contribution of 18 characters: two records of 9, nothing left over"),
        (["2+2=4\n" * 3 + "tail"], "a tail shorter than a record is dropped"),
        (["ada has 3 cups.\n", "bob has 2 hats.\n" * 2], "two contributions, in block order"),
        (["bob has 2 hats.\n" * 2, "ada has 3 cups.\n"], "the same two the other way round: another root"),
        (["short", "2+2=4\n" * 3], "a contribution shorter than a record adds nothing"),
    ]
    for texts, what in cases:
        dataset = _dataset()
        got = call(dataset, list(texts), _TOKENIZER, 9)
        assert got is not None, "your function returned None - did you forget `return`?"
        want = _reference_root(dataset, texts, 9)
        assert isinstance(got, (bytes, bytearray)) and len(got) == 32, "return the 32-byte Merkle root (bytes)"
        assert bytes(got) == want, (f"wrong root when {what}. Hint: each text is cut on its own, as in exercise "
                                    "07.1 (records do not run from one contribution into the next), and the "
                                    "records of all texts are appended in block order.")


@exercise("09.3", "the anchored validation guard")
def check_anchored_guard(candidate) -> None:
    from ..llm.rule import LLMRule
    rng = _fresh_rng()
    call = guarded(candidate, ((LLMRule, "check_anchor"),), "anchored_guard_ok")
    m = float(rng.choice([0.1, 0.25, 0.05]))
    cases = [
        ([4.5, 4.0, 3.5], 3.5 - m / 2, True, "the loss falls"),
        ([4.5, 4.0, 3.5], 3.5 + m * 0.9, True, "a small rise, within the margin of the best"),
        ([4.5, 4.0, 3.5], 3.5 + m * 1.1, False, "a rise of more than the margin"),
        ([4.5, 3.5, 3.5 + m * 0.8], 3.5 + m * 1.2, False,
         "within the margin of the parent but not of the best"),
        ([4.5, 3.5, 3.5 + m * 0.8, 3.5 + m * 0.5], 3.5 + m * 0.9, True, "the best so far is 3.5: within the margin"),
        ([4.5], 4.5 + m / 2, True, "the first block after genesis"),
        ([4.5, 4.0], math.nan, False, "a NaN loss is never healthy"),
    ]
    history = [float(v) for v in 4.5 - np.cumsum(rng.uniform(-m, m, int(rng.integers(5, 60))))]
    new = float(min(history) + rng.uniform(-2 * m, 2 * m))
    cases.insert(0, (history, new, bool(new - min(history) <= m), "a random history"))
    for history, new, want, what in cases:
        got = call(list(history), new, m)
        assert got is not None, "your function returned None - did you forget `return`?"
        assert bool(got) is want, (f"history {np.round(history, 4).tolist()[:8]}{'...' if len(history) > 8 else ''}, "
                                   f"new loss {new:.4f}, margin {m}: expected {want} ({what}). Hint: the anchor is "
                                   "the best the chain has been, not the parent; and think about what NaN "
                                   "compares to.")
