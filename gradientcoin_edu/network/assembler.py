"""[policy] Policy: how a node builds its own blocks - mempool selection, the template, the work.

A :class:`BlockAssembler` is the one object a ``Node`` asks for a block (Bitcoin Core's
``BlockAssembler`` in ``node/miner.cpp`` is the model):

1. **selection** - the best transactions of the node's mempool (highest fee rate first, parents
   before children: ``Mempool.select``), or the transactions the caller names;
2. **template** - ``chain.pow.make_block``, the library's one template builder: the coinbase
   paying the subsidy plus the fees, the merkle root, the time (``chain.pow.block_time``: our
   clock, at least the median time past + 1, within the time-warp grace at a retarget boundary),
   the ``bits`` the chain expects;
3. **work** - the ``solver``: proof-of-work nonces by default (``chain.pow.solve_pow``).

Nothing here is consensus: a template the chain refuses only costs its miner the block. The
proof-of-gradient chain plugs in its own assembler (``llm.miner.LLMAssembler``: the data and query
rules in the selection, the coinbase commitment, gradients as the work) through the ``Node``'s
``assembler`` seam. Taught in notebook 04.
"""
from __future__ import annotations

import struct
from typing import Callable, Iterable

from ..chain.block import Block
from ..chain.pow import block_fees, make_block, solve_pow
from ..crypto.hashes import sha256
from ..ledger import Transaction

__all__ = ["BlockAssembler", "Solver"]

Solver = Callable[[Block, int], "Block | None"]     # (template, max tries) -> a block whose work the chain accepts


class BlockAssembler:
    """Builds and solves a node's blocks (see the module docstring). ``solver(template, max_tries)``
    does the work (default: a proof-of-work nonce search)."""

    block_bytes_share = 2           # a block holds at most max_block_bytes // this of mempool transactions

    def __init__(self, solver: Solver | None = None):
        self.solver = solver or solve_pow

    def miner_id(self, node) -> bytes:
        """The id in the headers of ``node``'s blocks."""
        return sha256(node.name.encode())

    def select(self, node) -> tuple[list[Transaction], int]:
        """The mempool's best transactions for a block on the tip, and the fees they pay."""
        chosen = node.mempool.select(node.chain.params.max_block_bytes // self.block_bytes_share,
                                     node.config.max_block_txs)
        return [e.tx for e in chosen], sum(e.fee for e in chosen)

    def template(self, node, time: int | None = None, parent: bytes | None = None,
                 txs: Iterable[Transaction] | None = None) -> Block:
        """An unmined block (nonce 0) on ``parent`` (default: the tip) paying ``node`` subsidy + fees.

        Transactions: ``txs`` if given (they must be valid on ``parent``; their fees are claimed only
        on the tip, where our UTXO set tells them), else the best of the mempool (only when building
        on the tip, where the mempool is valid). ``time``: the earliest time wanted (default: the
        node's clock); the chain's timestamp rules may move it later.
        """
        chain = node.chain
        entry = chain.tip if parent is None else chain.get(parent)
        if entry is None:
            raise KeyError("unknown parent block")
        if txs is None:
            body, fees = self.select(node)
        else:
            body = list(txs)
            fees = block_fees(chain, body) if entry is chain.tip and body else 0
        extra = node.name.encode()[:40] + struct.pack("<Q", node.rng.getrandbits(64))
        return make_block(chain, node.miner_address or bytes(20), body, parent=entry.hash, fees=fees, extra=extra,
                          miner_id=self.miner_id(node), now=node.transport.now() if time is None else time)

    def mine(self, node, time: int | None = None, parent: bytes | None = None,
             txs: Iterable[Transaction] | None = None, max_tries: int = 2**32) -> Block | None:
        """A solved block for ``node`` (not added yet), or None when ``max_tries`` were not enough."""
        return self.solver(self.template(node, time, parent, txs), max_tries)
