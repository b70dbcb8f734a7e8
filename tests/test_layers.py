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


# --- the LLM plugs into seams: it extends no class of the layers below ------------------------------
LOWER_PACKAGES = ("gradientcoin_edu.chain", "gradientcoin_edu.network", "gradientcoin_edu.proof_of_gradient")
NOT_A_BASE = ("gradientcoin_edu.network", "gradientcoin_edu.proof_of_gradient")   # llm classes never extend these
# interfaces declared to be implemented: overriding their methods *is* plugging into the seam
SEAM_INTERFACES = {"gradientcoin_edu.chain.work.WorkRule"}
MAY_OVERRIDE = {"__init__", "__repr__", "__doc__", "__module__", "__qualname__", "__dict__", "__weakref__",
                "__annotations__", "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__"}


def _in(cls: type, packages: tuple[str, ...]) -> bool:
    return cls.__module__.startswith(tuple(p + "." for p in packages)) or cls.__module__ in packages


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _extensions(classes) -> list[str]:
    """What each of ``classes`` (classes of llm/) does to a class of chain/, network/ or
    proof_of_gradient/ that it extends: extending a network or proof-of-gradient class at all, or
    overriding an attribute that such a class (or a chain/ class) defines - other than ``__init__``
    and ``__repr__`` and the methods of a seam interface (``WorkRule``)."""
    found = []
    for cls in classes:
        own = [k for k in cls.__mro__ if not _in(k, LOWER_PACKAGES) and k is not object]
        for base in cls.__mro__[1:]:
            if _in(base, NOT_A_BASE):
                found.append(f"{_name(cls)} extends {_name(base)}")
            if not _in(base, LOWER_PACKAGES) or _name(base) in SEAM_INTERFACES:
                continue
            for name in sorted(set(vars(base)) - MAY_OVERRIDE):
                by = next((k for k in own if name in vars(k)), None)
                if by is not None and cls.__mro__.index(by) < cls.__mro__.index(base):
                    found.append(f"{_name(by)}.{name} overrides {_name(base)}.{name}")
    return sorted(set(found))


def _llm_classes() -> list[type]:
    import importlib
    import inspect
    import pkgutil

    import gradientcoin_edu.llm as llm
    classes = []
    for info in pkgutil.iter_modules(llm.__path__):
        module = importlib.import_module(f"{llm.__name__}.{info.name}")
        classes += [c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__]
    return classes


def test_the_llm_extends_no_class_below_it():
    """docs/architecture.md, "How the LLM plugs in": the llm package plugs objects into the seams of
    the chain, network and proof-of-gradient layers. ``LLMChain`` is a ``Chain`` that only adds
    methods (the model's views; its ``__init__`` wires the rule, the genesis and the store);
    ``LLMRule`` implements the ``WorkRule`` interface and holds a ``ProofOfGradient``. No class of
    llm/ extends a network or proof-of-gradient class, or overrides what a chain/ class defines."""
    classes = _llm_classes()
    assert {c.__name__ for c in classes} >= {"LLMChain", "LLMRule", "Proof"}
    assert _extensions(classes) == []


def test_the_extension_checker_sees_an_override_and_a_forbidden_base():
    """The checker is not blind: an llm-like class that overrides ``Chain.add_block``, one that
    extends ``ProofOfGradient`` (as ``LLMRule`` once did), and one overriding through an
    intermediate class of its own are all reported; implementing ``WorkRule`` is not."""
    from gradientcoin_edu.chain import Chain
    from gradientcoin_edu.chain.work import WorkRule
    from gradientcoin_edu.proof_of_gradient import ProofOfGradient

    class Overrides(Chain):
        def add_block(self, block, now=None):
            return super().add_block(block, now)

        def extra(self):
            return None

    class OldRule(ProofOfGradient):
        def connect(self, block, parent_header=None, height=None):
            return None

    class Middle(Chain):
        def tips(self, include_invalid=False):
            return []

    class Below(Middle):
        pass

    class Implements(WorkRule):
        def connect(self, block, parent_header, height):
            return None

        def __repr__(self):
            return "Implements()"

    for cls in (Overrides, OldRule, Middle, Below, Implements):
        cls.__module__ = "gradientcoin_edu.llm.example"
    found = _extensions([Overrides, OldRule, Below, Implements])
    assert any(f.endswith("Overrides.add_block overrides gradientcoin_edu.chain.chain.Chain.add_block") for f in found)
    assert not any("Overrides.extra" in f for f in found)
    assert any("OldRule extends gradientcoin_edu.proof_of_gradient.rule.ProofOfGradient" in f for f in found)
    assert any("OldRule.connect overrides gradientcoin_edu.proof_of_gradient.rule.ProofOfGradient.connect" in f
               for f in found)
    assert any("Middle.tips overrides gradientcoin_edu.chain.chain.Chain.tips" in f for f in found)
    assert not any("Implements" in f for f in found)


def test_the_chain_calls_its_work_rule_before_it_moves(tmp_path):
    """The contract ``LLMRule.height`` relies on (it keeps no height counter, it reads the chain's):
    the chain calls ``connect_block``/``reconnect`` of a block at height ``H`` while its own tip is
    the block's parent (height ``H - 1``), and ``disconnect`` while the block is still its tip - on
    new blocks, reorganisations both ways, the roll-back after a refused block, and the replay
    of a restart from the store. A rule that records what it sees checks it."""
    from gradientcoin_edu.chain import Chain
    from gradientcoin_edu.chain.work import ProofOfWork
    from gradientcoin_edu.errors import InvalidBlock
    from tests._chain_helpers import ALICE, BOB, NOW, PARAMS, extend, next_block

    class Recording(ProofOfWork):
        def __init__(self):
            self.chain, self.seen, self.refuse = None, [], set()

        def _saw(self, kind, block, height):
            tip = self.chain.tip
            self.seen.append((kind, height, tip.height, tip.hash == block.prev_hash, tip.hash == block.hash()))

        def connect_block(self, block, parent_header, height, utxo_undo):
            self._saw("connect", block, height)
            if block.hash() in self.refuse:
                raise InvalidBlock("refused", "the test refuses this block")
            return super().connect_block(block, parent_header, height, utxo_undo)

        def reconnect(self, block, parent_header, height, utxo_undo):
            self._saw("reconnect", block, height)
            return super().connect_block(block, parent_header, height, utxo_undo)

        def disconnect(self, block, undo):
            self._saw("disconnect", block, self.chain.entry_at(self.chain.height).height)
            return super().disconnect(block, undo)

    def open_chain():                                  # bound before the store is replayed, as LLMChain does
        rule, chain = Recording(), Chain.__new__(Chain)
        rule.chain = chain
        chain.__init__(PARAMS, rule, str(tmp_path / "chain.sqlite"), clock=lambda: NOW)
        return chain, rule

    chain, rule = open_chain()
    main = extend(chain, 3)
    rival = extend(chain, 4, parent=main[0].hash(), miner=ALICE)      # a reorg: 2 off, 4 on
    assert chain.tip.hash == rival[-1].hash()
    more = extend(chain, 3, parent=main[-1].hash())                    # and back: 2 reconnected
    assert chain.tip.hash == more[-1].hash()
    bad = next_block(chain, parent=rival[-1].hash(), miner=BOB)
    rule.refuse.add(bad.hash())
    chain.add_block(bad)                                               # a side branch: not connected yet
    after = next_block(chain, parent=bad.hash(), miner=BOB)
    with pytest.raises(InvalidBlock):
        chain.add_block(after)                                         # heavier: tried, refused, rolled back
    assert chain.tip.hash == more[-1].hash()
    seen = rule.seen
    assert {kind for kind, *_ in seen} == {"connect", "reconnect", "disconnect"}
    chain.close()
    chain, rule = open_chain()                                         # the replay of a restart
    assert chain.tip.hash == more[-1].hash() and [k for k, *_ in rule.seen] == ["connect"] * 6
    chain.close()
    for kind, height, chain_height, on_parent, on_block in seen + rule.seen:
        if kind == "disconnect":
            assert on_block and chain_height == height
        else:
            assert on_parent and chain_height == height - 1
