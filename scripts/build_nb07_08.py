"""Write notebooks 07 (the model) and 08 (proof-of-gradient).

The notebooks are generated so that their text lives in one reviewable Python file and they
are always committed clean (no outputs, no execution counts). Run from the repository root:

    python scripts/build_nb07_08.py
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild, from any cwd
import nbbuild  # noqa: E402
from nbbuild import SETUP, code, md  # noqa: E402


# =============================================================================================
# 07 · The model
# =============================================================================================

NB07 = [
    md(r"""
# 07 · The model: a tiny GPT, its data and its integer weights

GradientCoin (Gao, Song, Yin 2023) is a *decentralized large language model*: the chain's state is a
model, and every block trains it a little. Before we decentralize anything we need the model itself,
the data it learns from, and a way to write its weights down that every computer agrees on bit for
bit. This notebook builds all three and trains the model the ordinary, central way - the baseline
the chain will have to match.

**What you will build.** A character-level tokenizer whose vocabulary is committed by its hash; a
built-in corpus of arithmetic facts and templated sentences, cut into fixed-length records whose list
is committed by a Merkle root; a small nanoGPT-style transformer; its weights as int64 fixed-point
numbers with a Merkle root of their own; and a central training run with a loss curve, a sample and
a score (how many sums `a+b=` it completes correctly).

**Learning goals**
1. Explain how text becomes token ids and why the vocabulary must be part of the chain's rules.
2. Say what a *record* is and how a Merkle root commits to a whole dataset.
3. Read a GPT forward pass and give the tensor shape after each step.
4. Explain why the chain stores weights as integers and how `weights_root` commits to them.
5. Train the model centrally and read its loss curve; name the numbers the chain must beat.
"""),
    code(SETUP),
    code(r"""
import time

import numpy as np
import plotly.graph_objects as go
import torch

from gradientcoin_edu.model import (GPT, CharTokenizer, Dataset, GPTConfig, PRESETS, arithmetic_accuracy,
                                    builtin_datasets, generate_corpus, init_weights, num_params, to_model)
from gradientcoin_edu.model import fixed_point
from gradientcoin_edu.exercises import check

torch.manual_seed(0)
# One thread: a model this small gains little from more, and on a shared machine (Colab, a busy laptop)
# more threads than free cores can make PyTorch ten times slower.
torch.set_num_threads(1)
"""),
    md(r"""
## 1. Tokens: text as integers

The model reads integers. A *character-level* tokenizer gives every character one id: its position in a
fixed vocabulary string (here newline plus the 95 printable ASCII characters). Every node of the chain
must cut text into exactly the same ids, so the vocabulary is part of the rules: its bytes are hashed,
and the chain commits to that hash.
"""),
    code(r"""
tok = CharTokenizer()
text = "12+7=19\n"
ids = tok.encode(text)
print("vocabulary size:", tok.vocab_size)
print(repr(text), "->", ids)
print("tokenizer hash :", tok.hash.hex())
assert tok.decode(ids) == text and tok.vocab_size == 96
try:
    tok.encode("naïve")
except gradientcoin_edu.GradientCoinError as err:
    print("refused:", err)
"""),
    md(r"""
## 2. The data: a corpus the model can visibly learn

The package downloads nothing. `generate_corpus` writes text from a seed with
[SHA-256 in counter mode](../gradientcoin_edu/model/rng.py) as its random generator (the same on every
machine and every library version): half the lines are sums of two digits, half are short templated
sentences. Sums are good teaching data: you can *score* them. A model that has learned something
completes `3+4=` with `7`.
"""),
    code(r"""
corpus = generate_corpus(seed=0, n_lines=12)
print(corpus)
for line in corpus.splitlines():
    if "+" in line:
        a, rest = line.split("+"); b, c = rest.split("=")
        assert int(a) + int(b) == int(c)
assert corpus == generate_corpus(seed=0, n_lines=12)          # seeded: the same text every time
"""),
    md(r"""
### Records and the dataset root

For training, the text is cut into **records** of `block_size + 1` tokens: the model reads the first
`block_size` and must predict each next one (the record shifted by one). A `Dataset` is the list of
records; its **root** is a `"chain"` Merkle root over the records' bytes (notebook 03). One 32-byte root
in the chain's parameters commits to every training example, and anyone can prove that one record
belongs to it with a handful of hashes.
"""),
    code(r"""
BLOCK_SIZE = 32
train, val = builtin_datasets(BLOCK_SIZE)
print(f"train: {len(train)} records, validation: {len(val)} records, each {BLOCK_SIZE + 1} tokens")
print("record 0:", repr(tok.decode(train.records[0])))
print("dataset root:", train.root.hex())

proof = train.proof(42)
print(f"proof for record 42: {len(proof.siblings)} sibling hashes")
assert Dataset.verify_record(train.records[42], proof, train.root)
assert not Dataset.verify_record(train.records[43], proof, train.root)

x, y = train.batch([0, 1])
print("inputs", tuple(x.shape), "targets", tuple(y.shape))
assert torch.equal(x[:, 1:], y[:, :-1])                      # targets are the inputs shifted by one
"""),
    md(r"""
### Exercise 07.1 - cut tokens into records

Write `make_records(ids, block_size)`: consecutive, non-overlapping records of `block_size + 1` tokens,
as a NumPy array of shape `(N, block_size + 1)`; a short tail that does not fill a record is dropped.
"""),
    code(r"""
def make_records(ids, block_size):
    # your code here
    raise NotImplementedError
"""),
    code(r"""
check("07.1", make_records)
"""),
    md(r"""
## 3. The model: a small GPT

`gradientcoin_edu/model/gpt.py` follows karpathy/nanoGPT: token and position embeddings, a stack of
blocks (LayerNorm → causal self-attention → residual, LayerNorm → MLP → residual), a final LayerNorm and
a linear layer to the vocabulary that shares its weights with the token embedding. There is no dropout:
on the chain, a gradient must be a pure function of the weights and the batch.

Shapes (B batch, T tokens, C width, V vocabulary):
`idx (B,T) → embeddings (B,T,C) → n_layer × block (B,T,C) → logits (B,T,V)`.

The presets, with their measured cost (one float64 forward + backward, one CPU core):
"""),
    code(r"""
for name, cfg in PRESETS.items():
    print(f"{name:6s} {cfg}  ->  {num_params(cfg):>10,} parameters")
cfg = GPTConfig.preset("nano")
model = GPT(cfg)
logits, loss = model(x, y)
print("logits:", tuple(logits.shape), " initial loss:", round(loss.item(), 3), " ln(96) =", round(np.log(96), 3))
assert logits.shape == (2, BLOCK_SIZE, cfg.vocab_size)
assert abs(loss.item() - np.log(96)) < 0.2                   # an untrained model guesses uniformly
"""),
    md(r"""
The heart of the model is **causal self-attention**: every position computes a query, a key and a value;
position `t` mixes the values of positions `0..t`, weighted by `softmax(q·k / sqrt(hs))`. The mask that
hides the future is what makes the model a *next-token* predictor.

### Exercise 07.2 - one head of causal self-attention

Write `attention(q, k, v)` for tensors of shape `(B, T, hs)`: scores `q @ kᵀ / sqrt(hs)` of shape
`(B, T, T)`, the upper triangle (the future) set to `-inf`, softmax over the last dimension, times `v`.
"""),
    code(r"""
def attention(q, k, v):
    # your code here
    raise NotImplementedError
"""),
    code(r"""
check("07.2", attention)
"""),
    md(r"""
## 4. Weights as integers

Floating-point results depend on the order of additions, so two honest computers disagree on the last
bits (notebook 08 measures it). The chain therefore stores every weight `w` as the integer
`W = round(w · 2^32)` (int64 *fixed point*), all parameters in one fixed order. Initial weights come from
a seed through SHA-256 counter mode and integer shifts only - no floating point, hence identical on every
platform. `weights_root` is the Merkle root over SHA-256 digests of 4 KiB chunks of the little-endian
bytes (the same kernels that will hash gradients), so one chunk of the model can be proven against a
block header.
"""),
    code(r"""
W = init_weights(cfg, seed=0)
print("integer weights:", W.dtype, W.shape, " first five:", W[:5])
print("as floats      :", fixed_point.to_float(W[:5]))
print("weights_root   :", fixed_point.weights_root(W).hex())
assert np.array_equal(W, init_weights(cfg, seed=0))                      # same seed, same bits
model = to_model(cfg, W, dtype=torch.float32)
assert np.array_equal(fixed_point.from_model(to_model(cfg, W)), W)        # float64 round trip is exact

chunk, chunk_proof = fixed_point.weights_chunk_proof(W, 7)
assert fixed_point.verify_weights_chunk(chunk, chunk_proof, fixed_point.weights_root(W))
print(f"chunk 7 ({len(chunk)} bytes) proven with {len(chunk_proof.siblings)} hashes")
"""),
    md(r"""
## 5. Training the ordinary, central way: the baseline to beat

One owner, one machine, AdamW, random batches: this is how the model would be trained without a chain.
We record the training loss every step and the validation loss every 100 steps, then score the model on
all 100 sums `a+b=` with `a, b ≤ 9`.

Alongside, we train the way the chain will: plain SGD with the chain's learning rate (1/4) and
gradient clipping (norm 1), one gradient per step. The chain cannot use Adam without keeping optimizer
state on chain; notebook 08 explains the update rule.
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
xv, yv = val.batch(np.arange(64))
batch_rng = np.random.default_rng(0)

def train_central(optimizer_name, steps, batch_size=16):
    model = to_model(cfg, W, dtype=torch.float32)                 # the same start as the chain
    if optimizer_name == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.25)
    train_losses, val_points = [], []
    for step in range(steps + 1):
        if step % 100 == 0:
            with torch.no_grad():
                val_points.append((step, model(xv, yv)[1].item()))
        if step == steps:
            break
        xb, yb = train.batch(batch_rng.integers(0, len(train), batch_size))
        _, loss = model(xb, yb)
        opt.zero_grad()
        loss.backward()
        if optimizer_name == "sgd":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        train_losses.append(loss.item())
    return model, train_losses, val_points

start = time.perf_counter()
adam_model, adam_train, adam_val = train_central("adamw", 1200)
sgd_model, sgd_train, sgd_val = train_central("sgd", 600)
print(f"trained in {time.perf_counter() - start:.1f} s")
"""),
    code(r"""
fig = go.Figure()
fig.add_scatter(y=adam_train, name="AdamW, train", line=dict(width=1))
fig.add_scatter(x=[s for s, _ in adam_val], y=[v for _, v in adam_val], name="AdamW, validation", mode="lines+markers")
fig.add_scatter(y=sgd_train, name="SGD lr 1/4 (the chain's rule), train", line=dict(width=1))
fig.add_scatter(x=[s for s, _ in sgd_val], y=[v for _, v in sgd_val], name="SGD, validation", mode="lines+markers")
fig.update_layout(title="Central training of the nano GPT", xaxis_title="step (one gradient each)",
                  yaxis_title="cross-entropy (nats per character)", height=420)
fig.show()
assert adam_val[-1][1] < 0.8 and sgd_val[-1][1] < 1.6            # both learn; AdamW much faster
assert adam_val[-1][1] < adam_val[0][1] - 3
"""),
    code(r"""
complete = lambda m: (lambda prompt, n: m.complete(tok, prompt, n))
adam_acc = arithmetic_accuracy(complete(adam_model))
sgd_acc = arithmetic_accuracy(complete(sgd_model))
untrained_acc = arithmetic_accuracy(complete(to_model(cfg, W)))
print(f"sums completed correctly: untrained {untrained_acc:.0%}, SGD {sgd_acc:.0%}, AdamW {adam_acc:.0%}")
print("AdamW model continues '\\n4+3=':", repr(adam_model.complete(tok, "\n4+3=", 12)))
gen = torch.Generator().manual_seed(0)
print("a sample (temperature 0.8):")
print(adam_model.complete(tok, "\n", 120, temperature=0.8, generator=gen))
assert untrained_acc == 0.0 and adam_acc > untrained_acc
"""),
    md(r"""
These are the baseline numbers: after a few hundred gradients the model writes sentences in the corpus'
style and starts to get sums right. Central AdamW is faster than SGD per gradient; the chain trades that
speed for a model nobody owns. Keep the SGD curve in mind: notebook 08 makes every one of those gradient
steps a lottery ticket.

### The bigger setting (GPU)

The `gpu` preset is nanoGPT's "baby GPT" (6 layers, 384 wide, 10.7 M parameters). The cell below trains
it on a CUDA device; it is skipped in the tests and when no GPU is present.
"""),
    code(r"""
# NBVAL_SKIP
if torch.cuda.is_available():
    big = GPTConfig.preset("gpu")
    big_train, big_val = builtin_datasets(big.block_size, n_lines=40000, max_operand=99)
    gpu_model = to_model(big, init_weights(big, 0), dtype=torch.float32, device="cuda")
    opt = torch.optim.AdamW(gpu_model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for step in range(2000):
        xb, yb = big_train.batch(batch_rng.integers(0, len(big_train), 64))
        _, loss = gpu_model(xb.cuda(), yb.cuda())
        opt.zero_grad(); loss.backward(); opt.step()
    print(f"2000 steps in {time.perf_counter() - start:.0f} s, train loss {loss.item():.3f}")
    print("sums to 99:", arithmetic_accuracy(complete(gpu_model), max_operand=99,
                                              pairs=[(a, b) for a in range(0, 100, 7) for b in range(0, 100, 9)]))
else:
    print("no CUDA device: skipped")
"""),
    md(r"""
## Summary

* A **character tokenizer** turns text into ids; its vocabulary is hashed so the chain can commit to it.
* The **corpus** is generated from a seed; it is cut into **records** of `block_size + 1` tokens, and a
  Merkle **dataset root** commits to all of them (with short inclusion proofs).
* The **GPT** is nanoGPT's: embeddings, causal self-attention, MLP, LayerNorm, weight tying; no dropout.
* The chain's state is the model's **integer weights** (int64, scale 2^-32), created from a seed without
  floating point, committed by `weights_root`.
* **Central training** gives the baseline: AdamW reaches a validation loss near 0.7 and gets some sums
  right within a minute; SGD with the chain's learning rate is slower per gradient.

## Discussion questions

1. The tokenizer refuses characters outside its vocabulary instead of replacing them. Why is a silent
   replacement dangerous in a system where thousands of nodes must agree?
2. Records do not overlap. What would change if the chain committed to every window of the text (stride 1)?
   How big would the dataset root's tree be, and what could a miner do with overlapping windows?
3. Why does the chain store weights as integers rather than float64, if float64 is deterministic on one
   machine? Which operations on the weights does that make exact?
"""),
]


# =============================================================================================
# 08 · Proof-of-gradient
# =============================================================================================

NB08 = [
    md(r"""
# 08 · Proof-of-gradient: every lottery ticket costs one real gradient

Bitcoin's proof-of-work burns hashes on a puzzle with no other use. GradientCoin (Gao, Song, Yin 2023)
proposes that the work be *useful*: a miner may only draw a lottery ticket by computing a gradient of the
shared language model, and the winning gradient trains the model. This notebook makes that rule precise
and enforceable - which turns out to be mostly about floating-point numbers.

**What you will build.** You will measure why a float gradient cannot simply be hashed, quantize it so it
can, commit to it with a Merkle root, draw the ticket, mine a block whose every attempt costs a gradient,
apply the update in exact integer arithmetic, verify someone else's block - and watch the verifier reject
ten kinds of cheating, each with its reason. Finally you run a small chain of proof-of-gradient blocks
and watch the model learn.

**Learning goals**
1. Explain, with a measurement, why honest computers disagree on the last bits of a gradient.
2. Describe quantization `Q = round(g / Δ)` and how the tolerance (±1 near a boundary, at most *c* times)
   absorbs that noise without becoming a loophole.
3. Write the ticket and say why it covers no free field ("mining *is* training").
4. Apply `W_new = W − apply(Q)` in integer arithmetic and say why every node gets the same bits.
5. Name each attack on proof-of-gradient and the check that catches it.
"""),
    code(SETUP),
    code(r"""
import hashlib
import time
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import torch

from gradientcoin_edu import kernels
from gradientcoin_edu.errors import InvalidProof
from gradientcoin_edu.model import CharTokenizer, Dataset, builtin_datasets
from gradientcoin_edu.model.fixed_point import weights_root
from gradientcoin_edu.chain.block import Block, BlockHeader, compute_tx_root
from gradientcoin_edu.proof_of_gradient import (GradientProof, ModelState, PoGParams, ProofOfGradient, apply,
                                                apply_update, attempt, batch_indices, batch_seed, compute_gradient,
                                                grad_root, mine, payload_from_q, proof_from_q, quantize,
                                                select_batch, stamped_payload, ticket, ticket_value, verify)
from gradientcoin_edu.proof_of_gradient import params as params_module
from gradientcoin_edu.proof_of_gradient.gradient import clip_gradient
from gradientcoin_edu.proof_of_gradient.noise import gradient_with, measure_noise, near_boundary
from gradientcoin_edu.exercises import check

torch.set_num_threads(1)        # small model: one thread is fastest, and robust on a busy machine
tok = CharTokenizer()
train, val = builtin_datasets(32)
params = PoGParams.for_data(train, val, tokenizer=tok)
W0 = params.genesis_weights()
PARENT = hashlib.sha256(b"the parent block").digest()        # stands in for a real block hash here
ALICE = hashlib.sha256(b"alice").digest()
TXS = hashlib.sha256(b"alice's transactions").digest()         # stands in for a real transactions root
# Alice's block before its proof: everything she chooses (parent, transactions, time, bits, miner id)
TEMPLATE = BlockHeader(1, PARENT, TXS, time=1_700_000_600, bits=0x207FFFFF, miner_id=ALICE)
print(params)
"""),
    md(r"""
The chain parameters (`PoGParams`, fixed in the genesis block) name the model, commit to the training and
validation data by their Merkle roots, and fix every number format: weights are integers with scale
2^-32, gradients are quantized with quantum Δ = 2^-24, the learning rate is the exact fraction 1/4.
Three values are *derived* from the model size rather than chosen: the rounding tolerance δ, the cap c
and the size of the block stamp (sections 1 and 5).

## 1. Why you cannot hash a float gradient

Compute the *same* gradient - same weights, same batch, same code - with 1 thread and with 2 threads:
"""),
    code(r"""
_, x, y = select_batch(train, batch_seed(TEMPLATE), params.batch_size)
g1 = gradient_with(params.model, W0, x, y, torch.float32, threads=1)
g2 = gradient_with(params.model, W0, x, y, torch.float32, threads=2)
h1, h2 = hashlib.sha256(g1.tobytes()).hexdigest(), hashlib.sha256(g2.tobytes()).hexdigest()
print("float32, 1 thread :", h1[:32])
print("float32, 2 threads:", h2[:32])
print(f"elements that differ: {np.count_nonzero(g1 != g2)} of {g1.size}, largest difference {np.abs(g1 - g2).max():.1e}")
"""),
    md(r"""
With two threads the additions inside a matrix product happen in another order, and floating-point
addition is not associative, so some last bits differ (on some machines, for this small model, 1 and 2
threads happen to agree in float32 - run it on a laptop and on Colab). Another BLAS library or a GPU
differs more. A hash of the float bytes is then useless as a commitment: an honest verifier would reject
an honest miner. The systematic measurement (`python -m gradientcoin_edu.proof_of_gradient.noise`):
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
KS = (16, 20, 24, 28)
rows = measure_noise(params.model, ks=KS)
for r in rows:
    print(r.row())
"""),
    code(r"""
fig = go.Figure()
for r in rows:
    fig.add_bar(x=[f"Δ = 2^-{k}" for k in KS], y=[r.quantized_diffs[k] + 0.5 for k in KS], name=r.label)
fig.update_layout(title="Elements whose quantized value differs between two honest computations (of 108,288)",
                  yaxis_type="log", yaxis_title="count + 0.5 (log scale)", barmode="group", height=420)
fig.show()
by = {r.label: r for r in rows}
assert by["float64, 1 thread, twice"].differing == 0                   # same setting: bit-identical
assert by["float64, 1 vs 2 threads"].max_abs_diff < 1e-15              # float64 noise ~ 1e-17
assert by["float64, 1 vs 2 threads"].quantized_diffs[24] == 0
assert by["float32 vs float64 (1 thread)"].quantized_diffs[24] > 100   # a float32 miner is caught
"""),
    md(r"""
Three conclusions, which fix the chain's parameters (`docs/proof_of_gradient.md` has the numbers):

* **Canonical precision float64.** Honest float64 computations differ by ~1e-17; float32 ones by ~1e-8.
* **Quantum Δ = 2^-24 ≈ 6e-8.** The float64 noise is a billionth of a quantum, so after rounding honest
  miners agree; a miner who cuts corners with float32 (errors ~0.7 quantum) disagrees in ~1000 elements.
* **A tolerance for the rare knife-edge.** An element whose `g/Δ` lies within δ quanta of a rounding
  boundary `n + ½` may honestly round either way; the published value may then differ by ±1, at most
  c = 2 times per block. Each such *free* element is a choice that changes `grad_root`, hence another
  ticket from the same gradient (ticket grinding). So δ is derived from the model size: with N parameters
  about 2δN elements are free, and δ = 2^-28 for these 108,288 parameters keeps that below 2^-10 - while
  still a thousand times the measured float64 noise in quanta (`docs/protocol.md`, section 3).
"""),
    code(r"""
g, loss = compute_gradient(params.model, W0, x, y)                      # float64, the canonical precision
g = clip_gradient(g, params.clip_norm)                                   # norm at most 1 (see section 4)
Q = quantize(g, params.quantum_log2)
print("Q:", Q.dtype, Q.shape, " first values:", Q[:6], " = g / Δ rounded:", np.round(g[:6] * 2**24, 2))
print(f"elements within δ = 2^-{params.delta_log2} of a boundary: {near_boundary(g, params.quantum_log2, params.delta)} "
      f"(expected {params.free_elements:.1e}; valid tickets per gradient {params.grinding_factor:.5f})")
g_2threads = clip_gradient(gradient_with(params.model, W0, x, y, torch.float64, threads=2), params.clip_norm)
assert np.array_equal(quantize(g_2threads, params.quantum_log2), Q)     # honest computations now agree
"""),
    md(r"""
## 2. Committing to the gradient, and the ticket

The block's **payload** is Q as little-endian int32 bytes (433 KB for this model; a 4-byte stamp follows,
section 5). `grad_root` is the Merkle root over SHA-256 digests of 4 KiB chunks of Q, computed by the
kernels (a GPU does it in one pass; here the CPU path). The miner first fixes its block *template*: the
header with everything it chooses - parent, transactions root (and so the coinbase that pays it), time,
bits, miner id, nonce. Then

    seed   = SHA-256(header bytes without grad_root and weights_root)     picks the batch
    ticket = SHA-256d(all 180 header bytes) = the block hash              must be ≤ target

Nothing in the block is free: another nonce, another coinbase, another transaction or another time is
another batch, hence another gradient. A thief who swaps the coinbase of Alice's block to pay himself,
or Alice making two conflicting versions of her block, must compute a new gradient. **Mining is training.**
"""),
    code(r"""
payload = payload_from_q(Q)
root = grad_root(payload, params.chunk_bytes)
header = replace(TEMPLATE, grad_root=root, weights_root=weights_root(apply_update(W0, Q, params), params.chunk_bytes))
t = ticket(header)
print(f"payload {len(payload):,} bytes in {-(-len(payload) // params.chunk_bytes)} chunks")
print("grad_root:", root.hex())
print("ticket   :", t[::-1].hex(), "(shown big-endian, like a block hash)")
print("batch of nonce 0:", batch_indices(batch_seed(TEMPLATE), len(train), params.batch_size))
print("batch of nonce 1:", batch_indices(batch_seed(replace(TEMPLATE, nonce=1)), len(train), params.batch_size))
print("batch, 1 s later:", batch_indices(batch_seed(replace(TEMPLATE, time=TEMPLATE.time + 1)), len(train), params.batch_size))
assert t == header.hash() == hashlib.sha256(hashlib.sha256(header.serialize()).digest()).digest()
"""),
    md(r"""
### Exercise 08.1 - the batch seed

Write `my_batch_seed(header_bytes)`: given the 180 bytes of a block header (`version 4 | prev_hash 32 |
tx_root 32 | grad_root 32 | weights_root 32 | time 8 | bits 4 | miner_id 32 | nonce 4`), return SHA-256 of
the header bytes *without* `grad_root` and `weights_root` (116 bytes) - the two fields computed from the
gradient cannot choose the batch the gradient is computed on.
"""),
    code(r"""
def my_batch_seed(header_bytes):
    # your code here
    raise NotImplementedError
"""),
    code(r"""
check("08.1", my_batch_seed)
"""),
    md(r"""
## 3. Mining: one gradient per attempt

`mine` tries nonces 0, 1, 2, ... At a target of 2^256 / 8 about one ticket in eight wins, so a block costs
about eight gradients. The loop below counts them.
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
target = 2**256 // 8
start = time.perf_counter()
result = mine(params, train, TEMPLATE, W0, target, max_attempts=200, validation=val)
elapsed = time.perf_counter() - start
print(f"won with nonce {result.nonce} after {result.attempts} gradients in {elapsed:.2f} s")
print(f"ticket {ticket_value(result.ticket) / 2**256:.4f} x 2^256 <= target {target / 2**256:.4f} x 2^256")
"""),
    code(r"""
assert ticket_value(result.ticket) <= target
assert result.weights_root == weights_root(result.weights, params.chunk_bytes)
"""),
    md(r"""
## 4. The update, in integer arithmetic

The winning gradient trains the model: one SGD step `w ← w − lr·g`. On integers, with weights `W·2^-32`,
`g ≈ Q·2^-24` and `lr = 1/4`, the step is `W_new = W − (Q << 6)`: exact, no rounding, the same bits on
every machine (for learning rates that are not a power of two the rule rounds to nearest, ties away from
zero; see `update.py`). The gradient is clipped to norm 1 before quantizing (plain SGD on a transformer
spikes without it), so one block moves the weights by at most 1/4 in L2 norm. `weights_root` commits to
the result and goes into the block header.
"""),
    code(r"""
delta_w = apply(Q, params)
W1 = apply_update(W0, Q, params)
print("apply(Q)[:4] =", delta_w[:4], "= Q[:4] << 6 =", Q[:4].astype(np.int64) << 6)
print(f"largest change of a weight: {np.abs(delta_w).max() * 2.0**-32:.2e}")
assert np.array_equal(W1 + delta_w, W0)                                  # exactly reversible
"""),
    md(r"""
## 5. Verification

A verifier receives the header and the payload (a `GradientProof`). It checks, cheapest first: the
parent, the ticket, the payload size, the stamp, `grad_root`; then it recomputes the gradient on the batch
the header's seed selects, and a fused kernel hashes the payload while counting deviations from its own rounding;
then it applies the update and checks `weights_root`; finally the **validation guard**: the update may
not raise the loss on the chain's validation records by more than 0.25 nats.
"""),
    code(r"""
honest = GradientProof(result.header, result.payload)
start = time.perf_counter()
v = verify(params, train, val, ModelState(PARENT, W0), honest, target)
print(f"accepted in {time.perf_counter() - start:.2f} s: {v.deviations} boundary deviations, "
      f"validation loss {v.val_loss_before:.4f} -> {v.val_loss_after:.4f}")
assert v.deviations == 0 and np.array_equal(v.weights, result.weights)
"""),
    md(r"""
### Exercise 08.2 - counting deviations

The verifier's core: for the recomputed gradient `g` and the published `q`, let `x = g · 2^k` (clamped to
the int32 range). An element **deviates** when `q != rint(x)`; a deviation is **disallowed** when
`|q − x| > 0.5 + delta` (only a value within `delta` of a rounding boundary may be rounded the other way).
Return `(deviations, disallowed)`.
"""),
    code(r"""
def count_deviations(g, q, quantum_log2, delta):
    # your code here
    raise NotImplementedError
"""),
    code(r"""
check("08.2", count_deviations)
"""),
    md(r"""
## 6. Attacks, and the reason each is rejected

Each cheat below builds a proof whose roots are computed honestly *from the forged data* (so it gets past
the cheap checks) and hands it to the verifier. The easiest target is used unless the attack is about the
ticket, so that the gradient checks are reached.
"""),
    code(r"""
EASY = 2**256 - 1
MALLORY = hashlib.sha256(b"mallory").digest()
NEWER = hashlib.sha256(b"a newer tip").digest()
a0 = attempt(params, train, TEMPLATE, W0, 0)                          # Alice's honest nonce-0 attempt
rng = np.random.default_rng(0)

def forged(q, template=TEMPLATE, weights=W0, p=params):
    return proof_from_q(p, template, weights, q)

def reason(proof, target=EASY, state=ModelState(PARENT, W0), p=params, data=train, validation=val):
    try:
        verify(p, data, validation, state, proof, target)
        return "accepted"
    except InvalidProof as err:
        return err.reason

stolen = forged(a0.q, replace(TEMPLATE, miner_id=MALLORY))             # Alice's gradient in Mallory's block
robbed = forged(a0.q, replace(TEMPLATE, tx_root=hashlib.sha256(b"a coinbase paying Mallory").digest()))
sibling = forged(a0.q, replace(TEMPLATE, time=TEMPLATE.time + 1))      # Alice's second version of her block
g32 = clip_gradient(gradient_with(params.model, W0, *select_batch(train, batch_seed(TEMPLATE), 16)[1:], torch.float32, 1), 1.0)
coarse = (quantize(a0.gradient, params.quantum_log2 - 4).astype(np.int64) << 4).astype(np.int32)
outside = Dataset(np.roll(train.records, 1, axis=1))                  # data the chain never committed to
q_outside = attempt(params.replace(dataset_root=outside.root), outside, TEMPLATE, W0).q
honest0 = forged(a0.q)
tampered = bytearray(honest0.payload); tampered[100] ^= 1
bad_root = replace(honest0.header, weights_root=hashlib.sha256(b"?").digest())

attacks = {
    "honest attempt":                 (forged(a0.q), {}),
    "random gradient":                (forged(rng.integers(-2**20, 2**20, a0.q.size).astype(np.int32)), {}),
    "zero gradient":                  (forged(np.zeros_like(a0.q)), {}),
    "scaled gradient (x2)":           (forged(a0.q * 2), {}),
    "gradient of another batch":      (forged(attempt(params, train, TEMPLATE, W0, 1).q), {}),
    "stale parent":                   (forged(a0.q), dict(state=ModelState(NEWER, W1))),
    "replayed by another miner":      (stolen, {}),
    "... and at a real target":       (stolen, dict(target=ticket_value(a0.ticket))),
    "coinbase swapped (theft)":       (robbed, {}),
    "sibling: same gradient, new time": (sibling, {}),
    "float32 instead of float64":     (forged(quantize(g32, params.quantum_log2)), {}),
    "coarser quantum (2^-20)":        (forged(coarse), {}),
    "data outside the dataset":       (forged(q_outside), {}),
    "payload changed after hashing":  (GradientProof(honest0.header, bytes(tampered)), {}),
    "wrong weights_root":             (GradientProof(bad_root, stamped_payload(params, bad_root, honest0.payload[:-4])), {}),
}
results = {name: reason(proof, **kw) for name, (proof, kw) in attacks.items()}
for name, why in results.items():
    print(f"{name:32s} -> {why}")
"""),
    code(r"""
assert results["honest attempt"] == "accepted"
assert results["stale parent"] == "stale-parent"
assert results["... and at a real target"] == "bad-ticket"     # Alice's ticket wins there, Mallory's does not
assert results["payload changed after hashing"] == "grad-root-mismatch"
assert results["wrong weights_root"] == "weights-root-mismatch"
for name in ["random gradient", "zero gradient", "scaled gradient (x2)", "gradient of another batch",
             "replayed by another miner", "coinbase swapped (theft)", "sibling: same gradient, new time",
             "float32 instead of float64", "coarser quantum (2^-20)", "data outside the dataset"]:
    assert results[name] == "gradient-mismatch", name
"""),
    md(r"""
### Too many boundary deviations

With δ = 2^-28 quanta almost no element sits near a boundary (about 0.0008 expected per gradient), so to
see the cap at work we widen δ to 1/16 of a quantum (and set c = 4). `PoGParams` refuses such a δ
(`bad-tolerance`: it would hand a miner thousands of free tickets per gradient), so we switch that check
off for this experiment. Now a miner may flip elements near a boundary, up to four of them. Five are
refused, and so is one flip far from a boundary.
"""),
    code(r"""
try:
    params.replace(delta_log2=4, cap=4)
except Exception as err:
    print("refused:", err)
check_tolerance = params_module.PoGParams._check_tolerance
params_module.PoGParams._check_tolerance = lambda self: None           # the experiment only
wide = params.replace(delta_log2=4, cap=4)
params_module.PoGParams._check_tolerance = check_tolerance
xq = np.ldexp(a0.gradient, wide.quantum_log2)
dist = np.abs(np.abs(xq - np.floor(xq)) - 0.5)                          # distance to the boundary n + 1/2
near, far = np.flatnonzero(dist <= wide.delta / 2), np.flatnonzero(dist > 0.25)

def flip(indices):
    q = a0.q.copy()
    q[indices] += np.where(xq[indices] > q[indices], 1, -1).astype(np.int32)
    return forged(q, p=wide)

caps = {n: reason(flip(near[:n]), p=wide, validation=None) for n in (4, 5)}
caps["one flip far from a boundary"] = reason(flip(far[:1]), p=wide, validation=None)
print(caps)
assert caps == {4: "accepted", 5: "too-many-deviations", "one flip far from a boundary": "gradient-mismatch"}
"""),
    md(r"""
### Poisoned data inside the dataset: the validation guard

Data enters the chain only through data transactions, so the dataset is committed - but someone may have
paid to commit garbage. Then a perfectly honest gradient on that garbage is a valid proof. The last line
of defence is the guard: a block whose update raises the validation loss by more than the margin is
invalid. Here the committed dataset is mostly spam (`zzzz...`), and we switch clipping off to show a
gross case; with the default clipping one block moves the weights by at most 1/4 and this spam raises the
validation loss by only ~0.02 - clipping bounds the damage of any single block, the guard catches what
is left large.
"""),
    code(r"""
spam = train.extend(np.full((4 * len(train), 33), tok.encode("z")[0]))
p_spam = params.replace(dataset_root=spam.root, clip_norm=0.0)
a_spam = attempt(p_spam, spam, TEMPLATE, W0)
print("spam records in the batch:", int(np.sum(a_spam.batch_indices >= len(train))), "of", p_spam.batch_size)
why = reason(forged(a_spam.q, p=p_spam), p=p_spam, data=spam)
print("poisoned update ->", why)
assert why == "validation-loss"
assert reason(forged(a_spam.q, p=p_spam), p=p_spam, data=spam, validation=None) == "accepted"  # all else valid
"""),
    md(r"""
## 7. A small proof-of-gradient chain

`ProofOfGradient` packages all of this as the chain's *work rule* (`check_header`, `check_body`,
`connect`, `disconnect`): it holds the integer weights at the tip, verifies each block in full and moves
the weights. Two miners take turns; each block is a real `BlockHeader` with `grad_root` and `weights_root`.

One more rule: after winning, the miner grinds a **stamp** - a 4-byte number at the end of the payload
such that `SHA-256d(tag ‖ block hash ‖ stamp)` is below a target taking 2^stamp_log2 hashes, about what
one verification costs. A node checks the stamp (one hash) before recomputing anything, so a forged
block - a winning header with a junk payload, cheap to make at an easy target - costs its sender as much
as its victim (`docs/protocol.md`, section 4).
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
from gradientcoin_edu.chain.bits import bits_to_target
from gradientcoin_edu.chain.block import Block, BlockHeader, compute_tx_root

BITS = 0x207FFFFF                                   # the easiest target: about 1 ticket in 2 wins
genesis = BlockHeader(1, bytes(32), compute_tx_root(()), weights_root=params.genesis_weights_root(),
                      time=1_700_000_000, bits=BITS)
print(f"stamp: 2^{params.stamp_log2} hashes per block")
node = ProofOfGradient(params, train, val, genesis_hash=genesis.hash())
parent, history, gradients = genesis, [node.val_loss()], 0
start = time.perf_counter()
for height in range(1, 31):
    miner = ALICE if height % 2 else MALLORY
    template = BlockHeader(1, parent.hash(), compute_tx_root(()), time=parent.time + 600, bits=BITS, miner_id=miner)
    r = node.mine(template, max_attempts=100)
    gradients += r.attempts
    header, block = r.header, Block(r.header, (), r.payload)
    node.check_header(header, parent)
    node.check_body(block)
    node.connect(block, parent, height)
    history.append(node.val_loss())
    parent = header
print(f"30 blocks, {gradients} gradients, {time.perf_counter() - start:.1f} s; "
      f"validation loss {history[0]:.3f} -> {history[-1]:.3f}")
"""),
    code(r"""
fig = go.Figure(go.Scatter(y=history, mode="lines+markers"))
fig.update_layout(title="Validation loss along the proof-of-gradient chain", xaxis_title="block height",
                  yaxis_title="validation loss (nats)", height=380)
fig.show()
assert history[-1] < history[0] - 1.0                   # the chain trains the model
assert node.weights_root() == parent.weights_root       # the header commits to the weights at the tip
"""),
    md(r"""
## Summary

* Honest float computations disagree in the last bits (threads, BLAS, devices); **float64** makes that
  noise ~1e-17, a billionth of the **quantum** Δ = 2^-24, so quantized gradients agree and can be hashed.
* A ±1 deviation is allowed only within δ of a rounding boundary and at most **c** times per block; δ is
  derived from the model size so that a gradient has fewer than 2^-10 free elements on average: the
  tolerance cannot be used to steer the update or grind tickets.
* `grad_root` commits to the quantized gradient; the **ticket** is the block hash, and the batch is drawn
  from every header field the miner chooses: every ticket, and every variant of a block (another coinbase,
  transactions, time), costs a gradient.
* A **stamp** worth one verification makes a forged block cost its sender what it costs its victim.
* The **update** is exact integer arithmetic; `weights_root` commits to the new model.
* The verifier rejects random, zero, scaled, other-batch, stale, replayed, low-precision and outside-data
  gradients, tampered payloads and wrong roots, too many boundary deviations, and (the **validation
  guard**) updates that make the model clearly worse.

## Discussion questions

1. A verifier must recompute a full gradient per block, as expensive as one mining attempt. Why is that
   acceptable, when a miner computes thousands? What would change with a much larger model?
2. The batch indices cost only a SHA-256 to compute, before any gradient. How could a miner who has
   committed poisoned records use that? What limits the attack (think of the share of poisoned records)?
3. Why must the batch seed cover the coinbase and the time? What could Mallory, or Alice herself, do
   with a winning proof if it did not?
"""),
]


NOTEBOOKS = {"07_the_model.ipynb": NB07, "08_proof_of_gradient.ipynb": NB08}


if __name__ == "__main__":
    nbbuild.main(NOTEBOOKS)
