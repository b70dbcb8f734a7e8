"""[tooling] The command-line RPC client: ``gradientcoin status|send|contribute|ask|balance|peers|stop|rpc``.

Each talks to the node whose data dir is ``--data-dir`` (it reads ``rpc.json`` and the cookie
there, so it must run as the same user on the same machine)::

    gradientcoin status --data-dir ~/gc/n1
    gradientcoin send --data-dir ~/gc/n1 gc1... 1.5
    gradientcoin contribute --data-dir ~/gc/n1 --file my_text.txt
    gradientcoin contribute --data-dir ~/gc/n1 $'2+2=4\\n3+3=6\\n4+4=8\\n'      # bash: real newlines
    gradientcoin ask --data-dir ~/gc/n1 $'\\n3+4='
    gradientcoin rpc --data-dir ~/gc/n1 getblock 5

Texts are taken as they are: a newline is a real newline (``$'...'`` in bash, or a file), and
``\\n`` typed in plain quotes is a backslash and an ``n``. Amounts and fees are coins (``1.5``,
``0.00001``). ``contribute`` keeps every character of the text (as many data transactions as it
needs) and prints the fee and the number of transactions before it pays, asking on a terminal
unless ``--yes``; ``--dry-run`` only prints them. A fee above ``--max-fee`` (default 0.1 coin, as
Bitcoin Core's ``-maxtxfee``) is refused.

A node that is not running, a wrong cookie, a refused request or a mistake in the arguments ends
in one line on stderr and exit status 2 (the ``gradientcoin`` command's rule for user mistakes).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

__all__ = ["COMMANDS", "add_arguments", "run", "read_text_file"]

COMMANDS = ("status", "send", "contribute", "ask", "balance", "peers", "stop", "rpc")
MAX_FEE_HELP = "refuse to pay more than this many coins in fees (default 0.1, as Bitcoin Core's -maxtxfee)"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--data-dir", default=os.environ.get("GRADIENTCOIN_DATA_DIR"),
                        help="the node's data dir (default: $GRADIENTCOIN_DATA_DIR)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the node (default 60)")
    if name == "send":
        parser.add_argument("address", help="the payee's address (gc1...)")
        parser.add_argument("amount", help="coins, e.g. 1.5")
        parser.add_argument("--fee", default=None,
                            help="fee in coins, e.g. 0.00001 (default: what the node's mempool asks)")
        parser.add_argument("--max-fee", default=None, help=MAX_FEE_HELP)
    elif name == "contribute":
        parser.add_argument("text", nargs="?", help="training text, taken as it is (or --file)")
        parser.add_argument("--file", default=None, help="read the text from this UTF-8 text file")
        parser.add_argument("--max-fee", default=None, help=MAX_FEE_HELP)
        parser.add_argument("--yes", action="store_true", help="pay without asking (the fee is still printed)")
        parser.add_argument("--dry-run", action="store_true",
                            help="print the fee and the number of transactions, send nothing")
    elif name == "ask":
        parser.add_argument("prompt", help="the text the model completes, taken as it is, e.g. $'\\n3+4='")
        parser.add_argument("--tokens", type=int, default=8, help="characters to generate (default 8)")
        parser.add_argument("--no-wait", action="store_true", help="print the query's txid and return at once")
        parser.add_argument("--max-fee", default=None, help=MAX_FEE_HELP)
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
    if not 0 < args.timeout <= 86_400:
        raise UsageError("bad-timeout", f"--timeout is a positive number of seconds (at most a day), "
                                        f"not {args.timeout}")
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        raise UsageError("bad-data-dir", f"--data-dir {args.data_dir} is a file, not a node's data dir")
    client = NodeClient(args.data_dir, timeout=args.timeout)
    result = _call(client, args)
    if result is not None:
        print(result if isinstance(result, str) else json.dumps(result, indent=2))
    return 0


def _call(client, args):
    from .errors import UsageError
    name = args.command
    if name == "send":
        return client.call("send", **_given(address=args.address, amount=args.amount, fee=args.fee,
                                            wallet=args.wallet, max_fee=args.max_fee))
    if name == "contribute":
        return _contribute(client, args)
    if name == "ask":
        return _ask(client, args)
    if name == "balance":
        return client.balance(args.wallet)
    if name == "rpc":
        return client.call(args.method, *[_value(p) for p in args.params])
    if name not in COMMANDS:                                  # pragma: no cover - argparse checks it
        raise UsageError("unknown-command", f"unknown command {name!r}")
    return client.call(name)


def _contribute(client, args):
    from .errors import UsageError
    if args.file and args.text:
        raise UsageError("two-texts", "give the text or --file FILE, not both")
    text = read_text_file(args.file) if args.file else args.text
    if not text:
        raise UsageError("no-text", "give the text to contribute, or --file FILE")
    params = _given(text=text, wallet=args.wallet, max_fee=args.max_fee)
    plan = client.call("contribute", dry_run=True, **params)  # every check, nothing sent
    line = (f"contribute: {plan['characters']:,} characters in {plan['records']:,} records of "
            f"{plan['record_characters']} characters, {plan['transactions']} data transaction(s), "
            f"fee {plan['fee']} coins (max fee {plan['max_fee']})")
    if args.dry_run:
        return line + "; dry run: nothing sent"
    print(line, file=sys.stderr)
    if not args.yes and sys.stdin.isatty():
        answer = input(f"pay {plan['fee']} coins? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise UsageError("not-confirmed", "nothing sent")
    return client.call("contribute", **params)


def read_text_file(path: str) -> str:
    """The UTF-8 text in ``path``; a ``UsageError`` (one line) for a binary or non-UTF-8 file."""
    from .errors import UsageError
    with open(path, "rb") as f:
        data = f.read()
    nul = data.find(b"\0")
    if nul >= 0:
        raise UsageError("binary-file", f"{path} is a binary file (a NUL byte at offset {nul}); "
                                        "contribute takes a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError("not-utf8", f"{path} is not UTF-8 text (byte {data[err.start]:#04x} at offset "
                                     f"{err.start}); contribute takes a UTF-8 text file") from None


def _ask(client, args):
    from .errors import UsageError
    from .rpc import RpcError
    if args.tokens < 1:
        raise UsageError("bad-tokens", "--tokens is at least 1")
    sent = client.call("ask", **_given(prompt=args.prompt, tokens=args.tokens, wallet=args.wallet,
                                       max_fee=args.max_fee))
    if args.no_wait:
        return sent
    try:
        result = client.wait_answer(sent["txid"], args.timeout)
    except RpcError as err:
        if err.reason != "no-answer":
            raise
        command = f"gradientcoin rpc --data-dir {shlex.quote(str(args.data_dir))} answer {sent['txid']}"
        raise UsageError("no-answer", f"query {sent['txid']} (fee {sent['fee']} coins) was not answered within "
                                      f"{args.timeout:g} s (is anyone mining?); fetch its answer later with: "
                                      f"{command}") from None
    check = "verified" if result.get("verified") else "NOT verified"
    return (f"{result['prompt']!r} -> {result['text']!r}  (block {result['height']}, weights after block "
            f"{result['weights_height']}; {check}: {result['how']})")


def _given(**kwargs) -> dict:
    return {k: v for k, v in kwargs.items() if v is not None}


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
