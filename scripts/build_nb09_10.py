"""Write notebooks 09 (training on the chain) and 10 (asking the decentralized model), clean.

Run from anywhere: ``python scripts/build_nb09_10.py`` (or ``--out-dir /tmp/nb`` to compare).
Edit the notebooks here, not in Jupyter, so the committed files stay clean and reviewable.
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild, from any cwd
import nbbuild  # noqa: E402
from nbbuild import SETUP, code, md  # noqa: E402

# ============================================================================ notebook 09

NB09 = [
    md(r"""# 09 · Training on the chain

Notebook 08 showed one proof-of-gradient block: a lottery ticket that costs a real gradient, and a
verifier that recomputes it. Here the blocks add up to a language model that nobody owns. Several
miners train the tiny GPT of notebook 07 through blocks; every node derives bit-identical weights;
anyone can pay to add text to the training data; a poisoner tries to spoil the model; and old
gradients are pruned from the disk while the chain stays verifiable.

**What you will build.** A decentralized-LLM network (`LLMSpec`: the rules, the data and a genesis
block that commits to them), a chain wired with the proof-of-gradient rule (`LLMChain`), three
miners on a simulated network, the loss curve of the chain against ordinary central training, a
paid data contribution, two poisoning attempts, and a pruned node that restarts from a weight
snapshot.

**Learning goals.** After this notebook you can
1. explain why mining a block *is* a training step, and why every node ends with the same weights;
2. compare the chain's loss curve with central training at the same number of gradient steps;
3. trace a data contribution from a transaction to the dataset root in a coinbase commitment;
4. say what the screen, the per-block guard and the anchored guard each stop, and what they cost;
5. prune old gradients and restart a node from a snapshot, and say what a pruned node gives up.

Library code: `gradientcoin_edu/llm/` (start with its `__init__.py`). About a minute on two CPU cores."""),
    code(SETUP),
    code(r"""import pathlib
import random
import tempfile

import numpy as np
import plotly.graph_objects as go
import torch

from gradientcoin_edu.errors import InvalidBlock
from gradientcoin_edu.ledger import COIN, Wallet, build_payment
from gradientcoin_edu.llm import LLMChain, LLMSpec, build_data_tx, read_commitment, read_genesis
from gradientcoin_edu.llm.baseline import central_training
from gradientcoin_edu.llm.data import contribution_records
from gradientcoin_edu.llm.network import LLMSimulator
from gradientcoin_edu.llm.pruning import prune
from gradientcoin_edu.model import generate_corpus
from gradientcoin_edu.network.simulator import LinkSpec
from gradientcoin_edu.proof_of_gradient import compute_loss

random.seed(9)
np.random.seed(9)
torch.manual_seed(9)
torch.set_num_threads(1)   # the tiny model gains nothing from threads; consensus numbers are float64 either way"""),

    # ------------------------------------------------------------------ 1. the network
    md(r"""## 1. One network: its rules, its data, its genesis block

Everything the nodes must agree on before the first block is fixed in an `LLMSpec`: the model
(`nano`: 2 layers, 64 wide), the training and validation records of the built-in corpus (committed
by their Merkle roots), the number formats and learning rate of proof-of-gradient, the guard margin,
and the rules for data and queries. The genesis block commits to all of it: its coinbase carries
`"GCLM" ‖ SHA-256(parameters)` and its header the Merkle root of the genesis weights."""),
    code(r"""spec = LLMSpec.builtin("demo", seed=0)
pog = spec.pog
print(spec)
print(f"learning rate {pog.lr}, batch {pog.batch_size} records, quantum 2^-{pog.quantum_log2}, "
      f"guard margin {pog.validation_margin} nats, block payload {pog.payload_bytes:,} bytes")
coinbase_data = spec.genesis.txs[0].inputs[0].signature[4:]
print("genesis coinbase data:", coinbase_data[:4], coinbase_data[4:36].hex()[:32] + "...")
assert coinbase_data[4:36] == spec.params.hash                     # the parameters' commitment
assert read_genesis(spec.genesis) == spec.params                   # ... and the parameters themselves
assert spec.genesis.header.weights_root == pog.genesis_weights_root()"""),

    # ------------------------------------------------------------------ 2. one block
    md(r"""## 2. Mining a block is a training step

`chain.mine(address)` draws tickets on the tip: nonce → batch → float64 gradient → quantized `Q`
→ `grad_root` → ticket. At this network's difficulty about half the tickets win. The winning `Q`
is the payload; `W_new = W − apply(Q)` in integers; `weights_root` goes into the header. A second
node that receives the block recomputes the gradient on the same batch and ends with the same
integers."""),
    code(r"""alice = Wallet.from_seed("nb09 alice")
node_a, node_b = LLMChain(spec), LLMChain(spec)
block, proof, _ = node_a.mine(alice.address)
print(f"{proof.attempts} gradient(s) computed for this block; payload {len(block.payload):,} bytes")
print("grad_root   ", block.header.grad_root.hex()[:32], "...")
print("weights_root", block.header.weights_root.hex()[:32], "...")
node_a.add_block(block)
node_b.add_block(block)                                            # node b verifies: recomputes the gradient
assert node_a.rule.weights_root() == node_b.rule.weights_root() == block.header.weights_root
assert np.array_equal(node_a.weights, node_b.weights)              # bit-identical integers
print(f"validation loss {node_b.val_loss(0):.4f} -> {node_b.val_loss():.4f}")
assert node_b.val_loss() < node_b.val_loss(0)"""),

    # ------------------------------------------------------------------ 3. three miners
    md(r"""## 3. Three miners, one model

Now three miners on the network simulator of notebook 04. Block *times* come from simulated hash
rates (who finds the next block, and when, is an exponential race); the *work* is real: the winner
computes gradients until a ticket wins, and every other node recomputes the winning gradient before
it builds on the block. Links have a two-second latency, so now and then two miners find a block
at once and the network resolves the fork - the weights move back and forth with the reorg."""),
    code(r"""sim = LLMSimulator(spec, seed=9)
for name in ("ana", "ben", "cy"):
    sim.add_node(name)
sim.connect_random(degree=2, link=LinkSpec(latency=2.0, jitter=2.0))
sim.run(blocks=40)
sim.settle()                                                       # stop mining, let the messages drain
chain = sim.node("ana").chain
names = {sim.node(n).miner_id: n for n in sim.live()}
print({names[m]: count for m, count in chain.miners().items()}, "blocks on the best chain;",
      len(sim.stale_blocks()), "stale")
print("gradients computed by all miners:", sum(sim.node(n).stats["gradients"] for n in sim.live()))
assert sim.converged()
assert len({sim.node(n).chain.rule.weights_root() for n in sim.live()}) == 1"""),
    md(r"""Each block applied one SGD step, so the fair comparison is central training - one owner, the
same model, data, batch size, learning rate and clipping, in float64 - after the same number of
steps. The chain's curve comes from the chain itself: `chain.val_loss(h)` recovers the exact weights
after block `h` (undoing the later gradients) and evaluates them."""),
    code(r"""heights = list(range(chain.height + 1))
chain_loss = [chain.val_loss(h) for h in heights]
central = central_training(spec, chain.height, seed=9, eval_every=1)
fig = go.Figure()
fig.add_scatter(x=heights, y=chain_loss, name="on the chain (block height)", mode="lines+markers")
fig.add_scatter(x=central.steps, y=central.val_losses, name="central training (SGD step)", mode="lines")
fig.update_layout(title="Validation loss: proof-of-gradient chain vs central training", xaxis_title="block height = gradient steps",
                  yaxis_title="validation loss (nats)", height=380)
fig.show()
print(f"after {chain.height} steps: chain {chain_loss[-1]:.3f}, central {central.final_loss:.3f}")
assert chain_loss[-1] < chain_loss[0] - 1.0                        # the chain really trains
assert abs(chain_loss[-1] - central.final_loss) < 0.3              # about as well as one owner would"""),
    md(r"""The two curves are not identical - different batches, and the chain rounds each gradient to the
quantum - but they are the same kind of curve: the chain loses nothing in *learning* per step. What
it costs in *time* per step (the tickets that lose, the verification by every node) is measured in
`docs/benchmarks_llm.md`.

### Exercise 09.1 - the dataset root a block must commit to

A block's data contributions are appended to the dataset in block order, each text cut into records
of `record_tokens` token ids (the tail shorter than a record is dropped), and the coinbase must commit
to the Merkle root of the resulting dataset. Write the function that computes it. (`Dataset.extend`
and `Dataset.root` will help.)"""),
    code(r"""def dataset_root_after(dataset, texts, tokenizer, record_tokens):
    # dataset: the Dataset at the parent block; texts: the block's contributions, in order
    raise NotImplementedError"""),
    code(r"""from gradientcoin_edu.exercises import check
check("09.1", dataset_root_after)"""),

    # ------------------------------------------------------------------ 4. data
    md(r"""## 4. Buying a place in the training data

Ada has no coins yet, so a miner pays her some. Then she sends a transaction of kind
`KIND_TRAINING_DATA` whose payload is her text. Its fee - at least `data_fee_per_record` per record -
goes to the miner who includes it. The block's coinbase commits to the new dataset root; her records
can be drawn into batches from the *next* block on."""),
    code(r"""ada = Wallet.from_seed("nb09 ada")
rich = max(sim.live(), key=lambda n: chain.balance(sim.nodes[n].address))
pay = build_payment(chain.utxo, sim.nodes[rich].key, [(ada.address, 10 * COIN), (ada.address, 5 * COIN)], 1000)
chain.mine_and_add(alice.address, [pay])

text = "".join(f"{a}+{b}={a + b}\n" for a in range(10) for b in range(0, 10, 3))
contribution = build_data_tx(chain.utxo, ada.key, text, spec.params)
records_before, root_before = len(chain.dataset), chain.dataset.root
block = chain.mine_and_add(alice.address, [contribution])
added = len(chain.dataset) - records_before
print(f"{len(text)} characters -> {added} records of {spec.params.record_tokens}; fee "
      f"{spec.params.data_fee_per_record * added} units; dataset root {root_before.hex()[:12]}.. -> {chain.dataset.root.hex()[:12]}..")
assert read_commitment(block.txs[0]).dataset_root == chain.dataset.root          # committed in the coinbase
assert chain.rule.params.dataset_root == chain.dataset.root                       # the next block draws from it
assert spec.tokenizer.decode(chain.dataset.records[-added].tolist()) == text[:spec.params.record_tokens]"""),

    # ------------------------------------------------------------------ 5. poisoning
    md(r"""## 5. A poisoning attempt

Mallory wants to spoil the model. Her first try: pay for a contribution of text the model has
never seen the like of - the corpus in capital letters. It is refused at the door by the **screen**:
the model at the parent block must find a contribution about as likely as its validation text (mean
cross-entropy at most `data_margin` = 1 nat above the validation loss). Every node computes the same
float64 numbers, so every node refuses it."""),
    code(r"""mallory = Wallet.from_seed("nb09 mallory")
pay = build_payment(chain.utxo, ada.key, [(mallory.address, 2 * COIN)], 1000)
chain.mine_and_add(alice.address, [pay])
shouting = generate_corpus(b"mallory", 400).upper()[: 60 * spec.params.record_tokens]
attack = build_data_tx(chain.utxo, mallory.key, shouting, spec.params)
records = contribution_records(attack, spec.params, spec.tokenizer)
x, y = torch.from_numpy(records[:, :-1].copy()), torch.from_numpy(records[:, 1:].copy())
loss = compute_loss(pog.model, chain.weights, x, y, scale_log2=pog.scale_log2)
print(f"validation loss {chain.val_loss():.3f}; the model's loss on Mallory's text {loss:.3f}")
try:
    chain.mine(alice.address, [attack])
    raise AssertionError("the screen let it through")
except InvalidBlock as err:
    print("refused:", err.reason)
    assert err.reason == "data-implausible"
assert loss > chain.val_loss() + spec.params.data_margin"""),
    md(r"""The screen is no wall: a text the model finds plausible passes it - and on a network whose rules
have no screen, anything the fee pays for passes. What then? On such a network (`screen_data=False`,
no record cap) Mallory floods the dataset with the corpus written backwards: 4,096 records, 70 % of
the dataset after her block. Honest miners cannot pick their batches (the ticket picks them), so
from then on most of their gradients are computed on her text.

The second line of defence is the **validation guard** of DESIGN.md: a block whose update raises the
validation loss by more than the margin is invalid. Measured per block, against the parent, it
stops sharp damage but not a slow drift (many small rises). This network therefore anchors the
guard: a block's validation loss may exceed **the best of the chain so far** by at most the margin.
We run the same flood on two copies of one chain: one guarded, one with the guard switched off."""),
    code(r"""lax = LLMSpec.builtin("demo", seed=0, screen_data=False, max_records_per_tx=4096, max_records_per_block=4096)
base = LLMChain(lax)
base.mine_and_add(mallory.address)
for _ in range(49):
    base.mine_and_add(alice.address)                     # 50 honest blocks first
backwards = "".join(line[::-1] + "\n" for line in generate_corpus(b"mallory", 12000).splitlines())
flood = build_data_tx(base.utxo, mallory.key, backwards[: 4096 * lax.params.record_tokens], lax.params)

runs = {}
for guarded in (True, False):
    c = LLMChain(lax, check_validation=guarded)
    for entry in base.active_chain()[1:]:
        c.add_block(entry.block)
    best = min(c.val_loss(h) for h in range(c.height + 1))
    c.mine_and_add(alice.address, [flood])
    gradients = 0
    for _ in range(25):
        block, proof, _ = c.mine(alice.address)
        gradients += proof.attempts
        c.add_block(block)
    runs[guarded] = dict(loss=[c.val_loss(h) for h in range(base.height, c.height + 1)], gradients=gradients)
print(f"poison share of the dataset: {4096 / len(c.dataset):.0%}; best validation loss before: {best:.3f}")"""),
    code(r"""margin = lax.pog.validation_margin
xs = list(range(base.height, base.height + len(runs[True]["loss"])))
fig = go.Figure()
fig.add_scatter(x=xs, y=runs[False]["loss"], name="no guard", mode="lines+markers")
fig.add_scatter(x=xs, y=runs[True]["loss"], name="anchored guard", mode="lines+markers")
fig.add_hline(y=best + margin, line_dash="dash", annotation_text="best so far + margin")
fig.update_layout(title="After the flood (block 51): validation loss", xaxis_title="block height",
                  yaxis_title="validation loss (nats)", height=380)
fig.show()
free, guarded = np.array(runs[False]["loss"]), np.array(runs[True]["loss"])
rises = np.diff(free)
print(f"no guard: worst {free.max():.3f} (+{free.max() - best:.3f} over the best), largest single-block rise {rises.max():+.3f}")
print(f"guarded:  worst {guarded.max():.3f}; gradients spent {runs[True]['gradients']} vs {runs[False]['gradients']} unguarded")
assert guarded.max() <= best + margin + 1e-12          # the anchored guard's promise
assert free.max() > best + margin                      # without it the poison gets through
assert rises.max() < free.max() - best                 # ... by many small steps, not one big one"""),
    md(r"""What you see: without a guard, Mallory's text pushes the validation loss up well past the best the
chain had reached, mostly by steps that each look harmless. With the anchored guard the loss never
leaves the band `best + margin`; the price is paid by the honest miners, in tickets whose update
the guard refuses (they mine on, with the next nonce). The guard protects only what the validation
set measures - a poison aimed at something the validation set does not contain (say, wrong sums
in a corpus whose validation set has few sums) would pass both lines. Fees, the per-block record
cap and the screen make such a flood expensive; they do not make it impossible.

### Exercise 09.2 - the anchored guard

Given the validation losses after every block of a chain so far (`history`, genesis first) and the
loss after a new block, return whether the new block passes the anchored guard with `margin`."""),
    code(r"""def anchored_guard_ok(history, new_loss, margin):
    raise NotImplementedError"""),
    code(r"""check("09.2", anchored_guard_ok)"""),

    # ------------------------------------------------------------------ 6. pruning
    md(r"""## 6. Reclaiming disk space

Every block carries its gradient: 433 KB for this model, far more than its transactions. A node
needs it to verify the block once, to undo the block in a reorg, and to recover older weights. Once
a block is buried under `keep` others, `prune` drops it, keeping the headers, the transactions and a
**weight snapshot** (the weights after one block, which that block's header commits to). A restarted
node loads the snapshot, checks it against the header's `weights_root`, takes the blocks below it on
trust of that check (their transactions are still replayed) and verifies the blocks above it in full."""),
    code(r"""folder = pathlib.Path(tempfile.mkdtemp())
stored = LLMChain(spec, store=str(folder / "node.sqlite"), snapshot_interval=1000)   # only the snapshot prune writes
for entry in chain.active_chain()[1:]:
    stored.add_block(entry.block)
height, root = stored.height, stored.rule.weights_root()
report = prune(stored, keep=8)
print(report)
stored.close()
restarted = LLMChain(spec, store=str(folder / "node.sqlite"), snapshot_interval=1000)
print(f"restart: blocks 1..{len(restarted._assumed)} from the snapshot, {restarted.height - len(restarted._assumed)} re-verified")
assert report.bytes_after < report.bytes_before / 2
assert restarted.height == height and restarted.rule.weights_root() == root
restarted.mine_and_add(alice.address)                  # and it goes on mining"""),
    md(r"""A pruned node gives up reorgs deeper than `keep` (Bitcoin Core's pruned nodes keep 288 blocks for
the same reason), the weights of old heights, and serving old blocks to newcomers. Someone must keep
the whole history for new nodes to verify from genesis - or newcomers must trust a snapshot, which is
what `assumeutxo` does in Bitcoin Core.

### The bigger setting (GPU)

The cell below is skipped by the tests: nanoGPT's "baby GPT" (6 layers, 384 wide, 10.7 M parameters)
on the same rules. Each block's payload is 43 MB, too big for the simulator's 4 MB messages, so it
trains on one chain. The canonical gradient is float64; on a CPU each block takes minutes."""),
    code(r"""# NBVAL_SKIP
big = LLMSpec.builtin("gpu", seed=0)
big_chain = LLMChain(big)
for _ in range(20):
    big_chain.mine_and_add(alice.address)
print(big_chain.summary())"""),

    # ------------------------------------------------------------------ summary
    md(r"""## Summary

* An `LLMSpec` fixes a network: model, data roots, number formats, guard, data and query rules. The
  genesis block commits to them (parameters' hash in its coinbase, genesis weights' root in its header).
* Mining a block is one SGD step: tickets cost gradients, the winner's quantized gradient is the
  payload, and every node recomputes it and derives bit-identical integer weights. The chain's loss
  curve follows central training step for step.
* Anyone can pay to add text; it becomes trainable from the next block, and the coinbase commits to the
  new dataset root (Bitcoin's witness-commitment pattern).
* Three lines against poison: the screen refuses text the model finds implausible; the guard refuses
  updates that hurt the validation loss - anchored to the best loss so far, so that many small steps
  cannot add up; and fees and caps make floods expensive. None protects what the validation set does
  not measure.
* Old gradients can be pruned; a weight snapshot, checked against a header, lets a node restart.

## Discussion questions

1. The anchored guard can stall the chain: if the dataset is mostly poison, few tickets pass and
   honest miners burn gradients. Who pays for that, and how would you let the network recover
   (remove data? a different validation set?) without giving anyone a veto?
2. The screen and the guard both trust the validation set fixed at genesis. What happens when the
   world changes and honest new text looks "implausible"? Who should be allowed to change the
   validation set, and how would nodes agree on it?
3. A restarted node trusts its own snapshot. Would you trust a snapshot from a stranger if its
   weights hash to the `weights_root` of a header deep in the most-work chain? What exactly would
   you be trusting?"""),
]

# ============================================================================ notebook 10

NB10 = [
    md(r"""# 10 · Asking the decentralized model

A model that nobody owns still has to answer questions, and the answer must be worth trusting. In
GradientCoin a user pays for a query with a transaction; a node answers from the weights at a stated
height; anyone can check the answer. This notebook builds that, and then checks the model and its
answers with nothing but block headers, as Bitcoin's light clients check payments.

**What you will build.** A paid query transaction (prompt, height, number of tokens, fee), its
answer computed by deterministic greedy decoding and committed in the block that includes it, the
fee earned by the answering miner, a wrong answer refused, a Merkle proof that a chunk of weights
belongs to the model committed at height `h`, and a Merkle proof of an answer for a light client.

**Learning goals.** After this notebook you can
1. describe the life of a paid query, and who earns its fee and why that is enforced, not trusted;
2. explain what makes greedy decoding reproducible bit for bit across nodes;
3. verify a chunk of weights against a block header with a Merkle branch, and say what it proves;
4. verify an answer with headers only, through the coinbase commitment.

Library code: `gradientcoin_edu/llm/inference.py`, `light.py`. About half a minute on two CPU cores."""),
    code(SETUP),
    code(r"""import random
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import torch

from gradientcoin_edu.errors import InvalidBlock
from gradientcoin_edu.ledger import Wallet
from gradientcoin_edu.llm import AnswerRecord, LLMChain, LLMSpec, Query, answers_root, build_query_tx, read_commitment
from gradientcoin_edu.llm.commitment import Commitment, commitment_coinbase
from gradientcoin_edu.llm.light import (chunk_parameters, chunk_values, n_chunks, prove_answer,
                                        prove_weights_chunk, verify_answer, verify_weights_chunk)
from gradientcoin_edu.chain import Block, compute_tx_root

random.seed(10)
np.random.seed(10)
torch.manual_seed(10)
torch.set_num_threads(1)"""),

    # ------------------------------------------------------------------ 1. a model
    md(r"""## 1. A model on a chain

Bob mines 80 blocks (80 SGD steps) of the `demo` network; Ada mines the first one, so she has coins
to pay for queries."""),
    code(r"""spec = LLMSpec.builtin("demo", seed=0)
ada, bob, carol = (Wallet.from_seed(f"nb10 {n}") for n in ("ada", "bob", "carol"))
chain = LLMChain(spec)
chain.mine_and_add(ada.address)
for _ in range(79):
    chain.mine_and_add(bob.address)
print(chain.summary())
assert chain.val_loss() < chain.val_loss(0) - 1.5"""),

    # ------------------------------------------------------------------ 2. a paid query
    md(r"""## 2. A paid query

Ada's query names the weights after the current tip, a prompt and how many characters she wants.
She pays the fee the way every fee is paid: inputs minus outputs. The next block must include the
answer: its coinbase commits to the Merkle root of the answers of all the block's queries, and every
node recomputes them while validating the block. So the miner who includes the query - Carol - is the
answering node, and she gets the fee only if her answer is right: a wrong one makes her whole block
invalid (reward included)."""),
    code(r"""query = Query("\nthe cat ", chain.height, 12)
qtx = build_query_tx(chain.utxo, ada.key, query, spec.params)
print(f"query transaction: {qtx.size} bytes, kind {qtx.kind}, fee {spec.params.query_fee} units")
block = chain.mine_and_add(carol.address, [qtx])
height, record = chain.find_answer(qtx.txid)
print(f"answered in block {height} from the weights after block {record.height}: {record.text!r}")
assert chain.balance(carol.address) == spec.chain_params.subsidy(height) + spec.params.query_fee
assert read_commitment(block.txs[0]).answers_root == answers_root([record])"""),
    md(r"""## 3. Anyone can check the answer

The answer is a pure function of the chain: integer weights converted exactly to float64, the model
run in float64 with TF32 off, the argmax at each step with the lowest token id on a tie, the context
cut to the last `block_size` tokens. A fresh node that replays the chain gets the same characters,
and so does the ordinary `GPT.complete` of notebook 07 on the same weights."""),
    code(r"""fresh = LLMChain(spec)
for entry in chain.active_chain()[1:]:
    fresh.add_block(entry.block)
again = fresh.answer(query)
model = chain.model(query.height)                            # a float64 GPT with the weights of that height
direct = model.complete(spec.tokenizer, query.prompt, query.max_new_tokens)
print(repr(again), repr(direct))
assert again == direct == record.text"""),
    md(r"""And a miner who commits a different answer (to please someone, or to save the work) is refused by
every node. The refusal changes nothing: the chain, the coins and the weights stay as they were."""),
    code(r"""q2 = Query("\nada has ", chain.height, 8)
tx2 = build_query_tx(chain.utxo, ada.key, q2, spec.params)
honest = chain.mine(carol.address, [tx2]).block
lie = AnswerRecord(tx2.txid, q2.height, "9 cups!!")
cb = honest.txs[0]
fake_cb = commitment_coinbase(cb.coinbase_height, list(cb.outputs),
                              Commitment(read_commitment(cb).dataset_root, answers_root([lie])))
txs = (fake_cb, *honest.txs[1:])
from gradientcoin_edu.llm import mine_proof            # the liar trains for its block, like anyone:
proof = mine_proof(chain.rule, replace(honest.header, tx_root=compute_tx_root(txs), nonce=0))   # the batch covers the txs
forged = Block(proof.header, txs, proof.payload)
before = (chain.tip.hash, chain.rule.weights_root(), chain.balance(carol.address))
try:
    chain.add_block(forged)
    raise AssertionError("a wrong answer was accepted")
except InvalidBlock as err:
    print("refused:", err.reason)
    assert err.reason == "bad-answers-root"
assert (chain.tip.hash, chain.rule.weights_root(), chain.balance(carol.address)) == before
chain.add_block(honest)                                      # the honest block is fine"""),
    md(r"""### Exercise 10.1 - deterministic greedy decoding

`logits_fn(ids)` returns the next-token logits for a list of token ids (a stand-in for the model).
Generate `n_new` tokens after `prompt_ids`: show the model only the last `block_size` ids, take the
argmax, and on a tie the lowest token id. Return only the new tokens."""),
    code(r"""def greedy(logits_fn, prompt_ids, n_new, block_size):
    raise NotImplementedError"""),
    code(r"""from gradientcoin_edu.exercises import check
check("10.1", greedy)"""),

    # ------------------------------------------------------------------ 4. light clients
    md(r"""## 4. A piece of the model, checked with a header alone

A light client keeps only block headers (180 bytes each). The header of block `h` carries
`weights_root`: the Merkle root over the SHA-256 digests of the 4 KiB chunks of the weights' bytes
(int64, parameters in canonical order). A full node can prove that a chunk belongs to the model at
height `h` with the chunk and one sibling hash per level - far less than the model."""),
    code(r"""headers = [entry.header for entry in chain.active_chain()]      # all a light client keeps
h, index = 40, 3
p = prove_weights_chunk(chain, h, index)
print(f"chunk {index} of {n_chunks(spec)} at height {h}: {len(p.chunk)} bytes + {len(p.proof.siblings)} hashes "
      f"(the whole model: {8 * spec.pog.n_params:,} bytes)")
for name, a, b in chunk_parameters(spec, index):
    print(f"  holds {name}[{a}:{b}]")
values = chunk_values(p.chunk, spec.pog.scale_log2)
print("first values:", np.round(values[:4], 5))
assert verify_weights_chunk(headers[h], p)
assert not verify_weights_chunk(headers[h + 1], p)              # the model moved on at h+1
tampered = bytearray(p.chunk)
tampered[100] ^= 1
assert not verify_weights_chunk(headers[h], type(p)(p.height, p.index, bytes(tampered), p.proof))"""),
    code(r"""changes = [np.abs(chunk_values(prove_weights_chunk(chain, k, index).chunk, spec.pog.scale_log2) - values).mean()
           for k in range(0, chain.height + 1, 4)]
fig = go.Figure(go.Scatter(x=list(range(0, chain.height + 1, 4)), y=changes, mode="lines+markers"))
fig.update_layout(title=f"How far chunk {index} is from its value at height {h}", xaxis_title="block height",
                  yaxis_title="mean |w - w_40|", height=320)
fig.show()
assert changes[h // 4] == 0"""),
    md(r"""### Exercise 10.2 - verify a chunk yourself

Check a chunk against a `weights_root` with its `MerkleProof` (`index`, `leaf_count`, `siblings`) in
the `"chain"` tree: the leaf is `leaf_hash(SHA-256(chunk))`, inner nodes are `node_hash(left, right)`,
and an odd last node is carried up without a sibling. Use `leaf_hash` and `node_hash` from
`gradientcoin_edu.crypto.merkle`."""),
    code(r"""from gradientcoin_edu.crypto.merkle import leaf_hash, node_hash


def verify_chunk(chunk, proof, root):
    raise NotImplementedError"""),
    code(r"""check("10.2", verify_chunk)"""),

    # ------------------------------------------------------------------ 5. answers for light clients
    md(r"""## 5. An answer for a light client

The same trick works for answers: the coinbase is transaction 0 of the block, so a Merkle branch ties
it to `tx_root`; its commitment holds `answers_root`; a second branch ties Ada's answer record to that
root. With the header of the answering block she can check the answer that every full node agreed
to - without the weights, and without recomputing anything."""),
    code(r"""proof = prove_answer(chain, qtx.txid)
print(f"answer {proof.answer.text!r}: coinbase {proof.coinbase.size} bytes, "
      f"{len(proof.coinbase_proof.siblings)} + {len(proof.answer_proof.siblings)} hashes")
assert verify_answer(headers[proof.height], proof)
forged = AnswerRecord(qtx.txid, proof.answer.height, "a red ball. ")
assert not verify_answer(headers[proof.height], type(proof)(proof.height, proof.coinbase, proof.coinbase_proof,
                                                             forged, proof.answer_proof))"""),
    md(r"""### The bigger setting (GPU)

Skipped by the tests: the same on nanoGPT's baby GPT (10.7 M parameters): 84 MB of weights, 21,000
chunks, and a chunk proof of 15 hashes."""),
    code(r"""# NBVAL_SKIP
big = LLMSpec.builtin("gpu", seed=0)
big_chain = LLMChain(big)
big_chain.mine_and_add(ada.address)
print(n_chunks(big), "chunks;", len(prove_weights_chunk(big_chain, 1, 0).proof.siblings), "hashes per chunk proof")
print(big_chain.answer(Query("\nthe ", 1, 20)))"""),

    # ------------------------------------------------------------------ summary
    md(r"""## Summary

* A query is a transaction of kind `KIND_INFERENCE_QUERY` (prompt, height, tokens); its fee is an
  ordinary fee, earned by the miner who includes it - and that block must commit to the answer.
* Greedy decoding in float64 with a fixed tie rule is a pure function of the chain, so every node
  recomputes the answer while validating the block; a wrong answer makes the block invalid. The fee is
  enforced, not trusted.
* `weights_root` is a Merkle root over chunk digests: a chunk plus a few hashes prove a piece of the
  model at height `h` against a 180-byte header.
* The coinbase commitment makes answers light-client verifiable too: two Merkle branches.

## Discussion questions

1. Greedy decoding is reproducible because its only decisions are argmaxes of float64 numbers. Where
   could two honest nodes still disagree (think of near-ties), how likely is it, and what would happen
   to the chain if they did? How would you make sampling (temperature > 0) verifiable?
2. Every full node recomputes every answer, so answers are cheap for the asker but cost the whole
   network. How would you price queries, and what limit on tokens per block keeps verification cheap?
3. A light client checks that an answer is the one the chain agreed to - not that it is true. What
   can it conclude about the model from chunk proofs alone, and what would it need to check a claim
   like "the model at height h gets 90 % of sums right"?"""),
]


NOTEBOOKS = {"09_training_on_the_chain.ipynb": NB09, "10_asking_the_decentralized_model.ipynb": NB10}


if __name__ == "__main__":
    nbbuild.main(NOTEBOOKS)
