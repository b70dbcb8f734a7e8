"""[consensus] Proof-of-gradient as the chain's work rule: the chain asks, the model answers.

``ProofOfGradient`` implements ``chain.work.WorkRule`` (see ``docs/architecture.md``):

* ``check_header(header, parent_header)`` - cheap: the ticket, which is the header's own hash
  (SHA-256d of all 180 bytes), must be at most the header's target.
* ``check_body(block)`` - cheap, no state: the payload's size and its ``grad_root``
  (``verify.check_body``). A node runs it before it stores a block; a failure means the body
  does not match the header (a *mutated* copy), so the header's hash must not be marked invalid.
* ``connect(block, parent_header, height)`` - the full :func:`~.verify.verify` (gradient,
  deviations, weights root, validation guard), then the weights move to ``W_new``; returns
  an :class:`Undo`. A rejected block raises ``InvalidProof`` and changes nothing. A block this
  rule verified once (or mined itself) is not recomputed when a reorganisation connects it
  again: its body is checked against its header and the update re-applied (milliseconds).
* ``disconnect(block, undo)`` - adds ``apply(Q)`` back: the parent's weights, bit for bit.

Two seams let a rule built on this one *hold* it rather than extend it (``llm/rule.py``):
``connect(..., before_commit=f)`` calls ``f(verified)`` after the proof passed and before the
weights move ("what else must hold": a raise leaves the tip where it was), and
``use_dataset(dataset)`` changes what the next batches are drawn from (a training set that
grows with the chain).

Three memories save work without skipping a check a block needs (each keyed on everything its
answer depends on): the tip's ``weights_root`` (the header of the block that produced the weights
commits to it, and ``verify`` checked it), the blocks whose body passed ``check_body`` (block hash
*and* payload bytes: ``verify`` does not hash the same payload twice), and the block this node
just mined (``remember_mined``: block hash, payload bytes, the very parent state it was mined on,
dataset root): connecting *that* block costs the ticket hash, not a second update and
weights root. Any other block - another payload under the same header, the same block on other
parent weights - is checked in full.

The rule holds the model state (the integer weights at the chain tip) and the chain
parameters (:class:`PoGParams`) with the committed training and validation data. The genesis
block carries no gradient: its weights are ``params.genesis_weights()``. ``mine`` runs the
miner on the current tip (or any parent you pass). Taught in notebooks 08 and 09.
"""
from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from ..chain.work import WorkRule, header_target
from ..errors import InvalidProof, ModelError, MutatedBlock
from ..model.corpus import Dataset
from ..model.fixed_point import weights_root
from .mine import MiningResult, mine
from .params import PoGParams
from .sheet import split_payload
from .update import apply_update, invertible, undo_update
from .verify import GradientProof, ModelState, Verified, check_body, check_ticket, freeze, validation_loss, verify

_VERIFIED_CACHE = 256          # blocks whose verification is remembered (a reorg back to them is cheap)
_BODY_CACHE = 4                # payloads whose check_body passed (the chain checks, then connects)

__all__ = ["ProofOfGradient", "Undo"]


@dataclass(frozen=True)
class Undo:
    """What ``disconnect`` needs besides the block itself (whose payload holds Q)."""

    parent_hash: bytes
    parent_weights_root: bytes
    parent_val_loss: float | None
    parent_state: np.ndarray | None = None   # kept when the optimizer cannot be undone from Q (Lion)


class _Mined(NamedTuple):
    """The block this node just mined, and everything its result depends on."""

    block_hash: bytes
    payload: bytes
    parent_weights: np.ndarray     # the very (read-only) array it was mined on: compared by identity
    dataset_root: bytes
    verified: Verified             # with the new weights, whose root the header carries


class _Prepared(NamedTuple):
    """A verification started ahead of time (``prepare``), and everything its result depends on."""

    payload: bytes
    parent_weights: np.ndarray     # the very (read-only) tip state it runs on: compared by identity
    dataset: object                # the very dataset object (identity), whose batch it draws
    validation_on: bool
    parent_val_loss: float | None
    future: object                 # concurrent.futures.Future of verify(...) -> Verified (or its InvalidProof)


_PREPARED_CACHE = 8


class ProofOfGradient(WorkRule):
    """The proof-of-gradient work rule, holding the model weights at the chain tip."""

    name = "proof-of-gradient"

    def __init__(self, params: PoGParams, dataset: Dataset, validation: Dataset,
                 genesis_hash: bytes | None = None, weights: np.ndarray | None = None,
                 check_validation: bool = True):
        """``genesis_hash`` names the block the starting ``weights`` belong to (default: the
        genesis weights of ``params``); when None, the first block connected at height 1 adopts
        its parent as genesis. ``check_validation=False`` switches the guard off (experiments)."""
        if dataset.root != params.dataset_root or validation.root != params.validation_root:
            raise ModelError("dataset-mismatch", "the datasets do not match the roots in the parameters")
        self.params, self.dataset, self.validation = params, dataset, validation
        self.check_validation = check_validation
        start = params.genesis_weights() if weights is None else np.asarray(weights, dtype=np.int64)
        self._state = ModelState(genesis_hash if genesis_hash is not None else b"", start)
        self._val_loss: float | None = None          # cached validation loss of the tip weights
        self._root: bytes | None = None               # cached weights_root of the tip weights
        self._verified: OrderedDict = OrderedDict()     # block hash -> Verified without weights
        self._bodies: OrderedDict = OrderedDict()       # block hash -> payload that passed check_body
        self._mined: _Mined | None = None               # our own newest block (remember_mined)
        self._prepared: OrderedDict = OrderedDict()     # block hash -> _Prepared (prepare)

    # --- state ------------------------------------------------------------------------------
    @property
    def state(self) -> ModelState:
        """The tip: block hash and (read-only) integer weights."""
        return self._state

    @property
    def weights(self) -> np.ndarray:
        return self._state.weights

    @property
    def tip_hash(self) -> bytes:
        return self._state.block_hash

    def weights_root(self) -> bytes:
        """The tip's weights root (cached: set from the header of the block that produced the weights)."""
        if self._root is None:
            self._root = weights_root(self._state.weights, self.params.chunk_bytes)
        return self._root

    def val_loss(self) -> float:
        """Validation loss (float64) of the tip weights, cached."""
        if self._val_loss is None:
            self._val_loss = validation_loss(self.params, self.validation, self._state.weights)
        return self._val_loss

    def use_dataset(self, dataset: Dataset) -> None:
        """Draw the batches of the next blocks from ``dataset`` (the seam for a chain whose training
        set grows with its blocks: ``llm.rule.LLMRule`` calls it when a block's records join the
        dataset, and when a disconnected block's records leave it). ``params.dataset_root``,
        which ``verify`` and ``mine`` compare with the dataset's, follows it."""
        self.dataset = dataset
        self.params = self.params.replace(dataset_root=dataset.root)

    def reset(self, block_hash: bytes, weights: np.ndarray) -> None:
        """Put the rule at ``block_hash`` with ``weights`` (e.g. a snapshot loaded from a store)."""
        self._state, self._val_loss, self._root = ModelState(block_hash, weights), None, None

    # --- the WorkRule protocol ----------------------------------------------------------------
    def check_header(self, header, parent_header=None) -> None:
        """Ticket (the header hash) <= target (raises ``InvalidProof("bad-ticket")``; ``InvalidBlock("bad-bits")``)."""
        check_ticket(header, header_target(header))

    def check_body(self, block) -> None:
        """The payload matches the header: size, grad_root. Raises ``MutatedBlock`` with the
        reason of ``verify.check_body`` ("payload-size", "grad-root-mismatch"); no state used."""
        if self._known_body(block) is not None:
            return
        try:
            check_body(self.params, block.header, block.payload)
        except InvalidProof as err:
            raise MutatedBlock(err.reason, err.message) from None
        self._remember_body(block)

    def _remember_body(self, block) -> None:
        self._bodies[block.hash()] = block.payload
        self._bodies.move_to_end(block.hash())
        while len(self._bodies) > _BODY_CACHE:
            self._bodies.popitem(last=False)

    def _known_body(self, block) -> np.ndarray | None:
        """Q (a read-only view of the payload) when this header's body passed ``check_body`` with these
        very payload bytes; else None. ``check_body`` depends only on the header, the payload and the
        model's size, batch size and chunk parameters, which never change for a rule."""
        payload = self._bodies.get(block.hash())
        if payload is None or payload != block.payload:          # same object: O(1); else compare bytes
            return None
        q_bytes, _ = split_payload(block.payload, self.params.n_params, self.params.batch_size)
        return np.frombuffer(q_bytes, dtype="<i4")

    def connect(self, block, parent_header=None, height: int | None = None, *,
                before_commit: Callable[[Verified], None] | None = None) -> Undo:
        """Verify ``block``'s proof against the tip and move the weights; returns the undo record.

        ``before_commit(verified)``: the seam for a rule built on this one (``llm.rule.LLMRule``):
        "what else must hold before the block is accepted". It is called once the proof passed
        (``verified``: the new weights and the losses), before anything moves; if it raises,
        the tip stays where it was (only the memories of verified blocks and bodies, which
        depend on the block alone, keep what they learnt)."""
        parent = self._parent_state(block, height)
        verified = self._verify(block, parent)
        if before_commit is not None:
            before_commit(verified)
        return self._commit(block, parent, verified)

    def _commit(self, block, parent: ModelState, result: Verified) -> Undo:
        """Move the tip to ``block`` with the new state ``result`` that ``_verify`` checked on ``parent``."""
        undo = Undo(parent.block_hash, self.weights_root(), result.val_loss_before,
                    None if invertible(self.params) else parent.weights)
        self._state = ModelState(block.hash(), result.weights)
        self._val_loss = result.val_loss_after
        self._root = block.header.weights_root         # every path of _verify checked it against the weights
        return undo

    def disconnect(self, block, undo: Undo) -> None:
        """Exact inverse of ``connect``: ``W_parent = W_new + apply(Q)`` (SGD), or the parent state
        kept in ``undo`` (Lion)."""
        if block.hash() != self._state.block_hash:
            raise ModelError("not-tip", "only the tip block can be disconnected")
        if undo.parent_state is not None:
            parent = undo.parent_state
        else:
            parent = undo_update(self._state.weights, check_body(self.params, block.header, block.payload), self.params)
        if weights_root(parent, self.params.chunk_bytes) != undo.parent_weights_root:   # cannot happen
            raise ModelError("undo-mismatch", "restored weights do not match the parent's weights root")
        self._state, self._val_loss = ModelState(undo.parent_hash, parent), undo.parent_val_loss
        self._root = undo.parent_weights_root

    # --- helpers ------------------------------------------------------------------------------
    def verify_block(self, block, height: int | None = None) -> Verified:
        """Full check of ``block`` against the tip, changing nothing."""
        return self._verify(block, self._parent_state(block, height))

    def _parent_state(self, block, height: int | None) -> ModelState:
        if self._state.block_hash == b"" and height == 1:     # first block: its parent is genesis
            return ModelState(block.header.prev_hash, self._state.weights)
        return self._state

    def _verify(self, block, parent: ModelState) -> Verified:
        known = self._verified.get(block.hash())
        if known is not None and parent.block_hash == block.header.prev_hash:
            mined = self._own_block(block, parent)
            return mined if mined is not None else self._reconnect(block, parent, known)
        validation = self.validation if self.check_validation else None
        parent_val_loss = self.val_loss() if validation is not None else None
        verified = self._take_prepared(block, parent, validation is not None, parent_val_loss)
        if verified is None:
            verified = verify(self.params, self.dataset, validation, parent, GradientProof.from_block(block),
                              header_target(block.header), parent_val_loss=parent_val_loss,
                              body_q=self._known_body(block))
        self.remember_verified(block, verified)
        return verified

    def prepare(self, block, executor) -> bool:
        """Start the full verification of ``block`` on the tip in ``executor`` (a thread pool), so
        that connecting it later waits for that result instead of computing it then. The
        simulator calls this for every node a new block will reach, so that on a machine with
        more than one core the nodes check it side by side (PyTorch releases the GIL in its
        kernels). The result is used only if the block is connected on this very tip state, with
        this very dataset, the same payload bytes and the same guard setting; otherwise the block
        is verified as usual. Nothing is skipped: it is the same :func:`verify` call, run
        earlier. Returns whether a verification was started (not for a block that is not on
        the tip, one verified before, or one whose body does not match its header)."""
        h = block.hash()
        if (block.header.prev_hash != self._state.block_hash or h in self._verified or h in self._prepared
                or not self._state.block_hash):
            return False
        try:
            self.check_body(block)                              # here, not in the worker: it writes a cache
        except MutatedBlock:
            return False                                        # connecting it will say why
        validation = self.validation if self.check_validation else None
        parent_val_loss = self.val_loss() if validation is not None else None
        future = executor.submit(verify, self.params, self.dataset, validation, self._state,
                                 GradientProof.from_block(block), header_target(block.header),
                                 parent_val_loss=parent_val_loss, body_q=self._known_body(block))
        self._prepared[h] = _Prepared(block.payload, self._state.weights, self.dataset, validation is not None,
                                      parent_val_loss, future)
        while len(self._prepared) > _PREPARED_CACHE:
            self._prepared.popitem(last=False)[1].future.cancel()
        return True

    def _take_prepared(self, block, parent: ModelState, validation_on: bool,
                       parent_val_loss: float | None) -> Verified | None:
        """The result ``prepare`` started for this block, if it ran on exactly these inputs; else None."""
        prepared = self._prepared.pop(block.hash(), None)
        if (prepared is None or prepared.parent_weights is not parent.weights or prepared.dataset is not self.dataset
                or prepared.validation_on != validation_on or prepared.parent_val_loss != parent_val_loss
                or prepared.payload != block.payload or parent.block_hash != block.header.prev_hash):
            if prepared is not None:
                prepared.future.cancel()
            return None
        try:
            return prepared.future.result()                     # re-raises the worker's InvalidProof
        except CancelledError:                                  # its pool shut down before it ran
            return None                                         # (LLMSimulator.close): verify here

    def remember_mined(self, block, verified: Verified) -> None:
        """``block`` was just mined by this node on the tip, and ``verified`` is what mining computed
        for it (``verified.weights``: the new state whose root its header carries). Connecting this
        block - same hash, same payload bytes, on this very tip state and dataset - then costs the
        ticket hash only; anything else is checked as usual."""
        self.remember_verified(block, verified)
        self._mined = None
        if block.header.prev_hash == self._state.block_hash and verified.weights is not None:
            self._remember_body(block)
            self._mined = _Mined(block.hash(), block.payload, self._state.weights, self.params.dataset_root,
                                 verified)

    def _own_block(self, block, parent: ModelState) -> Verified | None:
        """The result ``remember_mined`` kept, if it is this block on this parent state; else None."""
        mined = self._mined
        if (mined is None or mined.block_hash != block.hash() or mined.parent_weights is not parent.weights
                or mined.dataset_root != self.params.dataset_root or mined.payload != block.payload):
            return None
        check_ticket(block.header, header_target(block.header))
        self._mined = None                                 # used once: the tip moves on
        return mined.verified

    def remember_verified(self, block, verified: Verified) -> None:
        """Remember that ``block`` checked out (its losses, not its weights): connecting it again
        costs a body check and the update, not a gradient. A miner calls this for its own blocks."""
        self._verified[block.hash()] = Verified(None, verified.ticket, verified.batch_indices, verified.deviations,
                                                verified.train_loss, verified.val_loss_before, verified.val_loss_after)
        self._verified.move_to_end(block.hash())
        while len(self._verified) > _VERIFIED_CACHE:
            self._verified.popitem(last=False)

    def _reconnect(self, block, parent: ModelState, known: Verified) -> Verified:
        """A block verified before on this very parent (its hash names the parent and every field,
        ``check_body`` ties the payload to it): re-apply the update and check its root."""
        check_ticket(block.header, header_target(block.header))
        q = self._known_body(block)
        if q is None:
            q = check_body(self.params, block.header, block.payload)
        new = freeze(apply_update(parent.weights, q, self.params))
        if weights_root(new, self.params.chunk_bytes) != block.header.weights_root:
            raise InvalidProof("weights-root-mismatch", "W_parent - apply(Q) does not hash to the published weights_root")
        return Verified(new, known.ticket, known.batch_indices, known.deviations, known.train_loss,
                        known.val_loss_before, known.val_loss_after)

    def mine(self, template, target: int | None = None, start_nonce: int = 0, max_attempts: int = 1000,
             parent_weights: np.ndarray | None = None) -> MiningResult | None:
        """Mine ``template`` (a header naming its parent, transactions, time, bits and miner) on the
        tip's weights (or ``parent_weights``): see :func:`.mine.mine`."""
        on_tip = parent_weights is None and template.prev_hash == self._state.block_hash
        parent_weights = self._state.weights if parent_weights is None else parent_weights
        validation = self.validation if self.check_validation else None
        return mine(self.params, self.dataset, template, parent_weights, target, start_nonce, max_attempts,
                    validation, self.val_loss() if (on_tip and validation is not None) else None)

    def __repr__(self) -> str:
        return (f"ProofOfGradient(model={self.params.model}, tip={self._state.block_hash.hex()[:16]}, "
                f"weights_root={self.weights_root().hex()[:16]})")
