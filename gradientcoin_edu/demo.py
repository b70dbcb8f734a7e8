"""[tooling] ``gradientcoin demo``: a small network of miners trains a tiny GPT by proof-of-gradient.

The main job (``--mode llm``, the default). Three miners on a simulated network (the network
layer's discrete-event simulator; ``--processes`` runs them as real processes over ZeroMQ
instead) train the ``nano`` GPT on the built-in corpus: every lottery ticket is a real gradient
on a batch the ticket chose, every block one SGD step, every node recomputes every gradient
before it builds on a block. On the way a user (ada) is paid some coins, buys a place for her
own text in the training data, and at the end pays for a query, which the next miner answers
inside its block (and every node checks). It prints the chain summary, the validation loss at
genesis and at the tip (it must fall), the answer, and what the model learned (greedy samples,
valid corpus sentences, right sums: ``llm/evaluation.py``). Default: 500 blocks, about 2.5 minutes on
2 CPU cores (the validation loss goes from 4.58 to about 0.63; figures and times in
``docs/benchmarks_llm.md``).

The classic proof-of-work demo stays available as ``--mode pow`` (``run_pow_demo``): three keys
(alice, bob and a miner), a few blocks mined at an easy target with a progress bar, payments
between them, the chain printed with the balances after each block. With ``--data-dir`` the
chain lives in a SQLite file and the next run continues it.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .chain import BlockStore, Chain, ChainParams, expected_attempts, mine_block
from .crypto.keys import PrivateKey
from .errors import GradientCoinError, InvalidTransaction, UsageError
from .ledger import COIN, Wallet

__all__ = ["add_arguments", "run", "run_pow_demo", "run_llm_demo", "LLMDemoResult", "demo_wallets",
           "format_coins", "SAMPLE_PROMPTS", "CONTRIBUTION"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=["llm", "pow"], default="llm",
                        help="llm: miners train the tiny GPT by proof-of-gradient (default); "
                             "pow: the classic proof-of-work chain with payments")
    parser.add_argument("--blocks", type=int, default=None,
                        help="blocks to mine (default 500 for llm, 30 with --processes, 5 for pow)")
    parser.add_argument("--miners", type=int, default=3, help="llm: number of miners (default 3)")
    parser.add_argument("--model", choices=["tiny", "demo"], default="demo",
                        help="llm: model size, as `gradientcoin node --model`: demo = nano GPT, 108k parameters "
                             "(default); tiny = micro GPT, 5k")
    parser.add_argument("--preset", choices=["tiny", "demo"], default=None, dest="preset_alias",
                        help="deprecated: the old name of --model (still accepted)")
    parser.add_argument("--processes", action="store_true",
                        help="llm: run the miners as real processes talking ZeroMQ on loopback (not simulated)")
    parser.add_argument("--seed", type=int, default=0, help="seed for keys, payments and the network (default 0)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="pow: keep the chain in DATA_DIR/chain.sqlite and continue it next time; "
                             "llm --processes: where the nodes keep their stores (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=1,
                        help="llm: torch threads (default 1: the tiny model gains nothing from more)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


MIN_LLM_BLOCKS = 3           # the story: a miner pays ada, she contributes text, then asks (one block each)


def check_arguments(args: argparse.Namespace) -> None:
    """Range checks before anything runs; a ``UsageError`` (one line, exit status 2) says what to change."""
    from .errors import UsageError
    if args.blocks is not None:
        least = MIN_LLM_BLOCKS if args.mode == "llm" else 1
        if args.blocks < least:
            why = (f"the story (a miner pays ada, she adds text, she asks a question) needs at least {least} blocks"
                   if args.mode == "llm" else "mine at least 1 block")
            raise UsageError("bad-blocks", f"--blocks {args.blocks}: {why}")
    if args.miners < 1:
        raise UsageError("bad-miners", f"--miners {args.miners}: a network needs at least 1 miner")
    if args.miners > 16:
        raise UsageError("bad-miners", f"--miners {args.miners}: at most 16 on one machine")
    if args.threads < 1:
        raise UsageError("bad-threads", "--threads is at least 1")
    if args.processes and args.mode != "llm":
        raise UsageError("bad-mode", "--processes runs the llm demo (drop --mode pow)")


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    if args.preset_alias is not None:
        import sys
        print("gradientcoin demo: --preset is deprecated; use --model (the same values, as `gradientcoin node` "
              "takes)", file=sys.stderr)
        args.model = args.preset_alias
    if args.mode == "pow":
        run_pow_demo(blocks=5 if args.blocks is None else args.blocks, seed=args.seed, data_dir=args.data_dir,
                     progress=not args.no_progress, echo=print)
        return 0
    import torch
    torch.set_num_threads(max(1, args.threads))
    if args.processes:
        from .llm.processes import run_process_demo
        summary = run_process_demo(blocks=30 if args.blocks is None else args.blocks, miners=args.miners, preset=args.model,
                                   seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress, echo=print)
        return 0 if summary["ok"] else 1
    else:
        run_llm_demo(blocks=500 if args.blocks is None else args.blocks, miners=args.miners, preset=args.model,
                     seed=args.seed, progress=not args.no_progress, echo=print)
    return 0


# ============================================================================ the LLM demo

from .llm.story import CONTRIBUTION, SAMPLE_PROMPTS  # noqa: E402  (the story, shared with --processes)


@dataclass
class LLMDemoResult:
    """What the demo measured (the numbers it printed)."""

    height: int
    loss_before: float                       # validation loss at genesis
    loss_after: float                        # ... at the tip
    baseline_loss: float                     # central SGD, same number of steps
    blocks_by_miner: dict[str, int]
    stale_blocks: int
    gradients: int                           # tickets computed by all miners
    records_before: int
    records_after: int
    query_prompt: str
    answer: str
    answered_by: str
    answer_height: int                       # the block that answered it
    query_height: int                        # the weights it was answered from
    fee: int
    samples_before: dict[str, str] = field(default_factory=dict)
    samples_after: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    agree: bool = True                       # every node has the same tip and weights root
    evaluation: object = None                # llm.evaluation.Evaluation of the final weights


def run_llm_demo(blocks: int = 500, miners: int = 3, preset: str = "demo", seed: int = 0, progress: bool = True,
                 echo: Callable[[str], None] | None = print, block_interval: float = 600.0) -> LLMDemoResult:
    """Simulate ``miners`` miners training the GPT for ``blocks`` blocks; returns the figures.

    Raises ``AssertionError`` if the nodes disagree or the validation loss did not fall.
    """
    from .llm import LLMSpec, Query, build_data_tx, build_query_tx
    from .llm.baseline import central_training
    from .llm.data import data_fee
    from .llm.network import LLMSimulator
    from .llm.story import Story, contribution_text
    from .network.simulator import LinkSpec

    say = echo or (lambda line: None)
    start = time.perf_counter()
    spec = LLMSpec.builtin(preset, seed=seed)
    m = spec.pog.model
    sim = LLMSimulator(spec, seed=seed, block_interval=block_interval)
    # each node's block store on disk, as a real node's (in memory it held every payload a second time)
    sim._store_tmp = tempfile.TemporaryDirectory(prefix="gradientcoin-demo-")    # removed with the simulator
    sim.store_dir = sim._store_tmp.name
    names = [f"miner-{i + 1}" for i in range(miners)]
    for name in names:
        sim.add_node(name)
    sim.connect_random(degree=min(2, miners - 1), link=LinkSpec(latency=1.0, jitter=1.0))
    sim.run(until=1.0)                                        # handshakes
    ada = Wallet("ada", PrivateKey.from_seed(f"gradientcoin demo/{seed}/ada".encode()))
    first = sim.node(names[0]).chain
    say(f"GradientCoin demo: {miners} miners train a GPT ({m.n_layer} layers, {m.n_embd} wide, "
        f"{spec.pog.n_params:,} parameters) by proof-of-gradient on the built-in corpus "
        f"({len(spec.train):,} records of {spec.params.record_tokens} characters).")
    say(f"Network simulated (the network layer's discrete-event simulator; --processes for real ones): "
        f"one block per ~{block_interval:.0f} simulated seconds, each ticket one gradient, every block "
        f"recomputed by every node.")
    loss_before = first.val_loss()
    samples_before = {p: first.answer(Query(p, 0, 10)) for p in SAMPLE_PROMPTS}
    records_before = len(first.dataset)

    # The central baseline (same model, optimizer and steps, no chain) trains in a background thread,
    # on the second core, while the network runs: it needs about a tenth of the network's time and
    # nothing from it but the number of steps - the final height, the requested blocks plus the
    # story's few extra.
    central = _Background(preset, seed, blocks + _EXTRA_STEPS, blocks)
    bar = _bar(progress, blocks)
    story = Story(blocks, contribution_text(spec.params), data_fee=data_fee(contribution_text(spec.params), spec.params),
                  query_fee=spec.params.query_fee)
    qtx = query = None
    try:
        for _ in range(blocks + 100):                 # every step needs a block or two; never loop forever
            if story.done:
                break
            sim.run(blocks=1)
            if qtx is not None:
                story.next_action(_sim_view(sim, names, first, ada, qtx))
                continue
            action = story.next_action(_sim_view(sim, names, first, ada, None))
            if action is not None and action.kind == "pay":      # a miner pays ada, so she can buy data and answers
                sim.pay(action.miner, ada.address, action.amount)
            elif action is not None and action.kind == "contribute":
                tx = build_data_tx(first.utxo, ada.key, action.text, spec.params)
                sim.submit(names[0], tx)                # her wallet talks to the node that saw her coins
            elif action is not None and action.kind == "ask":
                sim.settle()                            # every node at the same tip
                query = Query(action.prompt, first.height, action.tokens)
                qtx = build_query_tx(first.utxo, ada.key, query, spec.params)
                sim.submit(names[0], qtx)
                sim.resume_mining()
            if bar is not None:
                bar.set_postfix_str(f"validation loss {first.val_loss():.3f}", refresh=False)
                bar.update(min(first.height, blocks) - bar.n)
        if not story.done:
            raise AssertionError(f"the story stalled, waiting for {story.waiting_for()}")
        sim.settle()
    except BaseException:                               # Ctrl-C or a failure: stop the helper threads first
        central.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
        sim.close()                                     # the verification pool (queued checks dropped)

    chains = [sim.node(n).chain for n in sim.live()]
    agree = len({c.tip.hash for c in chains}) == 1 and len({c.rule.weights_root() for c in chains}) == 1
    assert agree, "the nodes do not agree on the tip and the weights"
    found = first.find_answer(qtx.txid)
    assert found is not None, "the query was not answered"
    answer_height, record = found
    by_id = {sim.node(n).miner_id: n for n in names}
    answered_by = by_id.get(first.header_at(answer_height).miner_id, "?")
    recheck = sim.node(names[-1]).chain.answer(query)
    assert recheck == record.text, "another node computes a different answer"
    loss_after = first.val_loss()
    assert loss_after < loss_before, f"the validation loss did not fall ({loss_before:.3f} -> {loss_after:.3f})"
    baseline = _central_loss(central, spec, first.height, seed)
    per_miner = {n: 0 for n in names}
    for miner_id, count in first.miners().items():
        per_miner[by_id.get(miner_id, "?")] = count
    gradients = sum(sim.node(n).stats["gradients"] for n in sim.live())
    result = LLMDemoResult(
        height=first.height, loss_before=loss_before, loss_after=loss_after, baseline_loss=baseline.final_loss,
        blocks_by_miner=per_miner, stale_blocks=len(sim.stale_blocks()), gradients=gradients,
        records_before=records_before, records_after=len(first.dataset), query_prompt=query.prompt,
        answer=record.text, answered_by=answered_by, answer_height=answer_height,
        query_height=query.height, fee=spec.params.query_fee,
        samples_before=samples_before, samples_after={p: first.answer(Query(p, first.height, 10))
                                                      for p in SAMPLE_PROMPTS},
        seconds=time.perf_counter() - start, agree=agree)
    for line in _report(result, first, spec):
        say(line)
    from .llm.evaluation import evaluate                     # what the model learned: samples and two scores
    result.evaluation = evaluate(spec, first.weights)
    say("")
    say(f"== what the model learned (greedy, after {first.height} blocks) ==")
    for line in result.evaluation.lines():
        say(line)
    return result


_EXTRA_STEPS = 40            # the story needs a few blocks beyond the requested ones (pay, contribute, ask)


class _Background:
    """``central_run(preset, seed, steps, eval_from)`` in a background thread, so that on a 2-core
    machine the central baseline runs on the core the single-threaded simulation leaves idle
    (PyTorch releases the GIL in its kernels: measured on 2 idle cores, two threads training this
    model ran 1.8x faster than one run after the other). A thread, not a process: a spawned
    process would import the caller's main script again, and a forked one inherits PyTorch's
    thread pools. ``result()`` waits, and re-raises what the thread raised; ``cancel()`` makes the
    run stop before its next step and waits for it (a thread still inside PyTorch when the
    interpreter shuts down, after Ctrl-C, aborts the process)."""

    def __init__(self, preset: str, seed: int, steps: int, eval_from: int):
        import threading
        self._out: dict = {}
        self._stop = threading.Event()

        def work():
            try:
                self._out["run"] = central_run(preset, seed, steps, eval_from, self._stop)
            except BaseException as err:                     # noqa: BLE001 - handed to result()
                self._out["error"] = err
        self._thread = threading.Thread(target=work, name="central-baseline")
        self._thread.start()

    def result(self):
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]
        return self._out["run"]

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()


def central_run(preset: str, seed: int, steps: int, eval_from: int, stop=None):
    """Central training of the ``preset`` network's model for ``steps`` steps, with the validation
    loss at every step from ``eval_from`` on (the demo's baseline)."""
    from .llm import LLMSpec
    from .llm.baseline import central_training
    run = central_training(LLMSpec.builtin(preset, seed=seed), steps, seed=seed,
                           eval_at=range(eval_from, steps + 1), stop=stop)
    run.weights = None                                        # the demo needs only the losses
    return run


def _central_loss(central: _Background, spec, height: int, seed: int):
    """The background run's validation loss after ``height`` steps (trained again here if the story
    needed more blocks than the run covered)."""
    from .llm.baseline import CentralRun, central_training
    run = central.result()
    if height in run.steps:
        i = run.steps.index(height)
        return CentralRun(run.steps[:i + 1], run.val_losses[:i + 1], run.seconds, height, None)
    return central_training(spec, height, seed=seed)


def _sim_view(sim, names, chain, ada, qtx):
    """The story's view of the simulated network (from the first node's chain)."""
    from .llm.story import StoryView
    coins = chain.utxo.coins_of(ada.address)
    node = sim.node(names[0])
    return StoryView(height=chain.height, miner_balances={n: chain.balance(sim.nodes[n].address) for n in names},
                     ada_balance=sum(o.amount for _, o in coins),
                     ada_pending=any(op in node.mempool.spends for op, _ in coins),
                     answered=qtx is not None and chain.find_answer(qtx.txid) is not None)


def _bar(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="block", desc="training on the chain")


def _report(r: LLMDemoResult, chain, spec) -> list[str]:
    show = lambda s: repr(s)[1:-1]                              # noqa: E731  (newlines as \n)
    miners = ", ".join(f"{n} {c}" for n, c in r.blocks_by_miner.items())
    lines = [
        "",
        "== the chain ==",
        f"height {r.height}, tip {chain.tip.hash_hex()[:16]}..; every node has the same tip and the same "
        f"weights root {chain.rule.weights_root().hex()[:16]}..",
        f"blocks by miner: {miners}; stale blocks (lost races): {r.stale_blocks}; "
        f"gradients computed: {r.gradients} ({r.gradients / max(1, sum(r.blocks_by_miner.values())):.1f} per block)",
        f"training data: {r.records_before:,} -> {r.records_after:,} records (ada paid "
        f"{format_coins(spec.params.data_fee_per_record * (r.records_after - r.records_before))} to add hers)",
        "",
        "== the model ==",
        f"validation loss: {r.loss_before:.3f} at genesis -> {r.loss_after:.3f} after {r.height} blocks "
        f"(central training, {r.height} steps of the same optimizer: {r.baseline_loss:.3f})",
    ]
    for p in SAMPLE_PROMPTS:
        lines.append(f"  {show(p):<12} genesis: {show(r.samples_before[p]):<24} now: {show(r.samples_after[p])}")
    lines += [
        "",
        "== a paid query ==",
        f"ada asked '{show(r.query_prompt)}' (the weights after block {r.query_height}, fee "
        f"{format_coins(r.fee)}): {r.answered_by} answered '{show(r.answer)}' in block {r.answer_height} and "
        f"earned the fee; every node recomputed the answer while checking the block.",
        f"done in {r.seconds:.0f} s",
    ]
    return lines


# ============================================================================ the proof-of-work demo

def demo_wallets(seed: int = 0) -> dict[str, Wallet]:
    """alice, bob and the miner, with keys derived from ``seed``."""
    return {name: Wallet(name, PrivateKey.from_seed(f"gradientcoin demo/{seed}/{name}".encode()))
            for name in ("alice", "bob", "miner")}


def format_coins(units: int) -> str:
    return f"{units // COIN:,}.{units % COIN:08d}"


def _payments(chain: Chain, wallets: dict[str, Wallet], rng: random.Random) -> list:
    """A few random payments between the wallets that their coins can cover."""
    txs, spent = [], set()
    for payer, payee in (("miner", "alice"), ("alice", "bob"), ("bob", "alice")):
        balance = wallets[payer].balance(chain.utxo)
        if balance < COIN:
            continue
        amount = rng.randint(1, max(1, balance // (2 * COIN))) * COIN // 2
        try:
            tx = wallets[payer].pay(chain.utxo, wallets[payee].address, amount, fee=rng.randint(1, 50) * 100,
                                    exclude=spent)
        except InvalidTransaction:          # coins already used by an earlier payment in this block
            continue
        spent.update(i.outpoint for i in tx.inputs)
        txs.append(tx)
    return txs


def _open_pow_store(folder: Path):
    """Lock ``folder`` and open its ``chain.sqlite``; a ``UsageError`` for a file that is not a store."""
    from .datadir import open_datadir
    lock = open_datadir(folder, what="demo")
    try:
        return lock, BlockStore(folder / "chain.sqlite")
    except GradientCoinError as err:
        lock.close()
        raise UsageError("bad-store", f"{folder / 'chain.sqlite'} is not a usable block store ({err.message}): "
                                      "move it away or use another --data-dir") from None


def run_pow_demo(blocks: int = 5, seed: int = 0, data_dir: str | Path | None = None,
                 progress: bool = True, echo: Callable[[str], None] | None = None,
                 params: ChainParams | str = "demo") -> Chain:
    """Mine ``blocks`` blocks with payments between alice, bob and the miner; return the chain.

    Deterministic for a given ``seed`` (block times advance by the target spacing). Lines of
    output go to ``echo`` (``print`` on the command line; ``None``: silent).
    """
    say = echo or (lambda line: None)
    store = lock = None
    if data_dir is not None:
        lock, store = _open_pow_store(Path(data_dir))
    try:
        chain = Chain(params, store=store)
    except GradientCoinError as err:
        store.close()
        lock.close()
        raise UsageError("bad-store", f"{store.path} holds another chain ({err.message}): use another --data-dir") \
            from None
    wallets = demo_wallets(seed)
    rng = random.Random(f"{seed}/{chain.height}")
    p = chain.params
    say(f"GradientCoin proof-of-work demo: network '{p.name}', {blocks} new blocks, "
        f"~{expected_attempts(chain.next_bits()):,.0f} hashes per block"
        + (f", chain file {store.path}" if store else ""))
    say(_row_header())
    if chain.height == 0 or store is None:
        say(_row(chain, chain.height, wallets))
    try:
        for _ in range(blocks):
            txs = _payments(chain, wallets, rng) if chain.height > 0 else []
            block = mine_block(chain, wallets["miner"].address, txs, time=chain.tip.header.time + p.target_spacing,
                               progress=progress)
            chain.add_block(block)
            say(_row(chain, chain.height, wallets))
        minted = sum(p.subsidy(h) for h in range(1, chain.height + 1))
        assert chain.utxo.total_value() == minted, "coins were created or destroyed"
        say(f"tip {chain.tip.hash_hex()} at height {chain.height}; "
            f"{format_coins(minted)} coins mined so far, all of them accounted for in the UTXO set"
            + (f"; the chain is kept in {store.path} (run again to continue it)" if store else ""))
    finally:
        chain.close()
        if lock is not None:
            lock.close()
    return chain


def _row_header() -> str:
    return f"{'height':>6}  {'block hash':<16}  {'txs':>3}  {'alice':>14}  {'bob':>14}  {'miner':>14}"


def _row(chain: Chain, height: int, wallets: dict[str, Wallet]) -> str:
    entry = chain.entry_at(height)
    balances = "  ".join(f"{format_coins(w.balance(chain.utxo)):>14}" for w in wallets.values())
    return f"{height:>6}  {entry.hash_hex()[:16]}  {len(entry.block.txs):>3}  {balances}"
