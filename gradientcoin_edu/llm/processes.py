"""Real processes: miners of the decentralized LLM as separate processes talking ZeroMQ.

``gradientcoin demo --processes`` starts one process per miner on loopback. Each runs the same
:class:`LLMNode` as the simulator, with the network layer's :class:`ZmqTransport` instead of the
event queue and an :class:`LLMChain` kept in ``DATA_DIR/<name>/blocks.sqlite``; it mines with a
Poisson timer (a simulated hash rate, like ``gradientcoin node --mine-every``: the process waits an
exponential time, then does the real work - gradients until a ticket wins), and it writes
``status.json`` (height, tip, weights root, validation loss, answers) twice a second.

``gradientcoin node`` itself runs proof-of-work chains only (``--chain regtest|demo``), so this
module is the proof-of-gradient counterpart: ``python -m gradientcoin_edu.llm.processes --listen
tcp://127.0.0.1:5001 --peer ... --data-dir DIR --preset demo``. A demo has no wallet RPC: the
orchestrator drops JSON *commands* into ``DIR/inbox/`` (pay someone, contribute text, ask a
query, each signed by the node with a key derived from a seed), and the node reports what came
of them in ``status.json``. Taught in notebook 04's spirit; tested in ``tests/test_demo.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

__all__ = ["main", "run_process_demo"]


# ============================================================================ one node process

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gradientcoin_edu.llm.processes",
                                description="one miner of the decentralized LLM over ZeroMQ")
    p.add_argument("--listen", required=True)
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--preset", default="demo", choices=["tiny", "demo"])
    p.add_argument("--seed", type=int, default=0, help="network seed (the built-in corpus) and key seed")
    p.add_argument("--mine-every", type=float, default=3.0, help="mean seconds between our blocks")
    p.add_argument("--mine-until-height", type=int, default=None, help="stop mining at this height")
    p.add_argument("--duration", type=float, default=600.0, help="exit after this many seconds")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from ..chain import BlockStore
    from ..crypto.keys import PrivateKey
    from ..network.node import NodeConfig
    from ..network.keys import load_or_create_keypair, parse_peer
    from ..network.zmq_transport import ZmqTransport
    from .chain import LLMChain
    from .network import LLMNode
    from .spec import LLMSpec

    data = Path(args.data_dir)
    (data / "inbox").mkdir(parents=True, exist_ok=True)
    spec = LLMSpec.builtin(args.preset, seed=args.seed)
    key = PrivateKey.from_seed(f"gradientcoin demo/{args.seed}/{args.name}".encode())
    chain = LLMChain(spec, store=BlockStore(str(data / "blocks.sqlite")))
    peers = [parse_peer(p) for p in args.peer]
    transport = ZmqTransport(args.listen, secret_key=load_or_create_keypair(data)[1])
    node = LLMNode(args.name, chain, transport, miner_address=key.address(), listen=args.listen,
                   config=NodeConfig(heartbeat=5.0, request_timeout=5.0), seed=args.seed)
    transport.node = node
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("now", True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__("now", True))
    for address, key in peers:
        transport.connect(address, key)
    rng = random.Random(f"{args.seed}:{args.name}")
    state = {"next_block": time.time() + rng.expovariate(1 / args.mine_every), "queries": {}, "done": [],
             "last_status": 0.0}
    started = time.time()

    def work() -> None:
        if (args.mine_until_height is None or chain.height < args.mine_until_height) and time.time() >= state["next_block"]:
            node.mine_block()
            state["next_block"] = time.time() + rng.expovariate(1 / args.mine_every)
        _handle_inbox(data, node, spec, args.seed, state)
        if time.time() - state["last_status"] >= 0.5:
            _write_status(data, node, state)

    try:
        transport.run(until=lambda: stop["now"] or time.time() - started >= args.duration, work=work)
    finally:
        _write_status(data, node, state)
        transport.close()
        chain.close()
    return 0


def _handle_inbox(data: Path, node, spec, seed: int, state: dict) -> None:
    """Run the orchestrator's commands: {"do": "pay"|"data"|"query", "wallet": name, ...}."""
    from ..crypto.keys import PrivateKey
    from ..ledger import build_payment
    from .data import build_data_tx
    from .inference import Query, build_query_tx
    for path in sorted((data / "inbox").glob("*.json")):
        cmd = json.loads(path.read_text())
        path.unlink()
        key = PrivateKey.from_seed(f"gradientcoin demo/{seed}/{cmd['wallet']}".encode())
        utxo, exclude = node.chain.utxo, set(node.mempool.spends)
        try:
            if cmd["do"] == "pay":
                tx = build_payment(utxo, key, [(bytes.fromhex(cmd["to"]), cmd["amount"])], cmd.get("fee", 1000),
                                   exclude=exclude)
            elif cmd["do"] == "data":
                tx = build_data_tx(utxo, key, cmd["text"], spec.params, exclude=exclude)
            else:
                query = Query(cmd["prompt"], node.chain.height, cmd["tokens"])
                tx = build_query_tx(utxo, key, query, spec.params, exclude=exclude)
                state["queries"][tx.txid.hex()] = cmd["prompt"]
            node.submit_transaction(tx)
            state["done"].append({"id": cmd["id"], "txid": tx.txid.hex()})
        except Exception as err:                       # a demo control channel: report, do not die
            state["done"].append({"id": cmd["id"], "error": str(err)})


def _write_status(data: Path, node, state: dict) -> None:
    state["last_status"] = time.time()
    chain = node.chain
    answers = {}
    for txid_hex in state["queries"]:
        found = chain.find_answer(bytes.fromhex(txid_hex))
        if found is not None:
            height, record = found
            answers[txid_hex] = {"height": height, "text": record.text, "weights_height": record.height,
                                 "miner_id": chain.header_at(height).miner_id.hex()}
    status = {"name": node.name, "miner_id": node.miner_id.hex(), "pid": os.getpid(), "height": chain.height, "tip": chain.tip.hash_hex(),
              "weights_root": chain.rule.weights_root().hex(), "val_loss": chain.val_loss(),
              "records": len(chain.dataset), "mined": node.stats["mined"], "gradients": node.stats["gradients"],
              "reorgs": node.stats["reorgs"], "peers": sorted(p for p, s in node.peers.items() if s["version"]),
              "done": state["done"], "answers": answers, "blocks_by_miner": {k.hex(): v for k, v in chain.miners().items()}}
    tmp = data / "status.tmp"
    tmp.write_text(json.dumps(status))
    os.replace(tmp, data / "status.json")


# ============================================================================ the orchestrator

def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _status(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _command(folder: Path, cmd: dict) -> None:
    tmp = folder / "inbox" / f".{cmd['id']}.tmp"
    tmp.write_text(json.dumps(cmd))
    os.replace(tmp, folder / "inbox" / f"{cmd['id']}.json")


def run_process_demo(blocks: int = 30, miners: int = 3, preset: str = "demo", seed: int = 0,
                     data_dir: str | Path | None = None, progress: bool = True,
                     echo: Callable[[str], None] | None = print, mine_every: float | None = None,
                     timeout: float = 600.0) -> dict:
    """Start ``miners`` node processes, let them mine ``blocks`` blocks, ask a query, stop them.

    Returns a summary dict (heights, tips, weights roots, losses, the answer). Every process is
    started in its own process group and killed in ``finally``.
    """
    from ..crypto.keys import PrivateKey
    from ..ledger import COIN
    from .spec import LLMSpec

    say = echo or (lambda line: None)
    start = time.time()
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="gradientcoin-demo-")
        data_dir = tmp.name
    root = Path(data_dir)
    names = [f"miner-{i + 1}" for i in range(miners)]
    folders = [root / n for n in names]
    addrs = [f"tcp://127.0.0.1:{p}" for p in _free_ports(miners)]
    mine_every = mine_every or 2.0 * miners
    spec = LLMSpec.builtin(preset, seed=seed)
    loss_before = _genesis_loss(spec)
    say(f"GradientCoin demo, real processes: {miners} miner processes on loopback (ZeroMQ), chains in {root}; "
        f"each mines a block every ~{mine_every:.0f} s on average (a simulated hash rate; the gradients are real).")
    procs = []
    bar = None
    from ..network.keys import format_peer, load_or_create_keypair
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    keys = [load_or_create_keypair(folder)[0] for folder in folders]     # peers are named by their public keys
    try:
        for i, name in enumerate(names):
            folders[i].mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "gradientcoin_edu.llm.processes", "--listen", addrs[i], "--data-dir",
                   str(folders[i]), "--name", name, "--preset", preset, "--seed", str(seed), "--mine-every",
                   str(mine_every), "--mine-until-height", str(blocks + 5), "--duration", str(timeout)]
            for j, a in enumerate(addrs):
                if j != i:
                    cmd += ["--peer", format_peer(a, keys[j])]
            log = open(folders[i] / "node.out", "ab")
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=blocks, unit="block", desc="training on the chain (processes)")
        ada = PrivateKey.from_seed(f"gradientcoin demo/{seed}/ada".encode())
        paid_at, sent = None, set()
        query_txid, answer, agreed = None, None, None
        while time.time() < start + timeout and answer is None:
            time.sleep(0.5)
            statuses = [_status(f) for f in folders]
            if any(s is None for s in statuses):
                continue
            low = min(s["height"] for s in statuses)
            if bar is not None:
                bar.set_postfix_str(f"validation loss {statuses[0]['val_loss']:.3f}", refresh=False)
                bar.update(min(low, blocks) - bar.n)
            if paid_at is None and low >= 2:                  # the richest miner pays ada
                counts = statuses[0]["blocks_by_miner"]
                rich = max(range(miners), key=lambda i: counts.get(statuses[i]["miner_id"], 0))
                _command(folders[rich], {"id": "pay", "do": "pay", "wallet": names[rich], "to": ada.address().hex(),
                                         "amount": 10 * COIN})
                paid_at = low
            elif paid_at is not None and low >= paid_at + 2 and "data" not in sent:
                from ..demo import CONTRIBUTION
                text = CONTRIBUTION[: spec.params.max_records_per_tx * spec.params.record_tokens]
                _command(folders[-1], {"id": "data", "do": "data", "wallet": "ada", "text": text})
                sent.add("data")
            elif "data" in sent and low >= blocks and "query" not in sent and len({s["tip"] for s in statuses}) == 1:
                _command(folders[0], {"id": "query", "do": "query", "wallet": "ada", "prompt": "\n3+4=", "tokens": 8})
                sent.add("query")
            done = {d["id"]: d for d in statuses[0]["done"]}
            if query_txid is None and "txid" in done.get("query", {}):
                query_txid = done["query"]["txid"]
            if (query_txid in statuses[0]["answers"] and len({s["tip"] for s in statuses}) == 1
                    and len({s["weights_root"] for s in statuses}) == 1):
                # Keep this snapshot: the miners go on mining until they stop, and a block found
                # between this poll and the shutdown would not have reached every process yet.
                answer, agreed = statuses[0]["answers"][query_txid], statuses
    finally:
        if bar is not None:
            bar.close()
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    final = agreed if agreed is not None else [_status(f) for f in folders]
    summary = _summarize(final, names, loss_before, answer, start)
    for line in summary["lines"]:
        say(line)
    if tmp is not None:
        tmp.cleanup()
    return summary


def _genesis_loss(spec) -> float:
    from ..proof_of_gradient import validation_loss
    return validation_loss(spec.pog, spec.validation, spec.pog.genesis_weights())


def _summarize(final: list[dict], names: list[str], loss_before: float, answer: dict | None, start: float) -> dict:
    by_id = {s["miner_id"]: s["name"] for s in final}
    tips = {s["tip"] for s in final}
    roots = {s["weights_root"] for s in final}
    s0 = final[0]
    loss_after = s0["val_loss"]
    lines = ["", "== the chain (real processes) ==",
             f"heights {[s['height'] for s in final]}; "
             + ("every process has the same tip and the same weights root" if len(tips) == 1 == len(roots)
                else f"{len(tips)} different tips"),
             "blocks by miner: " + ", ".join(f"{by_id.get(k, '?')} {v}" for k, v in s0["blocks_by_miner"].items())
             + f"; reorgs seen: {sum(s['reorgs'] for s in final)}; gradients computed: {sum(s['gradients'] for s in final)}",
             f"validation loss: {loss_before:.3f} at genesis -> {loss_after:.3f} at height {s0['height']}"]
    if answer is not None:
        lines.append(f"ada asked '\\n3+4=': {by_id.get(answer['miner_id'], '?')} answered "
                     f"'{repr(answer['text'])[1:-1]}' in block {answer['height']} from the weights after block "
                     f"{answer['weights_height']}, and earned the fee")
    else:
        lines.append("the query was not answered before the time limit")
    lines.append(f"done in {time.time() - start:.0f} s")
    ok = len(tips) == 1 and len(roots) == 1 and loss_after < loss_before and answer is not None
    return {"lines": lines, "statuses": final, "loss_before": loss_before, "loss_after": loss_after,
            "answer": answer, "agree": len(tips) == 1 and len(roots) == 1, "ok": ok}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
