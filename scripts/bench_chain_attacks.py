"""Measure the chain-rule attacks of docs/protocol.md sections 1 and 9 (figures in docs/benchmarks.md).

    .venv/bin/python scripts/bench_chain_attacks.py

1. Time warp: steady-state block rate that a miner holding all the hash rate reaches by stamping
   times, with and without the time-warp rules, against an honest miner (pure retarget arithmetic:
   ``calculate_next_bits`` on the stamps each strategy writes; real time advances by
   ``target_spacing * target0 / target`` per block, a constant hash rate).
2. Forged forks: how many times the work rule's full check runs, and how long each attempt takes
   (signatures included), when a node is sent, again and again, a heavier fork whose last block
   is invalid: now (verified blocks are reconnected without their expensive checks) and as before
   (``ForgetfulChain``: every connection verifies everything again).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _chain_helpers import ALICE, BOB, MINER, NOW, PARAMS, extend, next_block  # noqa: E402
from gradientcoin_edu.chain import (  # noqa: E402
    Chain, ChainParams, ProofOfWork, bits_to_target, calculate_next_bits, target_to_bits,
)
from gradientcoin_edu.errors import InvalidBlock  # noqa: E402
from gradientcoin_edu.ledger import COIN  # noqa: E402


def warp_rate(params: ChainParams, strategy: str, grace: int, periods: int = 60) -> float:
    """Real seconds per block over the last 10 periods, as a multiple of ``target_spacing``."""
    interval, spacing = params.retarget_interval, params.target_spacing
    bits, target0 = params.start_bits, bits_to_target(params.start_bits)
    real, last_stamp, durations = 0.0, 0, []
    for n in range(periods):
        start_real = real
        real += interval * spacing * target0 / bits_to_target(bits)         # the period's blocks, in real time
        if strategy == "honest":
            first, last = int(start_real + spacing * target0 / bits_to_target(bits)), int(real)
        elif strategy == "warp-old":                                          # first block stuck at MTP + 1
            first, last = n, int(real) + params.max_future_seconds
        else:                                                                # as early as the rule allows
            first, last = last_stamp - grace if n else 0, int(real) + params.max_future_seconds
        last_stamp = last
        durations.append((real - start_real) / interval / spacing)
        bits = calculate_next_bits(params, bits, last, first)
    return sum(durations[-10:]) / 10


class CountingWork(ProofOfWork):
    """Proof-of-work whose ``connect`` stands for the expensive full check."""

    def __init__(self, skip_verified: bool):
        self.skip_verified, self.full = skip_verified, 0

    def connect(self, block, parent_header, height):
        self.full += 1
        return super().connect(block, parent_header, height)

    def reconnect(self, block, parent_header, height, utxo_undo):
        return None if self.skip_verified else self.connect(block, parent_header, height)


class ForgetfulChain(Chain):
    """The chain before this change: nothing is remembered as verified, every connection checks all."""

    def _connect(self, entry):
        entry.verified = False
        return super()._connect(entry)


def forged_fork_checks(depth: int, attempts: int, skip_verified: bool) -> tuple[int, int, float]:
    rule = CountingWork(skip_verified)
    chain = (Chain if skip_verified else ForgetfulChain)(PARAMS, rule, clock=lambda: NOW)
    for _ in range(depth):                                              # honest blocks, one signed payment each
        chain.add_block(next_block(chain, txs=[MINER.pay(chain.utxo, ALICE.address, COIN)] if chain.height else []))
    fork = extend(chain, depth, parent=chain.genesis.hash, miner=BOB)   # equal work: stored on the side
    baseline = rule.full
    t0 = time.perf_counter()
    for i in range(attempts):
        forged = next_block(chain, parent=fork[-1].hash(), fees=1, extra=i.to_bytes(2, "big"))
        try:
            chain.add_block(forged)
        except InvalidBlock:
            pass
    return baseline, rule.full - baseline, time.perf_counter() - t0


def main() -> None:
    print("time warp: real seconds per block / target_spacing, steady state (1.00 = as intended)")
    bitcoin = ChainParams.preset("bitcoin")
    bitcoin = bitcoin.with_changes(genesis_bits=target_to_bits(bitcoin.pow_limit >> 32))   # room to fall
    for name, params in (("demo (10 blocks x 10 s)", ChainParams.preset("demo")),
                         ("bitcoin-like (2016 x 600 s)", bitcoin)):
        honest = warp_rate(params, "honest", 0)
        old = warp_rate(params, "warp-old", 0, periods=12)
        spacing = warp_rate(params, "warp-rule", params.target_spacing)
        default = warp_rate(params, "warp-rule", params.timewarp_grace)
        print(f"  {name}: honest {honest:.4f} | warp, no rule {old:.2e} | warp under the rule: "
              f"grace {params.timewarp_grace} s (default) {default:.4f}, grace one spacing {spacing:.4f}")
    print("forged fork (13 honest blocks with a signed payment each from height 2; a 13-block fork of equal")
    print("work + 1 invalid block, sent 10 times): work-rule full checks and wall time of the 10 attacks")
    for skip in (False, True):
        base, extra, secs = forged_fork_checks(13, 10, skip)
        label = "now: verified blocks reconnected" if skip else "before: every connection verified"
        print(f"  {label}: full checks while building {base}, during the attacks {extra}; {secs * 100:.0f} ms "
              "per attack")


if __name__ == "__main__":
    main()
