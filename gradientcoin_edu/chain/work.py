"""The work rule: how the chain asks "did this block's miner do the work?".

The chain validates work through this one small interface, so classic proof-of-work
(here) and proof-of-gradient (``proof_of_gradient/rule.py``) plug in without the chain
importing the model. A work rule has three methods:

* ``check_header(header, parent_header)`` — cheap, header only; raises ``InvalidBlock``.
  Runs before anything else, so a node can reject junk without touching its state.
* ``connect(block, parent_header, height)`` — the full check plus any state the rule keeps
  (proof-of-gradient updates the model weights); returns an *undo* record.
* ``disconnect(block, undo)`` — the exact inverse of ``connect`` (used in a reorg).

``ProofOfWork`` is Bitcoin's rule: SHA-256d(header bytes), read as a 256-bit number,
must be at most the target that the header's ``bits`` encode. It keeps no state, so
``connect`` and ``disconnect`` do nothing. Taught in notebook 03.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..errors import InvalidBlock
from .bits import bits_to_target
from .block import ZERO_HASH, Block, BlockHeader

__all__ = ["WorkRule", "ProofOfWork", "header_target"]


@runtime_checkable
class WorkRule(Protocol):
    """What the chain needs from a consensus rule for work (see the module docstring)."""

    name: str

    def check_header(self, header: BlockHeader, parent_header: BlockHeader) -> None: ...

    def connect(self, block: Block, parent_header: BlockHeader, height: int) -> object: ...

    def disconnect(self, block: Block, undo: object) -> None: ...


def header_target(header: BlockHeader) -> int:
    """The target ``header.bits`` encodes; ``InvalidBlock("bad-bits")`` if malformed."""
    try:
        return bits_to_target(header.bits)
    except ValueError as err:
        raise InvalidBlock("bad-bits", str(err)) from None


class ProofOfWork:
    """Classic proof-of-work: the header's SHA-256d must be at most its target."""

    name = "proof-of-work"

    def check_header(self, header: BlockHeader, parent_header: BlockHeader | None = None) -> None:
        if header.grad_root != ZERO_HASH or header.weights_root != ZERO_HASH:
            raise InvalidBlock("unexpected-root", "grad_root and weights_root are zero under proof-of-work")
        target = header_target(header)
        if header.hash_value() > target:
            raise InvalidBlock("bad-pow", f"block hash {header.hash_hex()} is above the target {target:#066x}")

    def connect(self, block: Block, parent_header: BlockHeader, height: int) -> None:
        if block.payload:        # no gradient under proof-of-work; no state to keep either
            raise InvalidBlock("unexpected-payload", "a proof-of-work block carries no payload")
        return None

    def disconnect(self, block: Block, undo: object) -> None:
        return None

    def __repr__(self) -> str:
        return "ProofOfWork()"
