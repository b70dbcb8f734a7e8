"""Mining a block of the decentralized LLM: choose transactions, answer queries, train.

A miner's block on the tip of an :class:`~gradientcoin_edu.llm.chain.LLMChain`:

1. **transactions** - the candidates that are valid together on the tip (UTXO rules) and pass
   the data and query rules, highest fee first within the per-block caps (``select_txs``);
2. **answers and dataset root** - each query answered by greedy decoding from the weights it
   names; the records of the data transactions appended; both roots go into the coinbase
   commitment, with the subsidy plus all fees paid to the miner;
3. **proof of gradient** - tickets on the tip weights, nonce after nonce (each one a batch and a
   gradient), until one wins *and* its update passes the validation guard (``mine_proof``; a
   winning ticket whose update the guard would reject is dropped: publishing it would only get
   the block refused);
4. the header: ``grad_root`` and ``weights_root`` of the winning gradient, the nonce, the miner id.

The ticket covers no free field, so steps 1-2 may be redone on the same proof (a new
transaction arrives) without new work. Taught in notebook 09.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

from ..chain import Block, BlockHeader, compute_tx_root
from ..chain.work import header_target
from ..errors import GradientCoinError, InvalidBlock, InvalidProof
from ..ledger import KIND_TRAINING_DATA, Transaction, TxOut
from ..model.fixed_point import weights_root
from ..proof_of_gradient import Verified, apply_update, attempt, check_validation
from .commitment import Commitment, commitment_coinbase
from .inference import answers_root
from .rule import BlockContents, LLMRule, tx_fees

__all__ = ["Proof", "MinedBlock", "mine_proof", "select_txs", "assemble_block", "mine_llm_block"]


@dataclass(frozen=True, eq=False)
class Proof:
    """A winning ticket whose update passes the guard: what goes into the header and payload."""

    nonce: int
    payload: bytes
    grad_root: bytes
    weights_root: bytes
    verified: Verified             # new weights, ticket, losses (remembered by the rule)
    attempts: int                  # gradients computed, the winning one included
    rejected_by_guard: int         # winning tickets dropped because the guard would refuse them


class MinedBlock(NamedTuple):
    """A freshly mined block, its proof, and the candidate transactions left out (with the reason)."""

    block: Block
    proof: Proof
    rejected: list                 # [(transaction, reason)]


def mine_proof(rule: LLMRule, miner_id: bytes, target: int, start_nonce: int = 0,
               max_attempts: int = 100_000, on_attempt: Callable[[int], None] | None = None) -> Proof | None:
    """Try nonces from ``start_nonce`` on the rule's tip until a ticket wins and passes the guard.

    ``on_attempt(n)`` is called after each gradient (progress bars). None after ``max_attempts``.
    """
    parent, w = rule.tip_hash, rule.weights
    rejected = 0
    for i in range(max_attempts):
        nonce = start_nonce + i
        if nonce >= 2**32:
            break
        a = attempt(rule.params, rule.dataset, parent, w, miner_id, nonce)
        if on_attempt is not None:
            on_attempt(i + 1)
        if not a.wins(target):
            continue
        try:
            new = apply_update(w, a.q, rule.params)
            before = after = None
            if rule.check_validation:
                before, after = check_validation(rule.params, rule.validation, w, new, rule.val_loss())
                rule.check_anchor(after)
        except InvalidProof:
            rejected += 1
            continue
        verified = Verified(new, a.ticket, a.batch_indices, 0, a.loss, before, after)
        return Proof(nonce, a.payload, a.grad_root, weights_root(new, rule.params.chunk_bytes), verified,
                     i + 1, rejected)
    return None


def select_txs(rule: LLMRule, utxo, height: int, candidates: Sequence[Transaction],
               strict: bool = False) -> tuple[list[Transaction], BlockContents, dict[bytes, int], list]:
    """The transactions to mine at ``height`` on the rule's tip: valid together on ``utxo`` (the
    tip's coins), each passing the data and query rules (screen included) within the caps.

    ``strict=True`` raises the first rejection instead of leaving the transaction out.
    Returns (transactions, their contents, fee by txid, [(left-out transaction, reason)]).
    """
    chosen: list[Transaction] = []
    rejected: list = []
    for tx in candidates:                                      # the UTXO rules
        try:
            _apply(utxo, height, [*chosen, tx])
            chosen.append(tx)
        except GradientCoinError as err:
            if strict:
                raise
            rejected.append((tx, err.reason))
    fees = tx_fees(chosen, _apply(utxo, height, chosen))
    order = chosen if strict else sorted(chosen, key=lambda t: (t.kind == KIND_TRAINING_DATA,
                                                                -fees[t.txid] / max(1, t.size)))
    kept: list[Transaction] = []
    for tx in order:                                           # the data and query rules, within the caps
        try:
            contents = rule.contents([*kept, tx], height, fees)
            if rule.screening and tx.kind == KIND_TRAINING_DATA:
                rule.screen(tx, contents.data[-1][1])
            kept.append(tx)
        except GradientCoinError as err:
            if strict:
                raise
            rejected.append((tx, err.reason))
    kept = [tx for tx in chosen if tx in kept]                  # back in the order they were given
    return kept, rule.contents(kept, height, fees), fees, rejected


def _apply(utxo, height: int, txs: Sequence[Transaction]):
    """The UTXO undo record of ``txs`` applied at ``height`` on a copy of ``utxo`` (raises if invalid)."""
    placeholder = Transaction.coinbase(height, [TxOut(0, bytes(20))])
    return utxo.copy().apply_block([placeholder, *txs], height, 0)


def assemble_block(chain, proof: Proof, txs: Sequence[Transaction], contents: BlockContents,
                   fees: dict[bytes, int], miner_address: bytes, miner_id: bytes, time: int | None = None,
                   tag: bytes = b"") -> Block:
    """The block: coinbase (subsidy + fees, the commitment), transactions, header with the proof."""
    rule: LLMRule = chain.work_rule
    height = rule.height + 1
    records = contents.records(rule.llm.record_tokens)
    dataset = rule.dataset.extend(records) if len(records) else rule.dataset
    commitment = Commitment(dataset.root, answers_root(rule.answers(contents)))
    reward = chain.params.subsidy(height) + sum(fees[tx.txid] for tx in txs)
    coinbase = commitment_coinbase(height, [TxOut(reward, miner_address)], commitment, tag)
    all_txs = (coinbase, *txs)
    tip = chain.tip
    mtp = chain.median_time_past(tip.hash)
    time = max(int(chain.clock()) if time is None else int(time), mtp + 1)
    header = BlockHeader(version=1, prev_hash=tip.hash, tx_root=compute_tx_root(all_txs), grad_root=proof.grad_root,
                         weights_root=proof.weights_root, time=time, bits=chain.next_bits(tip.hash),
                         nonce=proof.nonce, miner_id=miner_id)
    return Block(header, all_txs, proof.payload)


def mine_llm_block(chain, miner_address: bytes, txs: Sequence[Transaction] = (), *, miner_id: bytes | None = None,
                   time: int | None = None, tag: bytes = b"", strict: bool = True, start_nonce: int = 0,
                   on_attempt: Callable[[int], None] | None = None) -> MinedBlock:
    """Mine one block on ``chain``'s tip (not added: pass it to ``chain.add_block``).

    ``strict``: raise on an invalid transaction (else leave it out). Returns (block, proof, rejected).
    """
    rule: LLMRule = chain.work_rule
    if rule.tip_hash != chain.tip.hash:
        raise InvalidBlock("stale-parent", "the rule is not at the chain's tip")
    miner_id = miner_id if miner_id is not None else _miner_id(miner_address)
    height = chain.height + 1
    chosen, contents, fees, rejected = select_txs(rule, chain.utxo, height, list(txs), strict)
    target = header_target(BlockHeader(1, bytes(32), bytes(32), bits=chain.next_bits()))
    proof = None
    while proof is None:
        proof = mine_proof(rule, miner_id, target, start_nonce, on_attempt=on_attempt)
        start_nonce += 100_000
    block = assemble_block(chain, proof, chosen, contents, fees, miner_address, miner_id, time, tag)
    rule.remember_mined(block, proof.verified)
    return MinedBlock(block, proof, rejected)


def _miner_id(address: bytes) -> bytes:
    from ..crypto.hashes import sha256
    return sha256(b"miner:" + bytes(address))
