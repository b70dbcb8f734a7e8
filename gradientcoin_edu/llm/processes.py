"""[tooling] Real processes: ``gradientcoin demo --processes`` runs real ``gradientcoin node`` processes.

The orchestrator starts one ``gradientcoin node --chain llm`` process per miner on loopback
(ZeroMQ between them, a block store each in ``DATA_DIR/miner-N``) and steers them only through
their JSON-RPC (``rpc.NodeClient``), exactly as a user would from another terminal: it creates
ada's wallet on the last node, asks the demo's :class:`~gradientcoin_edu.llm.story.Story` what to
do next (the same story the simulated demo tells), and carries it out with ``send``,
``contribute`` and ``ask``. Every node mines with a simulated hash rate (``--mine-every``); the
gradients, tickets and verification are real.

The orchestrator never waits silently: when the story does not advance within ``timeout``
seconds it stops with a sentence that says what it was waiting for. Ctrl-C or SIGTERM stops
every node process (each runs in its own process group; ``finally`` asks them to stop over RPC,
then sends SIGTERM, then SIGKILL). The chains are kept in ``data_dir`` (printed); without one
they live in a temporary folder that is deleted at the end, and the output says so.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..classroom import listen_address, start_node_process, stop_processes
from ..errors import GradientCoinError

__all__ = ["run_process_demo", "DemoStalled"]


class DemoStalled(GradientCoinError):
    """The process demo could not go on (a node died, or the story did not advance in time)."""

    layer = "demo"


def _wait_ready(procs, clients, folders, timeout: float) -> None:
    from ..rpc import RpcError
    deadline = time.monotonic() + timeout
    pending = set(range(len(procs)))
    while pending:
        for i in sorted(pending):
            if procs[i].poll() is not None:
                raise DemoStalled("node-died", f"node {folders[i].name} exited at start-up: {_last_line(folders[i])}")
            try:
                clients[i].status()
                pending.discard(i)
            except RpcError:
                pass
        if pending and time.monotonic() > deadline:
            raise DemoStalled("start-timeout", f"node(s) {sorted(folders[i].name for i in pending)} did not start "
                                               f"within {timeout:.0f} s")
        time.sleep(0.3)


def _last_line(folder: Path) -> str:
    try:
        lines = (folder / "node.out").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"
    except OSError:
        return "(no output)"


def _units(coins: str) -> int:
    from ..network.service import parse_coins
    return 0 if float(coins) == 0 else parse_coins(coins)


def run_process_demo(blocks: int = 30, miners: int = 3, preset: str = "demo", seed: int = 0,
                     data_dir: str | Path | None = None, progress: bool = True,
                     echo: Callable[[str], None] | None = print, mine_every: float | None = None,
                     timeout: float = 600.0) -> dict:
    """Start ``miners`` node processes, tell the story over RPC, stop them; returns a summary dict.

    ``timeout``: seconds without progress of the story before giving up (``DemoStalled``).
    """
    say = echo or (lambda line: None)
    start = time.time()
    temporary = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="gradientcoin-demo-")) if temporary else Path(data_dir)
    names = [f"miner-{i + 1}" for i in range(miners)]
    folders = [root / n for n in names]
    mine_every = mine_every or 2.0 * miners
    where = f"a temporary folder {root} (deleted at the end; --data-dir DIR keeps them)" if temporary else str(root)
    say(f"GradientCoin demo, real processes: {miners} `gradientcoin node --chain llm` processes on loopback "
        f"(ZeroMQ), steered through their JSON-RPC; chains in {where}; each mines a block every ~{mine_every:.0f} s "
        f"on average (a simulated hash rate; the gradients are real).")
    procs: list[subprocess.Popen] = []
    clients: list = []
    bar = None
    try:
        from ..network.keys import format_peer, load_or_create_keypair
        from ..rpc import NodeClient
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        keys = [load_or_create_keypair(folder)[0] for folder in folders]     # peers are named by their keys
        peers: list[str] = []
        for i, name in enumerate(names):
            # each node takes a port from the OS (port 0) and says which in its status.json; it dials
            # the nodes started before it, and they hear it as an inbound peer: a full mesh
            procs.append(start_node_process("tcp://127.0.0.1:0", folders[i], list(peers),
                                            "--chain", "llm", "--model", preset, "--corpus-seed", str(seed),
                                            "--name", name, "--mine", "--mine-every", str(mine_every),
                                            "--seed", str(seed * 100 + i), "--quiet"))
            clients.append(NodeClient(folders[i], timeout=60))
            peers.append(format_peer(listen_address(folders[i], procs[-1], timeout=max(60.0, 20.0 * miners)), keys[i]))
        _wait_ready(procs, clients, folders, timeout=max(60.0, 20.0 * miners))
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=blocks, unit="block", desc="training on the chain (processes)")
        result = _tell_story(procs, clients, names, folders, blocks, preset, seed, timeout, bar)
    finally:
        if bar is not None:
            bar.close()
        stop_processes(procs, clients)
    summary = _summarize(result, names, start)
    for line in summary["lines"]:
        say(line)
    if temporary:
        shutil.rmtree(root, ignore_errors=True)
        say(f"(the temporary folder {root} was deleted)")
    else:
        say(f"the chains are kept in {root}: restart a node there with `gradientcoin node --chain llm --model {preset} "
            f"--corpus-seed {seed} --data-dir {folders[0]} --listen ...`")
    summary["data_dir"] = None if temporary else str(root)
    return summary


def _tell_story(procs, clients, names, folders, blocks, preset, seed, timeout, bar) -> dict:
    """Drive the shared story through the RPC until ada's query is answered and the nodes agree."""
    from ..llm.data import data_fee
    from ..llm.spec import LLMSpec
    from .story import Story, StoryView, contribution_text
    spec = LLMSpec.builtin(preset, seed=seed)
    text = contribution_text(spec.params)
    story = Story(blocks, text, data_fee=data_fee(text, spec.params), query_fee=spec.params.query_fee)
    ada_node = clients[-1]
    ada = ada_node.createwallet("ada")["address"]
    from ..proof_of_gradient import validation_loss
    loss_before = validation_loss(spec.pog, spec.validation, spec.pog.genesis_weights())
    query_txid, answer, statuses = None, None, None
    last_progress, last_stage = time.monotonic(), story.stage
    while True:
        for i, p in enumerate(procs):
            if p.poll() is not None:
                raise DemoStalled("node-died", f"node {names[i]} stopped: {_last_line(folders[i])}")
        statuses = [c.status() for c in clients]
        low = min(s["height"] for s in statuses)
        if bar is not None:
            bar.set_postfix_str(f"validation loss {statuses[0]['val_loss']:.3f}", refresh=False)
            bar.update(min(low, blocks) - bar.n)
        bal = ada_node.balance("ada")
        answer = ada_node.answer(query_txid) if query_txid else None
        view = StoryView(height=low, miner_balances={n: _units(s["balance"]) for n, s in zip(names, statuses)},
                         ada_balance=_units(bal["confirmed"]), ada_pending=_units(bal["spent_in_mempool"]) > 0,
                         answered=bool(answer and answer["answered"]))
        action = story.next_action(view)
        if action is not None and action.kind == "pay":
            clients[names.index(action.miner)].send(ada, str(action.amount / 10**8))
        elif action is not None and action.kind == "contribute":
            ada_node.contribute(action.text, wallet="ada")
        elif action is not None and action.kind == "ask":
            query_txid = ada_node.ask(action.prompt, tokens=action.tokens, wallet="ada", wait=None)["txid"]
        if story.done and len({s["tip"] for s in statuses}) == 1 and len({s["weights_root"] for s in statuses}) == 1:
            return {"statuses": statuses, "answer": answer, "loss_before": loss_before, "ada": ada}
        if story.stage != last_stage:
            last_progress, last_stage = time.monotonic(), story.stage
        elif time.monotonic() - last_progress > timeout:
            raise DemoStalled("stalled", f"no progress for {timeout:.0f} s: waiting for {story.waiting_for()} "
                                         f"(heights {[s['height'] for s in statuses]})")
        time.sleep(0.5)


def _summarize(result: dict, names: list[str], start: float) -> dict:
    from ..crypto.keys import address_from_str
    from .rule import miner_id_for
    final, answer = result["statuses"], result["answer"]
    by_id = {miner_id_for(address_from_str(s["address"])).hex(): s["name"] for s in final}   # the id of its coinbase address
    s0 = final[0]
    loss_before, loss_after = result["loss_before"], s0["val_loss"]
    agree = len({s["tip"] for s in final}) == 1 and len({s["weights_root"] for s in final}) == 1
    lines = ["", "== the chain (real processes) ==",
             f"heights {[s['height'] for s in final]}; "
             + ("every process has the same tip and the same weights root" if agree else "the processes disagree"),
             "blocks mined per process: " + ", ".join(f"{n} {s['mined']}" for n, s in zip(names, final)) + "; "
             f"reorgs seen: {sum(s['reorgs'] for s in final)}; gradients computed: {sum(s['gradients'] for s in final)}",
             f"validation loss: {loss_before:.3f} at genesis -> {loss_after:.3f} at height {s0['height']}",
             f"ada asked {answer['prompt']!r}: {by_id.get(answer['miner_id'], '?')} answered {answer['text']!r} in "
             f"block {answer['height']} from the weights after block {answer['weights_height']} and earned the fee; "
             f"{'verified' if answer['verified'] else 'NOT verified'} by ada's node ({answer['how']})",
             f"done in {time.time() - start:.0f} s"]
    ok = agree and loss_after < loss_before and answer["verified"]
    return {"lines": lines, "statuses": final, "loss_before": loss_before, "loss_after": loss_after,
            "answer": answer, "agree": agree, "ok": ok}
