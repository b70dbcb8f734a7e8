"""Write notebook 03 (blocks, Merkle trees and proof-of-work).

The notebook is generated so that its text lives in one reviewable Python file and it is
always committed clean (no outputs, no execution counts). Run from the repository root:

    python scripts/build_nb03.py
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild, from any cwd
import nbbuild  # noqa: E402
from nbbuild import SETUP, code, md  # noqa: E402


CELLS = [
    md(r"""
# 03 · Blocks, Merkle trees and proof-of-work

Whitepaper section 3 (*timestamp server*): collect transactions into a block, hash the block, and
put that hash into the next block, so that changing anything old means redoing everything after it.
Section 4 (*proof-of-work*): make a block's hash expensive to produce, so that the chain with the most
work behind it is the one nobody can cheaply rewrite. Section 8 (*simplified verification*): a Merkle
tree lets anyone check that a transaction is in a block from a few hashes. GradientCoin keeps all
three; only the *kind* of work changes later (proof-of-gradient, notebook 08).

**What you will build.** You will mine a small chain of blocks, look inside a block header, prove
that one transaction is in a block with a Merkle proof, break Bitcoin's Merkle tree the way
CVE-2012-2459 did (and see why ours does not break), decode Bitcoin's compact difficulty targets,
measure how the number of hashes grows with difficulty, watch the chain reject bad blocks and
switch to a heavier branch, and finally check the real Bitcoin genesis block.

**Learning goals**
1. Name the fields of a block header and say what each one commits to.
2. Build and verify a Merkle inclusion proof; explain why it is short.
3. Explain domain separation of leaves and inner nodes, with CVE-2012-2459 as the example.
4. Decode a compact target (`bits`) and relate the target to the expected number of hashes.
5. State the fork-choice rule (most cumulative work, not most blocks) and what a reorg undoes.
"""),
    code(SETUP),
    md(r"""
## 1. A block: a header that commits to everything

A block is a **header** plus the **transactions** (and, under proof-of-gradient, a **payload**: the
quantized gradient). The header is 180 bytes:

| field | bytes | what it commits to |
|---|---|---|
| `version` | 4 | rule set |
| `prev_hash` | 32 | the parent block, and through it the whole history |
| `tx_root` | 32 | every transaction, in order (Merkle root of the txids) |
| `grad_root`, `weights_root` | 32 + 32 | the gradient and the updated model (zero under classic proof-of-work) |
| `time` | 8 | when it was mined (seconds since 1970) |
| `bits` | 4 | the difficulty target, in compact form |
| `miner_id` | 32 | who mined it |
| `nonce` | 4 | the number the miner varies |

The block's identity is its **hash**: SHA-256 applied twice (SHA-256d) to those 180 bytes. We start
a chain on the easy `"regtest"` network (about 2 hashes per block), mine four blocks for a miner, and
then a fifth block with four payments in it.
"""),
    code(r"""
import hashlib
import math
import random
import time

import numpy as np
import plotly.graph_objects as go

from gradientcoin_edu.chain import (
    AddResult, Block, BlockHeader, Chain, ChainParams, GENESIS_HEADER_HEX, BitcoinHeader,
    bits_to_target, expected_attempts, make_block, mine, mine_block, search_nonces, target_to_bits,
)
from gradientcoin_edu.crypto import bitcoin_merkle_root, hash_to_hex, hex_to_hash, merkle_proof, merkle_root, sha256, sha256d, verify_proof
from gradientcoin_edu.crypto.merkle import leaf_hash, node_hash
from gradientcoin_edu.errors import InvalidBlock
from gradientcoin_edu.ledger import COIN, Wallet

rng = random.Random(3)
alice, bob, carol, miner = (Wallet.from_seed(name) for name in ("alice", "bob", "carol", "miner"))
chain = Chain("regtest")


def next_time(parent=None):
    parent = parent or chain.tip
    return parent.header.time + chain.params.target_spacing


for _ in range(4):
    chain.add_block(mine_block(chain, miner.address, time=next_time(), progress=False))

payments, used = [], set()
for who, amount in [(alice, 10), (bob, 5), (carol, 7), (alice, 3)]:
    tx = miner.pay(chain.utxo, who.address, amount * COIN, fee=1000, exclude=used)
    used.update(txin.outpoint for txin in tx.inputs)
    payments.append(tx)
block = mine_block(chain, miner.address, payments, time=next_time(), progress=False)
assert chain.add_block(block) is AddResult.EXTENDED
print(chain)
h = block.header
for name, value in [("version", h.version), ("prev_hash", hash_to_hex(h.prev_hash)), ("tx_root", h.tx_root.hex()),
                    ("grad_root", h.grad_root.hex()), ("weights_root", h.weights_root.hex()),
                    ("time", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(h.time))),
                    ("bits", f"{h.bits:#010x}"), ("miner_id", h.miner_id.hex()), ("nonce", h.nonce)]:
    print(f"  {name:12s} {value}")
print(f"{len(block.txs)} transactions; alice holds {chain.balance(alice.address) / COIN} coins")
"""),
    code(r"""
raw = block.header.serialize()
print(raw.hex())
assert len(raw) == 180
assert block.hash() == hashlib.sha256(hashlib.sha256(raw).digest()).digest()    # the block hash is SHA-256d(header)
assert block.header.prev_hash == chain.block_at(4).hash()                     # chained to its parent
assert block.header.tx_root == merkle_root([tx.txid for tx in block.txs], mode="chain")
assert Block.parse(block.serialize()) == block                                 # explicit bytes, round trip
print("block hash:", block.hash_hex())
"""),
    md(r"""
Changing anything in a block changes its `tx_root` or its header, and so its hash. Swapping two
transactions is enough: the header no longer matches the transactions, and the chain says why.
(If the miner recomputed `tx_root`, the hash would change and the proof-of-work would have to be
redone, and so would every block after it.)
"""),
    code(r"""
swapped = Block(block.header, (block.txs[0], block.txs[2], block.txs[1], *block.txs[3:]))
fresh = Chain("regtest")
for h in range(1, 5):
    fresh.add_block(chain.block_at(h))
try:
    fresh.add_block(swapped)
except InvalidBlock as err:
    print(err)
    assert err.reason == "bad-tx-root"
assert fresh.height == 4                      # rejected: nothing changed
assert fresh.add_block(block) is AddResult.EXTENDED
"""),
    md(r"""
## 2. Proving a transaction is in a block

A light client (whitepaper section 8) keeps only headers. To convince it that a payment is in block
5, a full node sends the transaction and the **Merkle proof**: the sibling hashes on the path from the
transaction's leaf to `tx_root`. The client hashes its way up and compares with the header it already
has. For n transactions the proof has about log₂ n hashes.
"""),
    code(r"""
txids = block.txids()
i = 3
proof = merkle_proof(txids, i)
print(f"proof for transaction {i} of {len(txids)}: {len(proof.siblings)} sibling hashes")
for s in proof.siblings:
    print("  ", s.hex())
assert verify_proof(txids[i], proof, block.header.tx_root)
assert not verify_proof(txids[2], proof, block.header.tx_root)        # another transaction: fails
assert not verify_proof(txids[i], proof, sha256(b"another root"))     # another block: fails
"""),
    code(r"""
# The proof stays small when the block grows: 1000 transactions, 10 hashes.
many = [rng.randbytes(32) for _ in range(1000)]
root = merkle_root(many)
big_proof = merkle_proof(many, 0)
assert verify_proof(many[0], big_proof, root)
assert len(big_proof.siblings) == math.ceil(math.log2(len(many))) == 10
print(f"1000 txids: {32 * len(many):,} bytes; proof: {32 * len(big_proof.siblings)} bytes")
"""),
    md(r"""
## 3. Leaves versus inner nodes: CVE-2012-2459

Bitcoin's Merkle tree (`mode="bitcoin"`) hashes pairs with SHA-256d and, when a level has an odd
number of nodes, pairs the last one **with a copy of itself**. So the lists `[a, b, c]` and
`[a, b, c, c]` have the *same root*. In 2012 this was a real attack (CVE-2012-2459): take a valid
block, duplicate its last transaction (which makes the block invalid: that transaction spends its
coins twice), keep the same header, hence the same block hash, and send it to a node. The node
rejects it and remembers "this hash is invalid", so when the honest version arrives, it refuses it
too, and is stuck on a fork. Bitcoin now detects such "mutated" blocks instead of caching them as
invalid.

We check it on three real transactions of Bitcoin block 100000:
"""),
    code(r"""
BLOCK_100000_TXIDS = [
    "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
]
a, b, c, d = (hex_to_hash(t) for t in BLOCK_100000_TXIDS)
print("bitcoin [a, b, c]   :", hash_to_hex(bitcoin_merkle_root([a, b, c])))
print("bitcoin [a, b, c, c]:", hash_to_hex(bitcoin_merkle_root([a, b, c, c])))
assert bitcoin_merkle_root([a, b, c]) == bitcoin_merkle_root([a, b, c, c])          # the CVE: same root
print("chain   [a, b, c]   :", merkle_root([a, b, c]).hex())
print("chain   [a, b, c, c]:", merkle_root([a, b, c, c]).hex())
assert merkle_root([a, b, c], mode="chain") != merkle_root([a, b, c, c], mode="chain")
"""),
    md(r"""
The second weakness is subtler. In Bitcoin's tree a leaf is a txid, SHA-256d(transaction), and an
inner node is SHA-256d(left ‖ right): the *same* function. So a 64-byte "transaction" whose bytes are
`left ‖ right` has a txid equal to an inner node, and a proof can pass off an inner node as a leaf.
Our `"chain"` tree separates the two **domains**: a leaf is SHA-256(0x00 ‖ item), an inner node is
SHA-256(0x01 ‖ left ‖ right), and an odd node is carried up unchanged instead of duplicated.
"""),
    code(r"""
# Bitcoin tree: the root of [a, b, c] is also the root of a two-"transaction" list whose items are
# the 64-byte strings a‖b and c‖c (their txids are the inner nodes).
assert bitcoin_merkle_root([sha256d(a + b), sha256d(c + c)]) == bitcoin_merkle_root([a, b, c])
# Chain tree: the inner node of (a, b) is not the leaf of any item, because of the prefixes.
assert node_hash(leaf_hash(a), leaf_hash(b)) != leaf_hash(leaf_hash(a) + leaf_hash(b))
assert merkle_root([leaf_hash(a) + leaf_hash(b)]) != merkle_root([a, b])
# and the real Bitcoin block 100000 root comes out of the Bitcoin tree only:
assert hash_to_hex(bitcoin_merkle_root([a, b, c, d])) == "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
assert merkle_root([a, b, c, d]) != bitcoin_merkle_root([a, b, c, d])
print("domain separation holds")
"""),
    md(r"""
### Exercise 03.1: the chain-mode Merkle root

Write `chain_merkle_root(items)` with `hashlib` only: leaves are `sha256(b"\x00" + item)`, inner
nodes `sha256(b"\x01" + left + right)`, an odd last node moves up to the next level unchanged, and
the empty list has the root `sha256(b"")`. The check compares it with the library on lists of many
lengths and makes sure `[a, b, c]` and `[a, b, c, c]` differ.
"""),
    code(r"""
def chain_merkle_root(items: list[bytes]) -> bytes:
    raise NotImplementedError  # your code here
"""),
    code(r"""
from gradientcoin_edu.exercises import check
check("03.1", chain_merkle_root)
"""),
    md(r"""
## 4. The target and its compact form, `bits`

A header is valid proof-of-work when its hash, read as a 256-bit little-endian number, is at most
the **target**. Each hash is a fresh coin toss, so a miner needs on average 2^256 / (target + 1)
tries: that number is the block's **work**. The header stores the target in four bytes, `bits`: one
byte of size and three of mantissa, `target = mantissa · 256^(size − 3)`, exactly as Bitcoin does
(the top mantissa bit is a sign bit, so a valid target never sets it). Bitcoin's easiest target,
used by its genesis block, is `0x1d00ffff`:
"""),
    code(r"""
t = bits_to_target(0x1D00FFFF)
print(f"target = {t:#066x}")
print(f"expected hashes per block = 2^{math.log2(expected_attempts(0x1D00FFFF)):.5f}")
assert t == 0xFFFF * 256 ** (0x1D - 3) and target_to_bits(t) == 0x1D00FFFF
assert round(math.log2(expected_attempts(0x1D00FFFF)), 4) == 32.0
for name in ("regtest", "demo", "bitcoin"):
    p = ChainParams.preset(name)
    print(f"{name:8s} bits {p.start_bits:#010x}: {expected_attempts(p.start_bits):>16,.0f} hashes per block on average")
"""),
    md(r"""
### Exercise 03.2: decode a compact target

Write `decode_bits(bits)` that returns the target for valid (non-negative) `bits`: size = the top byte, mantissa = the low
23 bits, target = mantissa · 256^(size − 3), and for size < 3 shift the mantissa *right* by
8·(3 − size) bits instead.
"""),
    code(r"""
def decode_bits(bits: int) -> int:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("03.2", decode_bits)
"""),
    md(r"""
## 5. Mining: attempts versus difficulty

With a target of 2^(256−k) the hash must start with about k zero bits, and each try succeeds with
probability 2^−k: the number of tries is geometric with mean **2^k**. We measure it: for each k we
mine 40 headers (different parent hashes, so different puzzles) and count the nonces tried.
`search_nonces` hashes the first 176 header bytes once and only finishes the hash for each nonce
(the *midstate* trick real miners use; the nonce is deliberately the last field). It hands the loop
to `gradientcoin_edu.kernels.nonce_search`, which we meet again with the genesis block in section 7.
"""),
    code(r"""
def attempts_to_mine(zero_bits: int, samples: int = 40, seed: int = 0) -> list[int]:
    bits = target_to_bits(2 ** (256 - zero_bits) - 1)
    target = bits_to_target(bits)
    counts = []
    for s in range(samples):
        header = BlockHeader(1, sha256(f"{seed}/{zero_bits}/{s}".encode()), bytes(32), time=1_700_000_000, bits=bits)
        nonce = search_nonces(header.serialize()[:-4], target, 0, 2**32)
        counts.append(nonce + 1)
    return counts


ks = list(range(0, 13))
t0 = time.perf_counter()
measured = {k: attempts_to_mine(k) for k in ks}
seconds = time.perf_counter() - t0
means = np.array([np.mean(measured[k]) for k in ks])
errors = np.array([np.std(measured[k]) / np.sqrt(len(measured[k])) for k in ks])
slope = np.polyfit(ks, np.log2(means), 1)[0]
print(f"{sum(map(sum, measured.values())):,} hashes; log2(mean attempts) grows by {slope:.3f} per zero bit")
for k in ks:
    assert 0.6 < means[k] / 2**k < 1.5, (k, means[k])
assert 0.95 < slope < 1.05
"""),
    code(r"""
fig = go.Figure()
fig.add_scatter(x=ks, y=[2.0**k for k in ks], mode="lines", name="expected 2^k")
fig.add_scatter(x=ks, y=means, error_y=dict(array=errors), mode="markers", name="measured (mean of 40)")
fig.update_layout(title="Hashes needed to mine a block", xaxis_title="difficulty k (target 2^(256-k))",
                  yaxis_title="attempts", yaxis_type="log", height=380)
fig.show()
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
print(f"measured in {seconds:.2f} s: about {sum(map(sum, measured.values())) / seconds / 1e6:.2f} million hashes per second on this CPU")
"""),
    md(r"""
Try it yourself: the slider mines one block at the difficulty you pick and shows how many hashes it
took. Every step to the right doubles the average. (Below the slider is the result for the default,
k = 12, so the figure also works without a live kernel.)
"""),
    code(r"""
import ipywidgets as widgets


def mine_once(zero_bits: int = 12, seed: int = 7) -> str:
    counts = attempts_to_mine(zero_bits, samples=1, seed=seed)
    return f"k = {zero_bits:2d}: found a nonce after {counts[0]:>9,} hashes (expected about {2**zero_bits:,})"


print(mine_once(12))
widgets.interact(lambda zero_bits: print(mine_once(zero_bits)),
                 zero_bits=widgets.IntSlider(value=12, min=0, max=20, description="zero bits"));
"""),
    md(r"""
### Exercise 03.3: find a nonce

Write `find_nonce(header)` that returns the **smallest** nonce for which
`header.with_nonce(nonce).hash_value() <= bits_to_target(header.bits)`. (This is the whole of mining.)
"""),
    code(r"""
def find_nonce(header: BlockHeader) -> int:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("03.3", find_nonce)
"""),
    md(r"""
## 6. The chain checks every block, and follows the most work

`chain.add_block` runs every rule (linkage, timestamps, difficulty, proof-of-work, size, coinbase,
Merkle root, every transaction against the UTXO set) and either accepts the block or raises
`InvalidBlock` with a reason, leaving the chain **exactly as it was**. Two rejections:
"""),
    code(r"""
before = (chain.tip.hash, chain.utxo.copy())

# 1. A header whose hash is above the target: bad proof-of-work.
template = make_block(chain, miner.address, time=next_time())
target = bits_to_target(template.header.bits)
bad_nonce = next(n for n in range(100) if template.header.with_nonce(n).hash_value() > target)
try:
    chain.add_block(Block(template.header.with_nonce(bad_nonce), template.txs))
except InvalidBlock as err:
    print(err)
    assert err.reason == "bad-pow"

# 2. Alice pays Bob, and a block tries to include a second payment of the same coin to Carol.
pay_bob = alice.pay(chain.utxo, bob.address, 2 * COIN)
pay_carol = alice.pay(chain.utxo, carol.address, 2 * COIN)
assert {i.outpoint for i in pay_bob.inputs} == {i.outpoint for i in pay_carol.inputs}
greedy = mine(make_block(chain, miner.address, [pay_bob, pay_carol], time=next_time(), fees=0), progress=False)
try:
    chain.add_block(greedy)
except InvalidBlock as err:
    print(err)
    assert err.reason == "double-spend"

assert (chain.tip.hash, chain.utxo) == before       # nothing changed
"""),
    md(r"""
Two miners can find a block at the same height. The node keeps both (a **side branch**) and follows
the branch with the most cumulative work, the first seen on a tie. When the other branch grows
heavier, the node **reorganizes**: it undoes its blocks back to the fork point (their transactions
return to the UTXO set as they were) and applies the new branch. Here Bob's payment sits in block 6
on the first branch; the other branch never included it.
"""),
    code(r"""
results = []
b6 = mine_block(chain, miner.address, [pay_bob], time=next_time(), progress=False)
results.append(("b6  (miner, pays Bob)", chain.add_block(b6)))
fork_parent = chain.entry_at(5)
c6 = mine_block(chain, carol.address, parent=fork_parent.hash, time=next_time(fork_parent) + 1, progress=False)
results.append(("c6  (Carol, same height)", chain.add_block(c6)))
c7 = mine_block(chain, carol.address, parent=c6.hash(), time=c6.header.time + 600, progress=False)
results.append(("c7  (Carol, on c6)", chain.add_block(c7)))
for name, result in results:
    print(f"{name:26s} -> {result.value}")
assert [r for _, r in results] == [AddResult.EXTENDED, AddResult.SIDE_BRANCH, AddResult.REORG]
assert chain.tip.hash == c7.hash() and not chain.is_active(b6.hash())
assert chain.balance(bob.address) == 5 * COIN              # Bob's 2 coins from b6 are gone again
assert pay_bob.txid not in {tx.txid for h in range(1, chain.height + 1) for tx in chain.block_at(h).txs}
"""),
    code(r"""
def lanes(chain):
    # lane 0 for the best chain; one lane per other branch (rejected blocks included)
    lane = {e.hash: 0 for e in chain.active_chain()}
    for tip in chain.tips(include_invalid=True):
        if tip.hash in lane:
            continue
        n = max(lane.values()) + 1
        node = tip
        while node.hash not in lane:
            lane[node.hash] = n
            node = node.parent
    return lane


lane = lanes(chain)
kind = {e.hash: "invalid" if e.status == "invalid" else "best chain" if chain.is_active(e.hash) else "side branch"
        for e in chain.entries()}
fig = go.Figure()
for e in chain.entries():
    if e.parent is not None:
        fig.add_scatter(x=[e.parent.height, e.height], y=[lane[e.parent.hash], lane[e.hash]], mode="lines",
                        line=dict(color="grey"), showlegend=False, hoverinfo="skip")
for name, color in [("best chain", "royalblue"), ("side branch", "orange"), ("invalid", "crimson")]:
    sel = [e for e in chain.entries() if kind[e.hash] == name]
    fig.add_scatter(x=[e.height for e in sel], y=[lane[e.hash] for e in sel], mode="markers+text",
                    text=[e.hash_hex()[:6] for e in sel], textposition="top center",
                    marker=dict(size=16, color=color), name=name)
fig.update_layout(title="Block tree after the reorg (the double-spend block is remembered as invalid)",
                  xaxis_title="height", yaxis=dict(title="branch", dtick=1), height=340)
fig.show()
assert [kind[e.hash] for e in chain.tips()] == ["side branch", "best chain"]     # b6, c7
assert greedy.hash() in chain.invalid
"""),
    md(r"""
## 7. A real Bitcoin block: the genesis block

Everything above works on Bitcoin's own data. Bitcoin's header is 80 bytes (version, previous hash,
Merkle root, time, bits, nonce, little-endian) and hashes are *displayed* byte-reversed, which is why
block hashes start with zeros. Here is block 0, mined by Satoshi Nakamoto on 3 January 2009:
"""),
    code(r"""
genesis = BitcoinHeader.from_hex(GENESIS_HEADER_HEX)
print(f"version {genesis.version}, prev_hash {hash_to_hex(genesis.prev_hash)}, bits {genesis.bits:#010x}, nonce {genesis.nonce}")
print("hash  :", genesis.hash_hex())
print("time  :", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(genesis.time)))
zero_bits = 256 - genesis.hash_value().bit_length()
print(f"the hash starts with {zero_bits} zero bits; the target needs {256 - bits_to_target(genesis.bits).bit_length()}")
assert genesis.hash_hex() == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
assert hash_to_hex(genesis.merkle_root) == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
assert genesis.check_pow() and zero_bits == 43
assert genesis.bits == 0x1D00FFFF and genesis.nonce == 2083236893
tampered = BitcoinHeader(genesis.version, genesis.prev_hash, genesis.merkle_root, genesis.time, genesis.bits, genesis.nonce + 1)
assert not tampered.check_pow()                  # the next nonce is nowhere near the target
"""),
    md(r"""
Finding that nonce is the same loop as our mining, on an 80-byte header instead of a 180-byte one.
`gradientcoin_edu.kernels.nonce_search(prefix, target, start, count)` takes every header byte before
the nonce and returns the first nonce in the range whose header meets the target (`mine` and
`search_nonces` call it for our blocks). On a CUDA GPU the same call runs a Triton kernel, one nonce
per GPU thread; without one it runs on the CPU (hashlib). Either way we give it a small range that
contains Satoshi's nonce:
"""),
    code(r"""
from gradientcoin_edu import kernels

prefix = bytes.fromhex(GENESIS_HEADER_HEX)[:-4]          # the 76 bytes before the nonce
found = kernels.nonce_search(prefix, bits_to_target(0x1D00FFFF), 2_083_230_000, 10_000)
print("first nonce in 2,083,230,000 .. 2,083,239,999 that meets the target:", found)
assert found == 2083236893
assert hash_to_hex(sha256d(prefix + found.to_bytes(4, "little"))) == \
    "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
rate = sum(map(sum, measured.values())) / seconds
print(f"At {rate / 1e6:.2f} million hashes/s, this notebook would need about "
      f"{expected_attempts(0x1D00FFFF) / rate / 3600:.1f} hours to mine a block at the genesis difficulty.")
"""),
    md(r"""
## Summary

* A block header commits to its parent (`prev_hash`), to every transaction (`tx_root`) and, under
  proof-of-gradient, to the gradient and the new weights; its hash is the block's identity.
* A Merkle proof shows that a transaction is in a block with about log₂ n hashes.
* Bitcoin's tree duplicates odd nodes and hashes leaves and nodes alike, which allowed
  CVE-2012-2459; our `"chain"` tree separates the domains and carries odd nodes up.
* Proof-of-work: hash ≤ target; expected tries 2^256 / (target + 1), measured to double with each
  zero bit. `bits` packs the target into four bytes.
* The chain validates every rule, rejects with a reason and changes nothing, keeps side branches,
  and follows the most cumulative work, reorganizing when another branch becomes heavier.

**Discussion questions**
1. Why must `bits` be fixed by the retarget rule rather than chosen by the miner? What would a miner
   do if it could pick its own target?
2. The fork-choice rule counts *work*, not blocks. Construct an example where the longer branch
   loses, and explain why counting blocks would let an attacker win cheaply.
3. A light client trusts the Merkle proof only as much as it trusts the header. What does it need to
   check about the headers themselves?
"""),
]


NOTEBOOKS = {"03_blocks_merkle_and_proof_of_work.ipynb": CELLS}


if __name__ == "__main__":
    nbbuild.main(NOTEBOOKS)
