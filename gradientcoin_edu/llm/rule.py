"""[consensus] The decentralized LLM's consensus rule: proof-of-gradient, plus data, answers and snapshots.

:class:`LLMRule` is the chain's work rule (it implements ``chain.work.WorkRule``) for a chain that
*is* a language model. It holds a proof-of-gradient work rule
(:class:`~gradientcoin_edu.proof_of_gradient.ProofOfGradient`: ticket, recomputed gradient,
weights root, validation guard, the tip's weights) and adds what such a chain needs, through two
seams of that rule: ``ProofOfGradient.connect(..., before_commit=)`` runs the anchored guard and
rules 3 and 4 below once the proof (rule 5) passed and before the weights move, and
``ProofOfGradient.use_dataset`` makes the next batches come from the dataset the blocks grew.
Its height is its chain's (``bind``). To connect a block at height ``H`` it checks, cheapest
first, and changes nothing unless all pass:

1. the block builds on our tip (``stale-parent``), and its coinbase pays only the miner the
   header names (``coinbase-not-to-miner``: every output's address ``A`` has
   ``miner_id_for(A) == header.miner_id``; with the batch seed covering the coinbase, a reward
   can only go to the identity that computed the gradient);
2. every data and query transaction obeys its admission rules and pays its fee (``data.py``,
   ``inference.py``; the fees come from the coins the transactions spent, which the chain
   passes in through ``connect_block``);
3. the coinbase commitment (``commitment.py``): the dataset root after appending this block's
   records (``bad-dataset-root``) and the root of the answers, each recomputed by greedy
   decoding from the weights the query names (``bad-answers-root``);
4. the *screen* of each contribution: the parent model's mean cross-entropy on its records
   may exceed the validation loss by at most ``data_margin`` nats (``data-implausible``: text
   the model finds far less likely than its validation text - garbage, scrambled words - is
   refused at the door; a newborn model finds everything equally unlikely and refuses nothing);
5. the proof of gradient on the dataset *at the parent* (``ProofOfGradient.connect``: every
   ``InvalidProof`` reason of ``proof_of_gradient/verify.py``, the validation guard included),
   and, with ``anchored_guard``, the *anchored* guard: the new validation loss may exceed the
   best validation loss of this chain so far by at most the margin (``validation-anchor``).
   The per-block guard alone bounds each step's damage but not their sum; measured in
   ``docs/decentralized_llm.md``.

Then the weights move, the block's records join the dataset (trainable from the next block)
and the block is remembered, so the weights at any recent height can be recovered exactly
(``weights_at``: add ``apply(Q)`` back, block by block). ``disconnect`` undoes all of it.

Two shortcuts, both sound: a block this node mined itself, or verified once already (a reorg
back to it), is not recomputed (its hash covers every field and ``check_body`` ties the payload
to it; the ticket, the payload hash and the weights root are still checked - for the
block just mined on this very tip state, with these very payload bytes, the update and the roots
are the miner's own: ``ProofOfGradient.remember_mined``), and
blocks below a stored weight snapshot are *assumed valid* on restart from a pruned store
(``connect_assumed``: transactions and commitments checked, gradients not - their payloads are
gone - and the snapshot's weights must hash to the header's ``weights_root``).

**Missing data is not invalid data.** The anchored guard needs the best validation loss at the
fork point, and a reorg needs the state there. Below a snapshot a restarted node knows neither
directly: it *rebuilds* them from the nearest stored state below (a snapshot, which carries the
best loss at its block, or genesis), replaying the kept gradients forward (``best_val_loss_at``).
Where the states or gradients are gone (pruned), the rule raises ``MissingData`` (``no-anchor``,
``no-weights``, ``pruned``, ``reorg-below-pruned``), never ``InvalidBlock``/``InvalidProof``: the
chain then does not mark the block invalid, it just cannot follow that branch.
Taught in notebooks 09 and 10.
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, replace

import struct

import numpy as np
import torch

from ..chain.work import MissingData, WorkRule
from ..crypto.hashes import sha256
from ..errors import InvalidBlock, InvalidProof, InvalidTransaction, ModelError
from ..ledger import KIND_INFERENCE_QUERY, KIND_TRAINING_DATA, Transaction
from ..model import Dataset
from ..model.fixed_point import weights_bytes, weights_root
from ..proof_of_gradient import ProofOfGradient, Undo, Verified, compute_loss, q_from_payload, validation_loss
from ..proof_of_gradient.sheet import split_payload
from ..proof_of_gradient.update import apply_update, invertible, undo_update
from .commitment import read_commitment
from .data import contribution_records, extend_dataset, truncate_dataset
from .inference import AnswerRecord, Query, answers_root, check_query, greedy_decode

__all__ = ["LLMRule", "LLMUndo", "BlockContents", "tx_fees", "minimum_fee", "check_fee", "SNAPSHOT_MAGIC", "miner_id_for", "check_coinbase_payee"]

SNAPSHOT_MAGIC = b"GCS1"          # snapshot bytes: magic | best validation loss f64 | state (weights, optimizer) int64 LE


@dataclass(frozen=True)
class LLMUndo:
    """What ``disconnect`` needs: the proof-of-gradient undo and the dataset size before the block."""

    pog: Undo
    n_records: int


@dataclass(frozen=True, eq=False)
class BlockContents:
    """A block's data contributions (tx, records) and queries (tx, query), admission rules passed."""

    data: tuple = ()
    queries: tuple = ()

    def records(self, record_tokens: int) -> np.ndarray:
        """All contributed records, in block order: (n, record_tokens)."""
        if not self.data:
            return np.empty((0, record_tokens), dtype=np.int64)
        return np.concatenate([recs for _, recs in self.data])


def miner_id_for(address: bytes) -> bytes:
    """The miner id of the holder of ``address``: ``SHA-256("miner:" ‖ address)`` (32 bytes, the
    header's ``miner_id``). Mining for an address means naming this id in the header."""
    return sha256(b"miner:" + bytes(address))


def check_coinbase_payee(block) -> None:
    """``InvalidBlock("coinbase-not-to-miner")`` unless every coinbase output pays the address whose
    miner id the header names."""
    coinbase = block.txs[0] if block.txs else None
    if coinbase is None or not coinbase.is_coinbase:
        raise InvalidBlock("bad-coinbase", "the first transaction of a block is its coinbase")
    for out in coinbase.outputs:
        if miner_id_for(out.address) != block.header.miner_id:
            raise InvalidBlock("coinbase-not-to-miner", f"the coinbase pays {out.address.hex()[:16]}.., whose miner id "
                               "is not the header's miner_id: the reward goes only to the miner that did the work")


def tx_fees(txs, spent) -> dict[bytes, int]:
    """Fee of each non-coinbase transaction, from a UTXO ``UndoRecord`` (the coins they spent)."""
    paid: dict[bytes, int] = defaultdict(int)
    for _, coin, spender in spent.spent:
        paid[spender] += coin.output.amount
    return {tx.txid: paid[tx.txid] - tx.total_out() for tx in txs if not tx.is_coinbase}


def minimum_fee(tx, llm, tokenizer, records=None) -> tuple[int, str] | None:
    """The least fee of a data or query transaction, and the reason named when it pays less: the
    one fee rule, of blocks (rule 2) and of the pools' relay minimum. Data: ``data_fee_per_record``
    per record (``records``: already parsed, else parsed here); a query: ``query_fee``. None for
    other transactions (the pools' relay fee rate applies to them)."""
    if tx.kind == KIND_TRAINING_DATA:
        n = len(contribution_records(tx, llm, tokenizer) if records is None else records)
        return n * llm.data_fee_per_record, "data-fee-too-low"
    if tx.kind == KIND_INFERENCE_QUERY:
        return llm.query_fee, "query-fee-too-low"
    return None


def check_fee(tx, fee: int, llm, tokenizer, records=None) -> None:
    """``InvalidTransaction`` (``data-fee-too-low``, ``query-fee-too-low``) when ``fee`` is below
    ``minimum_fee``."""
    need = minimum_fee(tx, llm, tokenizer, records)
    if need is not None and fee < need[0]:
        raise InvalidTransaction(need[1], f"pays a fee of {fee}, needs at least {need[0]}")


class LLMRule(WorkRule):
    """The work rule of a decentralized-LLM chain (see the module docstring).

    ``spec``: the network (:class:`~gradientcoin_edu.llm.spec.LLMSpec`). ``check_validation=False``
    switches off the validation guard *and* the data screen (an experiment: what poisoning does
    to an unguarded chain); a node always runs with both.

    It implements the chain's ``WorkRule`` and *holds* a :class:`ProofOfGradient` (``self.pog``:
    the tip's weights, the gradient check, the memories of verified and mined blocks), which it
    calls through two seams of that rule: ``pog.connect(..., before_commit=)`` (what else must hold
    before a block is accepted: the anchored guard, the commitment, the screen) and
    ``pog.use_dataset`` (the training set grows with the chain). Every other call is an explicit
    delegation below. Its height is the bound chain's (``height``).
    """

    name = ProofOfGradient.name

    def __init__(self, spec, check_validation: bool = True):
        self.pog = ProofOfGradient(spec.pog, spec.train, spec.validation, genesis_hash=spec.genesis.hash(),
                                   check_validation=check_validation)
        self.spec, self.llm, self.tokenizer = spec, spec.params, spec.tokenizer
        self.chain = None                                      # the chain this rule works for (bind)
        self._weights_known = True                             # False between assumed-valid blocks
        self._answers: OrderedDict = OrderedDict()             # (block hash at query height, txid) -> text
        self._screens: OrderedDict = OrderedDict()             # (parent hash, txid) -> contribution loss
        self._best: list[float | None] = [None]                # best validation loss up to each height
        self._states: dict[int, np.ndarray] = {}               # height -> state, to replay from (Lion)
        self._pinned: set[int] = set()                         # heights whose state is kept (snapshots, pruning)
        self._keep_state(0, self.weights)

    # ------------------------------------------------------------------ the proof-of-gradient rule it holds
    @property
    def state(self):
        """The tip: block hash and (read-only) integer weights (``ProofOfGradient.state``)."""
        return self.pog.state

    @property
    def weights(self) -> np.ndarray:
        """The integer weights at the tip (read-only)."""
        return self.pog.weights

    @property
    def tip_hash(self) -> bytes:
        return self.pog.tip_hash

    @property
    def dataset(self) -> Dataset:
        """The training records at the tip: the batches of the next block are drawn from them."""
        return self.pog.dataset

    @property
    def params(self):
        """The proof-of-gradient parameters, ``dataset_root`` that of ``dataset`` (``verify`` and
        ``mine`` compare them)."""
        return self.pog.params

    @property
    def validation(self) -> Dataset:
        return self.pog.validation

    @property
    def check_validation(self) -> bool:
        return self.pog.check_validation

    def weights_root(self) -> bytes:
        return self.pog.weights_root()

    def val_loss(self) -> float:
        """Validation loss (float64) of the tip weights, cached."""
        return self.pog.val_loss()

    def check_header(self, header, parent_header=None) -> None:
        self.pog.check_header(header, parent_header)

    def check_body(self, block) -> None:
        self.pog.check_body(block)

    def prepare(self, block, executor) -> bool:
        """Start verifying ``block`` on the tip in ``executor`` (``ProofOfGradient.prepare``)."""
        return self.pog.prepare(block, executor)

    def remember_mined(self, block, verified: Verified) -> None:
        self.pog.remember_mined(block, verified)

    def remember_verified(self, block, verified: Verified) -> None:
        self.pog.remember_verified(block, verified)

    # ------------------------------------------------------------------ state
    @property
    def height(self) -> int:
        """The height of the rule's tip: the bound chain's height (``bind``). The chain calls the rule
        *before* it changes its best chain (``Chain._connect``, ``Chain._disconnect_tip``), on a
        live block and on a restart's replay from the store alike: during ``connect_block``,
        ``connect_assumed`` and ``reconnect`` of a block at height ``H`` it is ``H - 1`` (our tip,
        the block's parent), during ``disconnect`` of the tip block it is that block's height,
        and between calls it is the height of our tip. So the rule keeps no counter of its own:
        it reads this wherever it acts on its tip, and takes the block's height from the explicit
        ``height`` argument (``_advance``: the chain's height is still the parent's there)."""
        if self.chain is None:
            raise ModelError("unbound", "the rule reads its height from its chain: bind(chain) first")
        return self.chain.height

    def weights_at(self, height: int) -> np.ndarray:
        """The integer weights after block ``height`` of the active chain (exact: undo from the tip)."""
        if not 0 <= height <= self.height:
            raise IndexError(f"the chain has heights 0..{self.height}, not {height}")
        if not self._weights_known:
            raise ModelError("no-weights", "the weights are not known yet (restart in progress)")
        if not invertible(self.spec.pog):
            return self._replay(height)
        w = self.weights
        for h in range(self.height, height, -1):
            w = undo_update(w, self._q(h), self.spec.pog)
        return w

    def _q(self, h: int) -> np.ndarray:
        payload = self.block_at(h).payload
        if not payload:
            raise ModelError("pruned", f"the gradient of block {h} was pruned: start from a snapshot instead")
        q_bytes, _ = split_payload(payload, self.spec.pog.n_params, self.spec.pog.batch_size)
        return np.frombuffer(q_bytes, dtype="<i4")                  # a read-only view: no copy

    def _replay(self, height: int) -> np.ndarray:
        """The state after block ``height``, replayed forward from the nearest stored state at or below it
        (an optimizer like Lion cannot be undone from Q: docs/protocol.md section 7)."""
        if height == self.height:
            return self.weights
        start = max((h for h in self._states if h <= height), default=None)
        if start is None:
            raise ModelError("pruned", f"no stored state at or below height {height}: start from a snapshot instead")
        state = self._states[start]
        for h in range(start + 1, height + 1):
            state = apply_update(state, self._q(h), self.spec.pog)
        return state

    def _keep_state(self, height: int, state: np.ndarray) -> None:
        """Remember the state after ``height``: every ``snapshot_interval`` blocks and the last
        ``query_window + 1`` ones (Lion only: SGD undoes from the tip)."""
        if invertible(self.spec.pog):
            return
        self._states[height] = state
        recent = height - self.llm.query_window - 1
        for h in [h for h in self._states if h < recent and h % self.llm.snapshot_interval and h not in self._pinned]:
            del self._states[h]

    def prune_states(self, height: int) -> None:
        """Before the payloads below ``height + 1`` are dropped: keep the state after ``height`` (the
        lowest one a replay can still start from) and forget the older ones (Lion only)."""
        if invertible(self.spec.pog) or not self._weights_known:
            return
        state = self.weights_at(height)
        self._states = {h: s for h, s in self._states.items() if h >= height}
        self._states[height] = state
        self._pinned = {h for h in self._pinned if h >= height} | {height}

    def bind(self, chain) -> None:
        """Work for ``chain``: the rule reads its height and the blocks of its best chain (payloads
        for undo and replay, the block a query names) there instead of keeping a copy. The chain
        calls ``connect_block`` before it appends a block to its best chain and ``disconnect``
        before it removes one, so heights ``0..self.height`` are always the chain's (``height``)."""
        self.chain = chain

    def block_at(self, height: int):
        """The block at ``height`` of the best chain (``0 <= height <= self.height``)."""
        if not 0 <= height <= self.height:
            raise IndexError(f"the rule is at height {self.height}, not {height}")
        return self.chain.block_at(height)

    # ------------------------------------------------------------------ admission rules
    def contents(self, txs, height: int, fees: dict[bytes, int] | None) -> BlockContents:
        """The data and queries of a block's transactions after the admission rules; raises
        ``InvalidBlock`` with the transaction's reason. ``fees`` (txid -> fee) may be None only
        for blocks without data or queries."""
        data, queries, n_records = [], [], 0
        for tx in txs:
            if tx.is_coinbase or tx.kind not in (KIND_TRAINING_DATA, KIND_INFERENCE_QUERY):
                continue
            if fees is None:
                raise ModelError("fees-unknown", "data and query rules need the fees: use connect_block")
            try:
                if tx.kind == KIND_TRAINING_DATA:
                    records = contribution_records(tx, self.llm, self.tokenizer)
                    n_records += len(records)
                    check_fee(tx, fees[tx.txid], self.llm, self.tokenizer, records)
                    if n_records > self.llm.max_records_per_block:
                        raise InvalidTransaction("data-block-full", f"more than {self.llm.max_records_per_block} "
                                                                    "records in one block")
                    data.append((tx, records))
                else:
                    query = check_query(tx, self.llm, self.tokenizer, height)
                    check_fee(tx, fees[tx.txid], self.llm, self.tokenizer)
                    if len(queries) >= self.llm.max_queries_per_block:
                        raise InvalidTransaction("query-block-full", f"more than {self.llm.max_queries_per_block} "
                                                                     "queries in one block")
                    queries.append((tx, query))
            except InvalidTransaction as err:
                raise InvalidBlock(err.reason, f"transaction {tx.txid[::-1].hex()[:16]}..: {err.message}") from None
        return BlockContents(tuple(data), tuple(queries))

    def answer(self, query: Query, txid: bytes = b"") -> AnswerRecord:
        """The answer to ``query`` from the weights after block ``query.height`` (cached)."""
        key = (self.block_at(query.height).hash(), query.prompt, query.max_new_tokens)
        if key not in self._answers:
            text = greedy_decode(self.spec.pog.model, self.weights_at(query.height), self.tokenizer, query.prompt,
                                 query.max_new_tokens, self.spec.pog.scale_log2)
            self._answers[key] = text
            while len(self._answers) > 512:
                self._answers.popitem(last=False)
        return AnswerRecord(txid, query.height, self._answers[key])

    def answers(self, contents: BlockContents) -> list[AnswerRecord]:
        return [self.answer(query, tx.txid) for tx, query in contents.queries]

    @property
    def screening(self) -> bool:
        return self.llm.screen_data and self.check_validation

    def screen(self, tx: Transaction, records: np.ndarray) -> tuple[float, float]:
        """Rule 4: the tip model's mean cross-entropy on ``records`` may exceed its validation loss by
        at most ``data_margin``. Returns (validation loss, contribution loss); raises
        ``InvalidBlock("data-implausible")``."""
        key = (self.tip_hash, tx.txid)
        if key not in self._screens:
            x, y = torch.from_numpy(records[:, :-1].copy()), torch.from_numpy(records[:, 1:].copy())   # (n, T)
            self._screens[key] = compute_loss(self.spec.pog.model, self.weights, x, y,
                                              scale_log2=self.spec.pog.scale_log2)
            while len(self._screens) > 256:
                self._screens.popitem(last=False)
        val, loss = self.val_loss(), self._screens[key]
        if not loss - val <= self.llm.data_margin:                  # also refuses NaN
            raise InvalidBlock("data-implausible", f"the model's loss on this text is {loss:.3f}, more than "
                               f"{self.llm.data_margin} above its validation loss {val:.3f}")
        return val, loss

    # ------------------------------------------------------------------ the anchored guard
    def best_val_loss(self) -> float | None:
        """The lowest validation loss of the weights after any block of this chain so far (None when it
        cannot be rebuilt: see ``best_val_loss_at``)."""
        if self._best[-1] is None and self.height == 0:
            self._best[-1] = self.val_loss()
        return self.best_val_loss_at(self.height)

    def best_val_loss_at(self, height: int) -> float | None:
        """The best validation loss up to block ``height`` of the active chain. Unknown after a restart
        for the blocks below the snapshot: rebuilt from the nearest height below whose best is known (a
        loaded snapshot, or genesis), replaying the states forward and taking each block's validation
        loss (the same ``validation_loss`` the guard computed when the block was verified: the same
        number, bit for bit). None if the states or gradients needed are pruned (or the guard is off)."""
        if self._best[height] is not None or not self._weights_known or not self.check_validation:
            return self._best[height]
        base = height
        while base > 0 and self._best[base] is None:
            base -= 1
        try:
            state = self.weights_at(base)
            if self._best[base] is None:                               # genesis
                self._best[base] = validation_loss(self.params, self.validation, state)
            for h in range(base + 1, height + 1):
                state = self.weights if h == self.height else apply_update(state, self._q(h), self.spec.pog)
                loss = self.val_loss() if h == self.height else validation_loss(self.params, self.validation, state)
                self._best[h] = min(self._best[h - 1], loss)
        except ModelError:                                             # pruned: cannot be rebuilt here
            pass
        return self._best[height]

    def check_anchor(self, val_after: float | None) -> None:
        """``InvalidProof("validation-anchor")`` when ``val_after`` exceeds the best loss so far + margin;
        ``MissingData("no-anchor")`` when that best loss is not known and cannot be rebuilt."""
        if val_after is None or not self.llm.anchored_guard:
            return
        best = self.best_val_loss()
        if best is None:
            raise MissingData("no-anchor", f"the best validation loss up to height {self.height} is not known and "
                              "cannot be rebuilt (the states below it were pruned): a pruned node cannot follow a "
                              "fork this deep")
        margin = self.spec.pog.validation_margin
        if not val_after - best <= margin:
            raise InvalidProof("validation-anchor", f"validation loss {val_after:.4f} is more than {margin} above "
                               f"the best of this chain so far, {best:.4f}")

    def check_commitment(self, block, contents: BlockContents) -> Dataset:
        """Rule 3: the coinbase commits to the new dataset root and to the answers; returns the new dataset."""
        commitment = read_commitment(block.txs[0])
        dataset = extend_dataset(self.dataset, [records for _, records in contents.data], self.llm)
        if commitment.dataset_root != dataset.root:
            raise InvalidBlock("bad-dataset-root", "the coinbase does not commit to the dataset after this block")
        if commitment.answers_root != answers_root(self.answers(contents)):
            raise InvalidBlock("bad-answers-root", "the committed answers are not the model's answers")
        return dataset

    # ------------------------------------------------------------------ the work rule
    def connect(self, block, parent_header=None, height: int | None = None) -> LLMUndo:
        """The WorkRule method; blocks with data or queries need ``connect_block`` (it knows the fees)."""
        return self.connect_block(block, parent_header, height, None)

    def connect_block(self, block, parent_header, height: int | None, spent) -> LLMUndo:
        """Check rules 1-5 and move the state to ``block`` (``spent``: the chain's UTXO undo record).
        Weights this node no longer has (an answer naming pruned weights) raise ``MissingData``."""
        try:
            return self._connect_block(block, parent_header, height, spent)
        except ModelError as err:
            if err.reason in ("pruned", "no-weights"):
                raise MissingData(err.reason, err.message) from None
            raise

    def _connect_block(self, block, parent_header, height: int | None, spent) -> LLMUndo:
        tip_height = self.height                                        # the chain's: our tip, the parent
        height = tip_height + 1 if height is None else height
        if not self._weights_known:
            raise MissingData("no-weights", "cannot verify a gradient: the weights at the parent are not known "
                              "(below the loaded snapshot)")
        if block.header.prev_hash != self.tip_hash or height != tip_height + 1:
            raise InvalidProof("stale-parent", "the block does not build on this rule's tip")
        check_coinbase_payee(block)
        contents = self.contents(block.txs, height, None if spent is None else tx_fees(block.txs, spent))
        best = self.best_val_loss() if self.check_validation else None
        checked: dict = {}

        def before_commit(result: Verified) -> None:
            # Rule 5 (the gradient, the guard: pog.connect has checked them when this runs) before the
            # answers and the screen, which can cost several verifications (8 queries of 64 characters;
            # 256 records): a forged gradient must be refused before anything dearer, its loss sheet
            # first (docs/protocol.md section 4). Nothing has moved yet; raising here keeps it so.
            self.check_anchor(result.val_loss_after)
            checked["dataset"] = self.check_commitment(block, contents)
            if self.screening:
                for tx, records in contents.data:
                    self.screen(tx, records)
            checked["val_loss_after"] = result.val_loss_after

        pog_undo = self.pog.connect(block, parent_header, height, before_commit=before_commit)   # the weights move
        pog_undo = replace(pog_undo, parent_state=None)              # Lion: replayed from a stored state instead
        if best is not None and checked["val_loss_after"] is not None:
            best = min(best, checked["val_loss_after"])
        return self._advance(block, height, checked["dataset"], pog_undo, best)

    def _advance(self, block, height: int, dataset: Dataset, pog_undo: Undo, best: float | None) -> LLMUndo:
        """The block at ``height`` is our tip now (the weights moved): its records join the dataset, its
        best validation loss is recorded. The chain has not appended it yet: ``height`` is explicit."""
        undo = LLMUndo(pog_undo, len(self.dataset))
        self.pog.use_dataset(dataset)
        self._best.append(best)
        if self._weights_known:
            self._keep_state(height, self.weights)
        return undo

    def disconnect(self, block, undo: LLMUndo) -> None:
        """Exact inverse of ``connect_block`` (needs the block's payload: a pruned block cannot be undone).
        The chain removes the block from its best chain after this returns: ``height`` is the block's."""
        if block.hash() != self.tip_hash:
            raise ModelError("not-tip", "only the tip block can be disconnected")
        height = self.height
        if not block.payload or not self._weights_known:
            raise MissingData("reorg-below-pruned", f"the gradient of block {height} was pruned: this node "
                              "cannot follow a reorg this deep (a pruned node keeps only its last blocks)")
        if not invertible(self.spec.pog):
            try:
                parent_state = self.weights_at(height - 1)
            except ModelError as err:
                raise MissingData("reorg-below-pruned", f"the state after block {height - 1} cannot be "
                                  f"rebuilt ({err.message}): this node cannot follow a reorg this deep") from None
            undo = replace(undo, pog=replace(undo.pog, parent_state=parent_state))
        self.pog.disconnect(block, undo.pog)
        self._states.pop(height, None)
        if undo.n_records != len(self.dataset):
            self.pog.use_dataset(truncate_dataset(self.dataset, undo.n_records, self.llm))
        self._best.pop()

    def connect_assumed(self, block, parent_header, height: int, spent, snapshot: bytes | None) -> LLMUndo:
        """Restart from a pruned store: a block at or below the latest snapshot. The transactions and
        the dataset commitment are checked; the gradient is not (its payload may be gone); at the
        snapshot block the weights are loaded and must hash to the header's ``weights_root``."""
        if block.header.prev_hash != self.tip_hash or height != self.height + 1:     # the chain's height: the parent's
            raise InvalidProof("stale-parent", "the block does not build on this rule's tip")
        check_coinbase_payee(block)
        contents = self.contents(block.txs, height, None if spent is None else tx_fees(block.txs, spent))
        commitment = read_commitment(block.txs[0])
        dataset = extend_dataset(self.dataset, [records for _, records in contents.data], self.llm)
        if commitment.dataset_root != dataset.root:
            raise InvalidBlock("bad-dataset-root", "the coinbase does not commit to the dataset after this block")
        pog_undo = Undo(block.header.prev_hash, parent_header.weights_root, None)
        weights, best = self.weights, None
        if snapshot is not None:
            best, weights = self.check_snapshot(block.header, snapshot)
        self.pog.reset(block.hash(), weights)
        self._weights_known = snapshot is not None
        if snapshot is not None and not invertible(self.spec.pog):
            self._states[height] = self.weights                 # a state replays start from (older ones kept)
            self._pinned.add(height)
        return self._advance(block, height, dataset, pog_undo, best)

    def snapshot(self, height: int | None = None) -> bytes:
        """The state after block ``height`` (default: the tip) as bytes, for ``connect_assumed``:
        ``"GCS1" | best validation loss so far (f64, NaN if unknown) | weights (int64 LE)``."""
        height = self.height if height is None else height
        best = self.best_val_loss() if height == self.height else self.best_val_loss_at(height)
        state = self.weights_at(height)
        if not invertible(self.spec.pog):
            self._states[height] = state                           # replays start here after pruning
            self._pinned.add(height)
        return (SNAPSHOT_MAGIC + struct.pack("<d", float("nan") if best is None else best) + weights_bytes(state))

    def check_snapshot(self, header, data: bytes) -> tuple[float | None, np.ndarray]:
        """Parse a snapshot and check its weights against ``header.weights_root``; raises ``InvalidBlock``."""
        best, weights = self.parse_snapshot(data)
        if weights_root(weights, self.spec.pog.chunk_bytes) != header.weights_root:
            raise InvalidBlock("bad-snapshot", "the snapshot's weights do not hash to the block's weights_root")
        return best, weights

    def parse_snapshot(self, data: bytes) -> tuple[float | None, np.ndarray]:
        """(best validation loss or None, weights) from ``snapshot()`` bytes."""
        if data[:4] != SNAPSHOT_MAGIC or len(data) != 12 + 8 * self.spec.pog.state_size:
            raise InvalidBlock("bad-snapshot", "not a snapshot of this model")
        (best,) = struct.unpack("<d", data[4:12])
        return (None if best != best else best), np.frombuffer(data, dtype="<i8", offset=12).astype(np.int64)

    def __repr__(self) -> str:
        height = "unbound" if self.chain is None else self.height
        return (f"LLMRule(height={height}, {len(self.dataset)} records, "
                f"weights_root={self.weights_root().hex()[:16]}..)")

