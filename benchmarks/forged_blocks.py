"""Forged blocks under the loss sheet: what each forgery costs its sender, and a node to refuse it.

    python benchmarks/forged_blocks.py                 # demo preset (nano GPT), about a minute
    python benchmarks/forged_blocks.py --preset tiny --rounds 5

Every side is timed in CPU seconds (``time.process_time``) in this one process, the sides taking
turns round after round (so a busy neighbour slows them alike); each figure is the minimum and the
median over the rounds. One torch thread (the node's verifier runs one gradient at a time).

The node's side (``verify`` on the block's parent state until it refuses):

* **junk**: a winning header over junk ``Q`` and a junk loss sheet -> ``loss-sheet-mismatch`` after
  the ticket, the payload hash and one record's forward pass;
* **honest sheet, junk Q**: the forger ran the forward pass on the whole batch (so the sheet is
  right) -> ``gradient-mismatch`` after the gradient;
* **one entry guessed, junk Q**: the forger ran the forward pass on 15 of the 16 records and guessed
  the last entry; the node's spot check looks at another record (as it does 15 times in 16) ->
  ``loss-sheet-mismatch`` after the gradient's forward pass, before its backward pass;
* **honest block**: a full verification (gradient, update, weights root, guard): what refusing an
  honest gradient with a false guard claim costs (the guard is the last check).

The forger's side: hashes for a winning ticket (``D = 2^256 / (target + 1)`` expected, at this
package's rate - SHA-256d of the header bytes in a Python loop - and at 10 and 1,000 times that), the
forward pass on the batch (to make the sheet right), a gradient per ticket (an honest ``Q``), a new
CURVE identity (``zmq.curve_keypair``: the node bans the sender of an invalid block). And the
honest miner's price of the sheet: the per-record losses from logits it already has, quantized.
Prints markdown tables.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from gradientcoin_edu.chain.work import header_target
from gradientcoin_edu.llm import LLMSpec
from gradientcoin_edu.proof_of_gradient import GradientProof, ModelState, attempt, grad_root, verify
from gradientcoin_edu.proof_of_gradient.gradient import _per_record, canonical_torch, record_losses
from gradientcoin_edu.proof_of_gradient.batch import batch_seed, select_batch
from gradientcoin_edu.proof_of_gradient.mine import honest_sheet
from gradientcoin_edu.proof_of_gradient.quantize import quantize
from gradientcoin_edu.proof_of_gradient.gradient import canonical_gradient
from gradientcoin_edu.proof_of_gradient.sheet import join_payload, sheet_from_losses, spot_order
from gradientcoin_edu.chain import BlockHeader
from gradientcoin_edu.errors import InvalidProof

PARENT = bytes(range(32))


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def winning(header, target):
    """The first nonce from 0 whose header hash wins: (header, hashes tried)."""
    for n in range(1_000_000):
        h = header.with_nonce(n)
        if int.from_bytes(h.hash(), "little") <= target:
            return h, n + 1
    raise AssertionError("no winning header")


def winning_with_sheet(template, target, q_bytes: bytes, sheet_for, params) -> GradientProof:
    """The first nonce from 0 whose header wins with payload ``q_bytes`` and the sheet ``sheet_for(header)``
    (each nonce draws another batch, so another sheet: a forward pass per nonce tried)."""
    for n in range(1000):
        h = template.with_nonce(n)
        payload = join_payload(q_bytes, sheet_for(h))
        h = replace(h, grad_root=grad_root(payload, params.chunk_bytes))
        if int.from_bytes(h.hash(), "little") <= target:
            return GradientProof(h, payload)
    raise AssertionError("no winning header")


def refuse(params, data, val, w, proof, spot_rng=None) -> str:
    try:
        verify(params, data, val, ModelState(PARENT, w), proof, spot_rng=spot_rng)
    except InvalidProof as err:
        return err.reason
    return "accepted"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    spec = LLMSpec.builtin(args.preset)
    p, data, val = spec.pog, spec.train, spec.validation
    w = p.genesis_weights()
    template = BlockHeader(1, PARENT, bytes(32), time=2_000_000_000, bits=spec.genesis.header.bits, miner_id=bytes(32))
    target = header_target(template)
    d = 2**256 / (target + 1)
    honest = attempt(p, data, template, w, 0)
    honest_proof = GradientProof(honest.header, honest.payload)
    rng = np.random.default_rng(0)
    junk_q = rng.integers(-1000, 1000, p.n_params).astype("<i4").tobytes()
    junk_payload = join_payload(junk_q, rng.integers(0, 2**34, p.batch_size))
    junk_header, _ = winning(replace(template, grad_root=grad_root(junk_payload, p.chunk_bytes)), target)
    junk = GradientProof(junk_header, junk_payload)
    fwd = winning_with_sheet(template, target, junk_q, lambda h: honest_sheet(p, data, h, w), p)

    def guessed_sheet(h):                   # the same with the last record's entry guessed
        sheet = honest_sheet(p, data, h, w)
        sheet[-1] += 2**20
        return sheet
    guess = winning_with_sheet(template, target, junk_q, guessed_sheet, p)
    elsewhere = next(s for s in range(100) if spot_order(p.batch_size, random.Random(s)) != [p.batch_size - 1])
    assert refuse(p, data, val, w, junk) == "loss-sheet-mismatch"
    assert refuse(p, data, val, w, fwd) == "gradient-mismatch"
    assert refuse(p, data, val, w, guess, random.Random(elsewhere)) == "loss-sheet-mismatch"
    assert refuse(p, data, val, w, honest_proof) == "accepted"
    _, x, y = select_batch(data, PARENT, batch_seed(fwd.header), p.batch_size)

    def sheet_price():                      # the honest miner's extra work: losses from its logits, quantized
        sheet_from_losses(_per_record(logits, y), p.sheet_log2)
    with torch.no_grad(), canonical_torch():
        from gradientcoin_edu.proof_of_gradient.gradient import _lock_model
        from gradientcoin_edu.model.fixed_point import load_weights
        with _lock_model(p.model, torch.float64, "cpu") as model:
            load_weights(model, w, p.scale_log2)
            logits, _ = model(x)
    import zmq

    raw = bytearray(template.serialize())

    def hashes(n=2000):                     # SHA-256d of the 180 header bytes, the nonce field changing
        for i in range(n):
            raw[-4:] = i.to_bytes(4, "little")
            hashlib.sha256(hashlib.sha256(raw).digest()).digest()
    sides = {
        "node: refuse junk": lambda: refuse(p, data, val, w, junk),
        "node: refuse honest sheet, junk Q": lambda: refuse(p, data, val, w, fwd),
        "node: refuse one guessed entry, junk Q (spot elsewhere)":
            lambda: refuse(p, data, val, w, guess, random.Random(elsewhere)),
        "node: verify an honest block": lambda: refuse(p, data, val, w, honest_proof),
        "forger: 2000 header hashes": hashes,
        "forger: forward pass on the batch": lambda: record_losses(p.model, w, x, y, scale_log2=p.scale_log2),
        "forger: forward pass on all records but one":
            lambda: record_losses(p.model, w, x[:-1], y[:-1], scale_log2=p.scale_log2),
        "forger: one gradient (honest Q)": lambda: canonical_gradient(p, w, x, y),
        "forger: new CURVE identity": lambda: zmq.curve_keypair(),
        "miner: one attempt (gradient, sheet, roots)": lambda: attempt(p, data, template, w, 0),
        "miner: the sheet's own work": sheet_price,
        "miner: gradient + quantize, no sheet": lambda: quantize(canonical_gradient(p, w, x, y)[0], p.quantum_log2),
    }
    times = {k: [] for k in sides}
    names = list(sides)
    for r in range(args.rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:     # a different side first each round
            times[k].append(cpu(sides[k]))
    mn = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"preset {args.preset}: {p.n_params:,} parameters, batch {p.batch_size}, D = {d:.3f} hashes per "
          f"winning ticket; {args.rounds} rounds, CPU ms, one torch thread\n")
    print("| side | min ms | median ms |\n|---|---:|---:|")
    for k in names:
        print(f"| {k} | {1e3 * mn[k]:.3f} | {1e3 * med[k]:.3f} |")
    hash_s = med["forger: 2000 header hashes"] / 2000
    print(f"\nthis package's header hash rate: {1 / hash_s / 1e6:.3f} M/s\n")
    print("| forgery | forger's cost at 1x / 10x / 1,000x hash rate (ms) | node's cost to refuse (ms) "
          "| node / forger at 1,000x |\n|---|---|---:|---:|")
    ident = med["forger: new CURVE identity"]
    rows = [
        ("junk payload, junk sheet (refused at the spot check)", 0.0, med["node: refuse junk"]),
        ("junk, and a new identity per block (the sender is banned)", ident, med["node: refuse junk"]),
        ("honest sheet (forward pass), junk Q", med["forger: forward pass on the batch"],
         med["node: refuse honest sheet, junk Q"]),
        ("forward pass on 15 of 16 records, one entry guessed, junk Q (spot check elsewhere)",
         med["forger: forward pass on all records but one"],
         med["node: refuse one guessed entry, junk Q (spot elsewhere)"]),
        ("honest Q, false guard claim (D gradients)", d * med["forger: one gradient (honest Q)"],
         med["node: verify an honest block"]),
    ]
    for name, work, node in rows:
        costs = [work + d * hash_s / s for s in (1, 10, 1000)]
        print(f"| {name} | {' / '.join(f'{1e3 * c:.4f}' for c in costs)} | {1e3 * node:.3f} "
              f"| {node / costs[2]:.3g} |")
    one = med["miner: one attempt (gradient, sheet, roots)"]
    sheet = med["miner: the sheet's own work"]
    print(f"\nhonest miner: the sheet's own work {1e3 * sheet:.3f} ms per attempt = {100 * sheet / one:.2f} % of an "
          f"attempt ({1e3 * one:.1f} ms; D = {d:.2f} attempts per block: {1e3 * d * one:.1f} ms, before the guard)")


if __name__ == "__main__":
    main()
