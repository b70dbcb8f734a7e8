"""[consensus] Training-data transactions: anyone pays a fee to add text to the model's dataset.

The dataset is part of consensus (every gradient is computed on records the chain committed
to), so new data can only enter through the chain: a transaction of kind
``KIND_TRAINING_DATA`` whose payload is the text. Its bytes::

    version u8 (= 1) | text (UTF-8)

The text is cut into records of ``block_size + 1`` tokens, exactly as the genesis corpus was
(``Dataset.from_text``; a tail shorter than one record is dropped and not paid for). The records
of a block are appended to the dataset, in block order, *after* the block: they can be drawn
into batches from the next block on, and the block's coinbase commits to the new dataset root
(``commitment.py``).

Admission rules (consensus; each rejection names its ``reason``):

=========================  ===========================================================
``bad-data-payload``       not version 1, or the text is not UTF-8
``data-unknown-character`` a character outside the tokenizer's vocabulary
``data-too-short``         less than one full record
``data-too-long``          more than ``max_records_per_tx`` records
``data-fee-too-low``       fee below ``data_fee_per_record`` per record
``data-block-full``        the block would add more than ``max_records_per_block`` records
``data-implausible``       the *screen*: the model at the parent block finds the text far less
                           likely than its validation text (mean cross-entropy more than
                           ``data_margin`` nats above the validation loss; see ``rule.py``)
=========================  ===========================================================

**Strata: how much a contribution weighs.** Every contribution is its own *stratum* of the
dataset (the genesis corpus is stratum 0) and batches are drawn stratum by stratum
(``proof_of_gradient/batch.py``). The weights (:func:`stratum_weights`) are proportional to the
records, except that all contributions together fill at most ``data_share_pct`` (25 %) of a
batch: past that, the genesis corpus keeps ``100 - data_share_pct`` % of every batch however
much data is bought. This bounds both a previewing miner (the slots a stratum gets do not
depend on the nonce) and a poisoner (no amount of fees buys more than a quarter of the training
signal); measured in ``benchmarks/preview.py`` and ``benchmarks/poisoning.py``, specified in
``docs/protocol.md`` sections 5 and 6.

Taught in notebook 09.
"""
from __future__ import annotations

from typing import Collection

import numpy as np

from ..errors import InvalidTransaction, ModelError
from ..ledger import KIND_TRAINING_DATA, OutPoint, Transaction, UtxoSet, build_payment
from ..model import CharTokenizer, Dataset
from ..proof_of_gradient.batch import StratifiedDataset
from .params import LLMParams

__all__ = ["DATA_VERSION", "data_payload", "parse_data_payload", "text_records", "contribution_records",
           "data_fee", "build_data_tx", "stratum_weights", "extend_dataset", "truncate_dataset"]

DATA_VERSION = 1


def data_payload(text: str) -> bytes:
    """The payload of a contribution of ``text``."""
    return bytes([DATA_VERSION]) + text.encode("utf-8")


def parse_data_payload(payload: bytes) -> str:
    """The text of a contribution; ``InvalidTransaction("bad-data-payload")`` otherwise."""
    if not payload or payload[0] != DATA_VERSION:
        raise InvalidTransaction("bad-data-payload", "a data payload starts with version byte 1")
    try:
        return payload[1:].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidTransaction("bad-data-payload", "the text is not valid UTF-8") from None


def text_records(text: str, tokenizer: CharTokenizer, record_tokens: int) -> np.ndarray:
    """``text`` cut into consecutive records of ``record_tokens`` token ids, shape (n, record_tokens)."""
    try:
        ids = np.array(tokenizer.encode(text), dtype=np.int64)
    except ModelError as err:
        raise InvalidTransaction("data-unknown-character", err.message) from None
    n = len(ids) // record_tokens
    return ids[: n * record_tokens].reshape(n, record_tokens)


def contribution_records(tx: Transaction, params: LLMParams, tokenizer: CharTokenizer) -> np.ndarray:
    """The records a data transaction adds, after the context-free admission rules (no fee, no screen)."""
    records = text_records(parse_data_payload(tx.payload), tokenizer, params.record_tokens)
    if len(records) == 0:
        raise InvalidTransaction("data-too-short", f"a contribution needs at least {params.record_tokens} characters")
    if len(records) > params.max_records_per_tx:
        raise InvalidTransaction("data-too-long", f"{len(records)} records, at most {params.max_records_per_tx} "
                                                  "per transaction")
    return records


def data_fee(text: str, params: LLMParams) -> int:
    """The smallest fee a contribution of ``text`` must pay."""
    return (len(text) // params.record_tokens) * params.data_fee_per_record


def build_data_tx(utxo: UtxoSet, key, text: str, params: LLMParams, fee: int | None = None,
                  exclude: Collection[OutPoint] = ()) -> Transaction:
    """A signed contribution of ``text`` paid from ``key``'s coins (change back to the key).

    ``fee`` defaults to the smallest allowed one. The only output is the change: everything
    else is the fee, which goes to the miner who puts the text on chain.
    """
    fee = data_fee(text, params) if fee is None else fee
    tx = build_payment(utxo, key, [], fee, kind=KIND_TRAINING_DATA, payload=data_payload(text),
                       exclude=exclude, change_address=key.address())
    if not tx.outputs:              # the coins held exactly the fee: a transaction needs one output
        tx = build_payment(utxo, key, [(key.address(), 0)], fee, kind=KIND_TRAINING_DATA,
                           payload=data_payload(text), exclude=exclude)
    return tx


# ---------------------------------------------------------------------------- strata
def stratum_weights(sizes, share_pct: int) -> tuple[int, ...]:
    """Integer batch weights of strata of ``sizes`` records (stratum 0: the genesis corpus).

    Proportional to the records while the contributions are at most ``share_pct`` % of them;
    beyond, the genesis corpus weighs ``(100 - share_pct)·n_c`` and contribution ``i``
    ``share_pct·r_i`` (``n_c`` = all contributed records), so together they weigh ``share_pct`` %.
    """
    n0, contributed = int(sizes[0]), [int(r) for r in sizes[1:]]
    n_c = sum(contributed)
    if n_c * (100 - share_pct) <= n0 * share_pct:
        return (n0, *contributed)
    return ((100 - share_pct) * n_c, *(share_pct * r for r in contributed))


def extend_dataset(dataset: Dataset, contributions, params: LLMParams) -> Dataset:
    """``dataset`` with each array of records in ``contributions`` appended as a new stratum."""
    groups = [np.asarray(r, dtype=np.int64) for r in contributions if len(r)]
    if not groups:
        return dataset
    starts = list(dataset.starts) if isinstance(dataset, StratifiedDataset) else [0]
    n = len(dataset)
    for group in groups:
        starts.append(n)
        n += len(group)
    records = np.concatenate([dataset.records, *groups])
    sizes = np.diff(starts + [n])
    return StratifiedDataset(records, tuple(starts), stratum_weights(sizes, params.data_share_pct))


def truncate_dataset(dataset: Dataset, n_records: int, params: LLMParams) -> Dataset:
    """The first ``n_records`` records of ``dataset`` (a stratum boundary), with their strata."""
    if n_records == len(dataset):
        return dataset
    starts = [s for s in getattr(dataset, "starts", (0,)) if s < n_records]
    if n_records not in getattr(dataset, "starts", ()):
        raise ModelError("bad-strata", f"{n_records} records is not a stratum boundary")
    records = dataset.records[:n_records]
    if len(starts) == 1:
        return Dataset(records)
    sizes = np.diff(starts + [n_records])
    return StratifiedDataset(records, tuple(starts), stratum_weights(sizes, params.data_share_pct))
