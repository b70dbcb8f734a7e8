"""The command-line RPC client: ``gradientcoin status|send|contribute|ask|balance|peers|stop|rpc``.

Each talks to the node whose data dir is ``--data-dir`` (it reads ``rpc.json`` and the cookie
there, so it must run as the same user on the same machine)::

    gradientcoin status --data-dir ~/gc/n1
    gradientcoin send --data-dir ~/gc/n1 gc1... 1.5
    gradientcoin contribute --data-dir ~/gc/n1 "2+2=4\\n3+3=6\\n..."
    gradientcoin ask --data-dir ~/gc/n1 "3+4="
    gradientcoin rpc --data-dir ~/gc/n1 getblock 5

A node that is not running, a wrong cookie or a rejected request ends in one line on stderr and
exit status 2 (the ``gradientcoin`` command's rule for user mistakes).
"""
from __future__ import annotations

import argparse
import json
import os

__all__ = ["COMMANDS", "add_arguments", "run"]

COMMANDS = ("status", "send", "contribute", "ask", "balance", "peers", "stop", "rpc")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--data-dir", default=os.environ.get("GRADIENTCOIN_DATA_DIR"),
                        help="the node's data dir (default: $GRADIENTCOIN_DATA_DIR)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the node (default 60)")
    if name == "send":
        parser.add_argument("address", help="the payee's address (gc1...)")
        parser.add_argument("amount", help="coins, e.g. 1.5")
        parser.add_argument("--fee", type=int, default=1000, help="fee in smallest units (default 1000)")
    elif name == "contribute":
        parser.add_argument("text", nargs="?", help="training text (or --file)")
        parser.add_argument("--file", default=None, help="read the text from this file")
    elif name == "ask":
        parser.add_argument("prompt", help="the text the model completes, e.g. '3+4='")
        parser.add_argument("--tokens", type=int, default=8, help="characters to generate (default 8)")
        parser.add_argument("--no-wait", action="store_true", help="print the query's txid and return at once")
    elif name == "rpc":
        parser.add_argument("method", help="e.g. status, getblock, gettx, balance, blocktree, events, help")
        parser.add_argument("params", nargs="*", help="parameters (JSON values, or plain strings)")
    if name in ("send", "contribute", "ask", "balance"):
        parser.add_argument("--wallet", default=None, help="which of the node's wallets (default: its own)")


def run(args: argparse.Namespace) -> int:
    from .errors import UsageError
    from .rpc import NodeClient
    if not args.data_dir:
        raise UsageError("no-data-dir", "give the node's --data-dir (or set GRADIENTCOIN_DATA_DIR)")
    if args.timeout <= 0:
        raise UsageError("bad-timeout", "--timeout is a positive number of seconds")
    client = NodeClient(args.data_dir, timeout=args.timeout)
    result = _call(client, args)
    print(result if isinstance(result, str) else json.dumps(result, indent=2))
    return 0


def _call(client, args):
    from .errors import UsageError
    name = args.command
    if name == "send":
        return client.send(args.address, args.amount, fee=args.fee, wallet=args.wallet)
    if name == "contribute":
        text = args.text
        if args.file:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        if not text:
            raise UsageError("no-text", "give the text to contribute, or --file FILE")
        return client.contribute(text, wallet=args.wallet)
    if name == "ask":
        if args.tokens < 1:
            raise UsageError("bad-tokens", "--tokens is at least 1")
        prompt = args.prompt.replace("\\n", "\n")
        result = client.ask(prompt, tokens=args.tokens, wallet=args.wallet, wait=None if args.no_wait else args.timeout)
        if args.no_wait:
            return result
        check = "verified" if result.get("verified") else "NOT verified"
        return (f"{result['prompt']!r} -> {result['text']!r}  (block {result['height']}, weights after block "
                f"{result['weights_height']}; {check}: {result['how']})")
    if name == "balance":
        return client.balance(args.wallet)
    if name == "rpc":
        return client.call(args.method, *[_value(p) for p in args.params])
    return client.call(name)


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
