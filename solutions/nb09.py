"""Reference solutions for notebook 09 (for instructors): ``SOLUTIONS = {"09.k": function}``."""
from __future__ import annotations

import numpy as np


def lion_step(w, m, q, step, beta1_num, beta2_num):
    """09.1: one Lion step in int64: the gradient in momentum units, the sign of the beta1 mix moves
    each weight by ``step``, the beta2 mix (a fraction of 2^16) rounded once, ties away from zero."""
    one = np.int64(1 << 16)
    b1, b2 = np.int64(beta1_num), np.int64(beta2_num)
    w, m = np.asarray(w, dtype=np.int64), np.asarray(m, dtype=np.int64)
    g = np.asarray(q, dtype=np.int64) << np.int64(8)                 # 256 momentum units per gradient quantum
    new_w = w - np.int64(step) * np.sign(b1 * m + (one - b1) * g)
    v = b2 * m + (one - b2) * g
    new_m = np.sign(v) * ((np.abs(v) + (one >> np.int64(1))) >> np.int64(16))   # round(v / 2^16), ties away from 0
    return new_w, new_m


def dataset_root_after(dataset, texts, tokenizer, record_tokens):
    """09.2: cut each text into records (dropping its tail), append them in block order, take the root."""
    parts = []
    for text in texts:
        ids = np.array(tokenizer.encode(text), dtype=np.int64)
        n = len(ids) // record_tokens
        parts.append(ids[: n * record_tokens].reshape(n, record_tokens))
    records = np.concatenate(parts) if parts else np.empty((0, record_tokens), dtype=np.int64)
    return dataset.extend(records).root if len(records) else dataset.root


def anchored_guard_ok(history, new_loss, margin):
    """09.3: valid when the new loss is at most the best loss so far plus the margin (NaN never is)."""
    return new_loss - min(history) <= margin


SOLUTIONS = {"09.1": lion_step, "09.2": dataset_root_after, "09.3": anchored_guard_ok}
