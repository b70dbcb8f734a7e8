"""Forged side blocks sent unrequested to a node: what it stores, what it keeps in memory, its CPU.

A forger that knows the chain makes valid proof-of-work side blocks (regtest target: almost no
work) of about 100 KB below the victim's tip and sends them unasked from 10 throwaway keys.
Prints the forger's CPU, the rows and bytes the victim's block store grew by, the victim's CPU
and the side pool it holds in memory. Run it against an older tree to see the "before" figures:

    git archive <commit> gradientcoin_edu | tar -x -C /tmp/old && (cd /tmp && PYTHONPATH=/tmp/old python /path/to/benchmarks/side_branch_flood.py)

Usage: python benchmarks/side_branch_flood.py [blocks] [size]     (defaults 200 and 100000)
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

from gradientcoin_edu.chain import Chain
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.chain.store import BlockStore
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.attacks import big_block
from gradientcoin_edu.network.node import Node

PARAMS = ChainParams.preset("regtest")
T0 = PARAMS.genesis_time


class Wire:
    t = T0 + 100_000

    def send(self, peer, data):
        pass

    def disconnect(self, peer):
        pass

    def now(self):
        return self.t


def main(n_blocks: int = 200, size: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = BlockStore(os.path.join(tmp, "victim.sqlite"))
        wire = Wire()
        victim = Node("victim", Chain(PARAMS, store=store, clock=wire.now), wire)
        forger = Node("forger", Chain(PARAMS, clock=wire.now), Wire(), miner_address=bytes(20))
        keys = [f"key{i}" for i in range(10)]
        for i, peer in enumerate(["honest"] + keys):
            victim.on_connect(peer)
            victim.on_message(peer, m.encode(m.Version(genesis=victim.chain.genesis.hash, nonce=100 + i)))
        honest = [forger.mine_block(time=T0 + 600 * (i + 1)) for i in range(5)]
        for b in honest:
            victim.on_message("honest", m.encode(m.BlockMsg(b.serialize())))
        rows, size0 = len(store), store.size_bytes()
        t = time.process_time()
        side = [big_block(forger, size, parent=honest[i % 4].hash(), time=T0 + 600 * (i % 4 + 2) + i)
                for i in range(n_blocks)]
        forge_cpu = time.process_time() - t
        per_key = max(1, n_blocks // len(keys))
        t = time.process_time()
        for i, b in enumerate(side):
            victim.on_message(keys[min(i // per_key, len(keys) - 1)], m.encode(m.BlockMsg(b.serialize())))
        cpu = time.process_time() - t
        pool = getattr(victim, "side_pool", {})
        print(f"forger: {len(side)} side blocks of {len(side[0].serialize())} B, {forge_cpu:.2f} s CPU")
        print(f"victim: stored {len(store) - rows} rows, {(store.size_bytes() - size0) / 1e6:.1f} MB; "
              f"{cpu:.2f} s CPU; side pool in memory: {len(pool)} blocks, "
              f"{sum(len(o.raw) for o in pool.values()) / 1e6:.1f} MB")
        store.close()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
