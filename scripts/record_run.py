"""Tooling: record the blocks of fixed-seed runs, to prove that a refactor changed no byte.

Three runs, every one seeded, every block's exact bytes hashed (SHA-256 of ``Block.serialize()``):

* ``llm-sim``: the demo's story on the simulated network at the ``tiny`` preset - three
  proof-of-gradient miners, a miner pays ada, ada contributes text (a data transaction), ada asks
  the model (a query transaction), the network mines on until the answer is in a block;
* ``llm-chain``: one ``LLMChain`` mining on its own with ``LLMChain.mine`` (data in a block too);
* ``pow-sim``: a simulated proof-of-work network (regtest) with payments between the miners;
* ``pow-demo``: the proof-of-work demo (``run_pow_demo``: ``chain.pow.mine_block``, payments).

    python scripts/record_run.py            # writes tests/data/recorded_run.json
    python scripts/record_run.py --check    # compares with it (exit 1 on any difference)

``tests/test_recorded_run.py`` runs the same comparison. Behaviour-preserving changes (moving
code between layers) must leave the file unchanged; a change that is meant to alter blocks
re-records it and says why in its commit.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

RECORD = Path(__file__).resolve().parents[1] / "tests" / "data" / "recorded_run.json"


def _digest(block) -> str:
    return hashlib.sha256(block.serialize()).hexdigest()


def _chain_digests(chain) -> list[str]:
    return [_digest(entry.block) for entry in chain.active_chain()]


def record_llm_sim(seed: int = 0, blocks: int = 6) -> dict:
    """The demo's story (pay, contribute, ask) on three simulated proof-of-gradient miners."""
    import torch

    from gradientcoin_edu.crypto.keys import PrivateKey
    from gradientcoin_edu.ledger import COIN, Wallet
    from gradientcoin_edu.llm import LLMSpec, Query, build_data_tx, build_query_tx
    from gradientcoin_edu.llm.network import LLMSimulator
    from gradientcoin_edu.llm.story import contribution_text
    from gradientcoin_edu.network.simulator import LinkSpec

    torch.set_num_threads(1)
    spec = LLMSpec.builtin("tiny", seed=seed)
    sim = LLMSimulator(spec, seed=seed, block_interval=600.0, parallel_verify=0)
    names = [f"miner-{i + 1}" for i in range(3)]
    try:
        for name in names:
            sim.add_node(name)
        sim.connect_random(degree=2, link=LinkSpec(latency=1.0, jitter=1.0))
        sim.run(until=1.0)
        ada = Wallet("ada", PrivateKey.from_seed(f"gradientcoin demo/{seed}/ada".encode()))
        first = sim.node(names[0]).chain
        sim.run(blocks=2)
        sim.settle()
        payer = max(names, key=lambda n: first.balance(sim.nodes[n].address))
        sim.pay(payer, ada.address, 10 * COIN)
        sim.resume_mining()
        sim.run(blocks=1)
        sim.settle()
        sim.submit(names[0], build_data_tx(first.utxo, ada.key, contribution_text(spec.params), spec.params))
        sim.resume_mining()
        sim.run(blocks=1)
        sim.settle()
        query = Query("\n3+4=", first.height, 4)
        qtx = build_query_tx(first.utxo, ada.key, query, spec.params)
        sim.submit(names[0], qtx)
        sim.resume_mining()
        sim.run(blocks=max(1, blocks - 4))
        sim.settle()
        answered = first.find_answer(qtx.txid)
        out = {name: _chain_digests(sim.node(name).chain) for name in names}
        out["all-blocks"] = sorted(_digest(sim.node(names[0]).chain.get(h).block) for h in sim.blocks
                                   if sim.node(names[0]).chain.get(h) is not None)
        out["txs-per-block"] = [len(e.block.txs) for e in first.active_chain()]
        out["answer"] = None if answered is None else [answered[0], answered[1].text]
        out["tips-agree"] = len({sim.node(n).chain.tip.hash for n in names}) == 1
        return out
    finally:
        sim.close()


def record_llm_chain(seed: int = 1, blocks: int = 3) -> dict:
    """One LLMChain mining alone (``LLMChain.mine``): coinbase blocks, then a data transaction."""
    from gradientcoin_edu.crypto.keys import PrivateKey
    from gradientcoin_edu.llm import LLMChain, LLMSpec, build_data_tx
    from gradientcoin_edu.llm.story import contribution_text

    spec = LLMSpec.builtin("tiny", seed=seed)
    chain = LLMChain(spec, clock=lambda: spec.chain_params.genesis_time + 10**6)
    key = PrivateKey.from_seed(b"recorded run/miner")
    for _ in range(blocks):
        chain.mine_and_add(key.address())
    tx = build_data_tx(chain.utxo, key, contribution_text(spec.params), spec.params)
    chain.mine_and_add(key.address(), [tx], tag=b"rec")
    return {"chain": _chain_digests(chain)}


def record_pow_sim(seed: int = 3, blocks: int = 12) -> dict:
    """A simulated proof-of-work network (regtest): four miners, payments between them."""
    from gradientcoin_edu.network.simulator import LinkSpec, Simulator

    sim = Simulator(seed=seed, params="regtest", block_interval=600.0)
    names = [f"n{i}" for i in range(4)]
    for name in names:
        sim.add_node(name)
    sim.connect_random(degree=2, link=LinkSpec(latency=2.0, jitter=3.0))
    sim.run(blocks=blocks // 2)
    sim.settle()
    paid = 0
    for a, b in zip(names, names[1:] + names[:1]):
        node = sim.node(a)
        if node.chain.balance(sim.nodes[a].address) > 10**6:
            sim.pay(a, sim.nodes[b].address, 10**5, fee=1000 + 100 * paid)
            paid += 1
    sim.resume_mining()
    sim.run(blocks=blocks - blocks // 2)
    sim.settle()
    out = {name: _chain_digests(sim.node(name).chain) for name in names}
    out["all-blocks"] = sorted(_digest(sim.node(names[0]).chain.get(h).block) for h in sim.blocks
                               if sim.node(names[0]).chain.get(h) is not None)
    out["payments"] = paid
    out["txs-per-block"] = [len(e.block.txs) for e in sim.node(names[0]).chain.active_chain()]
    return out


def record_pow_demo(seed: int = 0, blocks: int = 6) -> dict:
    """The proof-of-work demo (``chain.pow.mine_block`` with payments)."""
    from gradientcoin_edu.demo import run_pow_demo

    chain = run_pow_demo(blocks=blocks, seed=seed, progress=False, echo=None)
    return {"chain": _chain_digests(chain)}


def record() -> dict:
    return {"llm-sim": record_llm_sim(), "llm-chain": record_llm_chain(), "pow-sim": record_pow_sim(),
            "pow-demo": record_pow_demo()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the recording instead of writing it")
    args = parser.parse_args(argv)
    now = record()
    if args.check:
        old = json.loads(RECORD.read_text())
        if old != now:
            for key in sorted(set(old) | set(now)):
                if old.get(key) != now.get(key):
                    print(f"differs: {key}")
            return 1
        print("identical")
        return 0
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
