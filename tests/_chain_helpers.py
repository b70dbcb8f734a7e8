"""Helpers shared by the chain tests: a chain with a fixed clock, and blocks mined on any parent."""
from __future__ import annotations

from dataclasses import replace

from gradientcoin_edu.chain import Block, Chain, ChainParams, compute_tx_root, mine, mine_block
from gradientcoin_edu.ledger import Wallet

PARAMS = ChainParams.preset("regtest")
NOW = PARAMS.genesis_time + 10**7            # the tests' clock: ~4 months after genesis
MINER = Wallet.from_seed("miner")
ALICE = Wallet.from_seed("alice")
BOB = Wallet.from_seed("bob")


def new_chain(params=PARAMS, **kwargs) -> Chain:
    return Chain(params, clock=lambda: NOW, **kwargs)


def next_block(chain: Chain, parent: bytes | None = None, txs=(), miner=MINER, fees=None, **kwargs) -> Block:
    """A mined block on ``parent`` (default: the tip), 600 s after it."""
    parent_entry = chain.tip if parent is None else chain.get(parent)
    time = kwargs.pop("time", parent_entry.header.time + 600)
    if fees is None and parent is not None and parent_entry is not chain.tip:
        fees = 0
    return mine_block(chain, miner.address, txs, parent=parent_entry.hash, time=time, fees=fees,
                      progress=False, **kwargs)


def extend(chain: Chain, n: int, parent: bytes | None = None, miner=MINER) -> list[Block]:
    """Mine and add ``n`` blocks on ``parent`` (default the tip); returns them."""
    blocks = []
    for _ in range(n):
        block = next_block(chain, parent, miner=miner)
        chain.add_block(block)
        blocks.append(block)
        parent = block.hash()
    return blocks


def remine(block: Block, **header_changes) -> Block:
    """``block`` with header fields changed (tx_root recomputed unless given) and a fresh valid nonce."""
    header_changes.setdefault("tx_root", compute_tx_root(block.txs))
    template = replace(block, header=replace(block.header, nonce=0, **header_changes))
    return mine(template, progress=False)


def with_txs(block: Block, txs) -> Block:
    """``block`` with other transactions, tx_root updated and re-mined."""
    return remine(replace(block, txs=tuple(txs)))


def state(chain: Chain):
    """Everything a rejected block must leave as it was (an invalid mark is the one trace it may leave)."""
    store_rows = None
    if chain.store is not None:
        store_rows = ([(r.hash, r.status, r.block.serialize()) for r in chain.store.rows() if r.status != "invalid"],
                      chain.store.tip())
    return (chain.tip.hash, chain.height, [e.hash for e in chain.active_chain()], chain.utxo.copy(), store_rows)
