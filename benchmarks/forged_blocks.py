"""Forged blocks: what an attacker spends to make a node verify, against what the node spends.

    python benchmarks/forged_blocks.py            # demo preset (nano GPT), about a minute on one CPU core
    python benchmarks/forged_blocks.py --preset tiny

A forged block is a header whose ticket (its hash) wins, over a junk payload: everything a node
can check cheaply is right (the coinbase pays the miner id, the commitment, the payload's size and
``grad_root``, the stamp), only the gradient is not a gradient. The attacker's cost is hashes:
grinding the nonce until the header hash is below the target (``D`` hashes), then the stamp
(``stamp.py``: the rest, ``2^stamp_log2 - D`` hashes, so header and stamp together cost
``2^stamp_log2``, sized to one verification). The victim's cost is what ``add_block`` takes until it
refuses the block. Measured:

1. **one forged block** on the victim's tip: attacker time (ticket + stamp) / victim time;
   also without the stamp rule (the stamp's cost taken out), which is what the old rules allowed;
2. **a forged fork 13 blocks deep**: the victim holds 13 honest blocks it verified; the attacker
   sends 14 forged blocks from genesis (more work). The victim stores them after the cheap checks,
   reorganises when the 14th arrives, verifies the first forged block, marks the fork invalid and
   returns to its 13 blocks (remembered as verified: no gradient recomputed, ``rule._verified``).
   Attacker time for 14 blocks / victim time for all 14 ``add_block`` calls.
3. **the honest price**: the victim's own 13 blocks, mined before the fork arrives: seconds per
   block, and the part of it spent grinding the stamp.

The same machine and the same code (``kernels.nonce_search``'s CPU path) do both sides, in one
process, one torch thread, alternated block by block (forge, then the victim's ``add_block``). Every
time is CPU time of the process (``time.process_time``), so other jobs on a shared machine do not
count; one forged block gives min and median over the 10 blocks. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import time

import numpy as np
import torch

from gradientcoin_edu.chain import Block, BlockHeader, compute_tx_root
from gradientcoin_edu.chain.work import header_target
from gradientcoin_edu.errors import InvalidBlock
from gradientcoin_edu.ledger import TxOut, Wallet
from gradientcoin_edu.llm import LLMChain, LLMSpec, miner_id_for
from gradientcoin_edu.llm.commitment import Commitment, commitment_coinbase
from gradientcoin_edu.llm.inference import answers_root
from gradientcoin_edu.proof_of_gradient import grad_root, join_payload
from gradientcoin_edu.proof_of_gradient.stamp import find_stamp, stamp_target

CLOCK = lambda: 2_000_000_000                      # noqa: E731
pog_mine = importlib.import_module("gradientcoin_edu.proof_of_gradient.mine")   # the package exports a function `mine`


def forge(chain: LLMChain, parent: BlockHeader, height: int, address: bytes, rng) -> tuple[Block, float, float]:
    """A forged block on ``parent``: (block, seconds grinding the ticket, seconds grinding the stamp)."""
    spec = chain.spec
    q_bytes = rng.integers(-1000, 1000, spec.pog.n_params).astype("<i4").tobytes()
    coinbase = commitment_coinbase(height, [TxOut(chain.params.subsidy(height), address)],
                                   Commitment(spec.train.root, answers_root([])))
    template = BlockHeader(1, parent.hash(), compute_tx_root((coinbase,)), grad_root(q_bytes, spec.pog.chunk_bytes),
                           bytes(32), parent.time + 600, parent.bits, 0, miner_id_for(address))
    target = header_target(template)
    t0 = time.process_time()
    nonce = 0
    while int.from_bytes(template.with_nonce(nonce).hash(), "little") > target:
        nonce += 1
    header = template.with_nonce(nonce)
    t1 = time.process_time()
    stamp = find_stamp(header.hash(), spec.pog.stamp_log2, target)
    t2 = time.process_time()
    return Block(header, (coinbase,), join_payload(q_bytes, stamp)), t1 - t0, t2 - t1


def hash_rate(n: int = 2**14) -> float:
    """Stamp hashes per second on this machine now (``kernels.nonce_search``'s CPU path, no hit)."""
    from gradientcoin_edu import kernels
    t0 = time.process_time()
    kernels.nonce_search(b"\0" * 56, -1 % 2**256 >> 256, 0, n)      # target 0: scans all n
    return n / (time.process_time() - t0)


def stamp_hashes(stamp_log2: int, ticket_target: int) -> float:
    """Expected hashes of one stamp at this ticket target: ``2^stamp_log2 - D`` (``D`` = the hashes the
    winning header cost, ``2^256 / (target + 1)``); one hash once ``D >= 2^stamp_log2 - 1`` (``stamp_target``)."""
    return 2**256 / (stamp_target(stamp_log2, ticket_target) + 1)


@contextlib.contextmanager
def stamp_clock(spent: list):
    """Within the block, every honest stamp search (``proof_of_gradient.mine``) adds its seconds to ``spent``."""
    real = pog_mine.find_stamp

    def timed(*args, **kwargs):
        t0 = time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.process_time() - t0)
    pog_mine.find_stamp = timed
    try:
        yield spent
    finally:
        pog_mine.find_stamp = real


def _timed_add(chain: LLMChain, block: Block) -> tuple[float, str]:
    t0 = time.process_time()
    try:
        chain.add_block(block)
        outcome = "accepted"
    except InvalidBlock as err:
        outcome = err.reason
    return time.process_time() - t0, outcome


def run(preset: str, depth: int = 13, seed: int = 0) -> dict:
    torch.set_num_threads(1)
    spec = LLMSpec.builtin(preset)
    rng = np.random.default_rng(seed)
    honest, mallory = Wallet.from_seed("forged honest"), Wallet.from_seed("forged mallory")
    out = {"preset": preset, "stamp_log2": spec.pog.stamp_log2}
    # 1. one forged block on the tip
    victim = LLMChain(spec, clock=CLOCK)
    victim.val_loss()
    victim.mine_and_add(honest.address)                           # warm-up: caches, first gradient
    singles = []
    for _ in range(10):                                           # interleaved: the same load on both sides
        block, t_ticket, t_stamp = forge(victim, victim.tip.header, victim.height + 1, mallory.address, rng)
        t_victim, outcome = _timed_add(victim, block)
        expected_stamp = stamp_hashes(spec.pog.stamp_log2, header_target(block.header)) / hash_rate()
        singles.append((t_ticket, t_stamp, t_victim, outcome, expected_stamp))
    out["single"] = singles
    # 2. a forged fork depth + 1 deep against depth honest blocks
    victim = LLMChain(spec, clock=CLOCK)
    t0 = time.process_time()
    with stamp_clock([]) as stamps:
        for _ in range(depth):
            victim.mine_and_add(honest.address)
    rate = hash_rate()
    expected = [stamp_hashes(spec.pog.stamp_log2, header_target(e.header)) / rate for e in victim.active_chain()[1:]]
    out["honest"] = dict(blocks=depth, seconds=time.process_time() - t0, stamp_seconds=sum(stamps),
                         stamp_expected=sum(expected), hash_rate=rate)
    parent, attacker, tickets, victim_time, outcomes = victim.genesis.header, 0.0, 0.0, 0.0, []
    for h in range(1, depth + 2):
        block, t_ticket, t_stamp = forge(victim, parent, h, mallory.address, rng)
        attacker += t_ticket + t_stamp
        tickets += t_ticket
        t, outcome = _timed_add(victim, block)
        victim_time += t
        outcomes.append(outcome)
        parent = block.header
    out["fork"] = dict(depth=depth, attacker=attacker, tickets=tickets, victim=victim_time, outcomes=outcomes,
                       tip_height=victim.height)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--depth", type=int, default=13)
    args = ap.parse_args(argv)
    r = run(args.preset, args.depth)
    single = r["single"]
    mean = lambda xs: float(np.mean(xs))                       # noqa: E731
    med = lambda xs: float(np.median(xs))                      # noqa: E731
    ticket, stamp, victim = mean([s[0] for s in single]), mean([s[1] for s in single]), mean([s[2] for s in single])
    expected = mean([s[4] for s in single])
    vic = [s[2] for s in single]
    ratio = [(s[0] + s[4]) / s[2] for s in single]             # per block: attacker (expected stamp) / victim
    print(f"preset {r['preset']}, stamp 2^{r['stamp_log2']} hashes; one forged block: {len(single)} blocks, "
          f"victim's verdicts: {sorted({s[3] for s in single})}; CPU time of the process")
    print(f"one forged block: victim CPU s min {min(vic):.4f} / median {med(vic):.4f}; attacker (expected stamp) / "
          f"victim per block min {min(ratio):.2f} / median {med(ratio):.2f}")
    print("| attack | attacker s (stamp observed) | attacker s (stamp expected) | victim s | attacker / victim "
          "(expected stamp) | without the stamp |")
    print("|---|---|---|---|---|---|")
    print(f"| one forged block (mean of {len(single)}) | {ticket + stamp:.3f} | {ticket + expected:.3f} | {victim:.3f} | "
          f"{(ticket + expected) / victim:.2f} | {ticket / victim:.4f} |")
    f = r["fork"]
    n = f["depth"] + 1
    print(f"| forged fork of {n} blocks vs {f['depth']} honest | {f['attacker']:.3f} | "
          f"{f['tickets'] + n * expected:.3f} | {f['victim']:.3f} | "
          f"{(f['tickets'] + n * expected) / f['victim']:.2f} | {f['tickets'] / f['victim']:.4f} |")
    print(f"fork verdicts: {f['outcomes']}; victim's tip height after: {f['tip_height']}")
    h = r["honest"]
    print(f"honest: {h['blocks']} blocks mined in {h['seconds']:.3f} s, {h['seconds'] / h['blocks'] * 1e3:.1f} ms "
          f"per block, of which the stamp {h['stamp_seconds'] / h['blocks'] * 1e3:.1f} ms "
          f"({h['stamp_seconds'] / h['seconds']:.0%}; expected at this hash rate "
          f"{h['stamp_expected'] / h['blocks'] * 1e3:.1f} ms); hash rate {h['hash_rate'] / 1e6:.2f} M hashes/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
