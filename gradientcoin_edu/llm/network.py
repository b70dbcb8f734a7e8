"""Miners of the decentralized LLM on a network: the node logic with proof-of-gradient mining.

:class:`LLMNode` is the network layer's :class:`~gradientcoin_edu.network.node.Node` (gossip,
mempool, orphans, peer scoring - unchanged) whose chain is an :class:`LLMChain` and whose
``mine_block`` trains: it picks the mempool transactions that pass the data and query rules,
answers the queries, and computes gradients until a ticket wins. Blocks from peers are verified
by the chain like any block - which, under proof-of-gradient, means recomputing the gradient.

:class:`LLMSimulator` is the network simulator with such nodes: block *times* are drawn from the
simulated hash rates (a miner with share h/H finds the next block after an exponential wait),
then the lucky miner does the real work: real gradients, real tickets, real verification by
every other node. Taught in notebook 09; ``gradientcoin demo`` runs one.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from ..chain import Block
from ..errors import InvalidBlock, InvalidTransaction, UsageError
from ..ledger import KIND_INFERENCE_QUERY, KIND_TRAINING_DATA, Transaction
from ..network.mempool import Mempool
from ..network.node import Node, NodeConfig
from ..network.service import NodeService, hex32
from ..network.simulator import SimNode, Simulator, _Transport
from .chain import LLMChain
from .data import contribution_records
from .inference import check_query
from .rule import miner_id_for
from .spec import LLMSpec

__all__ = ["LLMMempool", "LLMNode", "LLMSimulator", "LLMNodeService"]


class LLMMempool(Mempool):
    """The mempool with the decentralized LLM's relay policy: a data or query transaction must be
    well formed and pay at least the minimum fee before we keep and relay it (as Bitcoin's minimum
    relay fee). The rules that depend on the block - the query's height window, the screen, the
    per-block caps - are checked when a miner builds a block."""

    def __init__(self, chain: LLMChain, max_txs: int = 5000):
        super().__init__(max_txs, policy=self._minimum_fee)
        self.chain = chain

    def add(self, tx: Transaction, utxos, now: float = 0.0) -> int:
        if tx.kind == KIND_INFERENCE_QUERY:                      # well formed (cheap), before anything else
            check_query(tx, self.chain.spec.params, self.chain.spec.tokenizer)
        elif tx.kind == KIND_TRAINING_DATA:
            contribution_records(tx, self.chain.spec.params, self.chain.spec.tokenizer)
        return super().add(tx, utxos, now)       # chain bounds, then signatures, then _minimum_fee

    def _minimum_fee(self, tx: Transaction, fee: int) -> None:
        """The relay minimum of data and query transactions (the pool's policy hook: run after the
        transaction validated against the coins, with its fee; its reasons get the ``policy-``
        prefix, so the peer that relayed the transaction is not punished - network/node.py)."""
        spec = self.chain.spec
        if tx.kind == KIND_TRAINING_DATA:
            needed = len(contribution_records(tx, spec.params, spec.tokenizer)) * spec.params.data_fee_per_record
            reason = "data-fee-too-low"
        elif tx.kind == KIND_INFERENCE_QUERY:
            needed, reason = spec.params.query_fee, "query-fee-too-low"
        else:
            return
        if fee < needed:
            raise InvalidTransaction(reason, f"pays a fee of {fee}, needs at least {needed}")


class LLMNode(Node):
    """A node whose chain is an :class:`LLMChain` and whose mining is proof-of-gradient."""

    chain: LLMChain

    def __init__(self, name: str, chain: LLMChain, transport, **kwargs):
        super().__init__(name, chain, transport, **kwargs)
        self.mempool = LLMMempool(chain, self.config.mempool_size)

    @property
    def miner_id(self) -> bytes:
        """The id in our blocks' headers: that of the address our coinbase pays (``llm.rule.miner_id_for``)."""
        return miner_id_for(self.miner_address or bytes(20))

    def submit_transaction(self, tx: Transaction) -> int:
        """Our wallet's transaction: a query must also name weights a block can still use."""
        if tx.kind == KIND_INFERENCE_QUERY:
            check_query(tx, self.chain.spec.params, self.chain.spec.tokenizer, self.chain.height + 1)
        return super().submit_transaction(tx)

    def mine_block(self, time: int | None = None, parent: bytes | None = None,
                   txs: Iterable[Transaction] | None = None, publish: bool = True,
                   max_tries: int = 2**32) -> Block | None:
        """Train: a proof-of-gradient block on our tip with the best valid mempool transactions,
        added to our chain and announced (unless ``publish=False``)."""
        if parent is not None and parent != self.tip:
            raise InvalidBlock("stale-parent", "a proof-of-gradient miner builds on its own tip (its weights)")
        if txs is None:
            txs = [e.tx for e in self.mempool.select(self.chain.params.max_block_bytes // 4,
                                                     self.config.max_block_txs)]
        now = int(self.transport.now()) if time is None else int(time)
        block, proof, rejected = self.chain.mine(self.miner_address or bytes(20), list(txs), time=now, tag=self.name.encode()[:20], strict=False)
        for tx, reason in rejected:           # cannot enter this block, nor (but for the caps) any later one
            if reason not in ("data-block-full", "query-block-full"):
                self.mempool.remove(tx.txid)
                self.stats[f"tx-dropped-{reason}"] += 1
        self.stats["mined"] += 1
        self.stats["gradients"] += proof.attempts
        self.stats["guard-dropped"] += proof.rejected_by_guard
        self.submit_block(block, publish=publish)
        return block


class LLMSimulator(Simulator):
    """The discrete-event network simulator with :class:`LLMNode` miners of network ``spec``.

    ``check_validation=False`` builds every node without the validation guard and data screen
    (for the poisoning experiment only). ``parallel_verify``: threads that verify a new block on
    the nodes it will reach while they wait (default: one per CPU core; 0 or 1: none - each node
    verifies when the block arrives, one after the other). Other arguments as :class:`Simulator`.
    """

    def __init__(self, spec: LLMSpec, seed: int = 0, block_interval: float = 600.0,
                 node_config: NodeConfig | None = None, tick: float | None = None,
                 check_validation: bool = True, snapshot_interval: int | None = None,
                 parallel_verify: int | None = None):
        self.spec = spec
        self.check_validation = check_validation
        self.snapshot_interval = snapshot_interval
        # Verification side by side (see _mine): threads, since PyTorch releases the GIL in its kernels
        # (measured on 2 cores: two threads computing gradients ran 1.8x faster than one after the other).
        workers = (os.cpu_count() or 1) if parallel_verify is None else parallel_verify
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="verify") if workers > 1 else None
        super().__init__(seed=seed, params=spec.chain_params, block_interval=block_interval,
                         node_config=node_config, tick=tick)

    def record_block(self, block: Block, miner: str, public: bool = True) -> None:
        """Note a newly mined block (as the network simulator does); if it is published, every other
        node that is up and at its parent starts verifying it on the verification pool, so that the
        nodes check it side by side when it reaches them (``ProofOfGradient.prepare``: the same
        check, started earlier; a node that has moved on by then checks it as usual)."""
        super().record_block(block, miner, public)
        if self._pool is None or not public:
            return
        for other, sn in self.nodes.items():
            if other != miner and sn.up:
                sn.node.chain.rule.prepare(block, self._pool)

    def close(self) -> None:
        """Stop the verification pool's threads (they also stop with the process)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _make_node(self, sn: SimNode) -> Node:
        chain = LLMChain(self.spec, store=sn.store, clock=self.clock, check_validation=self.check_validation,
                         snapshot_interval=self.snapshot_interval)
        return LLMNode(sn.name, chain, _Transport(self, sn.name), miner_address=sn.address, config=sn.config,
                       seed=f"{self.seed}:{sn.epoch}", listener=self._on_node_event)

    def submit(self, name: str, tx: Transaction) -> int:
        """Node ``name`` receives ``tx`` from a wallet and gossips it; returns its fee."""
        return self.node(name).submit_transaction(tx)


class LLMNodeService(NodeService):
    """The RPC of an LLM node: the common methods plus ``contribute``, ``ask``, ``answer`` and
    ``losscurve`` (``gradientcoin node --chain llm`` serves it)."""

    def methods(self) -> dict:
        table = super().methods()
        table.update({"contribute": self.rpc_contribute, "ask": self.rpc_ask, "answer": self.rpc_answer,
                      "losscurve": self.rpc_losscurve})
        return table

    def rpc_contribute(self, text: str, wallet: str = "default") -> dict:
        """Pay to add TEXT to the training data (records of the model's block size; fee per record)."""
        from .data import build_data_tx, data_fee
        params = self.node.chain.spec.params
        if not isinstance(text, str) or len(text) < params.record_tokens:
            raise UsageError("text-too-short", f"a contribution has at least {params.record_tokens} characters")
        text = text[: params.max_records_per_tx * params.record_tokens]
        tx = build_data_tx(self.node.mempool.coins(self.node.chain.utxo), self.wallet(wallet), text, params)
        out = self.submit(tx, "contribution", records=len(text) // params.record_tokens)
        out["fee"] = self.coins(data_fee(text, params))
        return out

    def rpc_ask(self, prompt: str, tokens: int = 8, wallet: str = "default") -> dict:
        """Pay for the model to complete PROMPT (TOKENS characters) from the weights at the tip."""
        from .inference import Query, build_query_tx
        query = Query(str(prompt), self.node.chain.height, int(tokens))
        tx = build_query_tx(self.node.mempool.coins(self.node.chain.utxo), self.wallet(wallet), query,
                            self.node.chain.spec.params)
        out = self.submit(tx, "query", prompt=query.prompt)
        out.update(weights_height=query.height, fee=self.coins(self.node.chain.spec.params.query_fee))
        return out

    def rpc_answer(self, txid: str) -> dict:
        """The answer to query TXID once a block holds it, and how it was verified."""
        from .inference import AnswerRecord, Query, answers_root
        from .commitment import read_commitment
        chain = self.node.chain
        raw = hex32(txid, "txid")
        tx, height = self.find_tx(raw)
        if tx is None or tx.kind != KIND_INFERENCE_QUERY:
            raise UsageError("unknown-query", f"no query {txid} in the mempool or on the best chain")
        query = Query.parse(tx.payload)
        if height is None:
            return {"txid": txid, "answered": False, "prompt": query.prompt, "weights_height": query.height}
        text = chain.answer(query)                      # recomputed here, from the weights it names
        block = chain.block_at(height)
        records = [AnswerRecord(t.txid, (q := Query.parse(t.payload)).height, chain.answer(q))
                   for t in block.txs[1:] if t.kind == KIND_INFERENCE_QUERY]
        committed = read_commitment(block.txs[0]).answers_root
        return {"txid": txid, "answered": True, "prompt": query.prompt, "text": text, "height": height,
                "weights_height": query.height, "miner_id": block.header.miner_id.hex(),
                "verified": answers_root(records) == committed,
                "how": f"this node recomputed the answers of block {height} from the weights after block "
                       f"{query.height} and compared their Merkle root with the block's commitment"}

    def rpc_losscurve(self) -> dict:
        """Validation loss by height, as this node saw its tips (LLM chains)."""
        self.val_loss()
        return {str(h): v for h, v in sorted(self.loss_curve.items())}

