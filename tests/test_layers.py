"""The library's layers, read from its imports: no import points up, and no two packages import each other.

Every ``import`` and ``from ... import`` of every module of ``gradientcoin_edu`` is parsed (those
inside functions too: a lazy import is still a dependency), and each is mapped to the unit it
names - a subpackage (``chain``, ``network``, ...) or a top-level module (``rpc``, ``demo``, ...).
``LAYERS`` below is the order the code has (docs/architecture.md draws it); a unit may import
only units of its own or a lower layer, with no cycle. A new module must be placed in a layer here.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gradientcoin_edu"

# lowest first; a unit imports only from its own layer or earlier ones (and no cycle)
LAYERS: list[set[str]] = [
    {"errors"},                                              # the one error model
    {"encoding", "kernels", "calculations", "datadir"},      # bytes, compute kernels, formulas, data folders
    {"crypto"},                                              # hashes, keys, Merkle trees
    {"ledger", "model"},                                     # transactions and UTXOs; the GPT and its integers
    {"chain"},                                               # blocks, validation, fork choice, store, mining
    {"proof_of_gradient"},                                   # the work rule that trains the model
    {"rpc", "classroom"},                                    # JSON-RPC, node processes (tooling below the network)
    {"network"},                                             # node logic, mempool, simulator, ZeroMQ transport
    {"llm"},                                                 # the decentralized LLM, plugged into the seams below
    {"node_cli", "demo", "viz", "privacy", "theory", "naive_rules", "exercises", "rpc_cli", "cli",
     "__main__", "__init__"},                                # what users run and read
]

# Imports that point up on purpose, each with its reason (keep this short).
ALLOWED_UPWARD = {
    ("classroom", "cli"): "classroom._child_main is the entry point of a node's child process: it runs the "
                          "command line there (nothing in this process imports it)",
}


def _unit(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "gradientcoin_edu":
        return None
    if len(parts) == 1 or parts[1] == "__version__":
        return "__init__"
    return parts[1]


def _imports(package_dir: Path = PACKAGE) -> dict[str, set[tuple[str, str]]]:
    """unit -> {(imported unit, importing file)}."""
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir.parent).with_suffix("")
        dotted = list(rel.parts)
        package = dotted[:-1]                     # the package a relative import starts from
        src = _unit(".".join(dotted))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                # ``from .. import kernels``: the names may be modules themselves
                targets = [f"{mod}.{a.name}" for a in node.names] if mod == "gradientcoin_edu" else [mod]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                dst = _unit(target)
                if dst is not None and dst != src:
                    out[src].add((dst, str(rel)))
    return out


def _layer_of() -> dict[str, int]:
    return {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def test_every_unit_has_a_layer():
    layer = _layer_of()
    units = {_unit("gradientcoin_edu." + p.relative_to(PACKAGE).with_suffix("").parts[0])
             for p in PACKAGE.rglob("*.py")} | {"kernels"}
    assert units - set(layer) == set(), "place these modules in LAYERS (and in docs/architecture.md)"
    assert sum(len(x) for x in LAYERS) == len(layer), "a unit is in two layers"


def _upward(imports: dict) -> list[str]:
    layer = _layer_of()
    return sorted(f"{where}: {src} (layer {layer[src]}) imports {dst} (layer {layer[dst]})"
                  for src, edges in imports.items() for dst, where in edges
                  if layer[dst] > layer[src] and (src, dst) not in ALLOWED_UPWARD)


def test_no_upward_import():
    assert _upward(_imports()) == []


def test_no_cycle_between_packages():
    graph = {src: {dst for dst, _ in edges if (src, dst) not in ALLOWED_UPWARD}
             for src, edges in _imports().items()}
    state: dict[str, int] = {}

    def visit(unit: str, path: list[str]) -> list[str] | None:
        state[unit] = 1
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == 1:
                return path + [unit, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [unit])):
                return cycle
        state[unit] = 2
        return None

    for unit in sorted(graph):
        if unit not in state:
            assert (cycle := visit(unit, [])) is None, " -> ".join(cycle)


def test_the_checker_sees_a_lazy_upward_import(tmp_path):
    """The parser finds an import inside a function (as ``network/node_cli.py`` had, importing llm/)."""
    pkg = tmp_path / "gradientcoin_edu"
    (pkg / "network").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "network" / "__init__.py").write_text("")
    (pkg / "network" / "x.py").write_text("def f():\n    from ..llm.chain import LLMChain\n")
    assert _upward(_imports(pkg)) == ["gradientcoin_edu/network/x: network (layer 7) imports llm (layer 8)"]


def test_fork_choice_is_only_the_rule():
    """``Chain`` lives in ``chain/chain.py`` and is imported from there (no re-export through
    ``fork_choice``, which made a module-level cycle)."""
    from gradientcoin_edu.chain import fork_choice
    assert not hasattr(fork_choice, "Chain") and not hasattr(fork_choice, "__getattr__")


def test_every_module_says_whether_it_is_consensus_policy_or_tooling():
    """The first word of each module's docstring tells a reader what is safe to change
    (docs/architecture.md: consensus splits the network when changed, policy changes one node,
    tooling changes no node); package ``__init__`` files describe their package instead."""
    kernels = PACKAGE.parent / "kernels"
    unmarked = []
    for path in sorted([*PACKAGE.rglob("*.py"), *kernels.glob("*.py")]):
        if path.name == "__init__.py" and path.parent != kernels:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if not doc.startswith(("[consensus] ", "[policy] ", "[tooling] ")):
            unmarked.append(str(path.relative_to(PACKAGE.parent)))
    assert unmarked == []
