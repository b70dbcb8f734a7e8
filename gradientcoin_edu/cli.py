"""[tooling] The ``gradientcoin`` command (also ``python -m gradientcoin_edu``).

Each subcommand lives in the module that owns the concept and provides two functions,
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them together,
importing a subcommand's module when it is used (so ``--help`` stays fast). A module that
serves several subcommands (the RPC client) lists them in ``COMMANDS`` and gets the name:
``add_arguments(parser, name)``.

User mistakes (a ``UsageError`` or any other ``GradientCoinError`` that reaches the top, a
file the user cannot read or write) print one line on stderr and exit with status 2, without a
traceback. Ctrl-C and SIGTERM stop the command cleanly (exit status 130 / 143): a subcommand's
``finally`` blocks run, so child processes are stopped and stores closed.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

__all__ = ["main", "SUBCOMMANDS", "build_parser"]

# name -> (module, one-line help shown by `gradientcoin --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gradientcoin_edu.demo",
             "run the main job: a small network of miners that trains the tiny GPT by proof-of-gradient"),
    "node": ("gradientcoin_edu.node_cli",
             "run one real node (proof-of-work or proof-of-gradient): listen, connect, mine, persist, serve RPC"),
    "status": ("gradientcoin_edu.rpc_cli", "ask a running node for its height, tip, peers, loss (RPC)"),
    "send": ("gradientcoin_edu.rpc_cli", "pay coins from a running node's wallet (RPC)"),
    "contribute": ("gradientcoin_edu.rpc_cli", "pay to add training text to the model's data (RPC, llm chain)"),
    "ask": ("gradientcoin_edu.rpc_cli", "ask the chain's model a question and check its answer (RPC, llm chain)"),
    "balance": ("gradientcoin_edu.rpc_cli", "a wallet's address and coins on a running node (RPC)"),
    "peers": ("gradientcoin_edu.rpc_cli", "a running node's peers (RPC)"),
    "stop": ("gradientcoin_edu.rpc_cli", "stop a running node (RPC)"),
    "rpc": ("gradientcoin_edu.rpc_cli", "call any RPC method of a running node: gradientcoin rpc METHOD [ARGS]"),
    "bench": ("gradientcoin_edu.kernels.bench",
              "benchmark the gradient-hash kernels and nonce search (GB/s, hashes/s) on this machine"),
}


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that ``finally`` blocks run."""


def _version() -> str:
    from . import __version__
    return f"gradientcoin_edu {__version__}"


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradientcoin",
        description="GradientCoin, made to run: a decentralized tiny LLM secured by proof-of-gradient.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.epilog = ("Start with `gradientcoin demo`; then `gradientcoin node --help` for real nodes "
                     "(three proof-of-gradient nodes on one machine: see the README, 'Run a network of real nodes').")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(_module=module_name)
        if argv and argv[0] == name:
            module = importlib.import_module(module_name)
            p.epilog = module.__doc__                 # the module's guide, examples included
            if hasattr(module, "COMMANDS"):
                module.add_arguments(p, name)
            else:
                module.add_arguments(p)
    return parser


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from .errors import GradientCoinError
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except GradientCoinError as err:
        print(f"gradientcoin {args.command}: error: {err.message}", file=sys.stderr)
        return 2
    except OSError as err:          # a file the user named: missing, a folder, unreadable, too many links...
        if err.filename is None:
            raise                       # not the user's file: a bug or the system, keep its traceback
        print(f"gradientcoin {args.command}: error: {err.strerror}: {err.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gradientcoin {args.command}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"gradientcoin {args.command}: terminated", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
