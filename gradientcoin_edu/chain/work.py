"""[consensus] The work rule: how the chain asks "did this block's miner do the work?".

The chain validates work through this one small interface, so classic proof-of-work
(here) and proof-of-gradient (``proof_of_gradient/rule.py``) plug in without the chain
importing the model. A work rule subclasses :class:`WorkRule` and defines three methods:

* ``check_header(header, parent_header)`` — cheap, header only; raises ``InvalidBlock``.
  Runs before anything else, so a node can reject junk without touching its state.
* ``connect(block, parent_header, height)`` — the full check plus any state the rule keeps
  (proof-of-gradient updates the model weights); returns an *undo* record.
* ``disconnect(block, undo)`` — the exact inverse of ``connect`` (used in a reorg).

It may override the hooks below; :class:`WorkRule` gives each a default, and the chain calls
them unconditionally:

* ``check_body(block)`` — does the body (the payload) match what the header commits to?
  Cheap, context-free, run on every block before anything else, before the chain marks or
  stores anything. A mismatch raises :class:`~gradientcoin_edu.errors.MutatedBlock`: the
  block is dropped *without* marking its hash invalid, because someone may have changed the
  payload of a genuine block (see ``docs/protocol.md`` section 1). A wrongly sized payload is
  refused here too, so junk is never stored. Default: nothing to check.
* ``connect_block(block, parent_header, height, utxo_undo)`` — ``connect`` with the UTXO undo
  record (the coins each transaction spent), for rules that check fees. Default: ``connect``.
* ``reconnect(block, parent_header, height, utxo_undo)`` — connect a block this rule has
  already verified on this same parent (a reorganisation returns to it). The rule may skip
  its expensive checks but must leave the same state and return the same kind of undo as
  ``connect_block``. Default: ``connect_block`` (verify again).
* ``connect_assumed(block, parent_header, height, utxo_undo, snapshot)`` — restart from a
  pruned store: a block at or below a stored snapshot, connected without its (possibly
  pruned) payload; ``snapshot`` holds the rule's state bytes at the snapshot's own block.
  Default: ``connect_block`` (the snapshot is ignored and the block fully checked).
* ``check_snapshot(header, data)`` — are these snapshot bytes the rule's state after the
  block with ``header``? Raises a ``GradientCoinError``. Default: accept (the default
  ``connect_assumed`` never reads them).

A hook that cannot do its job because the node *lacks* something - a pruned payload, a state
it no longer keeps, the best validation loss below a snapshot - raises :class:`MissingData`,
never ``InvalidBlock``: the block was not shown to break a rule, so the chain does not mark it
invalid (``chain.py``: the branch "needs data", the node stays where it is and says so).

``ProofOfWork`` is Bitcoin's rule: SHA-256d(header bytes), read as a 256-bit number,
must be at most the target that the header's ``bits`` encode. It keeps no state, so
``connect`` and ``disconnect`` do nothing; its header commits to no payload, so a block
carrying one is mutated. Taught in notebook 03.
"""
from __future__ import annotations

from ..errors import GradientCoinError, InvalidBlock, MutatedBlock
from .bits import bits_to_target
from .block import ZERO_HASH, Block, BlockHeader

__all__ = ["WorkRule", "ProofOfWork", "header_target", "MissingData", "MISSING_DATA_REASONS"]

# Reasons a node may give for not evaluating a block: its own data, not the block, is short.
MISSING_DATA_REASONS = frozenset({"no-anchor", "no-weights", "pruned", "reorg-below-pruned", "no-payload",
                                  "no-snapshot"})


class MissingData(GradientCoinError):
    """The node cannot evaluate a block now because it lacks data (a pruned payload or state, an
    unknown best validation loss, a block body it kept without its payload). Not a verdict on the
    block: ``Chain`` never marks a block invalid for it, and never stores it as a reason."""

    layer = "missing-data"


class WorkRule:
    """Base class of consensus rules for work (see the module docstring for every hook)."""

    name: str = "work-rule"

    def check_header(self, header: BlockHeader, parent_header: BlockHeader) -> None:
        raise NotImplementedError

    def check_body(self, block: Block) -> None:
        """Raise ``MutatedBlock`` when the body does not match the header's commitments."""
        return None

    def connect(self, block: Block, parent_header: BlockHeader, height: int) -> object:
        raise NotImplementedError

    def connect_block(self, block: Block, parent_header: BlockHeader, height: int, utxo_undo) -> object:
        return self.connect(block, parent_header, height)

    def reconnect(self, block: Block, parent_header: BlockHeader, height: int, utxo_undo) -> object:
        return self.connect_block(block, parent_header, height, utxo_undo)

    def connect_assumed(self, block: Block, parent_header: BlockHeader, height: int, utxo_undo,
                        snapshot: bytes | None) -> object:
        return self.connect_block(block, parent_header, height, utxo_undo)

    def check_snapshot(self, header: BlockHeader, data: bytes) -> object:
        return None

    def disconnect(self, block: Block, undo: object) -> None:
        raise NotImplementedError


def header_target(header: BlockHeader) -> int:
    """The target ``header.bits`` encodes; ``InvalidBlock("bad-bits")`` if malformed."""
    try:
        return bits_to_target(header.bits)
    except ValueError as err:
        raise InvalidBlock("bad-bits", str(err)) from None


class ProofOfWork(WorkRule):
    """Classic proof-of-work: the header's SHA-256d must be at most its target."""

    name = "proof-of-work"

    def check_header(self, header: BlockHeader, parent_header: BlockHeader | None = None) -> None:
        if header.grad_root != ZERO_HASH or header.weights_root != ZERO_HASH:
            raise InvalidBlock("unexpected-root", "grad_root and weights_root are zero under proof-of-work")
        target = header_target(header)
        if header.hash_value() > target:
            raise InvalidBlock("bad-pow", f"block hash {header.hash_hex()} is above the target {target:#066x}")

    def check_body(self, block: Block) -> None:
        if block.payload:        # the header commits to no payload: anyone could have attached it
            raise MutatedBlock("unexpected-payload", "a proof-of-work block carries no payload")

    def connect(self, block: Block, parent_header: BlockHeader, height: int) -> None:
        self.check_body(block)   # no gradient under proof-of-work; no state to keep either
        return None

    def disconnect(self, block: Block, undo: object) -> None:
        return None

    def __repr__(self) -> str:
        return "ProofOfWork()"
