"""The ``gradientcoin`` command (also ``python -m gradientcoin_edu``).

Each subcommand lives in the module that owns the concept and provides two functions,
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them together,
importing a subcommand's module when it is used (so ``--help`` stays fast).
"""
from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "SUBCOMMANDS"]

# name -> (module, one-line help shown by `gradientcoin --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gradientcoin_edu.demo",
             "run the main job: a small network of miners that trains the tiny GPT by proof-of-gradient"),
    "node": ("gradientcoin_edu.network.node_cli",
             "run one real node process (ZeroMQ): listen, connect to peers, mine, persist to SQLite"),
    "bench": ("gradientcoin_edu.kernels.bench",
              "benchmark the gradient-hash kernels and nonce search (GB/s, hashes/s) on this machine"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradientcoin",
        description="GradientCoin, made to run: a decentralized tiny LLM secured by proof-of-gradient.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if len(sys.argv) > 1 and sys.argv[1] == name:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:])
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
