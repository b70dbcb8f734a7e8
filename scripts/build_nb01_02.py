"""Write notebooks 01 (hashes and signatures) and 02 (transactions and the UTXO ledger).

The notebooks are generated so that their text lives in one reviewable Python file and they
are always committed clean (no outputs, no execution counts). Run from the repository root:

    python scripts/build_nb01_02.py
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild, from any cwd
import nbbuild  # noqa: E402
from nbbuild import SETUP, code, md  # noqa: E402


# ====================================================================== notebook 01
NB01 = [
    md(r"""
# 01 · Hashes and signatures

GradientCoin, like Bitcoin, defines a coin as *a chain of digital signatures* (whitepaper section 2)
and links its blocks with *hashes* (section 3). Everything later in this course (transactions,
blocks, proof-of-work, proof-of-gradient) is built from these two tools.

**What you will build.** You will hash data with SHA-256 and watch one flipped bit change half of
the output (the *avalanche effect*), run a SHA-256 written in plain Python and check it against
`hashlib`, walk around a toy elliptic curve, and then sign and verify messages with real
secp256k1 keys (Bitcoin's curve), including forged and altered signatures that must fail.

**Learning goals**
1. State what a cryptographic hash guarantees (and what it does not).
2. Measure the avalanche effect and explain why it matters for proof-of-work.
3. Read SHA-256: padding, message schedule, 64 rounds.
4. Explain private key → public key → address, and why signatures use deterministic nonces.
5. Show that a signature binds one key to one exact message.
"""),
    code(SETUP),
    md(r"""
## 1. SHA-256: a fingerprint for bytes

`sha256(data)` maps *any* bytes to 32 bytes. What it promises:

* **deterministic**: the same input always gives the same digest;
* **preimage resistance**: given a digest, finding an input for it takes about 2^256 tries;
* **second-preimage and collision resistance**: finding two inputs with the same digest takes about 2^128 tries;
* **avalanche**: changing one input bit changes each output bit with probability 1/2.

What it does *not* promise: secrecy of short or guessable inputs (anyone can hash `b"yes"` and `b"no"`
and compare). We check the library against the examples published with the standard (FIPS 180-2).
"""),
    code(r"""
import hashlib
import random
import time

import numpy as np
import plotly.graph_objects as go

from gradientcoin_edu.crypto import sha256, sha256d, hash_to_hex, hex_to_hash

random.seed(1)
np.random.seed(1)

assert sha256(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
assert sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex() == \
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
assert sha256(b"a" * 1_000_000).hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
print("sha256(b'abc') =", sha256(b"abc").hex())
"""),
    md(r"""
Bitcoin hashes twice, **SHA-256d** = SHA-256(SHA-256(x)), and *displays* hashes with their bytes
reversed. Here is the header of Bitcoin's genesis block (3 January 2009): its SHA-256d, reversed,
is the famous hash with many leading zeros. The zeros are the proof of work (notebook 04).
"""),
    code(r"""
genesis_header = bytes.fromhex(
    "01000000" + "00" * 32
    + "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a"
    + "29ab5f49" + "ffff001d" + "1dac2b7c")
digest = sha256d(genesis_header)
print("internal byte order:", digest.hex())
print("as explorers show it:", hash_to_hex(digest))
assert hash_to_hex(digest) == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
assert hex_to_hash(hash_to_hex(digest)) == digest
assert digest == hashlib.sha256(hashlib.sha256(genesis_header).digest()).digest()
"""),
    md(r"""
## 2. The avalanche effect

Flip one bit of a message and count how many of the 256 output bits change. If SHA-256 behaves
like a random function, each output bit flips with probability 1/2, so the count follows a
binomial distribution with n = 256, p = 1/2: mean 128, standard deviation 8. This is why you
cannot "aim" at a hash: a nearby input tells you nothing about the output, and a miner has no
better strategy than trying nonces one by one.
"""),
    code(r"""
def flipped_bits(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))

rng = random.Random(2023)
trials = 3000
counts = []
for _ in range(trials):
    message = bytearray(rng.randbytes(64))
    before = sha256(bytes(message))
    bit = rng.randrange(64 * 8)
    message[bit // 8] ^= 1 << (bit % 8)
    counts.append(flipped_bits(before, sha256(bytes(message))))
counts = np.array(counts)
print(f"mean {counts.mean():.2f} bits (expect 128), std {counts.std():.2f} (expect 8), "
      f"min {counts.min()}, max {counts.max()}")
assert abs(counts.mean() - 128) < 1.0          # 3000 trials: the mean's standard error is 0.15
assert 7 < counts.std() < 9
"""),
    code(r"""
from math import comb

k = np.arange(90, 167)
expected = trials * np.array([comb(256, int(i)) for i in k]) / 2**256
fig = go.Figure()
fig.add_histogram(x=counts, xbins=dict(start=89.5, end=166.5, size=1), name="measured")
fig.add_scatter(x=k, y=expected, mode="lines", name="binomial(256, 1/2)")
fig.update_layout(title="Output bits that change when one input bit flips (SHA-256, 3000 trials)",
                  xaxis_title="bits changed out of 256", yaxis_title="trials", height=380)
fig.show()
"""),
    md(r"""
### Exercise 01.1: count differing bits

Write `bit_difference(a, b)` that returns the number of bit positions in which two equally long
byte strings differ (the *Hamming distance*, the quantity plotted above). Then run the check cell.
"""),
    code(r"""
def bit_difference(a: bytes, b: bytes) -> int:
    raise NotImplementedError  # your code here
"""),
    code(r"""
from gradientcoin_edu.exercises import check
check("01.1", bit_difference)
"""),
    md(r"""
## 3. SHA-256 in plain Python

Nothing in SHA-256 is magic. `gradientcoin_edu.crypto.teaching` has it in about forty lines:

1. **pad** the message: append the byte `0x80`, zeros until the length is 56 mod 64, then the
   message length in *bits* as an 8-byte big-endian number, so the total is a multiple of 64 bytes;
2. start from eight 32-bit words `H0` (from square roots of primes);
3. for each 64-byte block, **compress**: expand 16 words into a 64-word *message schedule*, then run
   64 rounds of additions mod 2^32, rotations and bit mixing, and add the result to the state.

It is slow and only for reading; the library uses `hashlib`. Read the compression function:
"""),
    code(r"""
import inspect
from gradientcoin_edu.crypto import teaching

print(inspect.getsource(teaching.sha256_compress))
"""),
    code(r"""
# The teaching version agrees with hashlib on the FIPS examples and on 200 random messages,
# including lengths around the padding boundaries (55, 56, 63, 64 bytes).
for message in [b"", b"abc", b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"]:
    assert teaching.sha256_teaching(message) == hashlib.sha256(message).digest()
for length in list(range(50, 70)) + [rng.randrange(0, 500) for _ in range(180)]:
    message = rng.randbytes(length)
    assert teaching.sha256_teaching(message) == hashlib.sha256(message).digest(), length
print("teaching SHA-256 == hashlib on 203 messages")
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
message = rng.randbytes(10_000)
t0 = time.perf_counter(); teaching.sha256_teaching(message); t_py = time.perf_counter() - t0
t0 = time.perf_counter(); hashlib.sha256(message).digest(); t_c = time.perf_counter() - t0
print(f"10 kB: plain Python {1e3 * t_py:.1f} ms, hashlib {1e3 * t_c:.3f} ms ({t_py / t_c:.0f}x faster)")
"""),
    md(r"""
### Exercise 01.2: the padding

Write `pad(message)` that returns the padded message SHA-256 compresses (step 1 above).
For example a 3-byte message becomes 64 bytes and a 56-byte message becomes 128 bytes.
"""),
    code(r"""
def pad(message: bytes) -> bytes:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("01.2", pad)
"""),
    md(r"""
## 4. Elliptic curves: a toy one first

A signature scheme needs a *one-way* operation. Bitcoin uses points on the curve
y² = x³ + 7 with coordinates taken modulo a prime p. Points can be *added* (draw the line through
two points, take the third intersection, reflect it), which makes them a group, and adding a point
G to itself k times gives **k·G**. Computing k·G is fast (double-and-add: about 2·log₂k additions);
getting k back from k·G, the *discrete logarithm*, is believed infeasible for a 256-bit p.

On a toy curve modulo 211 we can list every point: there are 198 of them plus the "point at
infinity" (the group's zero), 199 in all, a prime, so every point generates the whole group.
"""),
    code(r"""
from gradientcoin_edu.crypto.teaching import TOY_CURVE, SECP256K1, Point, ecdsa_sign, ecdsa_verify

curve = TOY_CURVE
points = [(x, y) for x in range(curve.p) for y in range(curve.p) if curve.contains(x, y)]
G = curve.G
multiples = [k * G for k in range(1, curve.n)]
assert len(points) + 1 == curve.n == 199
assert {(P.x, P.y) for P in multiples} == set(points)          # G reaches every point
assert (curve.n * G).x is None                                  # 199·G = point at infinity
assert 3 * G + 4 * G == 7 * G

xs, ys = zip(*points)
fig = go.Figure()
fig.add_scatter(x=xs, y=ys, mode="markers", name="points of y² = x³ + 7 mod 211", marker=dict(size=5))
walk = multiples[:8]
fig.add_scatter(x=[P.x for P in walk], y=[P.y for P in walk], mode="markers+text+lines",
                text=[f"{k}G" for k in range(1, 9)], textposition="top center", name="G, 2G, ..., 8G")
fig.update_layout(title="Every point of a toy curve; k·G jumps around unpredictably", height=480,
                  xaxis_title="x", yaxis_title="y")
fig.show()
"""),
    md(r"""
## 5. Real keys on secp256k1

secp256k1 is the same equation modulo p = 2²⁵⁶ − 2³² − 977, with a fixed generator G of prime order
n ≈ 1.16·10⁷⁷. A **private key** is a number d in [1, n−1]; the **public key** is the point d·G,
written as 33 bytes (a parity byte 02/03 and x); the **address** people pay to is a 20-byte hash
of the public key, shown as `gc1` + hex with a 4-byte checksum that catches typos.

`PrivateKey.from_seed(b"alice")` derives a key from a seed so that this notebook is reproducible.
Never do that with real money: anyone who guesses the seed has the key.
"""),
    code(r"""
from gradientcoin_edu.crypto import PrivateKey, PublicKey, address_to_str, address_from_str, verify
from gradientcoin_edu.crypto.keys import CURVE_ORDER
from gradientcoin_edu.errors import InvalidKey

alice, bob = PrivateKey.from_seed(b"alice"), PrivateKey.from_seed(b"bob")
pub = alice.public_key()
print("public key :", pub.to_bytes().hex())
print("address    :", address_to_str(alice.address()))

# The library (pycryptodome) and the plain-Python curve agree on d·G.
point = alice.secret * SECP256K1.G
assert pub.point == (point.x, point.y)
assert PublicKey.from_bytes(pub.to_bytes()) == pub == PublicKey.from_bytes(pub.to_bytes(compressed=False))
assert address_from_str(address_to_str(alice.address())) == alice.address()
assert alice.address() == hashlib.sha256(pub.to_bytes()).digest()[:20]
repr(alice)  # the secret never appears in a repr
"""),
    code(r"""
# Malformed keys are rejected with a reason, never half-accepted.
for bad in [b"\x02" + bytes(32), b"\x05" + pub.to_bytes()[1:], pub.to_bytes()[:-1]]:
    try:
        PublicKey.from_bytes(bad)
        raise AssertionError("accepted a bad key")
    except InvalidKey as err:
        print(f"{bad[:4].hex()}...: {err.reason}")
        assert err.reason == "bad-public-key"
"""),
    md(r"""
## 6. Signing and verifying

An ECDSA signature over a message is a pair (r, s), 64 bytes. Only the holder of d can make one;
anyone with the public key can check it. Three details matter for a currency:

* the message is hashed first (SHA-256), so any change to it changes what is signed;
* the secret nonce k is derived from the key and the message (**RFC 6979**), so signing is
  deterministic and never reuses a nonce (we will see below why reuse is fatal);
* of the two valid values s and n − s we always use the smaller (**low-s**) and reject the other,
  so nobody but the signer can produce a second valid signature for the same message.
"""),
    code(r"""
message = b"alice pays bob 5 coins"
signature = alice.sign(message)
print("signature:", signature.hex())
assert len(signature) == 64
assert alice.sign(message) == signature                      # deterministic
assert pub.verify(message, signature)                        # valid
assert int.from_bytes(signature[32:], "big") <= CURVE_ORDER // 2   # low-s
"""),
    code(r"""
# Everything else fails: another message, another key, an altered or forged signature.
assert not pub.verify(b"alice pays bob 500 coins", signature)
assert not bob.public_key().verify(message, signature)
altered = bytearray(signature); altered[5] ^= 0x01
assert not pub.verify(message, bytes(altered))
assert not pub.verify(message, random.Random(7).randbytes(64))      # a random "forgery"
assert not pub.verify(message, bob.sign(message))                     # Bob signing as Alice
r, s = signature[:32], int.from_bytes(signature[32:], "big")
high_s = r + (CURVE_ORDER - s).to_bytes(32, "big")                    # valid ECDSA, but not low-s
assert not pub.verify(message, high_s)
assert verify(pub.to_bytes(), message, signature) and not verify(b"junk", message, signature)
print("another message, another key, altered, forged, high-s: all rejected")
"""),
    md(r"""
### Why the nonce must never repeat

With the textbook formulas s = (z + r·d)/k mod n, two signatures made with the same k on different
messages give two equations in the two unknowns k and d. Watch a key fall out (we try both signs
of each s, because of the low-s rule):
"""),
    code(r"""
n = SECP256K1.n
def z_of(m: bytes) -> int:
    return int.from_bytes(hashlib.sha256(m).digest(), "big")

k = 0xDEADBEEF                                                   # the same nonce twice: a bug
m1, m2 = b"pay bob 1", b"pay carol 2"
(r1, s1), (r2, s2) = ecdsa_sign(SECP256K1, alice.secret, m1, k), ecdsa_sign(SECP256K1, alice.secret, m2, k)
assert r1 == r2                                                   # the giveaway
recovered = None
for a in (s1, n - s1):
    for b in (s2, n - s2):
        if a == b:
            continue
        k_guess = (z_of(m1) - z_of(m2)) * pow(a - b, -1, n) % n
        d_guess = (a * k_guess - z_of(m1)) * pow(r1, -1, n) % n
        if (d_guess * SECP256K1.G).x == pub.point[0]:
            recovered = d_guess
assert recovered == alice.secret
print("private key recovered from two signatures that shared a nonce")
assert ecdsa_verify(SECP256K1, Point(SECP256K1, *pub.point), m1, (r1, s1))
"""),
    md(r"""
### Exercise 01.3: an address from a public key

Write `address_from_public_key(public_key)` that returns the 20-byte address of a 33-byte
compressed public key, as defined above.
"""),
    code(r"""
def address_from_public_key(public_key: bytes) -> bytes:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("01.3", address_from_public_key)
"""),
    md(r"""
## Summary

* SHA-256 turns any bytes into a 32-byte fingerprint; one flipped input bit flips about 128 output
  bits, so outputs cannot be aimed at. Bitcoin uses SHA-256d and shows hashes byte-reversed.
* A private key is a number d, the public key the point d·G, the address a hash of the public key.
* A signature binds one key to one exact message; deterministic nonces and low-s keep it from
  leaking the key or being altered by others.

Next, notebook 02 uses these signatures to move coins: transactions and the UTXO ledger.

## Discussion questions

1. Addresses are hashes of public keys, not the keys themselves. What does that buy before a coin
   is spent, and what is left once it has been spent?
2. Proof-of-work asks for a hash below a target. Which property from section 1 makes the cheapest
   strategy "try nonces one by one", and what would go wrong if the hash had no avalanche effect?
3. Without the low-s rule, a third party could flip s to n − s in a transaction already broadcast.
   The signature stays valid, but what changes, and why would a wallet care?
"""),
]


# ====================================================================== notebook 02
NB02 = [
    md(r"""
# 02 · Transactions and the UTXO ledger

Whitepaper sections 2 and 9: a coin moves when its owner signs a transaction that names the coin
and the next owner; coins can be combined and split, and whatever is left over is a fee for the
miner. GradientCoin keeps Bitcoin's model. A later notebook adds two more kinds of transaction, the
*training-data contribution* and the *paid inference query*; they already have a place in the format.

**What you will build.** You will mint coins with coinbase transactions, pay, split and combine
value with signed transactions, pay fees, watch the ledger change as a table, and see the ledger
reject a double spend, an overspend, a stolen coin and a forged signature, each with its reason.
Finally you will undo a block exactly, which is what a node does in a reorg.

**Learning goals**
1. Explain the UTXO model: no balances, only unspent outputs; a balance is a sum over them.
2. Build and sign a transaction; say what the signature covers.
3. Compute a fee and explain how the miner collects it.
4. Name the rules a transaction must pass, and show that a rejected one changes nothing.
"""),
    code(SETUP),
    md(r"""
## 1. Wallets and the first coins

A wallet here is a key with a name. The ledger is a `UtxoSet`: a map from *outpoints*
(txid, output index) to *outputs* (amount, address). Amounts are integers in the smallest unit;
`COIN` = 10⁸ units, as Bitcoin's satoshis.

New coins enter only through a **coinbase** transaction, the first one in each block. It has one
input with a null outpoint, and it commits to the block height so that no two coinbases are alike.
"""),
    code(r"""
import random

import plotly.graph_objects as go

from gradientcoin_edu.crypto import address_to_str, hash_to_hex
from gradientcoin_edu.errors import GradientCoinError
from gradientcoin_edu.ledger import COIN, OutPoint, Transaction, TxIn, TxOut, UtxoSet, Wallet

random.seed(2)
SUBSIDY = 50 * COIN
alice, bob, carol, miner = (Wallet.from_seed(name) for name in ("alice", "bob", "carol", "miner"))
names = {w.address: w.name for w in (alice, bob, carol, miner)}

utxos = UtxoSet()
genesis = Transaction.coinbase(0, [TxOut(SUBSIDY, alice.address)])
utxos.apply_block([genesis], height=0, subsidy=SUBSIDY)
print(genesis)
assert genesis.is_coinbase and genesis.coinbase_height == 0
assert alice.balance(utxos) == 50 * COIN and len(utxos) == 1
"""),
    code(r"""
def show_ledger(utxos: UtxoSet, title: str) -> go.Figure:
    # The UTXO set as a table: one row per unspent output.
    rows = [(f"{hash_to_hex(op.txid)[:12]}…:{op.index}", names.get(out.address, address_to_str(out.address)[:12]),
             f"{out.amount / COIN:,.8f}") for op, out in utxos.items()]
    cols = list(zip(*rows)) if rows else [[], [], []]
    fig = go.Figure(go.Table(header=dict(values=["outpoint (txid:index)", "owner", "amount (coins)"]),
                             cells=dict(values=cols)))
    fig.update_layout(title=title, height=110 + 30 * len(rows), margin=dict(t=40, b=10))
    return fig

show_ledger(utxos, "after block 0: Alice mined the first 50 coins").show()
"""),
    md(r"""
## 2. Paying: inputs, outputs, change and the fee

Alice pays Bob 30 coins. Her only coin holds 50, and a coin is spent whole, so the transaction has
one input (her coin) and two outputs: 30 to Bob and **change** back to Alice. She leaves 0.001
coins unclaimed: that is the **fee**, which the miner of the next block adds to its coinbase.

The signature of each input covers the whole transaction (with the signatures themselves blanked)
and the amount and address of the coin being spent. Change anything afterwards and it no longer
verifies.
"""),
    code(r"""
FEE = COIN // 1000
op, coin = utxos.coins_of(alice.address)[0]
tx = Transaction(inputs=(TxIn(op.txid, op.index),),
                 outputs=(TxOut(30 * COIN, bob.address), TxOut(20 * COIN - FEE, alice.address)))
tx = tx.sign_input(0, alice.key, coin)                       # Alice proves she owns the coin
assert tx.verify_input(0, coin)
fee = utxos.validate_transaction(tx)
print(tx, "fee:", fee)
assert fee == FEE

# The wallet helper does the same: pick coins, add change, sign every input.
assert alice.pay(utxos, bob.address, 30 * COIN, fee=FEE) == tx
"""),
    code(r"""
# A miner includes it in block 1 and claims subsidy + fee.
coinbase1 = Transaction.coinbase(1, [TxOut(SUBSIDY + fee, miner.address)])
undo1 = utxos.apply_block([coinbase1, tx], height=1, subsidy=SUBSIDY)
assert (alice.balance(utxos), bob.balance(utxos), miner.balance(utxos)) == (20 * COIN - FEE, 30 * COIN, SUBSIDY + FEE)
assert utxos.total_value() == 2 * SUBSIDY                    # no coin created or lost: the fee moved to the miner
show_ledger(utxos, "after block 1: Alice paid Bob, the miner collected 50 + fee").show()
"""),
    md(r"""
## 3. Splitting and combining value

A transaction may have many outputs (split) and many inputs (combine). Bob splits his 30 coins
between Carol and Alice; then Alice combines her two coins into one payment to Carol.
"""),
    code(r"""
split = Transaction(
    inputs=tuple(TxIn(op.txid, op.index) for op, _ in utxos.coins_of(bob.address)),
    outputs=(TxOut(10 * COIN, carol.address), TxOut(5 * COIN, alice.address), TxOut(15 * COIN, bob.address)))
split = split.sign_input(0, bob.key, utxos.coins_of(bob.address)[0][1])
assert utxos.validate_transaction(split) == 0                  # no fee this time: outputs = inputs

coinbase2 = Transaction.coinbase(2, [TxOut(SUBSIDY, miner.address)])
utxos.apply_block([coinbase2, split], height=2, subsidy=SUBSIDY)
combine = alice.pay(utxos, carol.address, 24 * COIN, fee=FEE)  # needs both of Alice's coins
assert len(combine.inputs) == 2
fee3 = utxos.validate_transaction(combine)
utxos.apply_block([Transaction.coinbase(3, [TxOut(SUBSIDY + fee3, miner.address)]), combine], 3, SUBSIDY)
balances = {w.name: w.balance(utxos) for w in (alice, bob, carol, miner)}
print({name: amount / COIN for name, amount in balances.items()})
assert balances == {"alice": 25 * COIN - 24 * COIN - 2 * FEE, "bob": 15 * COIN, "carol": 34 * COIN,
                    "miner": 3 * SUBSIDY + 2 * FEE}
show_ledger(utxos, "after block 3: split and combined").show()
"""),
    md(r"""
## 4. What the ledger refuses

Every rule has a short machine-readable *reason*. A rejected transaction or block changes nothing:
the ledger checks everything before it keeps any change.

**The double spend.** Carol signs two transactions that spend the same coin: one to Bob, one to
Alice. Each is valid on its own. A block containing both is rejected, and once one is mined, the
other is refused.
"""),
    code(r"""
carol_coin = utxos.coins_of(carol.address)[0]
to_bob = carol.pay(utxos, bob.address, 5 * COIN)
to_alice = carol.pay(utxos, alice.address, 5 * COIN)
assert to_bob.inputs[0].outpoint == to_alice.inputs[0].outpoint == carol_coin[0]
assert utxos.validate_transaction(to_bob) == utxos.validate_transaction(to_alice) == 0

before = utxos.copy()
try:
    utxos.apply_block([Transaction.coinbase(4, [TxOut(SUBSIDY, miner.address)]), to_bob, to_alice], 4, SUBSIDY)
    raise AssertionError("the double spend was accepted")
except GradientCoinError as err:
    print("block with both:", err.reason, "-", err.message)
    assert err.reason == "double-spend"
assert utxos == before                                          # nothing changed, not even the first payment

utxos.apply_block([Transaction.coinbase(4, [TxOut(SUBSIDY, miner.address)]), to_bob], 4, SUBSIDY)
try:
    utxos.validate_transaction(to_alice)
    raise AssertionError("the double spend was accepted")
except GradientCoinError as err:
    print("afterwards     :", err.reason, "-", err.message)
    assert err.reason == "double-spend"
"""),
    code(r"""
# More attempts, each rejected with its reason and leaving the ledger as it was.
op, coin = utxos.coins_of(bob.address)[0]
def spend(outputs, key):
    t = Transaction(inputs=(TxIn(op.txid, op.index),), outputs=tuple(outputs))
    return t.sign_input(0, key, coin)

honest = spend([TxOut(coin.amount, carol.address)], bob.key)
forged = Transaction(inputs=honest.inputs, outputs=(TxOut(coin.amount, alice.address),))   # Bob's signature, new payee
attempts = {
    "overspend": spend([TxOut(coin.amount + 1, carol.address)], bob.key),
    "stolen coin (Alice signs Bob's)": spend([TxOut(coin.amount, alice.address)], alice.key),
    "forged (output changed after signing)": forged,
    "unknown coin": Transaction(inputs=(TxIn(bytes(32), 0),), outputs=(TxOut(1, alice.address),)),
    "nothing spent": Transaction(inputs=(), outputs=(TxOut(1, alice.address),)),
}
before = utxos.copy()
reasons = {}
for name, attempt in attempts.items():
    try:
        utxos.validate_transaction(attempt)
        raise AssertionError(f"{name} was accepted")
    except GradientCoinError as err:
        reasons[name] = err.reason
        print(f"{name:40s} -> {err.reason}")
assert utxos == before
assert list(reasons.values()) == ["overspend", "wrong-key", "bad-signature", "missing-input", "no-inputs"]
assert utxos.validate_transaction(honest) == 0                  # the honest one passes
"""),
    code(r"""
# The miner may claim the subsidy plus the fees, and not one unit more.
greedy = Transaction.coinbase(5, [TxOut(SUBSIDY + 1, miner.address)])
try:
    utxos.apply_block([greedy], 5, SUBSIDY)
    raise AssertionError("accepted")
except GradientCoinError as err:
    print(err.reason, "-", err.message)
    assert err.reason == "bad-coinbase-amount"
"""),
    md(r"""
## 5. Undo: how a node follows a heavier chain

When a competing chain with more work appears, a node *disconnects* its latest blocks and connects
the other ones (notebook 05). `apply_block` returns an `UndoRecord`; `undo_block` restores the set
exactly: spent coins come back, created ones disappear.
"""),
    code(r"""
snapshot = utxos.copy()
pay = bob.pay(utxos, alice.address, 7 * COIN, fee=FEE)
undo = utxos.apply_block([Transaction.coinbase(5, [TxOut(SUBSIDY + FEE, miner.address)]), pay], 5, SUBSIDY)
assert utxos != snapshot
utxos.undo_block(undo)
assert utxos == snapshot and utxos.height == 4
print("applied and undone: the ledger is exactly as before", utxos)
"""),
    md(r"""
## 6. The bytes

Transactions travel and are hashed as explicit bytes (little-endian integers, length prefixes),
never as Python objects. The **txid** is the SHA-256d of those bytes, signatures included.
`parse` is the exact inverse of `serialize`, and anything else raises `ParseError`.
"""),
    code(r"""
from gradientcoin_edu.crypto import sha256d
from gradientcoin_edu.errors import ParseError

raw = pay.serialize()
print(len(raw), "bytes:", raw.hex()[:96], "...")
assert Transaction.parse(raw) == pay and sha256d(raw) == pay.txid
try:
    Transaction.parse(raw[:-1])
    raise AssertionError("parsed a truncated transaction")
except ParseError as err:
    print("truncated:", err.reason)
"""),
    md(r"""
### Exercise 02.1: the fee

Write `fee_of(tx, utxos)`: the total amount of the outputs `tx` spends (look each input's outpoint
up with `utxos.get(txin.outpoint)`) minus the total of its outputs. Assume `tx` is valid.
"""),
    code(r"""
def fee_of(tx: Transaction, utxos: UtxoSet) -> int:
    raise NotImplementedError  # your code here
"""),
    code(r"""
from gradientcoin_edu.exercises import check
check("02.1", fee_of)
"""),
    md(r"""
### Exercise 02.2: find a double spend

A node receives a list of transactions. Write `find_conflict(txs)` that returns `(i, j)` for the
first transaction `j` that spends an outpoint already spent by an earlier transaction `i`, or `None`
when no two transactions spend the same coin.
"""),
    code(r"""
def find_conflict(txs: list[Transaction]) -> tuple[int, int] | None:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("02.2", find_conflict)
"""),
    md(r"""
## Summary

* The ledger is a set of unspent outputs; a balance is a sum over the outputs an address owns.
* A transaction spends whole outputs and creates new ones: several inputs combine value, several
  outputs split it, and change goes back to the payer. Inputs minus outputs is the fee.
* Each input is signed over the whole transaction and the coin it spends; the ledger checks the
  key, the signature, the amounts and that no coin is spent twice, and a rejection changes nothing.
* Applying a block can be undone exactly, which makes reorganizations possible.

## Discussion questions

1. The ledger rejected the block with Carol's two payments, but which of the two would a node
   accept if they arrived one after the other over the network? Why is "the first one seen" not
   good enough for a currency, and what does the blockchain add? (Notebooks 04 and 05.)
2. Bob's coin is spent whole and he receives change. What does the change output reveal to someone
   watching the chain, and how does that relate to the privacy discussion in whitepaper section 10?
3. A training-data transaction will carry data instead of a payment. Why might the network still
   want it to pay a fee, and who should receive it?
"""),
]


NOTEBOOKS = {"01_hashes_and_signatures.ipynb": NB01, "02_transactions_and_utxo.ipynb": NB02}


if __name__ == "__main__":
    nbbuild.main(NOTEBOOKS)
