"""Slow poisoning: damage against budget, with and without the batch-share cap.

    python benchmarks/poisoning.py                 # demo preset (nano GPT): about 3 minutes on one core
    python benchmarks/poisoning.py --blocks 20     # quicker

Fifty honest blocks from genesis, then ``--blocks`` (50) blocks during which an attacker adds
16, 64 or 256 records after every block: genuine corpus lines each followed by the false
statement ``2+2=5`` (``llm/poisoning.py``), at the minimum fee, each 64-record contribution
screened as the consensus rule screens it, every block under the anchored validation guard.
The same stretch is played under the old rule (uniform batches: the dataset as a plain
``Dataset``) and under the new one (``extend_dataset``: one stratum per contribution,
contributions capped at ``data_share_pct`` of every batch; 25 %, the network's value, and
10 % for comparison), and without an attacker.

Damage: the log-probability gain of ``"2+2=5\\n"`` after ``"\\n"`` over the same number of
honest blocks, in nats (``e^gain`` times more likely), and the validation loss. Budget: the
fees paid (coins), the attacker's share of the dataset at the end, and of the batch slots of the
applied gradients. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import time

import torch

PER_BLOCK = (16, 64, 256)
RULES = (("old: uniform", None), ("new: cap 25 %", 25), ("new: cap 10 %", 10))


def run(blocks: int, warm: int = 50, preset: str = "demo") -> dict:
    from gradientcoin_edu.ledger import COIN
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.llm.poisoning import PoisonRun, poison_text, run_blocks, statement_logprob
    from gradientcoin_edu.proof_of_gradient import validation_loss

    torch.set_num_threads(1)
    spec = LLMSpec.builtin(preset)
    w = spec.pog.genesis_weights()
    v = validation_loss(spec.pog, spec.validation, w)
    start = run_blocks(spec, PoisonRun(w, bytes(32), spec.train, v, v), warm)

    honest = run_blocks(spec, start.fork(), blocks)
    base_lp = statement_logprob(spec, honest.weights)
    rows = [dict(rule="no attacker", per_block=0, fees=0.0, data=0.0, slots=0.0, val=honest.val, gain=0.0,
                 lp=base_lp, screened=0, refused=honest.guard_refused, stalled=honest.stalled)]
    text = poison_text(max(PER_BLOCK) * blocks, spec.params.record_tokens)
    for per_block in PER_BLOCK:
        for name, pct in RULES:
            s = spec if pct is None else _with_share(spec, pct)
            r = run_blocks(s, start.fork(), blocks, per_block, defended=pct is not None, text=text)
            lp = statement_logprob(spec, r.weights)
            rows.append(dict(rule=name, per_block=per_block, fees=r.attacker_records * spec.params.data_fee_per_record / COIN,
                             data=r.attacker_share_of_data, slots=r.attacker_share_of_slots, val=r.val,
                             gain=lp - base_lp, lp=lp, screened=r.screened_out, refused=r.guard_refused,
                             stalled=r.stalled))
    return dict(rows=rows, blocks=blocks, warm=warm, start_val=start.val, start_lp=statement_logprob(spec, start.weights),
                preset=preset)


def _with_share(spec, pct: int):
    from dataclasses import replace
    return replace(spec, params=spec.params.replace(data_share_pct=pct))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=50, help="attack blocks (default 50)")
    parser.add_argument("--warm", type=int, default=50, help="honest blocks before the attack (default 50)")
    parser.add_argument("--preset", default="demo", choices=["tiny", "demo"])
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args.blocks, args.warm, args.preset)
    print(f"preset {out['preset']}: {out['warm']} honest blocks (validation loss {out['start_val']:.3f}, "
          f"log p(statement) {out['start_lp']:.2f}), then {out['blocks']} blocks")
    print("| rule | attacker records per block | fees (coins) | attacker share of dataset | of applied batch slots "
          "| validation loss | log p gain (nats) | contributions screened out | tickets the guard refused |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in out["rows"]:
        stalled = " (stalled)" if r["stalled"] else ""
        print(f"| {r['rule']} | {r['per_block']} | {r['fees']:.4f} | {r['data']:.1%} | {r['slots']:.1%} | "
              f"{r['val']:.3f}{stalled} | {r['gain']:+.2f} | {r['screened']} | {r['refused']} |")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
