"""[policy] Mining a block of the decentralized LLM: choose transactions, answer queries, train.

A miner's block on the tip of an :class:`~gradientcoin_edu.llm.chain.LLMChain`:

1. **transactions** - the candidates that are valid together on the tip (UTXO rules) and pass
   the data and query rules, highest fee first within the per-block caps (``select_txs``);
2. **answers and dataset root** - each query answered by greedy decoding from the weights it
   names; the records of the data transactions appended; both roots go into the coinbase
   commitment, with the subsidy plus all fees paid to the miner's address;
3. **the template** - a header with everything the miner chooses: parent, ``tx_root`` (so the
   coinbase), time, bits, version and ``miner_id = miner_id_for(address)`` (the rule checks that
   the coinbase pays the address of that id) (``block_template``);
4. **proof of gradient** - tickets on the tip weights, nonce after nonce (each one a batch drawn
   from the template, and a gradient), until one wins *and* its update passes the validation
   guard (``mine_proof``; a winning ticket whose update the guard would reject is dropped:
   publishing it would only get the block refused). The payload is ``Q``, then the loss sheet.

The batch seed covers every header field but the two proof roots, and the ticket is the header
hash: a new transaction arriving after step 4, or a new time, means new gradients. The miner
commits to its block *before* training on it. Taught in notebook 09.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

from ..chain import Block, BlockHeader
from ..chain.block import HeaderFields
from ..chain.pow import make_block
from ..chain.work import header_target
from ..errors import GradientCoinError, InvalidBlock, InvalidProof, InvalidTransaction
from ..ledger import KIND_INFERENCE_QUERY, KIND_TRAINING_DATA, Coin, CoinsView, OutPoint, Transaction
from ..proof_of_gradient import Verified, attempt, check_validation
from .commitment import Commitment, coinbase_extra
from .inference import answers_root
from .rule import BlockContents, LLMRule, miner_id_for

__all__ = ["Proof", "MinedBlock", "mine_proof", "select_txs", "block_template", "assemble_block", "mine_llm_block",
           "miner_id_for", "LLMAssembler"]


@dataclass(frozen=True, eq=False)
class Proof(HeaderFields):
    """A winning ticket whose update passes the guard: the block's header and payload."""

    header: BlockHeader            # the template with nonce, grad_root and weights_root filled in
    payload: bytes                 # Q (int32 LE), then the loss sheet (int64 LE)
    verified: Verified             # new weights, ticket, losses (remembered by the rule)
    attempts: int                  # gradients computed, the winning one included
    rejected_by_guard: int         # winning tickets dropped because the guard would refuse them


class MinedBlock(NamedTuple):
    """A freshly mined block, its proof, and the candidate transactions left out (with the reason)."""

    block: Block
    proof: Proof
    rejected: list                 # [(transaction, reason)]


def mine_proof(rule: LLMRule, template: BlockHeader, target: int | None = None, start_nonce: int = 0,
               max_attempts: int = 100_000, on_attempt: Callable[[int], None] | None = None) -> Proof | None:
    """Try nonces of ``template`` from ``start_nonce`` on the rule's tip until a ticket wins and passes
    the guard. ``target`` defaults to the template's.

    ``on_attempt(n)`` is called after each gradient (progress bars). None after ``max_attempts``.
    """
    w = rule.weights
    target = header_target(template) if target is None else target
    rejected = 0
    for i in range(max_attempts):
        nonce = start_nonce + i
        if nonce >= 2**32:
            break
        a = attempt(rule.params, rule.dataset, template, w, nonce)
        if on_attempt is not None:
            on_attempt(i + 1)
        if not a.wins(target):
            continue
        try:
            before = after = None
            if rule.check_validation:
                before, after = check_validation(rule.params, rule.validation, w, a.weights, rule.val_loss())
                rule.check_anchor(after)
        except InvalidProof:
            rejected += 1
            continue
        verified = Verified(a.weights, a.ticket, a.batch_indices, 0, a.loss, before, after)
        return Proof(a.header, a.payload, verified, i + 1, rejected)
    return None


def select_txs(rule: LLMRule, utxo, height: int, candidates: Sequence[Transaction],
               strict: bool = False, verified: bool = False
               ) -> tuple[list[Transaction], BlockContents, dict[bytes, int], list]:
    """The transactions to mine at ``height`` on the rule's tip: valid together on ``utxo`` (the
    tip's coins), each passing the data and query rules (screen included) within the caps.

    Linear in the candidates: each is checked once against the coins of the tip plus those the
    candidates before it created (:class:`_BlockCoins`), and each data or query transaction once
    against the data and query rules, the caps counted as it goes. ``verified=True``: the
    candidates come from our mempool, which checked them in full against these very coins on
    entry (and re-checks the pool after every reorg), so only what the block changes is checked
    again - their inputs unspent and mature, their fees (``_BlockCoins.apply``); no signature,
    key or context-free rule twice. ``strict=True`` raises the first rejection instead of leaving the
    transaction out. Returns (transactions, their contents, fee by txid, [(left-out transaction,
    reason)]).
    """
    view = _BlockCoins(utxo)
    chosen: list[Transaction] = []
    rejected: list = []
    fees: dict[bytes, int] = {}
    for tx in candidates:                                      # the UTXO rules
        try:
            fees[tx.txid] = view.apply(tx, height, verified)
            chosen.append(tx)
        except GradientCoinError as err:
            if strict:
                raise
            rejected.append((tx, err.reason))
    if strict:
        order = chosen
    else:
        rate = {tx.txid: fees[tx.txid] / max(1, tx.size) for tx in chosen}
        order = sorted(chosen, key=lambda t: (t.kind == KIND_TRAINING_DATA, -rate[t.txid]))
    llm = rule.llm
    admitted: dict[bytes, BlockContents] = {}
    n_records = n_queries = 0
    for tx in order:                                           # the data and query rules, within the caps
        if tx.kind not in (KIND_TRAINING_DATA, KIND_INFERENCE_QUERY):
            continue
        try:
            one = rule.contents([tx], height, fees)            # format, fee, query height: this one only
            if one.data:
                if n_records + len(one.data[0][1]) > llm.max_records_per_block:
                    raise InvalidBlock("data-block-full", f"more than {llm.max_records_per_block} records in one block")
                if rule.screening:
                    rule.screen(tx, one.data[0][1])
            elif n_queries + 1 > llm.max_queries_per_block:
                raise InvalidBlock("query-block-full", f"more than {llm.max_queries_per_block} queries in one block")
        except GradientCoinError as err:
            if strict:
                raise
            rejected.append((tx, err.reason))
            continue
        n_records += sum(len(records) for _, records in one.data)
        n_queries += len(one.queries)
        admitted[tx.txid] = one
    left_out = {tx.txid for tx, _ in rejected}
    kept = [tx for tx in chosen if tx.txid not in left_out]
    kept = _without_orphans(chosen, kept, rejected)            # back in the order they were given
    parts = [admitted[tx.txid] for tx in kept if tx.txid in admitted]
    contents = BlockContents(tuple(d for p in parts for d in p.data), tuple(q for p in parts for q in p.queries))
    return kept, contents, fees, rejected


class _BlockCoins(CoinsView):
    """The tip's coins plus the outputs of the block's transactions so far, minus what they spent
    (a block being built: ``apply`` checks one more transaction and records its effect)."""

    def __init__(self, utxo):
        self.utxo, self.created, self.spent = utxo, {}, {}
        self.coinbase_maturity, self.height = utxo.coinbase_maturity, utxo.height

    def coin(self, outpoint: OutPoint) -> Coin | None:
        if outpoint in self.spent:
            return None
        coin = self.created.get(outpoint)
        return coin if coin is not None else self.utxo.coin(outpoint)

    def spent_by(self, outpoint: OutPoint) -> bytes | None:
        return self.spent.get(outpoint) or self.utxo.spent_by(outpoint)

    def items(self):
        raise NotImplementedError("a block's coins are looked up one by one")

    def apply(self, tx: Transaction, height: int, verified: bool = False) -> int:
        """Check ``tx`` as the next transaction of the block at ``height``; record it; return its fee.

        ``verified``: a mempool transaction, checked in full against these coins on entry (context-
        free rules, keys, signatures): only what the block changes is checked again - each input
        still unspent (and mature), the fee. (A transaction whose txid still has unspent outputs
        would spend the same, already spent, inputs: no separate duplicate check is needed.)"""
        txid = tx.txid
        if verified:
            spent = [self._coin_for_spend(txin.outpoint, height) for txin in tx.inputs]
            fee = sum(c.output.amount for c in spent) - tx.total_out()
            if fee < 0:
                raise InvalidTransaction("overspend", f"outputs exceed inputs by {-fee}")
        else:
            fee = self.validate_transaction(tx, height)
        for txin in tx.inputs:
            self.spent[txin.outpoint] = txid
        for i, out in enumerate(tx.outputs):
            self.created[OutPoint(txid, i)] = Coin(out, height)
        return fee


def _without_orphans(chosen: list[Transaction], kept: list[Transaction], rejected: list) -> list[Transaction]:
    """``kept`` in the order of ``chosen``, less any transaction spending an output of a left-out
    one (a child of an unconfirmed parent the caps left out); such a child is added to
    ``rejected`` with its parent's reason (a parent left out for the caps only waits a block)."""
    reasons = {tx.txid: reason for tx, reason in rejected}
    kept_ids = {tx.txid for tx in kept}
    out = []
    for tx in chosen:
        if tx.txid not in kept_ids:
            continue
        parent_reason = next((reasons[i.prev_txid] for i in tx.inputs if i.prev_txid in reasons), None)
        if parent_reason is None:
            out.append(tx)
        else:
            reasons[tx.txid] = parent_reason
            rejected.append((tx, parent_reason))
    return out


def block_template(chain, txs: Sequence[Transaction], contents: BlockContents, fees: dict[bytes, int],
                   miner_address: bytes, time: int | None = None, tag: bytes = b"") -> tuple[BlockHeader, tuple]:
    """The header template (everything but nonce and proof roots) and the block's transactions:
    coinbase (subsidy + fees to ``miner_address``, the commitment) first. Built by the library's one
    template builder, ``chain.pow.make_block`` (the time: ``chain.pow.block_time`` of ``time``,
    default the chain's clock)."""
    rule: LLMRule = chain.work_rule
    records = contents.records(rule.llm.record_tokens)
    dataset = rule.dataset.extend(records) if len(records) else rule.dataset
    commitment = Commitment(dataset.root, answers_root(rule.answers(contents)))
    block = make_block(chain, miner_address, txs, fees=sum(fees[tx.txid] for tx in txs),
                       extra=coinbase_extra(commitment, tag), miner_id=miner_id_for(miner_address),
                       now=chain.clock() if time is None else time)
    return block.header, block.txs


def assemble_block(proof: Proof, all_txs: Sequence[Transaction]) -> Block:
    """The block: the proof's header and payload with the template's transactions."""
    return Block(proof.header, tuple(all_txs), proof.payload)


def mine_llm_block(chain, miner_address: bytes, txs: Sequence[Transaction] = (), *, time: int | None = None,
                   tag: bytes = b"", strict: bool = True, start_nonce: int = 0,
                   on_attempt: Callable[[int], None] | None = None, verified: bool = False) -> MinedBlock:
    """Mine one block on ``chain``'s tip paying ``miner_address`` (not added: pass it to ``chain.add_block``).

    ``strict``: raise on an invalid transaction (else leave it out). ``verified``: the transactions
    come from our mempool, signatures checked on entry (``select_txs``). Returns (block, proof, rejected).
    """
    rule: LLMRule = chain.work_rule
    if rule.tip_hash != chain.tip.hash:
        raise InvalidBlock("stale-parent", "the rule is not at the chain's tip")
    height = chain.height + 1
    chosen, contents, fees, rejected = select_txs(rule, chain.utxo, height, list(txs), strict, verified)
    template, all_txs = block_template(chain, chosen, contents, fees, miner_address, time, tag)
    proof = None
    while proof is None:
        proof = mine_proof(rule, template, start_nonce=start_nonce, on_attempt=on_attempt)
        start_nonce += 100_000
    block = assemble_block(proof, all_txs)
    rule.remember_mined(block, proof.verified)
    return MinedBlock(block, proof, rejected)


class LLMAssembler:
    """The proof-of-gradient miner as a node's block assembler (the ``assembler`` seam of
    ``network.node.Node``; the proof-of-work one is ``network.assembler.BlockAssembler``).

    ``mine``: a block on the node's own tip (its weights) with the best mempool transactions that
    pass the data and query rules (``select_txs``), gradients until a ticket wins
    (``mine_llm_block``). Transactions that can enter no later block leave the node's mempool."""

    block_bytes_share = 4           # a block holds at most max_block_bytes // this of mempool transactions

    def miner_id(self, node) -> bytes:
        """The id in the node's headers: that of the address its coinbase pays (``miner_id_for``)."""
        return miner_id_for(node.miner_address or bytes(20))

    def _candidates(self, node, parent, txs):
        if parent is not None and parent != node.tip:
            raise InvalidBlock("stale-parent", "a proof-of-gradient miner builds on its own tip (its weights)")
        if txs is None:
            chosen = node.mempool.select(node.chain.params.max_block_bytes // self.block_bytes_share,
                                         node.config.max_block_txs)
            return [e.tx for e in chosen], True   # the pool checked their signatures on entry (select_txs)
        return list(txs), False

    def template(self, node, time: int | None = None, parent: bytes | None = None,
                 txs: Sequence[Transaction] | None = None) -> Block:
        """The unsolved block (no proof yet) ``mine`` would work on."""
        candidates, verified = self._candidates(node, parent, txs)
        chain = node.chain
        chosen, contents, fees, _ = select_txs(chain.work_rule, chain.utxo, chain.height + 1, candidates,
                                               False, verified)
        now = int(node.transport.now()) if time is None else int(time)
        header, all_txs = block_template(chain, chosen, contents, fees, node.miner_address or bytes(20), now,
                                         node.name.encode()[:20])
        return Block(header, all_txs)

    def mine(self, node, time: int | None = None, parent: bytes | None = None,
             txs: Sequence[Transaction] | None = None, max_tries: int = 2**32) -> Block:
        """Train: a proof-of-gradient block on the node's tip (gradients until a ticket wins: never None)."""
        candidates, verified = self._candidates(node, parent, txs)
        now = int(node.transport.now()) if time is None else int(time)
        block, proof, rejected = mine_llm_block(node.chain, node.miner_address or bytes(20), candidates, time=now,
                                                tag=node.name.encode()[:20], strict=False, verified=verified)
        for tx, reason in rejected:           # cannot enter this block, nor (but for the caps) any later one
            if reason in ("data-block-full", "query-block-full") or _query_too_new(node.chain, tx, reason):
                continue
            node.mempool.remove(tx.txid)
            node.stats[f"tx-dropped-{reason}"] += 1
        node.stats["gradients"] += proof.attempts
        node.stats["guard-dropped"] += proof.rejected_by_guard
        return block


def _query_too_new(chain, tx: Transaction, reason: str) -> bool:
    """A query naming weights our chain has not reached yet (asked on a node a block ahead of us):
    valid in a later block, so it waits (the pool bounds how far ahead: ``network.LLMMempool.add``)."""
    from .inference import Query
    return (reason == "query-height" and tx.kind == KIND_INFERENCE_QUERY
            and Query.parse(tx.payload).height > chain.height)
