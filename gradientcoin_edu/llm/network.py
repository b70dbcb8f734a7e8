"""[policy] Miners of the decentralized LLM on a network: the network layer's objects, with the LLM plugged in.

:func:`LLMNode` builds the network layer's :class:`~gradientcoin_edu.network.node.Node` (gossip,
mempool, orphans, peer scoring - unchanged) on an :class:`LLMChain`, with two parts plugged into
its seams: the pool's relay policy for data and queries (:class:`LLMMempool`) and the
proof-of-gradient block assembler (``miner.LLMAssembler``), so ``mine_block`` trains: it picks the
mempool transactions that pass the data and query rules, answers the queries, and computes
gradients until a ticket wins. Blocks from peers are verified by the chain like any block -
which, under proof-of-gradient, means recomputing the gradient.

:func:`LLMSimulator` builds the network simulator with such nodes (its ``chain_factory`` and
``node_factory`` seams): block *times* are drawn from the simulated hash rates (a miner with share
h/H finds the next block after an exponential wait), then the lucky miner does the real work: real
gradients, real tickets, real verification by every other node. Taught in notebook 09;
``gradientcoin demo`` runs one.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ..chain import Block
from ..chain.store import PayloadOnDisk
from ..errors import InvalidTransaction, UsageError
from ..ledger import KIND_INFERENCE_QUERY, KIND_TRAINING_DATA, Transaction
from ..network.mempool import Mempool
from ..network.node import Node, NodeConfig
from ..network.service import NodeService, hex32
from ..network.simulator import Simulator
from .chain import LLMChain
from .data import contribution_records
from .inference import Query, check_query
from .miner import LLMAssembler
from .rule import check_fee
from .spec import LLMSpec

__all__ = ["LLMMempool", "LLMTxPolicy", "LLMNode", "LLMSimulator", "LLMNodeService", "LLMMethods", "PayloadsOnDisk",
           "keep_payloads_on_disk"]


QUERY_AHEAD = 2        # blocks past our tip a relayed query may name (its node is ahead of us)


class LLMTxPolicy:
    """The decentralized LLM's relay policy, plugged into the network layer's ``Mempool``
    (``Mempool(policy=)``; the methods of ``network.mempool.TxPolicy``): a data or query transaction must be well formed and pay at least the
    minimum fee before we keep and relay it (as Bitcoin's minimum relay fee). The rules that
    depend on the block - the query's height window, the screen, the per-block caps - are checked
    when a miner builds a block."""

    def __init__(self, chain: LLMChain):
        self.chain = chain

    def screen(self, tx: Transaction) -> None:
        """Well formed (cheap), before anything else."""
        if tx.kind == KIND_INFERENCE_QUERY:
            query = check_query(tx, self.chain.spec.params, self.chain.spec.tokenizer)
            self._check_query_height(query.height)
        elif tx.kind == KIND_TRAINING_DATA:
            contribution_records(tx, self.chain.spec.params, self.chain.spec.tokenizer)

    def check_fee(self, tx: Transaction, fee: int) -> None:
        """The relay minimum of data and query transactions: the blocks' fee rule (``rule.check_fee``),
        run after the transaction validated against the coins, with its fee; its reasons get the
        ``policy-`` prefix, so the peer that relayed the transaction is not punished - network/node.py."""
        check_fee(tx, fee, self.chain.spec.params, self.chain.spec.tokenizer)

    def check_own(self, tx: Transaction) -> None:
        """Our wallet's transaction: a query must also name weights a block can still use."""
        if tx.kind == KIND_INFERENCE_QUERY:
            check_query(tx, self.chain.spec.params, self.chain.spec.tokenizer, self.chain.height + 1)

    def expired(self, pool: Mempool) -> list[bytes]:
        """After a block: queries that no block can take any more (too old for the next one)."""
        oldest = self.chain.height + 1 - self.chain.spec.params.query_window
        return [txid for txid, entry in pool.entries.items()
                if entry.tx.kind == KIND_INFERENCE_QUERY and Query.parse(entry.tx.payload).height < oldest]

    def _check_query_height(self, height: int) -> None:
        """A query must name weights that a block can use now or soon: at most ``QUERY_AHEAD`` blocks
        past our tip (a node that is ahead of us asked it; it waits until we catch up) and not so old
        that the next block cannot take it (``policy-query-too-new``, ``policy-query-expired``).
        Without the first bound a query naming height 10**9 would sit in every pool for free."""
        params, tip = self.chain.spec.params, self.chain.height
        if height > tip + QUERY_AHEAD:
            raise InvalidTransaction("policy-query-too-new", f"it names the weights after block {height}; our "
                                                             f"tip is {tip}, at most {QUERY_AHEAD} ahead are kept")
        if height < tip + 1 - params.query_window:
            raise InvalidTransaction("policy-query-expired", f"it names the weights after block {height}; the next "
                                     f"block takes queries naming {tip + 1 - params.query_window} or later")


def LLMMempool(chain: LLMChain, max_txs: int = 5000) -> Mempool:
    """The network layer's mempool with the decentralized LLM's relay policy (:class:`LLMTxPolicy`)."""
    return Mempool(max_txs, policy=LLMTxPolicy(chain))


def LLMNode(name: str, chain: LLMChain, transport, *, config: NodeConfig | None = None, **kwargs) -> Node:
    """A node of the network layer (gossip, mempool, orphans, peer scoring - unchanged) whose chain
    is an :class:`LLMChain`, with the LLM's two parts plugged into its seams: the mempool with the
    data and query relay policy (:class:`LLMMempool`) and the proof-of-gradient block assembler
    (``miner.LLMAssembler``: its ``mine_block`` trains). Other arguments as ``Node``."""
    config = config or NodeConfig()
    return Node(name, chain, transport, config=config, assembler=LLMAssembler(),
                mempool=LLMMempool(chain, config.mempool_size), **kwargs)


class _ParallelVerify:
    """Verification side by side: when a block is mined, every other node that is up and at its
    parent starts verifying it on a thread pool, so that the nodes check it side by side when it
    reaches them (``ProofOfGradient.prepare``: the same check, started earlier; a node that has
    moved on by then checks it as usual). Threads, since PyTorch releases the GIL in its kernels
    (measured on 2 cores: two threads computing gradients ran 1.8x faster than one after the other)."""

    def __init__(self, sim: Simulator, workers: int):
        self.sim = sim
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="verify") if workers > 1 else None

    def on_block(self, block: Block, miner: str, public: bool) -> None:
        if self.pool is None or not public:
            return
        for other, sn in self.sim.nodes.items():
            if other != miner and sn.up:
                sn.node.chain.rule.prepare(block, self.pool)

    def close(self) -> None:
        """Stop the pool's threads (queued checks dropped; they also stop with the process)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class PayloadsOnDisk:
    """A chain listener: a node whose chain has a block store keeps in memory the payloads (the
    gradients, 433 KB a block for the nano GPT) of its last ``keep`` best-chain blocks only; older
    blocks stay in its index with their header and transactions, and their payload is read back
    from the store when something needs it (``chain.store.PayloadOnDisk``: an old query's weights,
    a deep reorg, a peer asking for an old block). Nothing changes but where the bytes are: every
    block, weights root and answer is the same. Without it each of the demo's 3 nodes held every
    gradient of the chain in memory a second time (the first is in its store): 1.3 MB a block.
    ``keep`` defaults to ``query_window + 2`` (the payloads a query's answer replays and a
    shallow reorg undoes are not read back). Every LLM node's chain gets one through
    :func:`keep_payloads_on_disk`: the simulator's and a real node's (``gradientcoin node --chain
    llm``), whose memory then stays flat as its chain grows, after a restart too (the replay leaves
    every payload on disk, ``chain/replay.py``; this listener, plugged in after it, reads the last
    ``keep`` back into memory and releases older ones a replay may have left in memory). The
    store is SQLite: an old block's payload is read on the thread that opened it, the node's event
    loop (nothing reads an old block on another thread: the RPC's HTTP threads only queue
    requests, and the simulator's verify threads get a new block's payload read before they start)."""

    def __init__(self, chain: LLMChain, keep: int | None = None):
        self.chain = chain
        self.keep = chain.spec.params.query_window + 2 if keep is None else keep
        self.released = 0
        for h in range(1, chain.height - self.keep + 1):        # a chain replayed from its store
            self._release(chain.entry_at(h))
        for h in range(max(1, chain.height - self.keep + 1), chain.height + 1):
            self._load(chain.entry_at(h))

    def __call__(self, event) -> None:
        if event.kind == "connected" and event.height - self.keep >= 1:
            self._release(self.chain.entry_at(event.height - self.keep))

    def _release(self, entry) -> None:
        block, store = entry.block, self.chain.store
        if (store is None or isinstance(block, PayloadOnDisk) or not block.payload
                or not store.has_payload(entry.hash, len(block.payload))):
            return
        entry.block = PayloadOnDisk.of(block, store)
        self.released += 1

    @staticmethod
    def _load(entry) -> None:
        """One of the last ``keep`` blocks, replayed with its payload on disk: read it back into memory
        (the payloads a query's answer replays and a shallow reorg undoes)."""
        block = entry.block
        if isinstance(block, PayloadOnDisk):
            payload = block.payload
            if payload:                                   # b"": pruned meanwhile, stays as it is
                entry.block = Block(block.header, block.txs, payload)


def keep_payloads_on_disk(chain: LLMChain, keep: int | None = None) -> LLMChain:
    """``chain`` with a :class:`PayloadsOnDisk` listener plugged in when it has a block store (a
    chain without one keeps every payload in memory: there is nowhere else); returns ``chain``.
    The one place where an LLM node's chain gets it: ``LLMSimulator``'s nodes and a real node
    (``node_cli.LLMKind.open_chain``)."""
    if chain.store is not None and not any(isinstance(f, PayloadsOnDisk) for f in chain.listeners):
        chain.listeners.append(PayloadsOnDisk(chain, keep))
    return chain


def LLMSimulator(spec: LLMSpec, seed: int = 0, block_interval: float = 600.0,
                 node_config: NodeConfig | None = None, tick: float | None = None,
                 check_validation: bool = True, snapshot_interval: int | None = None,
                 parallel_verify: int | None = None) -> Simulator:
    """The network layer's discrete-event :class:`Simulator` with :func:`LLMNode` miners of network
    ``spec``, plugged in through its ``chain_factory`` and ``node_factory`` seams.

    ``check_validation=False`` builds every node without the validation guard and data screen
    (for the poisoning experiment only). ``parallel_verify``: threads that verify a new block on
    the nodes it will reach while they wait (default: one per CPU core; 0 or 1: none - each node
    verifies when the block arrives, one after the other; ``close()`` stops them). Other arguments
    as :class:`Simulator`.
    """
    def chain_factory(params, store=None, clock=None) -> LLMChain:
        return keep_payloads_on_disk(LLMChain(spec, store=store, clock=clock, check_validation=check_validation,
                                              snapshot_interval=snapshot_interval))

    sim = Simulator(seed=seed, params=spec.chain_params, block_interval=block_interval, node_config=node_config,
                    tick=tick, chain_factory=chain_factory, node_factory=LLMNode)
    sim.spec = spec
    verify = _ParallelVerify(sim, (os.cpu_count() or 1) if parallel_verify is None else parallel_verify)
    sim.block_listeners.append(verify.on_block)
    sim.closers.append(verify.close)
    return sim


def LLMNodeService(node: Node, datadir, key, on_stop=None, chain_name: str = "") -> NodeService:
    """The RPC of an LLM node: the network layer's ``NodeService`` with the :class:`LLMMethods`
    plugged in (its ``extensions`` seam): the common methods plus ``contribute``, ``ask``,
    ``answer`` and ``losscurve`` (``gradientcoin node --chain llm`` serves it)."""
    service = NodeService(node, datadir, key, on_stop=on_stop, chain_name=chain_name)
    service.extensions.append(LLMMethods(service))
    return service


class LLMMethods:
    """The LLM's RPC methods, on a ``NodeService`` (``service``: wallets, fees, submitting)."""

    def __init__(self, service: NodeService):
        self.service = service

    def methods(self) -> dict:
        return {"contribute": self.rpc_contribute, "ask": self.rpc_ask, "answer": self.rpc_answer,
                "losscurve": self.rpc_losscurve}

    def rpc_contribute(self, text: str, wallet: str = "default", max_fee=None, dry_run: bool = False) -> dict:
        """Pay to add TEXT, every character, to the training data (DRY_RUN: only state the fee).

        The text is cut into records of the model's block size + 1 characters; a last, shorter
        piece becomes a record of the text's last characters (overlapping the one before), so no
        character is dropped and none is invented. The records go into as many data transactions
        as they need (``max_records_per_tx`` each), each paying ``data_fee_per_record`` per record
        (or what the mempool asks for its size, if more). Refused, before anything is sent: a
        character the tokenizer cannot encode (all of them named), a text shorter than one record,
        more transactions than the mempool chains in one go, a total fee above MAX_FEE coins
        (default 0.1), or more than the wallet can spend. Returns the txids (``txid``: the last)."""
        from .data import build_data_tx
        params = self.service.node.chain.spec.params
        if not isinstance(text, str):
            raise UsageError("bad-text", "a contribution is a text (a JSON string)")
        if not isinstance(dry_run, bool):
            raise UsageError("bad-dry-run", "dry_run is true or false")
        key, limit = self.service.wallet(wallet), self.service.max_fee(max_fee)
        records = self.contribution_records(text)
        per_tx = params.max_records_per_tx
        groups = ["".join(records[i: i + per_tx]) for i in range(0, len(records), per_tx)]
        self._check_chain_room(groups, key.address())

        def floor(group: str) -> int:
            return len(group) // params.record_tokens * params.data_fee_per_record

        def build(group: str, fee: int):
            return build_data_tx(self.service.pool_coins(), key, group, params, fee=fee)
        self.service.check_funds(wallet, sum(floor(g) for g in groups))
        # the fee of each: its records', or what the mempool asks for its size if more (sized by
        # building it on the coins we hold now; nothing is sent)
        fees = [max(floor(g), self.service.relay_fee(build(g, floor(g)).size)) for g in groups]
        total = sum(fees)
        plan = {"characters": len(text), "records": len(records), "record_characters": params.record_tokens,
                "transactions": len(groups), "fee": self.service.coins(total), "max_fee": self.service.coins(limit)}
        self.service.check_max_fee(total, limit)
        self.service.check_funds(wallet, total)
        if dry_run:
            return {"dry_run": True, **plan}
        txids: list[str] = []
        paid = 0
        for group in groups:
            tx, fee = self.service.build_paying_relay_fee(lambda f, g=group: build(g, f), floor(group))
            paid += fee
            try:
                self.service.check_max_fee(paid, limit)          # sizes as estimated, so this holds but for a byte or two
                txids.append(self.service.submit(tx, "contribution", records=len(group) // params.record_tokens)["txid"])
            except (InvalidTransaction, UsageError) as err:
                if not txids:
                    raise
                raise UsageError("contribution-partial",
                                 f"sent {len(txids)} of {len(groups)} data transactions ({', '.join(txids)}); "
                                 f"the next was refused: {err.reason}: {err.message}") from None
        return {**plan, "fee": self.service.coins(paid), "txid": txids[-1], "txids": txids}

    def contribution_records(self, text: str) -> list[str]:
        """``text`` as records of ``record_tokens`` characters, every character in one (see
        :meth:`rpc_contribute`); a ``UsageError`` naming every character the tokenizer lacks."""
        params, tokenizer = self.service.node.chain.spec.params, self.service.node.chain.spec.tokenizer
        r = params.record_tokens
        unknown = sorted(set(text) - set(tokenizer.vocab))
        if unknown:
            lines = text.split("\n")
            where = []
            for ch in unknown[:8]:
                row = next(i for i, line in enumerate(lines) if ch in line)
                where.append(f"{ch!r} ({text.count(ch)}x, first on line {row + 1} column {lines[row].index(ch) + 1})")
            more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
            hint = " (Windows line ends: convert the file with dos2unix)" if "\r" in unknown else ""
            raise UsageError("data-unknown-character",
                             f"the model's tokenizer cannot encode {len(unknown)} character(s) of the text: "
                             f"{', '.join(where)}{more}{hint}; it knows {len(tokenizer.vocab)} characters: "
                             f"{tokenizer.vocab!r}")
        if len(text) < r:
            raise UsageError("text-too-short", f"a contribution has at least {r} characters (one record of "
                                               f"this model), not {len(text)}")
        records = [text[i: i + r] for i in range(0, len(text) - r + 1, r)]
        if len(text) % r:
            records.append(text[-r:])
        return records

    def _check_chain_room(self, groups: list[str], address: bytes) -> None:
        """Refuse, before sending anything, a contribution the mempool's chain bounds would cut
        half-way: its transactions may spend each other's change, so with the wallet's transactions
        already waiting they must fit in one chain of unconfirmed transactions."""
        limits = getattr(self.service.node.mempool, "limits", None)
        if limits is None:
            return
        pool = self.service.node.mempool
        waiting = [txid for txid in pool.entries if any(o.address == address for o in pool.entries[txid].tx.outputs)]
        depth = max((1 + len(pool.ancestors(t)) for t in waiting), default=0)
        room = limits.ancestors - depth
        sizes = [len(g.encode()) + 400 for g in groups]
        byte_room = sum(1 for i in range(len(sizes)) if sum(sizes[: i + 1]) <= limits.ancestor_bytes)
        room = max(0, min(room, byte_room))
        if len(groups) > room:
            params = self.service.node.chain.spec.params
            chars = room * params.max_records_per_tx * params.record_tokens
            busy = f", and {depth} of this wallet's transactions are still waiting" if depth else ""
            raise UsageError("contribution-too-long",
                             f"this text needs {len(groups)} data transactions ({params.max_records_per_tx} records of "
                             f"{params.record_tokens} characters each); one contribute can send {room} now (the "
                             f"mempool keeps chains of at most {limits.ancestors} unconfirmed transactions and "
                             f"{limits.ancestor_bytes:,} bytes{busy}): contribute at most {chars:,} characters now "
                             "and the rest after the next block")

    def rpc_ask(self, prompt: str, tokens: int = 8, wallet: str = "default", max_fee=None) -> dict:
        """Pay for the model to complete PROMPT (TOKENS characters) from the weights at the tip."""
        from .inference import Query, build_query_tx
        if not isinstance(prompt, str):
            raise UsageError("bad-prompt", "a prompt is a text (a JSON string)")
        if isinstance(tokens, bool) or not isinstance(tokens, int):
            raise UsageError("bad-tokens", f"tokens is a whole number, not {tokens!r}")
        params, limit = self.service.node.chain.spec.params, self.service.max_fee(max_fee)
        query = Query(prompt, self.service.node.chain.height, tokens)

        def build(fee: int):
            self.service.check_max_fee(fee, limit)
            self.service.check_funds(wallet, fee)
            return build_query_tx(self.service.pool_coins(), self.service.wallet(wallet), query, params, fee=fee)
        tx, fee = self.service.build_paying_relay_fee(build, params.query_fee)
        out = self.service.submit(tx, "query", prompt=query.prompt)
        out["weights_height"] = query.height
        return out

    def rpc_answer(self, txid: str) -> dict:
        """The answer to query TXID once a block holds it, and how it was verified."""
        from .inference import AnswerRecord, Query, answers_root
        from .commitment import read_commitment
        chain = self.service.node.chain
        raw = hex32(txid, "txid")
        tx, height = self.service.find_tx(raw)
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
        self.service.val_loss()
        return {str(h): v for h, v in sorted(self.service.loss_curve.items())}

