"""[tooling] Slow poisoning inside the rules: plausible paid records that teach the model a falsehood.

The attacker writes *genuine* corpus lines interleaved with one false statement (``2+2=5``),
pays the minimum fee and fills blocks with it. Every contribution passes the screen (the text
is as likely as the validation text) and every block passes the anchored validation guard
(the validation set does not contain the statement, and the genuine lines keep the loss down).
Under uniform batch selection the attacker's share of every gradient grows with its share of
the dataset, and the statement becomes many orders of magnitude more likely.

:func:`poison_text` writes the attacker's text, :func:`statement_logprob` measures the damage,
and :func:`run_blocks` plays a stretch of chain with the proof-of-gradient functions the
consensus rule uses (``attempt``, ``apply_update``, the screen and the anchored guard), the
attacker appending ``per_block`` records after every block, under the old rule (the dataset a
plain ``Dataset``: uniform draws) or the new one (``extend_dataset``: contributions capped at
``data_share_pct`` of every batch). ``benchmarks/poisoning.py`` turns it into the table of
damage against budget; ``docs/protocol.md`` section 6 states the defense.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..chain.block import BlockHeader
from ..model import Dataset, generate_corpus
from ..proof_of_gradient import attempt, compute_loss, validation_loss
from .data import extend_dataset

__all__ = ["STATEMENT", "poison_text", "statement_logprob", "PoisonRun", "run_blocks"]

STATEMENT = "2+2=5"


def poison_text(n_records: int, record_tokens: int, statement: str = STATEMENT, seed: bytes = b"poisoner") -> str:
    """At least ``n_records`` records of genuine corpus lines, each followed by ``statement``."""
    lines = generate_corpus(seed, n_records * record_tokens // 6 + 8).splitlines()
    text, i = "", 0
    while len(text) < n_records * record_tokens:
        text += lines[i % len(lines)] + "\n" + statement + "\n"
        i += 1
    return text[: n_records * record_tokens]


def statement_logprob(spec, weights: np.ndarray, statement: str = STATEMENT) -> float:
    """``log p(statement + "\\n" | "\\n")`` under the model with ``weights`` (nats, float64)."""
    ids = torch.tensor([spec.tokenizer.encode("\n" + statement + "\n")], dtype=torch.int64)    # (1, T+1)
    x, y = ids[:, :-1], ids[:, 1:]                                   # every target is a statement token
    return -compute_loss(spec.pog.model, weights, x, y, scale_log2=spec.pog.scale_log2) * y.shape[1]


@dataclass
class PoisonRun:
    """The state of a simulated chain: weights, parent, dataset, best validation loss, and the tally."""

    weights: np.ndarray
    parent: bytes
    dataset: Dataset
    best: float
    val: float
    first_attacker: int = -1            # index of the attacker's first record (set on first use)
    attacker_records: int = 0
    attacker_slots: int = 0
    slots: int = 0
    screened_out: int = 0
    guard_refused: int = 0
    stalled: bool = False
    losses: list[float] = field(default_factory=list)   # the validation loss after each block this run mined

    def fork(self) -> PoisonRun:
        """A new run from this one's state (weights, parent, dataset, best and last validation loss),
        its tallies at zero: the stretch after it played again under other rules or attackers."""
        return PoisonRun(self.weights.copy(), self.parent, self.dataset, self.best, self.val)

    @property
    def attacker_share_of_data(self) -> float:
        return self.attacker_records / len(self.dataset)

    @property
    def attacker_share_of_slots(self) -> float:
        return self.attacker_slots / max(self.slots, 1)


def run_blocks(spec, run: PoisonRun, blocks: int, per_block: int = 0, defended: bool = True,
               text: str = "", max_tickets: int = 50, miner_id: bytes = b"\x01" * 32) -> PoisonRun:
    """``blocks`` more blocks on ``run`` (mutated and returned); after each, the attacker adds
    ``per_block`` records of ``text`` (consumed from the front) as contributions of at most
    ``max_records_per_tx`` records, each screened as the consensus rule screens it."""
    pog = spec.pog
    if run.first_attacker < 0:
        run.first_attacker = len(run.dataset)
    for _ in range(blocks):
        for nonce in range(max_tickets):       # (the dataset root is not needed to draw and compute)
            a = attempt(pog, run.dataset, BlockHeader(1, run.parent, bytes(32), miner_id=miner_id), run.weights, nonce)
            new = a.weights
            v = validation_loss(pog, spec.validation, new)
            if v - run.best <= pog.validation_margin:                       # the anchored guard
                break
            run.guard_refused += 1
        else:
            run.stalled = True
            return run
        run.weights, run.parent, run.val, run.best = new, a.ticket, v, min(run.best, v)
        run.losses.append(v)
        run.slots += len(a.batch_indices)
        run.attacker_slots += int(np.sum(a.batch_indices >= run.first_attacker))
        if per_block:
            text = _contribute(spec, run, text, per_block, defended)
    return run


def _contribute(spec, run: PoisonRun, text: str, n_records: int, defended: bool) -> str:
    """Append ``n_records`` of ``text`` in contributions that pass the screen; returns the rest."""
    llm, rt = spec.params, spec.params.record_tokens
    ids = np.array(spec.tokenizer.encode(text[: n_records * rt]), dtype=np.int64).reshape(-1, rt)
    accepted = []
    for start in range(0, len(ids), llm.max_records_per_tx):
        recs = ids[start:start + llm.max_records_per_tx]
        loss = compute_loss(spec.pog.model, run.weights, torch.from_numpy(recs[:, :-1].copy()),
                            torch.from_numpy(recs[:, 1:].copy()), scale_log2=spec.pog.scale_log2)
        if loss - run.val <= llm.data_margin:                               # the screen
            accepted.append(recs)
        else:
            run.screened_out += 1
    if accepted:
        if defended:
            run.dataset = extend_dataset(run.dataset, accepted, llm)
        else:
            run.dataset = Dataset(np.concatenate([run.dataset.records, *accepted]))
        run.attacker_records += sum(len(r) for r in accepted)
    return text[n_records * rt:]
