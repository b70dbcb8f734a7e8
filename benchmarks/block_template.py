"""What building an LLM block template costs: choosing the transactions, before any gradient.

An LLM miner (``llm.miner.LLMAssembler.mine``) takes the best ancestor packages of its pool
(``Mempool.select``), checks them together on the tip's coins and against the data and query
rules (``llm.miner.select_txs``), then builds the header template (``block_template``: coinbase,
commitment, Merkle root). Only after that does it compute gradients. This script times those
three steps (CPU time, ``time.process_time``) on a pool of N payments - 60% of them alone, 40%
in parent-child pairs, fees 200 to 5,000 units - on the tiny LLM preset:

* **new**: the linear selection (ancestor scores updated for the descendants of what was taken)
  and the linear ``select_txs`` (one coins overlay; pool transactions' signatures not re-checked);
* **old**: the code as it was before (``git show OLD:...``, loaded from this repository's history):
  ``select`` recomputing package scores with ancestor walks, and ``select_txs`` re-applying the
  whole list on a copy of the UTXO set for every candidate, signatures included (quadratic).

Old and new alternate in one process, ``--repeat`` times each, at the ``--old-sizes``; the new
code alone at the ``--sizes`` (the old one would take minutes there: its cost is quadratic).

    python benchmarks/block_template.py                       # old vs new at 100, new at 100 and 1,000
    python benchmarks/block_template.py --old-sizes 100 200 --sizes 1000 --repeat 7
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.ledger import Transaction, TxIn, TxOut
from gradientcoin_edu.llm import LLMChain, LLMSpec
from gradientcoin_edu.llm import miner as new_miner
from gradientcoin_edu.llm.network import LLMMempool

ROOT = Path(__file__).resolve().parents[1]
OLD = "9994718596fad223c605ac93bdce905faf25e157"     # the last commit before the linear selection
KEY = PrivateKey.from_seed(b"bench-block-template")
MINER = PrivateKey.from_seed(b"bench-block-template-miner").address()


def load_old(path: str, name: str, package: str):
    """The module at ``path`` as of commit OLD (None if this checkout has no such history)."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD}:{path}"], check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    sys.modules[name] = module
    exec(compile(source, f"{OLD[:8]}:{path}", "exec"), module.__dict__)
    return module


def funded_chain(spec: LLMSpec, outputs: int):
    """A tiny-preset chain whose tip holds ``outputs`` coins of KEY (one fan-out transaction)."""
    chain = LLMChain(spec)
    chain.mine_and_add(KEY.address())
    (op, out), = chain.utxo.coins_of(KEY.address())
    each = (out.amount - 100_000) // outputs
    fan = Transaction(inputs=(TxIn(op.txid, op.index),), outputs=tuple(TxOut(each, KEY.address()) for _ in range(outputs)))
    chain.mine_and_add(MINER, [fan.sign_input(0, KEY, out)])
    return chain


def payments(chain, n: int, seed: int = 0) -> list[Transaction]:
    """``n`` signed payments: 60% alone, 40% in parent-child pairs, fees 200..5,000 units."""
    rng = random.Random(seed)
    coins = chain.utxo.coins_of(KEY.address())
    txs, i = [], 0
    while len(txs) < n:
        op, out = coins[i]
        i += 1
        fee = rng.randint(200, 5_000)
        tx = Transaction(inputs=(TxIn(op.txid, op.index),),
                         outputs=(TxOut(out.amount - fee - 100_000, KEY.address()), TxOut(100_000, MINER)))
        tx = tx.sign_input(0, KEY, out)
        txs.append(tx)
        if len(txs) < n and rng.random() < 0.4:
            fee2 = rng.randint(200, 5_000)
            child = Transaction(inputs=(TxIn(tx.txid, 0),), outputs=(TxOut(tx.outputs[0].amount - fee2, MINER),))
            txs.append(child.sign_input(0, KEY, tx.outputs[0]))
    return txs


def template(chain, pool, miner_module, verified: bool):
    """The three steps of ``LLMAssembler.mine`` before the gradients; returns the number of transactions."""
    rule = chain.work_rule
    body = [e.tx for e in pool.select(chain.params.max_block_bytes // 4, 1000)]
    kwargs = {"verified": True} if verified else {}
    chosen, contents, fees, rejected = miner_module.select_txs(rule, chain.utxo, chain.height + 1, body, False, **kwargs)
    assert not rejected, rejected[:3]
    miner_module.block_template(chain, chosen, contents, fees, MINER, chain.tip.header.time + 600)
    return len(chosen)


def cpu_ms(fn) -> tuple[float, int]:
    t = time.process_time()
    n = fn()
    return 1e3 * (time.process_time() - t), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-sizes", type=int, nargs="*", default=[100])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          "CPU time of select + select_txs + block_template, ms")
    spec = LLMSpec.builtin("tiny")
    old_pool_mod = load_old("gradientcoin_edu/network/mempool.py", "_old_mempool", "gradientcoin_edu.network")
    old_miner = load_old("gradientcoin_edu/llm/miner.py", "_old_miner", "gradientcoin_edu.llm")
    if old_pool_mod is None or old_miner is None:
        print(f"the old code (commit {OLD[:8]}) is not in this checkout's history: new code only")
    sizes = sorted(set(args.sizes) | set(args.old_sizes))
    chain = funded_chain(spec, max(1000, int(max(sizes) * 0.8) + 1))
    for n in sizes:
        txs = payments(chain, n, seed=n)
        new_pool = LLMMempool(chain, max_txs=10**6)
        for tx in txs:
            new_pool.add(tx, chain.utxo)
        sides = {"new": lambda: template(chain, new_pool, new_miner, True)}
        if n in args.old_sizes and old_pool_mod is not None and old_miner is not None:
            old_pool = old_pool_mod.Mempool(max_txs=10**6)
            for tx in txs:
                old_pool.add(tx, chain.utxo)
            sides["old"] = lambda: template(chain, old_pool, old_miner, False)
        times: dict[str, list[float]] = {name: [] for name in sides}
        counts = {}
        for _ in range(args.repeat):                       # the sides alternate
            for name, fn in sides.items():
                ms, counts[name] = cpu_ms(fn)
                times[name].append(ms)
        for name, ts in times.items():
            print(f"N={n:5d} {name}: {counts[name]} transactions, min {min(ts):9.1f} ms, "
                  f"median {statistics.median(ts):9.1f} ms ({len(ts)} runs)", flush=True)
        if "old" in times:
            print(f"N={n:5d} old/new (median): {statistics.median(times['old']) / statistics.median(times['new']):.0f}x")


if __name__ == "__main__":
    main()
