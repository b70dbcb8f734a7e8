"""What a long chain of unconfirmed transactions costs a node's mempool, with and without the bounds.

An attacker who owns one confirmed coin signs a chain of N transactions (each spends the previous
one's only output) and hands them to a node. Without the chain bounds (``ChainLimits`` set huge) the
pool takes all N, and each new child makes it walk every ancestor and every ancestor's descendants
(the descendant bound check), so the per-transaction cost grows with the chain; a block template
(``select``) and a conflict on the first transaction (it takes all N with it) grow too. With the
default bounds (25 / 101,000 bytes) the chain stops at 25 and every further transaction is refused
before its signature is checked.

    python benchmarks/mempool_chains.py                 # N = 25, 100, 400
    python benchmarks/mempool_chains.py --lengths 25 200

Then a full pool (``--full``, default 5,000 transactions: synthetic entries, every one paying more
than the newcomers) and 20 newcomers that pay too little, each a new txid spending the attacker's
coin: the time of each refusal (``mempool-full``; since the fee and eviction checks come before the
signature, a refusal no longer includes it).

``--memory``: what a pool transaction costs in resident memory (RSS, ``/proc/self/status``). K
transactions are signed, serialized, then parsed (as from a peer) and added to a pool, and the
RSS growth divided by K: 1 MB transactions of 35,000 zero-value outputs in the previous pool
(``git show OLD:gradientcoin_edu/network/mempool.py``: it accepted them) and in the current one
(refused: ``policy-tx-size``), then the largest standard shape (999 dust outputs and a change
output, 28 kB) in the current pool, next to the pool's own estimate (``memory_usage``).

    python benchmarks/mempool_chains.py --lengths --full 0 --memory
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.errors import InvalidTransaction
from gradientcoin_edu.ledger import COIN, Transaction, TxIn, TxOut, UtxoSet
from gradientcoin_edu.network.mempool import ChainLimits, Mempool, MempoolEntry, dust_threshold, memory_usage

KEY = PrivateKey.from_seed(b"bench-mempool-attacker")
OLD = "9994718596fad223c605ac93bdce905faf25e157"     # the pool before the byte bound and standardness rules


def funded_utxo() -> UtxoSet:
    utxo = UtxoSet()
    utxo.apply_block([Transaction.coinbase(0, [TxOut(50 * COIN, KEY.address())])], 0, 50 * COIN)
    return utxo


def signed_chain(utxo: UtxoSet, n: int, fee: int = 1000) -> list[Transaction]:
    (op, out), = utxo.coins_of(KEY.address())
    txs, prev, value = [], (op.txid, op.index, out), out.amount
    for _ in range(n):
        value -= fee
        tx = Transaction(inputs=(TxIn(prev[0], prev[1]),), outputs=(TxOut(value, KEY.address()),))
        tx = tx.sign_input(0, KEY, prev[2])
        txs.append(tx)
        prev = (tx.txid, 0, tx.outputs[0])
    return txs


def run(pool: Mempool, utxo: UtxoSet, txs: list[Transaction]) -> dict:
    accepted, refused, t_add, t_last, t_refused = 0, 0, 0.0, 0.0, 0.0
    for tx in txs:
        t = time.perf_counter()
        try:
            pool.add(tx, utxo)
            accepted += 1
            t_last = time.perf_counter() - t
            t_add += t_last
        except InvalidTransaction:
            refused += 1
            t_refused += time.perf_counter() - t
    t = time.perf_counter()
    pool.select(10**9)
    t_select = time.perf_counter() - t
    t = time.perf_counter()
    gone = len(pool.remove_with_descendants(txs[0].txid))     # a block mined a conflict of the first
    t_remove = time.perf_counter() - t
    return {"accepted": accepted, "refused": refused, "add_ms": 1e3 * t_add / max(1, accepted),
            "last_ms": 1e3 * t_last, "refused_ms": 1e3 * t_refused / max(1, refused),
            "select_ms": 1e3 * t_select, "removed": gone, "remove_ms": 1e3 * t_remove}


def full_pool_refusals(utxo: UtxoSet, size: int, newcomers: int = 20) -> list[float]:
    """ms per refused newcomer against a pool of ``size`` better-paying transactions."""
    pool = Mempool(max_txs=size)
    for i in range(size):                                   # synthetic members: only their fee and size matter
        tx = Transaction(inputs=(TxIn(os.urandom(32), 0),), outputs=(TxOut(COIN, KEY.address()),))
        pool._insert(MempoolEntry(tx, 10_000 + i, tx.size, float(i)), set())
    (op, out), = utxo.coins_of(KEY.address())
    times = []
    for fee in range(200, 200 + newcomers):               # above the relay minimum (1 unit/byte), below the pool
        tx = Transaction(inputs=(TxIn(op.txid, op.index),), outputs=(TxOut(out.amount - fee, KEY.address()),))
        tx = tx.sign_input(0, KEY, out)
        t = time.perf_counter()
        try:
            pool.add(tx, utxo)
        except InvalidTransaction:
            pass
        times.append(1e3 * (time.perf_counter() - t))
    return times


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def old_mempool_class():
    source = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "show",
                             f"{OLD}:gradientcoin_edu/network/mempool.py"], check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("_old_mempool", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "gradientcoin_edu.network"
    sys.modules["_old_mempool"] = module
    exec(compile(source, "old mempool.py", "exec"), module.__dict__)
    return module.Mempool


def memory(k_huge: int = 8, k_standard: int = 200) -> None:
    """RSS per pool transaction (see the module docstring)."""
    utxo = UtxoSet()
    n = max(k_huge, k_standard)
    utxo.apply_block([Transaction.coinbase(0, [TxOut(50 * COIN, KEY.address())] * n)], 0, 50 * COIN * n)
    coins = utxo.coins_of(KEY.address())
    dust = dust_threshold(3.0)

    def signed(coin, outputs) -> bytes:
        op, out = coin
        return Transaction(inputs=(TxIn(op.txid, op.index),), outputs=tuple(outputs)).sign_input(0, KEY, out).serialize()

    huge = [signed(c, [TxOut(0, KEY.address())] * 35_000) for c in coins[:k_huge]]
    standard = [signed(c, [TxOut(dust, KEY.address())] * 999 + [TxOut(49 * COIN, KEY.address())])
                for c in coins[:k_standard]]
    try:
        sides = [("previous pool", old_mempool_class(), huge), ("current pool", Mempool, huge),
                 ("current pool", Mempool, standard)]
    except (OSError, subprocess.CalledProcessError):
        print(f"the previous pool (commit {OLD[:8]}) is not in this checkout's history: current pool only")
        sides = [("current pool", Mempool, huge), ("current pool", Mempool, standard)]
    for name, cls, raws in sides:
        pool = cls(max_txs=10**6)
        gc.collect()
        before, accepted, refused, estimate = rss(), 0, {}, 0
        for raw in raws:
            tx = Transaction.parse(raw)
            try:
                pool.add(tx, utxo)
                accepted += 1
                estimate += memory_usage(tx, len(raw))
            except InvalidTransaction as err:
                refused[err.reason] = refused.get(err.reason, 0) + 1
        del tx
        gc.collect()
        grown = rss() - before
        print(f"{name}: {len(raws)} x {len(raws[0]):,}-byte transactions ({len(Transaction.parse(raws[0]).outputs)} "
              f"outputs): accepted {accepted}, refused {refused or 0}; RSS +{grown / 2**20:.1f} MiB = "
              f"{grown / len(raws) / 2**20:.2f} MiB per transaction offered"
              + (f"; the pool's estimate {estimate / max(1, accepted) / 2**20:.2f} MiB per accepted" if estimate else ""),
              flush=True)
        del pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[25, 100, 400])
    parser.add_argument("--full", type=int, default=5000, help="size of the full pool (0: skip)")
    parser.add_argument("--memory", action="store_true", help="RSS per pool transaction, previous and current pool")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("bounds     N  accepted  refused  ms/add  last add ms  ms/refusal  select ms  removed  remove ms")
    utxo = funded_utxo()
    for n in args.lengths:
        txs = signed_chain(utxo, n)
        for name, limits in (("none", ChainLimits(10**9, 10**12, 10**9, 10**12)), ("default", ChainLimits())):
            r = run(Mempool(max_txs=10**6, limits=limits), utxo, txs)
            print(f"{name:8s} {n:4d} {r['accepted']:9d} {r['refused']:8d} {r['add_ms']:7.2f} {r['last_ms']:12.2f} "
                  f"{r['refused_ms']:11.3f} {r['select_ms']:10.1f} {r['removed']:8d} {r['remove_ms']:10.2f}",
                  flush=True)
    if args.memory:
        memory()
    if args.full:
        times = full_pool_refusals(utxo, args.full)
        rest = sorted(times[1:])
        print(f"full pool of {args.full}: first refusal {times[0]:.2f} ms, the next {len(rest)}: "
              f"median {rest[len(rest) // 2]:.2f} ms, max {rest[-1]:.2f} ms (the pool refuses before the signature check)")


if __name__ == "__main__":
    main()
