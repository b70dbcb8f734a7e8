"""[tooling] What a running node offers its user: the RPC methods, a wallet, and a log of what happened.

:class:`NodeService` wraps one :class:`~gradientcoin_edu.network.node.Node` (proof-of-work) or
:func:`~gradientcoin_edu.llm.network.LLMNode` (proof-of-gradient) - the same transport-free node
logic either way - and answers the JSON-RPC methods of ``gradientcoin node`` (``rpc.py`` carries
them): status, blocks, transactions, balances, payments, peers, and a ring of recent events (new tips, reorgs, peers,
rejected blocks with their reasons) that the terminal log, ``node.log`` and the dashboard share.

Wallets: ``default`` is the node's mining key (``DATA_DIR/key``); ``createwallet NAME`` adds
``DATA_DIR/wallets/NAME.key`` (written by ``datadir.write_private``: mode 0600, atomic). Amounts
and fees on the RPC, in and out, are coins (``1.5``, ``"0.00001"``); the service works out the fee
a transaction needs when none is given, and refuses one above ``max_fee`` (default
``DEFAULT_MAX_FEE``, 0.1 coin, as Bitcoin Core's ``-maxtxfee``). A wallet never spends a mining
reward until it has ``COINBASE_SAFE_DEPTH`` confirmations (``ledger.wallet.WalletCoins``): balances
say such coins are ``immature``, apart from the ``confirmed`` (spendable) ones. The service never prints; it logs to the
``gradientcoin.node`` logger and returns plain JSON data. The proof-of-gradient methods
(contribute training text, ask the model, check an answer) are plugged in by
``llm.network.LLMMethods`` (the ``extensions`` seam), so this module never imports the LLM layer.
"""
from __future__ import annotations

import logging
import math
import re
import time
from collections import deque
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable

from ..crypto.hashes import hash_to_hex
from ..crypto.keys import PrivateKey, address_from_str, address_to_str
from ..datadir import read_private, write_private
from ..errors import UsageError
from ..ledger import COIN, build_payment
from ..ledger.wallet import COINBASE_SAFE_DEPTH, WalletCoins

__all__ = ["NodeService", "parse_coins", "parse_fee", "coins", "load_or_create_key", "hex32", "EVENT_LOG_SIZE",
           "DEFAULT_MAX_FEE", "DEFAULT_FEE"]

log = logging.getLogger("gradientcoin.node")
EVENT_LOG_SIZE = 500
_WALLET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# The most a payment may pay in fees unless its caller says more: Bitcoin Core's wallet refuses a
# fee above -maxtxfee (0.10 BTC) for the same reason - a fee typed in the wrong unit, or a text
# far longer than meant, must not silently hand a miner the wallet's coins.
DEFAULT_MAX_FEE = 10_000_000                 # 0.1 coin, in smallest units
DEFAULT_FEE = 1_000                          # a payment's fee when the mempool states no minimum


def parse_coins(amount) -> int:
    """``1.5`` or ``"1.5"`` coins -> smallest units; a ``UsageError`` for anything else."""
    if isinstance(amount, bool):
        amount = "not a number"
    try:
        units = Decimal(str(amount)) * COIN
    except InvalidOperation:
        raise UsageError("bad-amount", f"an amount is a number of coins such as 1.5, not {amount!r}") from None
    if not units.is_finite() or units != units.to_integral_value() or units <= 0:
        raise UsageError("bad-amount", f"an amount is a positive number of coins with at most 8 decimals, not {amount}")
    return int(units)


def parse_fee(fee) -> int:
    """A fee in coins (``0.00001`` or ``"0.00001"``; 0 is allowed) -> smallest units."""
    if isinstance(fee, bool):
        fee = "not a number"
    try:
        units = Decimal(str(fee)) * COIN
    except InvalidOperation:
        raise UsageError("bad-fee", f"a fee is a number of coins such as 0.00001, not {fee!r}") from None
    if not units.is_finite() or units != units.to_integral_value() or units < 0:
        raise UsageError("bad-fee", f"a fee is a number of coins >= 0 with at most 8 decimals, not {fee}")
    return int(units)


def coins(units: int) -> str:
    """Smallest units -> coins as text, ``"1.50000000"``."""
    sign = "-" if units < 0 else ""
    units = abs(int(units))
    return f"{sign}{units // COIN}.{units % COIN:08d}"


def load_or_create_key(path: Path) -> PrivateKey:
    """The key at ``path``, or a new one written there (0600, atomic, no symlink followed)."""
    if path.exists() or path.is_symlink():
        return PrivateKey.from_bytes(read_private(path, "mining key"))   # ours, 0600, not a symlink
    key = PrivateKey.generate()
    write_private(path, key.to_bytes())
    return key


class NodeService:
    """RPC methods and event log around ``node`` (its transport already attached).

    ``datadir``: where wallets live. ``on_stop``: called by the ``stop`` method.
    """

    def __init__(self, node, datadir: Path, key: PrivateKey, on_stop: Callable[[], None] | None = None,
                 chain_name: str = ""):
        self.node, self.datadir, self.on_stop = node, Path(datadir), on_stop
        self.chain_name = chain_name
        self.llm = hasattr(node.chain, "spec")
        self.extensions: list = []              # objects whose methods() add RPC methods (a chain's own)
        self.wallets: dict[str, PrivateKey] = {"default": key}
        self._load_wallets()
        self.events: deque[dict] = deque(maxlen=EVENT_LOG_SIZE)
        self._seq = 0
        self._known_peers: set[str] = set()
        self.loss_curve: dict[int, float] = {}
        self._loss_tip: bytes | None = None
        self.started = time.time()
        self.peer_line: str | None = None           # HEXKEY@tcp://host:port, if this node listens
        self.mining_switch: Callable[[bool | None], bool] | None = None   # set by the process that mines
        self.coinbase_depth = COINBASE_SAFE_DEPTH   # confirmations before a wallet spends a reward

    # ================================================================== events
    def on_node_event(self, kind: str, details: dict) -> None:
        """The node's listener: keep the event and log it at a level that suits it."""
        shown = {k: (hash_to_hex(v)[:16] if isinstance(v, bytes) else v) for k, v in details.items()
                 if k not in ("abandoned", "node", "time")}
        if kind == "block":
            if details.get("result") in ("extended", "reorg"):
                self.record("tip", height=details.get("height"), tip=shown.get("tip"), block=shown.get("hash"))
            elif details.get("result") == "side-branch":
                self.record("side-branch", block=shown.get("hash"))
            return
        self.record(kind, **shown)

    def record(self, kind: str, **details) -> None:
        self._seq += 1
        self.events.append({"seq": self._seq, "time": time.time(), "kind": kind, **details})
        level, text = _describe(kind, details)
        log.log(level, text)

    def watch_peers(self) -> None:
        """Log peers that completed the handshake or went away (call now and then)."""
        now = {p for p, s in self.node.peers.items() if s.get("version")}
        for peer in sorted(now - self._known_peers):
            self.record("peer-connected", peer=peer, height=self._peer_height(peer))
        for peer in sorted(self._known_peers - now):
            self.record("peer-gone", peer=peer)
        self._known_peers = now

    def _peer_height(self, peer: str) -> int | None:
        state = self.node.peerbook.peers.get(peer)
        return getattr(state, "best_height", None)

    def val_loss(self) -> float | None:
        """The model's validation loss at the tip (LLM chains; cached per tip)."""
        if not self.llm:
            return None
        chain = self.node.chain
        if self._loss_tip != chain.tip_hash:
            self._loss_tip = chain.tip_hash
            self.loss_curve[chain.height] = round(float(chain.val_loss()), 5)
        return self.loss_curve[chain.height]

    # ================================================================== the RPC table
    def methods(self) -> dict[str, Callable]:
        """Method name -> callable, as the RPC server calls them (a table a reader can see)."""
        table = {
            "help": self.rpc_help, "status": self.rpc_status, "getblock": self.rpc_getblock,
            "gettx": self.rpc_gettx, "balance": self.rpc_balance, "address": self.rpc_address,
            "createwallet": self.rpc_createwallet, "send": self.rpc_send, "peers": self.rpc_peers,
            "mempool": self.rpc_mempool, "blocktree": self.rpc_blocktree, "events": self.rpc_events,
            "stop": self.rpc_stop, "setmining": self.rpc_setmining,
        }
        for extension in self.extensions:
            table.update(extension.methods())
        return table

    def rpc_help(self) -> dict:
        """Each method with the first line of its description."""
        return {name: (fn.__doc__ or "").strip().splitlines()[0] for name, fn in sorted(self.methods().items())}

    def rpc_status(self) -> dict:
        """Height, tip, peers, mempool, counters (and for an LLM chain: validation loss, weights root)."""
        node, chain = self.node, self.node.chain
        out = {
            "name": node.name, "chain": self.chain_name, "height": chain.height, "tip": chain.tip.hash_hex(),
            "blocks_known": len(chain), "peers": sorted(self._known_peers), "mempool": len(node.mempool),
            "orphans": len(node.orphans), "mined": node.stats["mined"], "reorgs": node.stats["reorgs"],
            "banned": sorted(node.peerbook.bans), "address": address_to_str(self.wallets["default"].address()),
            "balance": self.coins(self.confirmed_coins().balance(self.wallets["default"].address())),
            "immature": self.coins(sum(o.amount for _, o in
                                       self.confirmed_coins().immature_of(self.wallets["default"].address()))),
            "uptime": round(time.time() - self.started, 1), "listen": node.listen, "peer": self.peer_line,
        }
        if self.llm:
            out.update(val_loss=self.val_loss(), weights_root=chain.rule.weights_root().hex(),
                       records=len(chain.dataset), gradients=node.stats["gradients"])
        return out

    def rpc_getblock(self, block) -> dict:
        """A block by hash (hex) or by height on the best chain."""
        entry = self._entry(block)
        b = entry.block
        out = {"hash": entry.hash_hex(), "height": entry.height, "prev": hash_to_hex(b.header.prev_hash),
               "time": b.header.time, "bits": b.header.bits, "miner_id": b.header.miner_id.hex(),
               "active": self.node.chain.is_active(entry.hash), "status": entry.status,
               "txs": [{"txid": hash_to_hex(tx.txid), "kind": tx.kind, "outputs": len(tx.outputs)} for tx in b.txs],
               "payload_bytes": len(b.payload)}
        if self.llm:
            out["weights_root"] = b.header.weights_root.hex()
        return out

    def rpc_gettx(self, txid: str) -> dict:
        """A transaction by id: in the mempool or on the best chain (with its block height)."""
        raw = hex32(txid, "txid")
        tx, height = self.find_tx(raw)
        if tx is None:
            raise UsageError("unknown-tx", f"no transaction {txid} in the mempool or on the best chain")
        return {"txid": txid, "kind": tx.kind, "height": height, "confirmations":
                0 if height is None else self.node.chain.height - height + 1,
                "outputs": [{"address": address_to_str(o.address), "amount": self.coins(o.amount)} for o in tx.outputs],
                "inputs": len(tx.inputs), "size": tx.size}

    def rpc_balance(self, wallet: str = "default") -> dict:
        """A wallet's confirmed coins it may spend, its immature rewards, and what the mempool spends.

        ``confirmed``: mined coins the wallet spends; ``immature``: mining rewards with fewer than
        ``coinbase_depth`` confirmations (not spent yet: a short reorg could still abandon them);
        ``spent_in_mempool``: of these, what the wallet's waiting transactions already spend."""
        key = self.wallet(wallet)
        view = self.confirmed_coins()
        coins, young = view.coins_of(key.address()), view.immature_of(key.address())
        pending = sum(o.amount for op, o in coins + young if op in self.node.mempool.spends)
        return {"wallet": wallet, "address": address_to_str(key.address()),
                "confirmed": self.coins(sum(o.amount for _, o in coins)),
                "immature": self.coins(sum(o.amount for _, o in young)), "spent_in_mempool": self.coins(pending)}

    def rpc_address(self, wallet: str = "default") -> str:
        """A wallet's address (gc1...)."""
        return address_to_str(self.wallet(wallet).address())

    def rpc_createwallet(self, name: str) -> dict:
        """A new wallet NAME (its key in DATA_DIR/wallets/NAME.key); returns its address."""
        if not isinstance(name, str) or not _WALLET_NAME.match(name) or name == "default":
            raise UsageError("bad-wallet-name", "a wallet name is 1-32 letters, digits, - or _ (not 'default')")
        if name not in self.wallets:
            (self.datadir / "wallets").mkdir(mode=0o700, exist_ok=True)
            self.wallets[name] = load_or_create_key(self.datadir / "wallets" / f"{name}.key")
        return {"wallet": name, "address": address_to_str(self.wallets[name].address())}

    def rpc_send(self, address: str, amount, fee=None, wallet: str = "default", max_fee=None) -> dict:
        """Pay AMOUNT coins to ADDRESS from a wallet (FEE in coins, default what the mempool asks); the txid.

        It may spend outputs still waiting in the mempool (change of an earlier payment). A fee
        above MAX_FEE coins (default 0.1) is refused."""
        to = address_from_str(address)
        key = self.wallet(wallet)
        units = parse_coins(amount)
        limit = self.max_fee(max_fee)

        def build(fee_units):
            self.check_max_fee(fee_units, limit)
            self.check_funds(wallet, units + fee_units)
            return build_payment(self.pool_coins(), key, [(to, units)], fee_units)
        if fee is None:
            tx, fee_units = self.build_paying_relay_fee(build, DEFAULT_FEE)
        else:
            fee_units = parse_fee(fee)
            tx = build(fee_units)
            if fee_units < (needed := self.relay_fee(tx.size)):        # said in coins, before the pool says it in units
                raise UsageError("policy-min-relay-fee", f"a fee of {coins(fee_units)} coins is below what this node "
                                                         f"relays for this {tx.size}-byte payment: at least "
                                                         f"{coins(needed)} coins (without --fee it pays that)")
        return self.submit(tx, "payment", to=address, amount=coins(units))

    def rpc_peers(self) -> list:
        """Connected peers with their handshake state, score and reported height. ``key``: the peer's
        key as ``--peer`` takes it (hex); ``as_peer``: ``HEXKEY@tcp://host:port``, what another node
        gives ``--peer`` to dial it (known for the peers we dial; None for those that dialled us)."""
        links = self.node.transport.peer_states() if hasattr(self.node.transport, "peer_states") else {}
        out = []
        for peer, state in sorted(self.node.peers.items()):
            book = self.node.peerbook.peers.get(peer)
            link = links.get(peer, {})
            out.append({"peer": peer, "key": link.get("key", _key_hex(peer)), "as_peer": link.get("peer"),
                        "handshaken": bool(state.get("version")),
                        "score": getattr(book, "score", 0), "best_height": getattr(book, "best_height", None)})
        return out

    def rpc_mempool(self) -> list:
        """Transactions waiting to be mined: txid, kind, fee (coins), size (bytes)."""
        entries = self.node.mempool.select(10**9, 10**6)
        return [{"txid": hash_to_hex(e.tx.txid), "kind": e.tx.kind, "fee": coins(e.fee), "size": e.size}
                for e in entries]

    def rpc_blocktree(self, since: int = 0) -> dict:
        """Every known block after arrival number SINCE (side branches too), and the best chain's tip."""
        chain = self.node.chain
        blocks = [{"hash": e.hash_hex(), "prev": hash_to_hex(e.block.header.prev_hash), "height": e.height,
                   "seq": e.seq, "miner_id": e.block.header.miner_id.hex()[:8], "status": e.status}
                  for e in chain.entries() if e.seq > since]
        return {"blocks": blocks, "tip": chain.tip.hash_hex(), "height": chain.height, "name": self.node.name}

    def rpc_events(self, since: int = 0) -> dict:
        """Recent events (tips, reorgs, peers, rejections with reasons) numbered after SINCE."""
        return {"events": [e for e in self.events if e["seq"] > int(since)], "last": self._seq}

    def rpc_setmining(self, on: bool | None = None) -> bool:
        """Turn mining on (true) or off (false); without a value, say whether it is on."""
        if self.mining_switch is None:
            raise UsageError("no-miner", "this node was started without a miner")
        if on is not None and not isinstance(on, bool):
            raise UsageError("bad-setmining", "setmining takes true or false")
        return self.mining_switch(on)

    def rpc_stop(self) -> str:
        """Stop the node (it finishes writing and closes its store)."""
        if self.on_stop is not None:
            self.on_stop()
        return "stopping"

    # ================================================================== helpers
    def submit(self, tx, what: str, **extra) -> dict:
        """Hand our wallet's ``tx`` to the node (mempool + gossip); the txid and fee (coins) as JSON."""
        fee = self.node.submit_transaction(tx)
        self.record("sent", what=what, txid=hash_to_hex(tx.txid)[:16])
        return {"txid": hash_to_hex(tx.txid), "fee": coins(fee), **extra}

    # ------------------------------------------------------------------ paying
    def pool_coins(self) -> WalletCoins:
        """The coins our wallets may spend: confirmed ones and the change still waiting in the pool,
        less immature ones (a reward with fewer than ``coinbase_depth`` confirmations, and waiting
        outputs that depend on one): a payment built on those dies if a reorg abandons the reward."""
        return WalletCoins(self.node.mempool.coins(self.node.chain.utxo), self.coinbase_depth)

    def confirmed_coins(self) -> WalletCoins:
        """The mined coins, split as the wallet sees them (``coins_of``: spendable; ``immature_of``)."""
        return WalletCoins(self.node.chain.utxo, self.coinbase_depth)

    def relay_fee(self, size: int) -> int:
        """The smallest fee the node's mempool takes now for ``size`` bytes (0 if it states none):
        its fee rate (``min_feerate``: the minimum relay fee rate, or the rolling minimum of a full
        pool) times the size, so the wallet pays what this node and its peers will relay."""
        min_feerate = getattr(self.node.mempool, "min_feerate", None)
        if not callable(min_feerate):
            return 0
        return max(0, math.ceil(min_feerate(self.node.transport.now()) * size))

    def build_paying_relay_fee(self, build: Callable[[int], object], floor: int):
        """``(build(fee), fee)`` with ``fee`` the larger of ``floor`` and what the mempool asks for
        the transaction's size (the size hardly depends on the fee: a second build settles it)."""
        fee = floor
        for _ in range(3):
            tx = build(fee)
            needed = max(floor, self.relay_fee(tx.size))
            if needed <= fee:
                return tx, fee
            fee = needed
        return build(fee), fee

    @staticmethod
    def max_fee(max_fee) -> int:
        """The caller's ceiling on fees (coins), or ``DEFAULT_MAX_FEE``; in smallest units."""
        return DEFAULT_MAX_FEE if max_fee is None else parse_fee(max_fee)

    @staticmethod
    def check_max_fee(fee: int, limit: int) -> None:
        if fee > limit:
            raise UsageError("fee-too-high", f"the fee would be {coins(fee)} coins, more than the maximum "
                                             f"{coins(limit)} coins; pass a larger max fee (--max-fee) to pay it")

    def check_funds(self, wallet: str, needed: int) -> None:
        """``insufficient-funds`` in coins, before building anything, when ``wallet`` cannot pay ``needed``."""
        address = self.wallet(wallet).address()
        view = self.pool_coins()
        have = sum(o.amount for _, o in view.coins_of(address))
        if have < needed:
            young = sum(o.amount for _, o in view.immature_of(address))
            later = (f"; {coins(young)} more are immature (a mining reward is spent once it has "
                     f"{self.coinbase_depth} confirmations)") if young else ""
            raise UsageError("insufficient-funds", f"wallet {wallet!r} can spend {coins(have)} coins (confirmed, "
                                                   f"and change still waiting), this needs {coins(needed)} coins"
                                                   f"{later}")

    def wallet(self, name: str) -> PrivateKey:
        key = self.wallets.get(name)
        if key is None:
            raise UsageError("unknown-wallet", f"no wallet {name!r}; known: {', '.join(sorted(self.wallets))} "
                                               "(createwallet NAME makes one)")
        return key

    def _load_wallets(self) -> None:
        folder = self.datadir / "wallets"
        if folder.is_dir():
            for path in sorted(folder.glob("*.key")):
                if _WALLET_NAME.match(path.stem):
                    self.wallets[path.stem] = PrivateKey.from_bytes(read_private(path))

    def _entry(self, block):
        chain = self.node.chain
        if isinstance(block, int) or (isinstance(block, str) and block.isdigit()):
            height = int(block)
            if not 0 <= height <= chain.height:
                raise UsageError("unknown-block", f"the best chain has heights 0..{chain.height}, not {height}")
            return chain.entry_at(height)
        entry = chain.get(hex32(block, "block hash"))
        if entry is None:
            raise UsageError("unknown-block", f"no block {block} known to this node")
        return entry

    def find_tx(self, txid: bytes):
        """(transaction, height or None for the mempool), or (None, None)."""
        tx = self.node.mempool.get(txid)
        if tx is not None:
            return tx, None
        for entry in reversed(self.node.chain.active_chain()):
            for t in entry.block.txs:
                if t.txid == txid:
                    return t, entry.height
        return None, None

    @staticmethod
    def coins(units: int) -> str:
        return coins(units)


def _key_hex(peer: str) -> str | None:
    """A peer's CURVE key in the hex form ``--peer`` takes; None for a name that is not a key."""
    from .keys import key_hex
    try:
        return key_hex(peer)
    except (ValueError, TypeError):
        return None


def hex32(text, what: str) -> bytes:
    """A hash as shown (byte-reversed hex, as ``hash_to_hex`` writes it) -> internal bytes."""
    try:
        raw = bytes.fromhex(text)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise UsageError("bad-hash", f"a {what} is 64 hex digits, not {text!r}")
    return raw[::-1]


_LEVELS = {"tip": logging.INFO, "reorg": logging.WARNING, "block-rejected": logging.WARNING,
           "ban": logging.WARNING, "error": logging.WARNING, "wrong-network": logging.WARNING,
           "peer-connected": logging.INFO, "peer-gone": logging.INFO, "misbehaving": logging.INFO,
           "side-branch": logging.DEBUG, "sent": logging.INFO}


def _describe(kind: str, d: dict) -> tuple[int, str]:
    level = _LEVELS.get(kind, logging.DEBUG)
    if kind == "tip":
        return level, f"new tip: height {d.get('height')}, block {d.get('tip')}"
    if kind == "reorg":
        return level, f"reorg: {d.get('depth')} block(s) abandoned, {d.get('returned_txs')} tx back to the mempool"
    if kind == "block-rejected":
        src = f" from {d['peer']}" if d.get("peer") else ""
        return level, f"rejected block {d.get('hash')}{src}: {d.get('reason')}"
    if kind == "peer-connected":
        return level, f"peer connected: {d.get('peer')} (height {d.get('height')})"
    if kind == "peer-gone":
        return level, f"peer gone: {d.get('peer')}"
    if kind == "ban":
        return level, f"banned peer {d.get('peer')} ({d.get('offence')})"
    if kind == "misbehaving":
        return level, f"peer {d.get('peer')} misbehaved: {d.get('offence')} {d.get('detail', '')}".rstrip()
    detail = ", ".join(f"{k} {v}" for k, v in d.items())
    return level, f"{kind}: {detail}"
