"""Write notebook 11 (hashing on the GPU).

The notebook is generated so that its text lives in one reviewable Python file and it is
always committed clean (no outputs, no execution counts). Run from the repository root:

    python scripts/build_nb11.py
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild, from any cwd
import nbbuild  # noqa: E402
from nbbuild import SETUP, code, md  # noqa: E402


CELLS = [
    md(r"""
# 11 · Hashing on the GPU

Under proof-of-gradient every lottery ticket costs a real gradient, and every block carries that
gradient, quantized to integers, as its payload. The header commits to it with `grad_root`: a
Merkle root over SHA-256 digests of fixed-size chunks of the payload bytes. Miners compute it for
every ticket; every node recomputes it, plus a deviation check against its own gradient, for every
block it receives. For a real model the payload is gigabytes, so this hashing sits on the critical
path of the whole chain. This notebook moves it onto the GPU with [Triton](https://triton-lang.org),
and checks every bit of the GPU code against `hashlib`, even on a laptop without a GPU.

**What you will build.** Nothing from scratch: you will read and run the four kernels of
`gradientcoin_edu.kernels` (chunk hashing with fused quantization, fused verification, the Merkle
tree, and Bitcoin's nonce search), check them against `hashlib` in Triton's CPU interpreter, measure
the CPU path, and write two pieces that every kernel lane computes: SHA-256's message padding and
round-half-to-even.

**Learning goals.** After this notebook you can
1. explain how a sequential hash (SHA-256) becomes a parallel GPU job: one lane per *message*, many messages at once;
2. write SHA-256 arithmetic correctly in 32-bit unsigned words: rotations, byte order, padding;
3. explain why the kernels round with `floor` and comparisons, and why that makes them bit-exact everywhere;
4. say why fusing quantization, hashing and the deviation count into one pass matters for a verifier;
5. test GPU code without a GPU (`TRITON_INTERPRET=1`) and read a benchmark honestly.
"""),
    code(SETUP),
    code(r"""
import hashlib
import inspect
import struct
import time

import numpy as np
import torch

from gradientcoin_edu import kernels as K
from gradientcoin_edu.crypto.merkle import merkle_root
from gradientcoin_edu.kernels import cpu

rng = np.random.default_rng(11)
torch.manual_seed(11)
print("kernel path for a NumPy array:", K.backend_for(np.zeros(1)))
print("Triton installed:", K.triton_available(), "| CUDA device:", torch.cuda.is_available())
"""),
    md(r"""
## 1. The commitment, in four lines of `hashlib`

The contract (`docs/architecture.md`, "Gradient commitment"): quantize the gradient with quantum
Δ = 2^-k, `Q = rint(g · 2^k)` as int32 (round half to even, saturating at the int32 range); read `Q`
as little-endian int32 bytes; cut them into `chunk_bytes` chunks (the last one may be short); hash
each chunk with SHA-256; `grad_root` is the `"chain"` Merkle root over the digests. Here is all of it
in plain NumPy and `hashlib`, next to the library call that does the same thing fast.
"""),
    code(r"""
k, chunk_bytes = 20, 4096
g = rng.standard_normal(100_000).astype(np.float32) * 1e-3             # a gradient: 100k parameters

Q = np.rint(np.clip(g.astype(np.float64) * 2.0**k, -2**31, 2**31 - 1)).astype(np.int32)
payload = Q.astype("<i4").tobytes()
digests = [hashlib.sha256(payload[i:i + chunk_bytes]).digest() for i in range(0, len(payload), chunk_bytes)]
root_by_hand = merkle_root(digests)

root = K.gradient_root(g, chunk_bytes, quantum_log2=k)                 # the library: one call
print(f"{len(payload):,} payload bytes -> {len(digests)} chunks -> grad_root {root.hex()[:32]}...")
assert root == root_by_hand
assert np.array_equal(K.quantize(g, k), Q)
"""),
    md(r"""
## 2. Why verification has to be fast

In Bitcoin, checking a block's work is one SHA-256d of an 80-byte header: microseconds, no matter
how hard the puzzle was. Under proof-of-gradient the check is a gradient recomputation **plus**
reading and hashing the whole payload, 4 bytes per model parameter, and counting how far the
published integers stray from the verifier's own rounding. Every full node does this for every
block, and a miner computes `grad_root` for every ticket it tries. The table shows what the payload
alone costs at the speed of one CPU core running `hashlib` (measured in the next cell) for models
of several sizes.
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
probe = rng.integers(-2**31, 2**31, 2**20, dtype=np.int64).astype(np.int32)   # 4 MiB
start = time.perf_counter()
hashlib.sha256(probe.data).digest()
hashlib_gbps = probe.nbytes / (time.perf_counter() - start) / 1e9
print(f"one core, hashlib.sha256: {hashlib_gbps:.2f} GB/s")
for name, params in [("this course's tiny GPT", 109_000), ("GPT-2 small", 124e6), ("a 1B model", 1e9),
                     ("a 7B model", 7e9)]:
    payload_gb = 4 * params / 1e9
    seconds = payload_gb / hashlib_gbps
    print(f"{name:24s} payload {payload_gb * 1e3:10,.1f} MB  ->  {seconds:9.4f} s to hash on one core")
"""),
    md(r"""
A 7-billion-parameter model has a 28 GB payload: about ten seconds of hashing on one core before a
node can even start on the gradient check, for every block. A data-centre GPU reads memory at a few
TB/s and has tens of thousands of integer lanes. The rest of this notebook is how to use them.

## 3. SHA-256 in 32-bit words

SHA-256 pads the message to a multiple of 64 bytes, reads it as **big-endian** 32-bit words, and
runs a *compression function* once per 64-byte block: 64 rounds of additions mod 2^32, xors, ands
and **rotations**, updating an 8-word state. `kernels/cpu.py` has a pure-Python compression function
(the host uses it for midstates); here we hash `"abc"` with it by hand and compare with `hashlib`.
"""),
    code(r"""
message = b"abc"
padded = message + b"\x80" + bytes((55 - len(message)) % 64) + (8 * len(message)).to_bytes(8, "big")
assert len(padded) == 64
state = cpu.sha256_compress(cpu.SHA256_IV, padded)          # one block, one compression
print(" ".join(f"{w:08x}" for w in state))
assert struct.pack(">8I", *state) == hashlib.sha256(message).digest()
"""),
    md(r"""
Two traps wait for anyone writing this on a GPU:

* **Signed shifts.** PyTorch, NumPy and Triton all have `int32`, and on `int32` the shift `>>` is
  *arithmetic*: it copies the sign bit into the vacated positions. A rotation built from it is wrong
  for every word with the top bit set (half of them). All hash words must be `uint32`.
* **Byte order.** Our payload is little-endian int32; SHA-256 reads big-endian words. Each word is
  byte-swapped on load, once; the digest is byte-swapped back on store.
"""),
    code(r"""
x = np.array([0x80000000], dtype=np.uint32)                   # only the top bit set
rotr_1 = lambda w: (w >> 1) | (w << 31)                       # rotate right by 1
as_uint32 = int(rotr_1(x)[0])
as_int32 = int(rotr_1(x.view(np.int32))[0]) & 0xFFFFFFFF
print(f"rotr(0x80000000, 1) on uint32: {as_uint32:#010x}   on int32: {as_int32:#010x}")
assert as_uint32 == 0x40000000                                 # right: the bit moved one place down
assert as_int32 == 0xC0000000                                  # wrong: >> copied the sign bit
word = np.array([0x01020304], dtype="<i4")
assert word.tobytes() == b"\x04\x03\x02\x01"                  # little-endian in memory
assert int.from_bytes(word.tobytes(), "big") == 0x04030201    # what SHA-256 reads: the byte-swapped word
"""),
    md(r"""
### Exercise 11.1: the padded message words

Every kernel lane computes, for its chunk, the words that enter the compression function: the
message bytes as big-endian words, then the byte `0x80`, zeros, and the message length in **bits** as
a 64-bit big-endian number in the last 8 bytes, so the total is a multiple of 64 bytes. (In the kernel
this is `_pad_word` in `kernels/chunk_hash.py`: it *computes* each padding word from the chunk length
and the word index, so a short last chunk costs nothing extra.) Write `padded_words(message)`
returning the list of 32-bit words. The check feeds your words through the compression function and
compares with `hashlib`.
"""),
    code(r"""
def padded_words(message: bytes) -> list[int]:
    raise NotImplementedError  # your code here
"""),
    code(r"""
from gradientcoin_edu.exercises import check
check("11.1", padded_words)
"""),
    md(r"""
## 4. How SHA-256 maps onto Triton: one lane per chunk

One SHA-256 is sequential: round 17 needs round 16. The parallelism is *across messages*. A Triton
program handles `BLOCK` chunks at once; every variable in the kernel is a vector of `BLOCK` uint32
words, one per chunk, and every operation runs on all of them together. On a GPU each lane is a
thread; a 1 GiB payload in 4 KiB chunks is 262,144 independent hashes.

The compression function is shared by all four kernels (`kernels/sha256_triton.py`). The message
schedule needs only the last 16 words, so it is a sliding window of 16 named values, and
`tl.static_range(64)` unrolls the rounds, so the window costs nothing but renaming:
"""),
    code(r"""
if K.triton_available():
    sha = K.triton_module("sha256_triton", interpret=True)
    src = inspect.getsource(sha._compress.fn if hasattr(sha._compress, "fn") else sha._compress)
    print(src[src.index("    for t in"):])
else:
    print("Triton is not installed here (it is on Linux and in Colab); read kernels/sha256_triton.py instead.")
"""),
    md(r"""
A chunk of 4096 bytes is 64 data blocks plus one padding block, so each lane runs 65 compressions,
each about 3,600 integer operations. SHA-256 is **compute-bound**: a GPU wins because it has
thousands of integer units, not because of its memory bandwidth. The same structure also shows the
limit: parallelism = number of chunks. A 1 MiB payload in 4 KiB chunks is only 256 lanes, far too
few to fill a GPU; smaller chunks give more lanes but more padding blocks and a bigger Merkle tree.

### Checking the kernel without a GPU

Triton ships an interpreter: with `TRITON_INTERPRET=1` a `@triton.jit` function runs on the CPU,
each vector operation executed by NumPy. It is slow (about 0.1 s per block of lanes), and it runs
the *same source* as the GPU, so it is how this repository's tests check the kernels.
`backend="interpret"` asks the library for exactly that:
"""),
    code(r"""
if K.triton_available():
    q = rng.integers(-2**31, 2**31, 16 * 3 + 5, dtype=np.int64).astype(np.int32)      # 3 full chunks + a short one
    start = time.perf_counter()
    kernel_digests = K.chunk_digests(q, 64, backend="interpret")
    seconds = time.perf_counter() - start
    by_hand = [hashlib.sha256(q.tobytes()[i:i + 64]).digest() for i in range(0, q.nbytes, 64)]
    assert kernel_digests.tobytes() == b"".join(by_hand)
    print(f"Triton kernel (interpreted, {seconds:.1f} s) == hashlib on {len(by_hand)} chunks, the last one short")
else:
    print("no Triton: the CPU path is used everywhere")
"""),
    md(r"""
## 5. Rounding in the kernel: round half to even with `floor`

Quantization is fused into the hashing kernel: it reads the float gradient, rounds in registers, and
hashes the result, so the int32 payload never exists in memory. The rounding must agree bit for bit
with NumPy's `np.rint` on every machine, ties (x.5) included. CUDA has a hardware round-to-nearest-even
instruction (`libdevice.rint`), but the interpreter does not, and two code paths are two chances to
disagree. So the kernel uses only operations that are exact in float64 for |x| ≤ 2^31: `floor`,
subtraction and comparisons. (The kernels are also compiled with `enable_fp_fusion=False`, so no
multiply-add is fused into a single rounding that NumPy would not do.)
"""),
    code(r"""
ties = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
print("np.rint:", np.rint(ties), "  Python round:", [round(t) for t in ties], "  floor(x + 0.5):", np.floor(ties + 0.5))
assert np.array_equal(np.rint(ties), [-2, -2, -0, 0, 2, 2, 4])           # ties go to the even neighbour
assert not np.array_equal(np.floor(ties + 0.5), np.rint(ties))           # the schoolbook rule differs
g_ties = (ties / 2**k).astype(np.float32)                                # values that land on ties after scaling
assert np.array_equal(K.quantize(g_ties, k), np.rint(ties).astype(np.int32))
"""),
    md(r"""
### Exercise 11.2: round half to even with `floor`

Write `round_half_even(x)` for a float64 array using `np.floor`, arithmetic and comparisons only (no
`np.rint`, `np.round` or `round`): take `r = floor(x)` and the fraction `x - r`; go up when the fraction
is above one half, or when it is exactly one half and `r` is odd. This is `_round_half_even` in
`kernels/chunk_hash.py`.
"""),
    code(r"""
def round_half_even(x: np.ndarray) -> np.ndarray:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("11.2", round_half_even)
"""),
    md(r"""
## 6. Fused verification: one pass over two arrays

A verifier holds the published payload `Q` and its own recomputed gradient `g'`. Because floats
differ in the last bits between machines, an honest `Q` may differ from `rint(g'·2^k)` by ±1 where
`g'·2^k` lies within a small `delta` of a rounding boundary; anything else is a *disallowed*
deviation. `fused_verify` reads each chunk of `Q` and `g'` once and produces the digest, the number
of deviations and the number of disallowed ones, all in the same loop as the hash.
"""),
    code(r"""
k_small, delta = 4, 0.01
g_ver = rng.uniform(-3, 3, 64) / 2**k_small
g_ver[np.abs(g_ver * 2**k_small % 1 - 0.5) < 0.02] = 0.1                   # keep accidental near-ties out
Q_pub = K.quantize(g_ver, k_small).copy()
g_ver[3], Q_pub[3] = 0.5 / 2**k_small, 1        # exactly a tie, published as the other neighbour: allowed
Q_pub[20] += 1                                  # +1 far from any boundary: disallowed
Q_pub[40] -= 2                                  # -2: disallowed
report = K.fused_verify(g_ver, Q_pub, k_small, 64, delta)                # 16 elements per chunk
print("deviations per chunk:", report.deviations, " disallowed:", report.disallowed)
assert report.deviations.tolist() == [1, 1, 1, 0] and report.disallowed.tolist() == [0, 1, 1, 0]
assert report.root == K.gradient_root(Q_pub, 64)
if K.triton_available():
    kernel_report = K.fused_verify(g_ver, Q_pub, k_small, 64, delta, backend="interpret")
    assert np.array_equal(kernel_report.disallowed, report.disallowed) and kernel_report.root == report.root
    print("the fused Triton kernel (interpreted) agrees")
"""),
    md(r"""
Doing the same in three steps (hash `Q`; quantize `g'`; compare) reads both arrays again and writes
a temporary: three times the memory traffic. Fusion keeps the comparison in registers, under the
arithmetic of the hash, where it is almost free.

## 7. The Merkle tree, level by level

`kernels/merkle_root.py` builds the `"chain"` tree on the GPU, one launch per level, one lane per
node: leaf = SHA-256(0x00 ‖ digest), node = SHA-256(0x01 ‖ left ‖ right). The one-byte prefix shifts
every digest byte by 8 bits, so message word i is `(D[i-1] << 24) | (D[i] >> 8)`, a funnel of two
neighbouring words. The digests never leave the GPU until the final 32 bytes.
"""),
    code(r"""
leaf_digests = np.frombuffer(b"".join(hashlib.sha256(bytes([i])).digest() for i in range(5)), np.uint8).reshape(5, 32)
want = merkle_root([bytes(row) for row in leaf_digests])
assert K.merkle_root_of_digests(leaf_digests) == want
if K.triton_available():
    assert K.merkle_root_of_digests(leaf_digests, backend="interpret") == want
    print("Merkle kernels (interpreted) == crypto.merkle.merkle_root over 5 digests (an odd node carried up)")
"""),
    md(r"""
## 8. For comparison: Bitcoin's nonce search

Proof-of-work is the same machinery with nothing useful inside: SHA-256d of an 80-byte header for
nonce after nonce. The first 64 header bytes do not depend on the nonce, so their compression (the
*midstate*) is done once; each nonce then costs two compressions. `kernels/nonce_search.py` tries one
nonce per lane and finds the genesis block's nonce, 2083236893:
"""),
    code(r"""
genesis_merkle = bytes.fromhex("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")[::-1]
header76 = struct.pack("<I32s32sII", 1, bytes(32), genesis_merkle, 1231006505, 0x1D00FFFF)
target = 0xFFFF << (8 * (0x1D - 3))
assert K.nonce_search(header76, target, 2083236893 - 5000, 10_000, backend="cpu") == 2083236893
if K.triton_available():
    assert K.nonce_search(header76, target, 2083236893 - 100, 128, backend="interpret") == 2083236893
print("genesis nonce found:", 2083236893)
"""),
    md(r"""
## 9. The speed table

Measured live on *this* machine, on a 4 MiB payload: one-shot `hashlib` over the whole payload (the
anchor), the library's CPU path (`chunk_digests`, and `gradient_root` from the float gradient), and
the *naive* path: copy to the host and hash chunk by chunk in a Python loop. On a GPU the benchmark
adds the Triton columns (`gradientcoin bench`, and the cell after this one); the figures measured for
this repository are in `docs/benchmarks.md`.
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
def best_seconds(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)

g4 = rng.standard_normal(2**20).astype(np.float32)          # 4 MiB of float32 -> 4 MiB of int32 payload
q4 = K.quantize(g4, 20)
nbytes = q4.nbytes
def naive():
    data = torch.from_numpy(q4).cpu().numpy().tobytes()      # "copy to the host", then a Python loop
    return [hashlib.sha256(data[i:i + 4096]).digest() for i in range(0, nbytes, 4096)]

rows = {
    "hashlib one-shot (anchor)": best_seconds(lambda: hashlib.sha256(q4.data).digest()),
    "CPU path: chunk_digests": best_seconds(lambda: K.chunk_digests(q4, 4096)),
    "CPU path: gradient_root from floats": best_seconds(lambda: K.gradient_root(g4, 4096, 20)),
    "naive: copy + Python loop": best_seconds(naive),
}
for name, seconds in rows.items():
    print(f"{name:38s} {nbytes / seconds / 1e9:6.2f} GB/s")
ratio = rows["CPU path: chunk_digests"] / rows["hashlib one-shot (anchor)"]
print(f"CPU path time / hashlib time: {ratio:.2f}")
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
import plotly.graph_objects as go
fig = go.Figure(go.Bar(x=[nbytes / s / 1e9 for s in rows.values()], y=list(rows), orientation="h"))
fig.update_layout(title="Hashing a 4 MiB payload in 4 KiB chunks (this machine)", xaxis_title="GB/s",
                  height=300, margin=dict(l=10, r=10, t=40, b=40))
fig.show()
"""),
    code(r"""
# NBVAL_SKIP
# The big GPU benchmark: payloads up to 4 GB, every kernel timed with triton.testing.do_bench.
if torch.cuda.is_available() and K.triton_available():
    from gradientcoin_edu.kernels import bench
    bench.main(["--sizes", "16,256,1024,4096", "--markdown"])
else:
    print("no CUDA device: skipped (run `gradientcoin bench` on a GPU machine)")
"""),
    md(r"""
## Summary

* Proof-of-gradient turns block verification from one header hash into *recompute a gradient and
  hash gigabytes*: this is the price of making mining useful, and the reason the hashing is on a GPU.
* SHA-256 is sequential within a message; the GPU parallelism is **one lane per chunk** (or per tree
  node, or per nonce). Hash words are `uint32`; rotations are `(x >> n) | (x << (32 - n))`; the
  little-endian payload is byte-swapped into SHA-256's big-endian words; padding is computed, not stored.
* The kernels are **bit-exact** with the CPU path: round-half-to-even is built from `floor` and
  comparisons, floats are never fused into multiply-adds, and every kernel is tested against
  `hashlib` in Triton's interpreter, with no GPU needed.
* **Fusion** (quantize + hash, or hash + deviation count) reads each byte once; the Merkle tree stays
  on the device; the nonce search reuses the midstate.

## Discussion questions

1. With one lane per chunk, what chunk size would you pick for a 100 MB payload on a GPU with
   20,000 lanes in flight? What do smaller chunks cost (padding blocks, tree size, Merkle proofs)?
2. The verifier allows ±1 only within `delta` of a rounding boundary, and at most `c` of them per
   block. What could a miner do with a generous `delta` and no cap?
3. Why is it safer to implement rounding with `floor` and comparisons than with the hardware's
   round-to-nearest instruction, when two different machines must agree bit for bit?
"""),
]


NOTEBOOKS = {"11_hashing_on_the_gpu.ipynb": CELLS}


if __name__ == "__main__":
    nbbuild.main(NOTEBOOKS)
