"""Liveness under a data flood: can contributed records stop the chain by making the anchored guard
refuse every ticket?

    python benchmarks/guard_liveness.py              # demo preset (nano GPT): about 4 minutes on one core
    python benchmarks/guard_liveness.py --quick      # fewer blocks

The anchored guard refuses a block whose validation loss is more than the margin above the best loss
of the chain so far. If every batch a miner can draw pulls the model away from the validation text,
every ticket is refused and no block can be mined: the chain stops. Contributions fill at most
``data_share_pct`` (25 %) of every batch, and the screen refuses text the parent model finds more than
``data_margin`` nats less likely than its validation text. This script plays floods of contributed
records against the real rules (``llm/poisoning.run_blocks``: the proof-of-gradient functions of the
consensus rule, the screen per transaction, the 25 % cap, the anchored guard; at most 50 tickets a
block, else the run counts as stalled):

* the corpus written backwards, offered after every block from the first on (the screen of a newborn
  model refuses nothing), and offered after 300 honest blocks;
* the same late flood with the screen switched off (``data_margin`` 10^9 nats): what the screen prevents;
* text that passes the screen of a trained model: one genuine corpus line over and over, false sums,
  and genuine lines with every eighth written backwards (as implausible as the screen lets through).

Prints a markdown table; CPU seconds of the whole run at the end.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch


def _texts(spec, n_records: int) -> dict[str, str]:
    """``n_records`` records' worth of each attacker's text."""
    from gradientcoin_edu.model import generate_corpus
    chars = n_records * spec.params.record_tokens
    lines = generate_corpus(b"liveness attacker", 2000).splitlines()
    pairs = [(i % 10, (3 * i + 1) % 10) for i in range(200)]
    texts = {"backwards": "".join(line[::-1] + "\n" for line in lines),
             "one line repeated": lines[0] + "\n",
             "false sums": "".join(f"{a}+{b}={a + b + 1}\n" for a, b in pairs),       # every sum off by one
             # as implausible as the screen lets through: one backwards line among seven genuine ones
             "one line in eight backwards": "".join(line[::-1] + "\n" if i % 8 == 0 else line + "\n"
                                                    for i, line in enumerate(lines))}
    return {name: (t * (chars // len(t) + 1))[:chars] for name, t in texts.items()}


def flood(spec, start, blocks: int, per_block: int, text: str) -> dict:
    """``blocks`` blocks from the chain state ``start``, ``per_block`` records of ``text`` offered after each."""
    from gradientcoin_edu.llm.poisoning import run_blocks
    run = run_blocks(spec, start.fork(), blocks, per_block, text=text)
    return dict(blocks=len(run.losses), stalled=run.stalled, refused=run.guard_refused,
                offered_txs=len(run.losses) * math.ceil(per_block / spec.params.max_records_per_tx),
                screened_txs=run.screened_out, admitted=run.attacker_records, slot_share=run.attacker_share_of_slots,
                start=start.val, worst=max(run.losses, default=start.val), last=run.val)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 honest blocks, 40-block floods")
    args = parser.parse_args(argv)
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.llm.poisoning import PoisonRun, run_blocks
    from gradientcoin_edu.proof_of_gradient import validation_loss

    torch.set_num_threads(1)
    cpu0 = time.process_time()
    warm, late, early, per_block = (200, 40, 200, 64) if args.quick else (300, 100, 400, 64)
    spec = LLMSpec.builtin("demo")
    unscreened = LLMSpec.builtin("demo", data_margin=1e9)
    w = spec.pog.genesis_weights()
    v = validation_loss(spec.pog, spec.validation, w)
    genesis = PoisonRun(w, bytes(32), spec.train, v, v)
    trained = run_blocks(spec, genesis.fork(), warm)
    assert not trained.stalled, "the honest chain stalled"
    texts = _texts(spec, per_block * max(late, early))
    rows = [
        (f"backwards text, from block 1 ({early} blocks)", flood(spec, genesis, early, per_block, texts["backwards"])),
        (f"backwards text, after {warm} honest blocks", flood(spec, trained, late, per_block, texts["backwards"])),
        ("the same, screen switched off", flood(unscreened, trained, late, per_block, texts["backwards"])),
        (f"one corpus line repeated, after {warm}", flood(spec, trained, late, per_block, texts["one line repeated"])),
        (f"false sums, after {warm}", flood(spec, trained, late, per_block, texts["false sums"])),
        (f"one line in eight backwards, after {warm}", flood(spec, trained, late, per_block,
                                                             texts["one line in eight backwards"])),
        (f"no attacker, after {warm}", flood(spec, trained, late, 0, "")),
    ]
    from gradientcoin_edu.proof_of_gradient import compute_loss
    for name, text in texts.items():                 # what the screen sees: the trained model's loss on the text
        rt = spec.params.record_tokens
        recs = np.array(spec.tokenizer.encode(text[: per_block * rt]), dtype=np.int64).reshape(-1, rt)
        loss = compute_loss(spec.pog.model, trained.weights, torch.from_numpy(recs[:, :-1].copy()),
                            torch.from_numpy(recs[:, 1:].copy()), scale_log2=spec.pog.scale_log2)
        print(f"after {warm} honest blocks: {name}: loss {loss:.3f} against the validation loss {trained.val:.3f} "
              f"(the screen allows {spec.params.data_margin:g} more)")
    print(f"\ndemo preset: {per_block} records offered after every block ({spec.params.max_records_per_tx} per "
          f"transaction, each screened), contributions capped at {spec.params.data_share_pct} % of every batch, "
          f"anchored guard margin {spec.pog.validation_margin}, at most 50 tickets a block\n")
    print("| flood | blocks mined | stalled | tickets refused by the guard | transactions refused by the screen "
          "| records admitted | attacker's share of batch slots | validation loss: start / worst / last |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for name, r in rows:
        screened = f"{r['screened_txs']} of {r['offered_txs']}" if r["offered_txs"] else "-"
        print(f"| {name} | {r['blocks']} | {'**yes**' if r['stalled'] else 'no'} | {r['refused']} | {screened} "
              f"| {r['admitted']:,} | {r['slot_share']:.0%} | {r['start']:.3f} / {r['worst']:.3f} / {r['last']:.3f} |")
    print(f"\nCPU time: {time.process_time() - cpu0:.0f} s")


if __name__ == "__main__":
    main()
