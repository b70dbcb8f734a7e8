"""Write notebooks/00_start_here.ipynb from the cells below (clean: no outputs, no execution counts).

Run from the repository root: ``python scripts/build_nb00.py``. Edit the notebook here, not in
Jupyter, so that the committed file stays clean and reviewable. The course map is generated from
``COURSE`` in ``scripts/course_table.py``, the same table the README's course table uses.
"""
from __future__ import annotations

import importlib.util
import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = pathlib.Path(__file__).resolve().parents[1]
PATH = ROOT / "notebooks" / "00_start_here.ipynb"


def _course_table_module():
    spec = importlib.util.spec_from_file_location("course_table", ROOT / "scripts" / "course_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CT = _course_table_module()
SETUP = _CT.SETUP_CELL


def course_map() -> str:
    rows = ["| # | notebook | whitepaper section / paper topic | library module (`gradientcoin_edu.`…) |",
            "|---|---|---|---|"]
    for number, (title, topic, modules) in _CT.COURSE.items():
        if number != "00":
            rows.append(f"| {number} | {title} | {topic} | {modules} |")
    return "\n".join(rows)


CELLS: list[tuple[str, str]] = [
    ("md", r"""# 00 · Start here: a language model nobody owns

Large language models today belong to someone: one company trains the model, decides what data
goes in, and can change it, censor it or switch it off. **GradientCoin** (Gao, Song, Yin 2023,
[arXiv:2308.10502](https://arxiv.org/abs/2308.10502)) asks whether an LLM could instead be run
the way Bitcoin runs money: by everyone and no one. This course builds that idea, small enough to
run on a laptop and real enough that every rule is enforced and tested.

**What you will build (in this notebook).** Nothing big yet: you will check that the package is
installed and see which device and which kernel backend it uses, take a first look at the three
ideas everything rests on (a hash, a Merkle root, a proof of work), and read the map of the twelve
notebooks that follow.

**Learning goals.** After this notebook you can
1. say in plain words what GradientCoin is and how it differs from Bitcoin (*mining is training*);
2. find your way around the course: which notebook teaches which section of the whitepaper, with which library module;
3. run the notebooks in Colab with a GPU, or on a laptop without one;
4. check that your installation works and tell whether the GPU kernels or the CPU path are in use."""),
    ("code", SETUP),

    # ------------------------------------------------------------------ 1. the idea
    ("md", r"""## 1. The idea in plain words

Bitcoin (Nakamoto 2008) keeps a ledger that no single party controls. Thousands of computers
each hold a copy; anyone may join; new entries are added in *blocks*, and a block counts only if
its maker did a lot of provable work. To rewrite history, an attacker would have to redo that work
faster than everyone else together. The work itself, trying nonces until a hash is small enough,
is useful for nothing but security.

GradientCoin keeps all of that and changes what the work is:

* **The model lives on the chain.** Its weights are the chain's state: every node derives the
  same, bit-identical weights from the blocks. No single owner can shut it down or quietly edit it.
* **Proof-of-gradient: mining is training.** A lottery ticket costs one real gradient of the model,
  computed on a batch of training data that the ticket itself picks. The winning block carries
  that gradient, and applying it is one training step. Every node checks the block by *recomputing*
  the gradient on the same batch (notebook 12 explains why recomputing is the right check).
* **Unhealthy data is kept out.** Training data enters only through data transactions, so the data
  set is committed on the chain; the batch is chosen by hash, not by the miner; and a block whose
  update makes the model worse on the chain's validation set is invalid.
* **Using the model is paid for,** like a transaction: a query carries a fee, and the answer can be
  checked against the weights the chain commits to.

| | Bitcoin | GradientCoin |
|---|---|---|
| a lottery ticket costs | one SHA-256d of a block header | one gradient of the model on a hash-chosen batch |
| a block carries | transactions | transactions and a quantized gradient; roots of the gradient and of the new weights |
| the chain's state | who owns which coins (UTXO set) | that, plus the model's weights and the training data set |
| fees pay for | payments | payments, adding training data, asking the model |
| who can shut it down | nobody | nobody |

The paper describes this on paper, section by section along the Bitcoin whitepaper. The library
`gradientcoin_edu` makes it run."""),

    # ------------------------------------------------------------------ 2. the map
    ("md", "## 2. The map of the course\n\n"
           "Each notebook teaches one library module and proves what it shows with `assert`s; most end with "
           "exercises that a named check grades. Notebooks 01–06 build Bitcoin's machinery, 07–11 the "
           "decentralized model on top of it, 12 the theory behind checking a training step.\n\n"
           + course_map() + "\n\n"
           "The README has the same table with each notebook's measured CPU run time, its number of "
           "exercises and an *Open in Colab* badge."),

    # ------------------------------------------------------------------ 3. how to run
    ("md", r"""## 3. How to run the notebooks

**In Colab, with a GPU.** Open a notebook from its *Open in Colab* badge in the README. Then choose
*Runtime → Change runtime type → T4 GPU → Save* **before** running anything (changing it later
restarts the session). Run the setup cell (the second cell of every notebook): it installs the
package, which takes a minute or two the first time in each session, and prints the device in use.
Everything also runs on Colab's CPU runtime, just slower where a notebook has a GPU setting.

> **About the T4.** Colab's free GPU is an NVIDIA T4 (compute capability sm_75). Current Triton
> officially supports sm_80 (A100) and newer; on a T4 the GPU hashing kernels may fail to compile.
> The library then falls back to its bit-exact CPU path and **says so in one line**; results are
> identical, only slower. An A100 or L4 runtime (paid tiers) runs the Triton kernels. The first call
> of a Triton kernel compiles it (several seconds); later calls are fast.

**On a laptop, without a GPU.** Every notebook runs on a CPU in about two minutes or less. In a
terminal:

```bash
git clone https://github.com/gradientcoin-edu/gradientcoin_edu && cd gradientcoin_edu
python -m venv .venv && source .venv/bin/activate          # Windows: .venv\Scripts\activate
pip install torch==2.13.0 && pip install -e ".[dev]"        # CPU PyTorch first, then the package
jupyter lab notebooks/
```

(`conda env create -f environment.yml` gives the same environment.) Cells that need a GPU are
marked and skipped on a CPU. To check the whole course, run the README's test command; it executes
every test and every notebook."""),

    # ------------------------------------------------------------------ 4. installation check
    ("md", r"""## 4. Does the installation work?

The library is one package with a subpackage per concept (`docs/architecture.md` has the map).
Import each one; if any import fails, the installation is broken. Each module's first docstring line
says what it is."""),
    ("code", r"""import importlib

SUBPACKAGES = ["crypto", "ledger", "chain", "network", "model", "proof_of_gradient",
               "kernels", "calculations", "theory", "exercises", "viz"]
modules = {}
for name in SUBPACKAGES:
    modules[name] = importlib.import_module(f"gradientcoin_edu.{name}")
    summary = (modules[name].__doc__ or "").strip().splitlines()[0]
    print(f"gradientcoin_edu.{name:<18} ok  {summary[:80]}")
assert sorted(modules) == sorted(SUBPACKAGES)
assert all(m.__name__ == f"gradientcoin_edu.{n}" for n, m in modules.items())
print(f"\nall {len(modules)} subpackages import")"""),
    ("md", r"""Which machine is this notebook running on? `print_environment()` (also called by every setup
cell) prints one line: the package and Python versions, PyTorch, the device and the number of CPU
threads PyTorch uses."""),
    ("code", r"""import torch

line = gradientcoin_edu.print_environment()
assert line.startswith(f"gradientcoin_edu {gradientcoin_edu.__version__}")
assert ("CUDA" in line) == torch.cuda.is_available()"""),
    ("md", r"""### Which kernel backend?

Proof-of-gradient commits to a gradient by hashing it (notebook 08), and the hashing has two
implementations in `gradientcoin_edu.kernels`: Triton kernels for CUDA tensors and a bit-exact CPU
path (NumPy + hashlib) for everything else. `kernels.backend_for(x)` says which one a call with
input `x` takes, and the library announces its choice once, in one line. Below we commit to a small
random "gradient" on the best device here and check that it gives the same root as the CPU path:
whichever backend runs, the bytes are the same."""),
    ("code", r"""from gradientcoin_edu import kernels

device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"device: {device} | triton installed: {kernels.triton_available()}")
if device == "cuda":
    major, minor = torch.cuda.get_device_capability(0)
    print(f"GPU: {torch.cuda.get_device_name(0)}, compute capability sm_{major}{minor}")
    if (major, minor) < (8, 0):
        print("  older than sm_80: Triton may not compile here; the library falls back to the CPU path and says so")

grad = torch.randn(10_000, generator=torch.Generator().manual_seed(0), dtype=torch.float32)   # (N,)
root_here = kernels.gradient_root(grad.to(device), chunk_bytes=1024, quantum_log2=20)
root_cpu = kernels.gradient_root(grad.numpy(), chunk_bytes=1024, quantum_log2=20, backend="cpu")
assert root_here == root_cpu                      # bit-exact, whichever path ran
backend = kernels.backend_for(grad.to(device))    # after a failed Triton compile this says "cpu"
print(f"gradient root {root_here.hex()[:16]}...  computed with the {backend!r} backend")
assert backend in kernels.BACKENDS"""),

    # ------------------------------------------------------------------ 5. a taste
    ("md", r"""## 5. A first taste

Three ideas carry the whole course. Each gets a notebook of its own; here is a one-cell preview of each.

**A hash** is a 32-byte fingerprint of any data. Change one character and the fingerprint changes
completely (notebook 01)."""),
    ("code", r"""import hashlib

from gradientcoin_edu.crypto import merkle_proof, merkle_root, sha256, verify_proof

for text in ["GradientCoin", "GradientCoin!"]:
    print(f"sha256({text!r:16}) = {sha256(text.encode()).hex()}")
assert sha256(b"GradientCoin") == hashlib.sha256(b"GradientCoin").digest()
assert len(sha256(b"GradientCoin")) == 32"""),
    ("md", r"""**A Merkle root** is one hash that commits to a whole list (the transactions of a block, the
chunks of a gradient, the weights of the model). A short *proof* shows that one item is in the list
without sending the rest (notebooks 03 and 10)."""),
    ("code", r"""transactions = [b"alice pays bob 5", b"bob pays carol 2", b"dave adds training text", b"erin asks the model"]
root = merkle_root(transactions)
proof = merkle_proof(transactions, 2)
print("Merkle root:", root.hex())
print(f"proof that item 2 is in the list: {len(proof.siblings)} hashes instead of {len(transactions) - 1} items")
assert verify_proof(transactions[2], proof, root)
assert not verify_proof(b"dave adds poisoned text", proof, root)   # a changed item does not fit the root
assert merkle_root(transactions[:3] + [b"erin asks the model twice"]) != root"""),
    ("md", r"""**Proof of work** is a lottery: try nonces until the hash of (data, nonce) starts with enough
zero bits. Each extra bit doubles the expected number of tries, so a winning nonce proves the work
was done. In Bitcoin each try is a hash; in GradientCoin each try costs one gradient of the model,
so the same lottery trains it (notebooks 03 and 08)."""),
    ("code", r"""from gradientcoin_edu.crypto import sha256d

def mine(data: bytes, zero_bits: int) -> tuple[int, bytes]:
    target = 2 ** (256 - zero_bits)                # a hash below target starts with zero_bits zeros
    nonce = 0
    while True:
        digest = sha256d(data + nonce.to_bytes(8, "little"))
        if int.from_bytes(digest, "big") < target:
            return nonce, digest
        nonce += 1

for bits in [4, 8, 12]:
    nonce, digest = mine(b"block 1: alice pays bob 5", bits)
    print(f"{bits:2d} zero bits: nonce {nonce:5d} (expected about {2 ** bits:5d} tries)  hash {digest.hex()[:20]}...")
    assert int.from_bytes(digest, "big") >> (256 - bits) == 0"""),
    ("md", r"""Finally, a taste of the whitepaper's section 11: how likely is an attacker with 10 % of the
mining power to undo a payment that has 5 confirmations? The paper's table says 0.0009137;
`gradientcoin_edu.calculations` reproduces it (notebook 05 checks it by simulation)."""),
    ("code", r"""from gradientcoin_edu.calculations import attacker_success_probability

p = attacker_success_probability(q=0.1, z=5)
print(f"P(attacker with q = 0.1 catches up from 5 blocks behind) = {p:.7f}")
assert round(p, 7) == 0.0009137"""),

    # ------------------------------------------------------------------ summary
    ("md", r"""## Summary

* GradientCoin runs a language model the way Bitcoin runs a ledger: every node holds the chain,
  the weights are derived from it bit for bit, and no single owner can shut the model down.
* Its proof-of-work is **proof-of-gradient**: every lottery ticket costs a real gradient on a
  hash-chosen batch, so mining is training, and nodes verify a block by recomputing its gradient.
* Training data enters only through transactions and a block that hurts the validation loss is
  invalid, which keeps unhealthy data out.
* The course follows the whitepaper: 01–06 Bitcoin's machinery, 07–11 the decentralized model and
  its GPU kernels, 12 the theory. Your installation works if every cell above ran; the kernel check
  told you whether the GPU kernels or the CPU path will run.

## Discussion questions

1. Bitcoin's work is useless outside the chain; GradientCoin's work trains a model. Is "useful"
   work a free lunch? What could a miner gain by choosing *which* useful work to do, and how does
   letting the ticket pick the batch take that choice away?
2. "No single owner can shut it down." Who, then, decides what the model should learn, and what
   happens when two groups of nodes disagree about which blocks are valid?
3. Checking a Bitcoin block costs a few hashes; checking a GradientCoin block costs recomputing a
   gradient, as much as producing it. What does that mean for who can afford to run a full node?"""),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for cell in nb.cells:                      # no cell ids: stable diffs
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


def main() -> None:
    nb = build()
    nbformat.validate(nb)
    PATH.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(PATH))
    print(f"wrote {PATH.relative_to(ROOT)} ({len(nb.cells)} cells)")


if __name__ == "__main__":
    main()
