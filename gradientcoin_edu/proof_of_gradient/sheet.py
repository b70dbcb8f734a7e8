"""[consensus] The loss sheet: a forged block is refused for the price of one record's forward pass.

A proof-of-gradient block is checked by recomputing its gradient. Winning the ticket lottery
with a *junk* payload costs only hashes (the ticket is a header hash: grind any field until it
is below the target), so a node must refuse junk for much less than a full recomputation.
Each block therefore publishes, after its quantized gradient ``Q``, the **loss sheet**: the
batch's per-record losses (the mean cross-entropy of each of the ``B`` records at the parent
weights, which the miner's forward pass computes anyway), each as a little-endian int64 ::

    sheet[i] = round(loss_i · 2^sheet_log2)

and ``grad_root`` covers the whole payload (``Q`` bytes, then the sheet), so the header commits
to every entry. A node recomputes first the loss of a record *it picks with its own local
randomness* (one forward pass on one record, about 1/50 of a verification on the ``demo``
preset), then, if it matches, the full gradient, whose forward pass yields every record's loss:
all ``B`` entries are checked before the block is accepted. The rule of consensus is that every
entry matches (the check is deterministic); only the *order* is random, so the early exit saves
the node work without ever changing its verdict. An entry matches when it is the rounding of the
recomputed value, or the other rounding when the recomputed value lies within ``SHEET_DELTA``
quanta of a rounding boundary (honest float64 noise is about 10^-5 quanta: the same tolerance
argument as for ``Q``, docs/protocol.md section 3).

A junk block costs its sender a few hashes and its rejection costs a node one record's forward
pass (and the node bans the sender: a new identity per forged block). A forger who computes the
forward pass honestly, to get past the sheet, then pays a forward pass on the whole batch for
each block: a third of the gradient that the node spends to refuse it. docs/protocol.md section
4 gives the measured costs of each forgery. This replaced the block stamp (a hash puzzle worth
one verification at this package's hash rate, which a fast hasher paid for 10 to 1,000 times
less while every honest miner paid it on every block). Taught in notebook 14.
"""
from __future__ import annotations

import random

import numpy as np

from ..errors import InvalidProof

__all__ = ["SHEET_DELTA", "SPOT_RECORDS", "sheet_bytes", "sheet_from_losses", "split_payload", "join_payload",
           "sheet_mismatches", "spot_order"]

SHEET_DELTA = 2.0 ** -10          # quanta: how close to x.5 a recomputed loss must be to allow the other rounding
SPOT_RECORDS = 1                  # node policy: records whose loss is recomputed before the gradient
_SYSTEM = random.SystemRandom()   # the verifier's own randomness (a forger cannot predict it)


def sheet_bytes(batch_size: int) -> int:
    """Bytes of a loss sheet: one int64 per record of the batch."""
    return 8 * batch_size


def sheet_from_losses(losses, sheet_log2: int) -> np.ndarray:
    """``round(loss_i · 2^sheet_log2)`` as int64 (half to even; a non-finite loss becomes 0)."""
    x = np.asarray(losses, dtype=np.float64) * 2.0**sheet_log2
    x = np.where(np.isfinite(x), x, 0.0)
    return np.rint(np.clip(x, -2.0**62, 2.0**62)).astype(np.int64)


def sheet_mismatches(published: np.ndarray, losses, sheet_log2: int) -> np.ndarray:
    """Indices of the entries of ``published`` (int64) that are not a rounding of the recomputed
    ``losses`` allowed by the tolerance: ``|published - loss · 2^k| <= 1/2 + SHEET_DELTA`` (either
    rounding next to a boundary, only the nearest one elsewhere). NaN never matches."""
    x = np.asarray(losses, dtype=np.float64) * 2.0**sheet_log2
    with np.errstate(invalid="ignore"):
        ok = np.abs(np.asarray(published, dtype=np.float64) - x) <= 0.5 + SHEET_DELTA
    return np.flatnonzero(~ok)


def split_payload(payload: bytes, n_params: int, batch_size: int) -> tuple[bytes, np.ndarray]:
    """A block's payload -> (quantized gradient bytes, loss sheet as int64). ``InvalidProof("payload-size")``
    unless it is exactly ``4 * n_params + 8 * batch_size`` bytes. The Q bytes are a view (no copy)."""
    expected = 4 * n_params + sheet_bytes(batch_size)
    if len(payload) != expected:
        raise InvalidProof("payload-size", f"payload has {len(payload)} bytes, the model needs {expected} "
                           f"({n_params} int32 values and a loss sheet of {batch_size} int64 values)")
    view = memoryview(payload)
    return view[:4 * n_params], np.frombuffer(payload, dtype="<i8", offset=4 * n_params)


def join_payload(q_bytes: bytes, sheet: np.ndarray) -> bytes:
    """The payload of a block: the quantized gradient's bytes, then the loss sheet (int64 LE)."""
    return bytes(q_bytes) + np.ascontiguousarray(sheet, dtype="<i8").tobytes()


def spot_order(batch_size: int, rng: random.Random | None = None) -> list[int]:
    """The records (positions in the batch) a node checks before the gradient: ``SPOT_RECORDS`` of
    them, drawn with the node's own randomness (``rng``: for tests that replay a choice)."""
    rng = _SYSTEM if rng is None else rng
    return rng.sample(range(batch_size), min(SPOT_RECORDS, batch_size))
