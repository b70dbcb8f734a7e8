"""Write notebooks 04 (the network), 05 (incentives, attacks and calculations) and 06 (privacy).

The notebooks are generated so that their text lives in one reviewable Python file and they are
always committed clean (no outputs, no execution counts). Run from the repository root:

    python scripts/build_nb04_06.py
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))   # scripts/: nbbuild, from any cwd
import nbbuild  # noqa: E402
from nbbuild import SETUP, code, md  # noqa: E402


# =====================================================================================  04
NB04 = [
    md(r"""
# 04 · The network

Whitepaper section 5 (*network*) in six steps: new transactions are broadcast to all nodes; each
node collects them into a block; each node works on finding a proof-of-work for its block; when a
node finds one it broadcasts the block; nodes accept it only if all its transactions are valid;
they express acceptance by working on the next block with its hash as the previous one. *Nodes
always consider the longest chain to be the correct one* (longest = most work). This is
GradientCoin's answer to "a single unit can shut the model down": nobody is in charge, and yet
everyone ends up agreeing on one chain.

**What you will build.** You will look at the bytes nodes send each other, start a dozen nodes in a
seeded network simulator (real blocks, real validation, simulated time and links), check that
block arrivals follow the statistics of mining, measure how latency makes forks, cut the network in
two and watch two chains grow and one of them be abandoned when it heals (with its transactions
going back to the mempool), crash a node and let it catch up from its block store, and ban a peer
that sends garbage. The same node code also runs as real processes over ZeroMQ (`gradientcoin node`).

**Learning goals**
1. Describe the gossip protocol: announce (`inv`), request (`getdata`), deliver (`block`, `tx`), catch up (`getblocks`).
2. Explain why the time between blocks is exponential, and what that means for forks.
3. Relate the rate of stale blocks to the ratio of propagation delay and block interval.
4. Follow a reorganisation: which blocks are abandoned, what happens to their transactions.
5. Say how a node protects itself from peers that send malformed, oversized or invalid data.
"""),
    code(SETUP),
    md(r"""
## 1. What nodes say to each other

Every message is an **envelope** around a **payload**, as in Bitcoin's P2P protocol:
`magic 4 | command 12 | length 4 | checksum 4 | payload`. The checksum is the first four bytes of
SHA-256d(payload). The conversation:

| message | meaning |
|---|---|
| `version` / `verack` | hello: protocol, genesis hash (same network?), best height and tip |
| `inv` | "I have these blocks / transactions" (announce, by hash) |
| `getdata` | "send me these" (request) |
| `block`, `tx` | the object itself (its `serialize()` bytes) |
| `notfound` | "I do not have it" |
| `getblocks` | "my chain contains these blocks (a *locator*); what comes after?" |
| `ping` / `pong` | are you still there? |

A node never trusts bytes from a peer: `decode` checks every field and size limit and raises
`InvalidMessage` with a short reason.
"""),
    code(r"""
from gradientcoin_edu.errors import InvalidMessage
from gradientcoin_edu.network import messages as m

hello = m.Version(genesis=bytes(32), best_height=42, best_hash=bytes(range(32)), nonce=7)
raw = m.encode(hello)
print(f"{len(raw)} bytes; envelope: {raw[:24].hex(' ')}")
assert m.decode(raw) == hello                      # bytes -> message -> the same bytes

for broken, why in [(raw[:-1], "one byte missing"), (b"XXXX" + raw[4:], "wrong network magic"),
                    (raw[:30] + bytes([raw[30] ^ 1]) + raw[31:], "one bit flipped in the payload")]:
    try:
        m.decode(broken)
        raise AssertionError("should have been rejected")
    except InvalidMessage as err:
        print(f"{why:32s} -> rejected: {err.reason}")
"""),
    md(r"""
## 2. A dozen nodes

The **simulator** runs many `Node` objects in one process. Time is simulated: a queue of events
(a message arrives, a miner finds a block) processed in time order, so an hour of network time
takes milliseconds. What is **real**: blocks, transactions, signatures, headers and the nonce search,
validation, fork choice, reorgs, the UTXO set, every byte of every message. What is **simulated**:
the clock, the links (latency, jitter, loss, bandwidth) and *how long mining takes*: a miner with a
share `h` of the hash rate finds blocks as a Poisson process of rate `h / block_interval` (every hash
is an independent lottery ticket), so the simulator draws the exponential wait, then the node builds a
real block on its current tip and searches a real nonce at the easy `regtest` target (about two
hashes). All blocks carry the same target, so "most work" means "longest" here.

Twelve nodes, each linked to about three others, links of 2 s latency plus random jitter (mean 3 s),
one block every 600 s on average, 60 blocks:
"""),
    code(r"""
import math
from gradientcoin_edu.network.simulator import LinkSpec, Simulator

sim = Simulator(seed=4, block_interval=600)
sim.add_nodes(12)                                        # n0 ... n11, equal hash rates
sim.connect_random(degree=3, link=LinkSpec(latency=2.0, jitter=3.0))
sim.run(blocks=60)
sim.settle()                                             # stop mining, let the last messages arrive

heights = sim.heights()
print("heights:", sorted(set(heights.values())), "| all on one tip:", sim.converged())
print({k: sim.stats[k] for k in ("mined", "sent", "delivered", "bytes")})
print(f"stale blocks: {len(sim.stale_blocks())}, reorgs: {len(sim.reorgs())}")
assert sim.converged()
assert len(sim.main_chain()) - 1 + len(sim.stale_blocks()) == sim.stats["mined"]   # every block is somewhere
"""),
    md(r"""
### Block times are exponential

If each of many hashes wins with a tiny probability, the wait for the first win is (very nearly)
exponential: memoryless, with mean `block_interval` and a standard deviation just as large. Many
blocks come quickly after one another, some take much longer; that is why a payment's "10 minutes"
is only an average.
"""),
    code(r"""
import plotly.graph_objects as go

times = sorted(r.time for r in sim.blocks.values())
gaps = [b - a for a, b in zip([0.0] + times, times)]
mean = sum(gaps) / len(gaps)
std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
print(f"{len(gaps)} gaps: mean {mean:.0f} s, standard deviation {std:.0f} s (exponential: both 600 s)")
assert abs(mean - 600) < 4 * 600 / math.sqrt(len(gaps))          # within 4 standard errors

xs = [10 * i for i in range(0, 301)]
fig = go.Figure()
fig.add_trace(go.Histogram(x=gaps, histnorm="probability density", nbinsx=20, name="simulated gaps"))
fig.add_trace(go.Scatter(x=xs, y=[math.exp(-x / 600) / 600 for x in xs], name="exponential, mean 600 s"))
fig.update_layout(title="Time between blocks", xaxis_title="seconds", yaxis_title="density",
                  template="plotly_white", height=320)
fig.show()
"""),
    md(r"""
## 3. Latency makes forks

A block needs time to reach everyone (three one-way trips per hop: `inv`, `getdata`, `block`, and a
few hops). If another miner finds a block during that time, without having seen the first, two
blocks compete at the same height: a **fork**. The next block decides; the loser becomes **stale**.
We run the same twelve-node network with growing latency and count stale blocks, and we measure
how long blocks take to reach all nodes.
"""),
    code(r"""
import statistics

def latency_run(latency, seed=1, blocks=100):
    s = Simulator(seed=seed, block_interval=600)
    s.add_nodes(12)
    s.connect_random(degree=3, link=LinkSpec(latency=latency, jitter=latency))
    s.run(blocks=blocks)
    s.settle()
    stale = len(s.stale_blocks()) / len(s.blocks)
    to_all = statistics.mean(s.propagation_delays(fraction=1.0))     # mined -> every node has it
    return stale, to_all

rows = {lat: latency_run(lat) for lat in (1, 10, 30, 60)}
print(" latency | time to reach all | stale blocks | P(a block during that time)")
for lat, (stale, to_all) in rows.items():
    bound = 1 - math.exp(-to_all / 600)
    print(f"{lat:6.0f} s | {to_all:14.0f} s | {stale:11.1%} | {bound:8.1%}")
    assert stale <= bound                       # a block can only go stale if a rival appears while it travels
stales = [rows[lat][0] for lat in rows]
assert stales == sorted(stales) and stales[-1] > stales[0]   # more latency, more forks

fig = go.Figure(go.Bar(x=[f"{lat} s" for lat in rows], y=stales))
fig.update_layout(title="Stale blocks vs link latency (block interval 600 s)", xaxis_title="link latency",
                  yaxis_title="fraction of mined blocks", yaxis_tickformat=".0%", template="plotly_white", height=300)
fig.show()
"""),
    md(r"""
The last column is the chance that some block is found while a block is still on its way to the
last node, `1 - exp(-delay / interval)` (exercise 04.3 asks you to derive it). It bounds the stale
rate from above: many rivals are found by nodes that already have the block, and a fork turns only
one of the two blocks stale. Bitcoin's 10-minute interval is long compared with its few seconds of
propagation for exactly this reason; a chain with short block times needs fast propagation.

## 4. A partition, two chains, one winner

Now the dramatic case. Twelve nodes in two halves (each half a small mesh, two links between the
halves); the left half has 40 % of the hash rate. After five block intervals the links between the
halves are cut for ten intervals. Both halves keep mining: two chains grow. At the start, node n0
mines a block (so it owns a coin both halves know about), and one interval into the partition it
pays Bob 1 coin, on the left side.
"""),
    code(r"""
from gradientcoin_edu.viz.fork_tree import fork_tree_figure, fork_tree_text
from gradientcoin_edu.viz.widgets import scenario_partition

out = scenario_partition(seed=7, n_nodes=12, latency=2.0, jitter=3.0, left_share=0.4,
                         start_blocks=5, partition_blocks=10, payment=True)
print("just before the partition heals:")
print(fork_tree_text(out.before))
tips_left = {out.before.tips[n] for n in out.left}
tips_right = {out.before.tips[n] for n in out.right}
assert len(tips_left) == len(tips_right) == 1 and tips_left != tips_right   # two competing tips
fork_tree_figure(out.before, title="Before healing: two competing tips").show()
"""),
    md(r"""
When the links come back, the nodes say hello again (`version` carries the best tip), ask each other
what they are missing (`getblocks`), fetch it, and every node switches to the branch with more work.
The nodes of the other branch **reorganise**: they disconnect their blocks back to the fork point
(undoing their effect on the UTXO set exactly) and connect the winning branch.
"""),
    code(r"""
sim = out.sim
print("after healing:")
print(fork_tree_text(out.after))
print("deepest reorganisation per node:", out.reorg_depths)
assert sim.converged()
assert set(out.reorg_depths) == set(out.left) and min(out.reorg_depths.values()) >= 2   # the lighter side gave way
fork_tree_figure(out.after, title="After healing: one chain; the left branch is stale").show()
"""),
    md(r"""
**What happened to Bob's payment?** It was confirmed on the left branch, which is now abandoned. A
node that disconnects a block puts the block's transactions back into its mempool (those still valid
on the new chain), tells its peers about them again, and a miner includes them in a later block. An
honest payment is not lost; it is only delayed. (A payment whose *coins* existed only on the losing
branch would be lost, which is why real wallets wait for confirmations before spending, and why
Bitcoin lets nobody spend a block reward for 100 blocks.)
"""),
    code(r"""
n0 = sim.node("n0")
tx = out.payment
def blocks_containing(hashes):
    return [h for h in hashes if any(t.txid == tx.txid for t in n0.chain.get_block(h).txs)]

abandoned = blocks_containing(out.after.stale())
final = blocks_containing(out.after.main)
print(f"Bob's payment was in {len(abandoned)} abandoned block(s) and is now in block "
      f"{n0.chain.get(final[0]).height} of the best chain")
assert abandoned and len(final) == 1 and final[0] not in abandoned
assert n0.chain.utxo.balance(gradientcoin_edu.crypto.keys.PrivateKey.from_seed(b"bob").address()) == 10**8
"""),
    md(r"""
## 5. Crashes, restarts, late joiners

A node keeps every block it accepts in a block store (SQLite; in the simulator an in-memory SQLite
database that survives the "crash"). When it crashes it loses everything else: mempool, orphan
blocks, what it knew about its peers. When it restarts it rebuilds its chain from the store,
replaying every block through full validation, says hello to its peers and catches up. A node that
joins late does the same from genesis; `getblocks` answers at most 500 blocks at a time, so a long
catch-up takes several rounds (we set 10 here to see it happen).
"""),
    code(r"""
from gradientcoin_edu.network.node import NodeConfig

sim = Simulator(seed=2, node_config=NodeConfig(blocks_per_inv=10, heartbeat=600))
sim.add_nodes(4)
sim.add_node("late", hashrate=1.0, join_at=20 * 600)          # joins after about 20 blocks
sim.connect_random(degree=2, link=LinkSpec(latency=1.0))
sim.connect("late", "n0", LinkSpec(latency=1.0))
sim.crash("n2", at=5 * 600, restart=15 * 600)                 # down for ten block intervals
sim.run(until=5 * 600 - 1)
before_crash = sim.node("n2").best_chain()
sim.run(until=30 * 600)
sim.settle()

print(sim.heights())
assert sim.converged() and sim.node("late").height >= 20
assert all(h in sim.nodes["n2"].store for h in before_crash)  # nothing n2 had accepted was lost
print("getblocks rounds the late node needed:", sim.node("late").stats["sent-getblocks"])
"""),
    md(r"""
## 6. Peers that misbehave

An open network cannot choose its participants. Each node scores its peers: a malformed message
costs 20 points, an oversized one 50, an invalid transaction 20, an invalid block 100 (producing one
takes deliberate effort), each message beyond the rate limit 1. At 100 points the peer is
disconnected and banned. A rejected message changes nothing else: the node goes on.
"""),
    code(r"""
sim = Simulator(seed=4)
sim.add_nodes(4)
sim.add_node("rogue", hashrate=0)
sim.connect_random(degree=2, link=LinkSpec(latency=0.5), names=["n0", "n1", "n2", "n3"])
sim.connect("rogue", "n0", LinkSpec(latency=0.5))
sim.run(until=600)
for i in range(4):
    sim.inject("rogue", "n0", b"GCed" + bytes([i]) * 30, at=700 + i)        # garbage
sim.inject("rogue", "n0", m.encode(m.BlockMsg(b"\x00" * 300)), at=720)     # "a block" that does not parse
sim.inject("rogue", "n0", m.encode(m.Ping(1)) + b"x", at=730)              # trailing junk
sim.run(blocks=10)
sim.settle(names=["n0", "n1", "n2", "n3"])

print(sim.node("n0").peerbook.summary()["rogue"])
assert sim.node("n0").peerbook.summary()["rogue"]["banned"]
assert sim.converged(["n0", "n1", "n2", "n3"]) and sim.node("n0").height >= 10
"""),
    md(r"""
## 7. Play with it

Drag the sliders: link latency, the left half's share of the hash rate, and the length of the
partition (in block intervals). Each change reruns the seeded simulation and redraws its tree. With
a long partition and an even split, how deep does the reorganisation get? With tiny latency and no
partition, do you still see stale blocks?
"""),
    code(r"""
# NBVAL_IGNORE_OUTPUT
from gradientcoin_edu.viz.widgets import partition_explorer
partition_explorer(seed=7, n_nodes=12);
"""),
    md(r"""
## 8. The same nodes as real processes

`gradientcoin node` runs one node as an operating-system process: the same `Node` class, with
messages carried by ZeroMQ sockets instead of the event queue, its chain in `DATA_DIR/blocks.sqlite`,
and a status file `DATA_DIR/status.json`. Three nodes on one laptop (each in its own terminal):

```bash
gradientcoin node --listen tcp://127.0.0.1:5001 --peer tcp://127.0.0.1:5002 --data-dir /tmp/a --mine --mine-every 5
gradientcoin node --listen tcp://127.0.0.1:5002 --peer tcp://127.0.0.1:5003 --data-dir /tmp/b --mine --mine-every 5
gradientcoin node --listen tcp://127.0.0.1:5003 --peer tcp://127.0.0.1:5001 --data-dir /tmp/c --mine --mine-every 5
```

Kill one with `kill -9` and start it again with the same command: it reloads its chain from
SQLite and catches up. In a classroom, use each machine's address instead of 127.0.0.1. The test
suite does exactly this with four processes (`tests/test_node_processes.py`). The next cell runs
three nodes for a few seconds; it is skipped by the automatic notebook check.
"""),
    code(r"""
# NBVAL_SKIP
import json, subprocess, sys, tempfile, time, pathlib
tmp = pathlib.Path(tempfile.mkdtemp())
addrs = [f"tcp://127.0.0.1:{p}" for p in (47311, 47312, 47313)]
procs = [subprocess.Popen([sys.executable, "-m", "gradientcoin_edu", "node", "--listen", a,
                           *sum([["--peer", b] for b in addrs if b != a], []), "--data-dir", str(tmp / str(i)),
                           "--mine", "--mine-every", "2", "--duration", "8"]) for i, a in enumerate(addrs)]
for p in procs:
    p.wait(timeout=30)
for i in range(3):
    status = json.loads((tmp / str(i) / "status.json").read_text())
    print(status["name"], "height", status["height"], "tip", status["tip"][:16])
"""),
    md(r"""
## 9. Exercises

**04.1 Block locator.** To find where its chain and a peer's part, a node sends the hashes of a few of
its blocks: the tip and the nine below it one by one, then steps of 2, 4, 8, ... back to genesis
(always included). Write `locator_heights(height)` returning the heights in that order.
"""),
    code(r"""
def locator_heights(height: int) -> list[int]:
    raise NotImplementedError  # your code here
"""),
    code(r"""
from gradientcoin_edu.exercises import check
check("04.1", locator_heights)
"""),
    md(r"""
**04.2 The tip a node follows.** `blocks` maps a block name to `(parent name or None, work)` and is
in arrival order (the first entry is genesis). Return the name of the block a node follows: the
most *cumulative* work from genesis, and on a tie the block that arrived first.
"""),
    code(r"""
def best_tip(blocks: dict) -> str:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("04.2", best_tip)
"""),
    md(r"""
**04.3 The chance of a fork.** Blocks are found as a Poisson process, on average one every `interval`
seconds. What is the probability that at least one block is found during `delay` seconds?
"""),
    code(r"""
def fork_probability(delay: float, interval: float) -> float:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("04.3", fork_probability)
"""),
    md(r"""
## Summary

* Nodes gossip: announce by hash (`inv`), request (`getdata`), deliver (`block`, `tx`); a node that is
  behind or has an orphan asks `getblocks` with a locator. Bytes from peers are checked before use.
* Mining is a Poisson process: exponential block times, so two blocks sometimes race. The stale rate
  grows with the ratio of propagation delay to block interval.
* Every node follows the branch with the most work. After a partition, the lighter side reorganises;
  transactions of abandoned blocks return to the mempool and are mined again.
* A node persists what it accepts and restarts from it; it scores misbehaving peers and bans them.

**Discussion**
1. Why does the winning side of a partition not need to know that there *was* a partition?
2. Halve the block interval and keep the latency: what happens to the stale rate, and who profits
   from stale blocks (hint: a big miner never races against itself)?
3. In the partition above, Bob's payment survived. Construct a payment that does not survive the heal
   without anyone double-spending. What rule in Bitcoin prevents the most common case?
"""),
]


# =====================================================================================  05
NB05 = [
    md(r"""
# 05 · Incentives, attacks and calculations

Whitepaper section 6 (*incentive*): the first transaction of a block creates new coins for its
miner, and the transaction fees go to the miner too; this rewards the work that secures the chain,
and it is how coins come into circulation, with a fixed total. Section 11 (*calculations*): an
attacker who controls a share `q` of the hash rate tries to undo a payment after the merchant saw
`z` confirmations. How likely is he to succeed? GradientCoin keeps both, with gradients as the work.

**What you will build.** You will compute the reward schedule and the total supply and check the
supply on a simulated chain, reproduce the whitepaper's three tables to the printed seven decimals,
race hundreds of double spends between real nodes in the simulator and plot the success rate with
confidence intervals against the formula, and watch a double spend fail against 6 confirmations with
10 % of the hash rate and succeed with 60 %.

**Learning goals**
1. Compute the block subsidy at any height and the total supply; say where fees go.
2. Explain the attacker's race as a random walk and derive the catch-up probability `(q/p)^z`.
3. Reproduce Nakamoto's formula and say which approximation it makes.
4. Read a Monte-Carlo estimate with its confidence interval and compare it with a formula.
5. Explain why a majority attacker always wins, however long the merchant waits.
"""),
    code(SETUP),
    md(r"""
## 1. Incentives: the block reward and its halving

The coinbase of the block at height `h` may create `subsidy(h) = initial_subsidy >> (h // halving_interval)`
new units (integer halving: it rounds down and eventually reaches 0), plus the fees of the block's
transactions (inputs minus outputs). Bitcoin: 50 BTC, halving every 210 000 blocks. Our `regtest`
network: 50 coins, halving every 150 blocks.
"""),
    code(r"""
from gradientcoin_edu.chain.params import ChainParams
from gradientcoin_edu.ledger import COIN

bitcoin, regtest = ChainParams.preset("bitcoin"), ChainParams.preset("regtest")
print(f"Bitcoin: {bitcoin.total_supply() / COIN:,.8f} BTC in all")
print(f"regtest: {regtest.total_supply() / COIN:,.8f} coins in all")
assert bitcoin.total_supply() == 2_099_999_997_690_000             # 20 999 999.9769 BTC, as Bitcoin Core
assert bitcoin.subsidy(0) == 50 * COIN and bitcoin.subsidy(210_000) == 25 * COIN
assert bitcoin.subsidy(64 * 210_000) == 0                           # after 64 halvings: nothing

import plotly.graph_objects as go
heights = list(range(0, 150 * 12, 5))
supply, total = [], 0
for h in range(0, 150 * 12):
    total += regtest.subsidy(h)
    supply.append(total)
fig = go.Figure()
fig.add_trace(go.Scatter(x=heights, y=[regtest.subsidy(h) / COIN for h in heights], name="subsidy per block",
                         line_shape="hv"))
fig.add_trace(go.Scatter(x=list(range(len(supply))), y=[s / regtest.total_supply() for s in supply],
                         name="share of final supply", yaxis="y2"))
fig.update_layout(title="regtest: reward per block and coins issued so far", xaxis_title="height",
                  yaxis_title="coins per block", yaxis2=dict(overlaying="y", side="right", tickformat=".0%"),
                  template="plotly_white", height=320)
fig.show()
"""),
    md(r"""
**Checking the supply on a running network.** We run a small network whose reward halves every 10
blocks, with wallets paying each other (with fees), and check two invariants on the final chain:
every coinbase claims exactly subsidy plus the fees of its block, and the value of all coins equals
the sum of the subsidies: fees move coins, they never create any. (Transactions carry a `kind`:
payments today; training-data contributions and paid inference queries later. Their fees go to the
miner the same way, and the mempool has a `policy` hook for rules about them.)
"""),
    code(r"""
from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.network.simulator import LinkSpec, Simulator

fast = ChainParams(name="halving-every-10", halving_interval=10)
sim = Simulator(seed=6, params=fast)
sim.add_nodes(4)
sim.connect_random(degree=2, link=LinkSpec(latency=1.0))
payees = [PrivateKey.from_seed(f"shop{i}".encode()).address() for i in range(3)]

def pay_something(s):
    for name in s.live():
        try:
            s.pay(name, payees[len(s.blocks) % 3], COIN // 2, fee=25_000 + 1000 * len(s.blocks), min_confirmations=2)
            return
        except Exception:
            continue
for i in range(40):
    sim.schedule(600 * (i + 1) + 7, pay_something)
sim.run(blocks=45)
sim.settle()

node = sim.node("n0")
chain = node.chain
fees_total = 0
for h in range(1, chain.height + 1):
    block, undo = chain.block_at(h), chain.entry_at(h).undo[0]   # the UTXO undo record knows the fees
    assert block.txs[0].total_out() == fast.subsidy(h) + undo.fees
    fees_total += undo.fees
issued = sum(fast.subsidy(h) for h in range(1, chain.height + 1))
print(f"height {chain.height}: {issued / COIN} coins issued, {fees_total / COIN} coins of fees paid to miners, "
      f"{sum(len(chain.block_at(h).txs) - 1 for h in range(1, chain.height + 1))} payments")
assert chain.utxo.total_value() == issued
assert fees_total > 0
"""),
    md(r"""
## 2. The race, and the whitepaper's tables

The attacker pays the merchant and, in secret, mines a branch where the same coins go back to
himself. Each next block is the honest network's with probability `p` and his with probability `q`.
Being `z` blocks behind, he **ever catches up** with probability `(q/p)^z` if `q < p` (the gambler's
ruin), and with probability 1 if `q >= p`.

While the merchant waits for `z` blocks, the attacker makes some progress `k`. Nakamoto assumes the
honest blocks took exactly their expected time, so `k` is Poisson with mean `λ = z q / p`, and

`P = 1 − Σ_{k=0..z} Poisson(k; λ) · (1 − (q/p)^(z−k))`.

`gradientcoin_edu.calculations` computes this, and also the exact version, where the honest network's
time is random too and `k` is negative-binomial. Here are the whitepaper's three tables, printed to
seven decimals, against the numbers printed in the paper:
"""),
    code(r"""
from gradientcoin_edu import calculations as calc

PRINTED = {
    "q=0.1": ["1.0000000", "0.2045873", "0.0509779", "0.0131722", "0.0034552", "0.0009137", "0.0002428",
              "0.0000647", "0.0000173", "0.0000046", "0.0000012"],
    "q=0.3": ["1.0000000", "0.1773523", "0.0416605", "0.0101008", "0.0024804", "0.0006132", "0.0001522",
              "0.0000379", "0.0000095", "0.0000024", "0.0000006"],
    "P < 0.001": [(0.10, 5), (0.15, 8), (0.20, 11), (0.25, 15), (0.30, 24), (0.35, 41), (0.40, 89), (0.45, 340)],
}
tables = calc.whitepaper_tables()
print(calc.format_whitepaper_tables())
for name in ("q=0.1", "q=0.3"):
    assert [f"{p:.7f}" for _, p in tables[name]] == PRINTED[name], name
assert [(q, z) for q, z in tables["P < 0.001"]] == PRINTED["P < 0.001"]
print("\nall three tables match the whitepaper digit for digit")
"""),
    md(r"""
## 3. The race between real nodes, many times

`network.attacks.double_spend_race(q, z, seed)` plays one attempt in the simulator: an honest network
(the merchant's node) with hash share `p` and an attacker's node with share `q`, real blocks and
transactions. The attacker is cut off by a partition while he mines in secret; he signs a payment to
the merchant and a conflicting transaction to himself with the same coin. The merchant waits for `z`
confirmations. As soon as the secret branch has more work than the public one (after the merchant
accepted), the attacker heals the partition: the honest node fetches the branch through ordinary
gossip and reorganises by the ordinary most-work rule. The race counts as a success if the merchant's
node ends up with the conflicting transaction and without the payment.

Two details make the simulation match the exact formula: the attacker starts with one secret block in
hand (he mined it before paying; mining is memoryless, so waiting for it costs nothing in the
analysis), which is why drawing level is enough for him; and a hopeless attacker gives up once his
chance to come back falls below 10⁻⁴. We run 150 races for each point (about 10 s).
"""),
    code(r"""
from gradientcoin_edu.network.attacks import estimate_curve

TRIALS = 150
curves = {0.1: estimate_curve(0.1, list(range(0, 6)), TRIALS, seed=2023),
          0.3: estimate_curve(0.3, list(range(0, 9)), TRIALS, seed=2023)}
outside = 0
print("  q   z  successes  rate    95% interval      exact   whitepaper")
for q, estimates in curves.items():
    for e in estimates:
        exact, paper = calc.attacker_success_probability_exact(q, e.z), calc.attacker_success_probability(q, e.z)
        outside += not e.contains(exact)
        print(f"{q:.1f} {e.z:3d} {e.successes:6d}/{e.trials} {e.rate:6.3f}  [{e.ci_low:.3f}, {e.ci_high:.3f}]  "
              f"{exact:.4f}  {paper:.4f}")
points = sum(len(v) for v in curves.values())
print(f"{outside} of {points} intervals miss the exact value (95% intervals: about {0.05 * points:.1f} expected)")
assert all(est[0].successes == TRIALS for est in curves.values())     # z = 0: the attacker always wins
assert outside <= 3
"""),
    code(r"""
fig = go.Figure()
colors = {0.1: "#1f77b4", 0.3: "#d62728"}
for q, estimates in curves.items():
    zs = [e.z for e in estimates]
    fig.add_trace(go.Scatter(
        x=zs, y=[e.rate for e in estimates], mode="markers", name=f"simulated races, q = {q}",
        marker=dict(color=colors[q], size=8),
        error_y=dict(type="data", symmetric=False, array=[e.ci_high - e.rate for e in estimates],
                     arrayminus=[e.rate - e.ci_low for e in estimates])))
    fine = [z for z in range(0, max(zs) + 1)]
    fig.add_trace(go.Scatter(x=fine, y=[calc.attacker_success_probability_exact(q, z) for z in fine],
                             mode="lines", name=f"exact formula, q = {q}", line=dict(color=colors[q])))
    fig.add_trace(go.Scatter(x=fine, y=[calc.attacker_success_probability(q, z) for z in fine], mode="lines",
                             name=f"whitepaper (Poisson), q = {q}", line=dict(color=colors[q], dash="dot")))
fig.update_layout(title="Double-spend success: simulated races (95% Wilson intervals) vs the formulas",
                  xaxis_title="confirmations z", yaxis_title="attacker success probability",
                  template="plotly_white", height=420)
fig.show()
"""),
    md(r"""
The whitepaper's Poisson shortcut and the exact race differ by a few percent of probability at most,
which 150 races cannot tell apart; in relative terms the difference is large for big `z` (for
`q = 0.1, z = 5`: 0.0009 vs 0.0018), but those events are too rare to see in a notebook.
`docs/benchmarks_network.md` records a run with 2000 races per point.

## 4. One double spend, up close

Six confirmations, as Bitcoin merchants traditionally wait. First an attacker with 10 % of the hash
rate, then one with 60 %.
"""),
    code(r"""
from gradientcoin_edu.network.attacks import double_spend_race
from gradientcoin_edu.viz.fork_tree import ForkTree, fork_tree_figure, fork_tree_text

minority = double_spend_race(q=0.1, z=6, seed=11, keep_sim=True)
print(f"q = 0.1: success={minority.success}; honest blocks {minority.honest_blocks}, "
      f"secret blocks {minority.attacker_blocks}; payment still in the chain: {minority.payment_in_chain}")
assert not minority.success and minority.payment_in_chain and not minority.released
print(fork_tree_text(ForkTree.from_simulator(minority.sim, reference="merchant")))
"""),
    code(r"""
majority = double_spend_race(q=0.6, z=6, seed=11, keep_sim=True)
print(f"q = 0.6: success={majority.success}; the merchant's node abandoned {majority.reorg_depth} blocks; "
      f"payment in the chain: {majority.payment_in_chain}, the attacker's conflicting transaction: "
      f"{majority.conflict_in_chain}")
assert majority.success and majority.reorg_depth >= 6
assert not majority.payment_in_chain and majority.conflict_in_chain
tree = ForkTree.from_simulator(majority.sim, reference="merchant")
print(fork_tree_text(tree))
fork_tree_figure(tree, title="A majority attacker rewrites six confirmations").show()
"""),
    md(r"""
The payment the merchant saw six times confirmed is gone: the honest blocks are stale, and the
payment, back in the merchant's mempool, now spends a coin that the attacker's branch already spent,
so it is dropped. With `q > p` waiting longer does not help (the catch-up probability is 1); what
protects a proof-of-work chain is that no one controls most of the work. For GradientCoin, "work" is
training: an attacker would need more gradient-computing power than all honest trainers together.

The "P < 0.001" table also shows what a 30-45 % attacker means: 24 confirmations at 30 %, 340 at 45 %.

## 5. Exercises

**05.1 Total supply.** Write `total_supply(initial_subsidy, halving_interval)`: the number of units
ever issued when the reward starts at `initial_subsidy` and halves (integer division by 2, rounding
down) every `halving_interval` blocks, counting every height from 0.
"""),
    code(r"""
def total_supply(initial_subsidy: int, halving_interval: int) -> int:
    raise NotImplementedError  # your code here
"""),
    code(r"""
from gradientcoin_edu.exercises import check
check("05.1", total_supply)
"""),
    md(r"""
**05.2 The whitepaper's formula.** Port the C function `AttackerSuccessProbability(q, z)` from section
11 of the whitepaper to Python (`lambda = z * q / p`, a Poisson sum, `1 - sum`).
"""),
    code(r"""
def attacker_success(q: float, z: int) -> float:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("05.2", attacker_success)
"""),
    md(r"""
**05.3 How long to wait.** The smallest number of confirmations `z` for which the whitepaper's
probability is below `p_max` (the last table uses `p_max = 0.001`).
"""),
    code(r"""
def confirmations_needed(q: float, p_max: float = 0.001) -> int:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("05.3", confirmations_needed)
"""),
    md(r"""
## Summary

* The coinbase may claim the subsidy (halving on a schedule) plus the block's fees; the total supply
  is a finite sum, and on a real chain the coins in existence equal the subsidies issued.
* The attacker's chance to catch up from `z` behind is `(q/p)^z`; the whitepaper averages it over a
  Poisson guess of his head start. Its tables are reproduced exactly.
* Races between real nodes in the simulator agree with the exact formula within their confidence
  intervals; the Poisson shortcut is close in absolute terms.
* With a majority of the work, an attacker rewrites any number of confirmations.

**Discussion**
1. Why does the attacker gain nothing by publishing his secret branch early?
2. Fees replace the subsidy in the long run. What could go wrong when blocks pay little besides fees?
3. In GradientCoin a block's work is a gradient. Does a 51 % attacker also control what the model
   learns? What would it take to stop that (look ahead to notebook 08)?
"""),
]


# =====================================================================================  06
NB06 = [
    md(r"""
# 06 · Privacy on a public ledger

Whitepaper section 10 (*privacy*): a bank keeps its ledger private; here every transaction is public.
Privacy comes from elsewhere: "by keeping public keys anonymous". The public sees that someone sent
an amount to someone else, but not who. The whitepaper also warns where this breaks: a new key should
be used for every transaction, and still "some linking is still unavoidable with multi-input
transactions, which necessarily reveal that their inputs were owned by the same owner".

**What you will build.** You will run a small economy on the simulated network, with one user who
reuses one address and three who use a new key for every payment, and then play the analyst: link
addresses with the *common-input-ownership* heuristic and see how much of each user's activity it
recovers from the public chain alone.

**Learning goals**
1. Explain what a pseudonymous address hides and what it does not.
2. Apply the common-input-ownership heuristic (a union-find over addresses).
3. Explain why a new key per payment helps, and why change outputs and round amounts still leak.
"""),
    code(SETUP),
    md(r"""
## 1. An economy on the chain

Three miners run the network. A "bank" (miner n0) pays each user five amounts in one batch
transaction; the users then pay each other. Dave reuses one address for everything; Alice, Bob and Carol use `FreshKeyWallet`: a new
address for every payment they receive and for all their change. Every transaction goes through the
simulated network and into blocks.
"""),
    code(r"""
import random
from gradientcoin_edu.ledger import COIN, build_payment
from gradientcoin_edu.network.simulator import LinkSpec, Simulator
from gradientcoin_edu.privacy import FreshKeyWallet, cluster_addresses, input_addresses, linkage_report

sim = Simulator(seed=10)
sim.add_nodes(3)
sim.connect_random(degree=2, link=LinkSpec(latency=1.0))
sim.pause_mining()
sim.run(until=10)
for _ in range(4):                                          # the bank (n0) earns some coins
    sim.mine_now("n0")
    sim.run(until=sim.now + 10)

users = {"alice": FreshKeyWallet("alice"), "bob": FreshKeyWallet("bob"),
         "carol": FreshKeyWallet("carol"), "dave": FreshKeyWallet("dave", reuse=True)}
node = sim.node("n0")
rng = random.Random(1)
payout = [(wallet.new_address(), rng.randrange(4, 40) * COIN // 8 + rng.randrange(1, 99_999))
          for wallet in users.values() for _ in range(5)]   # five coins for each user, in one batch
node.submit_transaction(build_payment(node.chain.utxo, sim.nodes["n0"].key, payout, fee=5000))
sim.mine_now("n0")
sim.run(until=sim.now + 10)
sim.resume_mining()

for round_ in range(20):                                    # the users pay each other
    payer, payee = rng.sample(list(users), 2)
    wallet = users[payer]
    balance = wallet.balance(node.chain.utxo)
    if balance < COIN:
        continue
    amount = rng.choice([1, 2, 3]) * COIN // 2                # round amounts: people pay round prices
    try:
        tx = wallet.pay(node.chain.utxo, users[payee].new_address(), amount, exclude=node.mempool.spends)
    except Exception:
        continue
    node.submit_transaction(tx)
    sim.run(blocks=1)
sim.settle()
assert sim.converged()

chain_txs = [tx for h in sim.main_chain() for tx in node.chain.get_block(h).txs]
payments = [tx for tx in chain_txs if not tx.is_coinbase]
print(f"{len(chain_txs)} transactions on the chain, {len(payments)} of them payments")
assert len(payments) >= 15
"""),
    md(r"""
## 2. What everybody can see

Every input names the coin it spends and carries the public key that signs for it, so anybody can
compute the address that paid. Here is the chain as an analyst sees it: addresses only.
"""),
    code(r"""
from gradientcoin_edu.crypto.keys import address_to_str

for tx in payments[-6:]:
    ins = sorted({address_to_str(a)[:14] for a in input_addresses(tx)})
    outs = [f"{address_to_str(o.address)[:14]} {o.amount / COIN:.4f}" for o in tx.outputs]
    print(f"{' + '.join(ins):40s} -> {', '.join(outs)}")
"""),
    md(r"""
## 3. Linking addresses: common-input ownership

To spend several coins in one transaction, one needs the keys of all of them, so the addresses of
one transaction's inputs most likely belong to one owner. Put them in one cluster; clusters that
share an address merge (a union-find). We compare the clusters with the truth, which the analyst
does not have.
"""),
    code(r"""
clusters = cluster_addresses(chain_txs)
owners = {addr: name for name, w in users.items() for addr in w.addresses}
owners.update({sim.nodes[n].address: f"miner {n}" for n in sim.nodes})
report = linkage_report(clusters, owners)
for owner, r in report["owners"].items():
    print(f"{owner:10s}: {r['addresses']:2d} addresses used, found in {r['clusters']:2d} cluster(s)")
print("clusters that mix two owners:", report["wrong_links"])

assert report["owners"]["dave"] == {"addresses": 1, "clusters": 1}          # reuse: one address, all linked
fresh = [report["owners"][n] for n in ("alice", "bob", "carol")]
assert all(r["addresses"] >= 4 for r in fresh)                               # fresh keys: many addresses ...
assert any(r["clusters"] < r["addresses"] for r in fresh)                    # ... but multi-input spends link some
assert report["wrong_links"] == 0                                            # the heuristic never mixed owners here
"""),
    md(r"""
Dave's whole history is one address: anyone who learns it once (he gave it to a shop) sees every
payment he ever made or received. The fresh-key users are better off, but each payment that needed
two coins glued two of their addresses together for good.

**Change is another leak.** A payment usually has two outputs: the payment and the change back to
the payer. People pay round prices, change is whatever is left, so a round amount next to a ragged
one tells the analyst which output is the change, and the change address joins the payer's cluster
(`guess_change_output`; exercise 06.2 asks you to write it).
"""),
    code(r"""
with_change = linkage_report(cluster_addresses(chain_txs, use_change=True), owners)
for owner in ("alice", "bob", "carol"):
    before, after = report["owners"][owner], with_change["owners"][owner]
    print(f"{owner:6s}: {before['addresses']:2d} addresses in {before['clusters']:2d} clusters -> "
          f"{after['clusters']:2d} clusters with the change heuristic")
    assert after["clusters"] <= before["clusters"]
assert sum(with_change["owners"][o]["clusters"] for o in ("alice", "bob", "carol")) < \
       sum(report["owners"][o]["clusters"] for o in ("alice", "bob", "carol"))
assert with_change["wrong_links"] == 0       # every payment here was round; a ragged one would mislead it
"""),
    md(r"""
CoinJoin, where several people sign one transaction together, breaks the common-input assumption on
purpose: it would make `wrong_links` non-zero and the clusters misleading.

## 4. Exercises

**06.1 Clusters.** `spends` is a list with one entry per transaction: the list of addresses its inputs
spend from. Return the clusters (a list of sets) of the common-input-ownership heuristic. Every
address that appears must be in exactly one cluster.
"""),
    code(r"""
def cluster(spends: list[list]) -> list[set]:
    raise NotImplementedError  # your code here
"""),
    code(r"""
from gradientcoin_edu.exercises import check
check("06.1", cluster)
"""),
    md(r"""
**06.2 Spot the change.** Given the output amounts of a transaction (in units, 1 coin = 10⁸ units),
return the index of the change output when there are exactly two outputs and exactly one of them is a
round amount (a multiple of 0.01 coin = 1 000 000 units); otherwise return `None`.
"""),
    code(r"""
def change_index(amounts: list[int]) -> int | None:
    raise NotImplementedError  # your code here
"""),
    code(r"""
check("06.2", change_index)
"""),
    md(r"""
## Summary

* A public ledger hides identities only behind pseudonymous addresses; reusing one address gives all of
  its history away.
* A new key per payment (and per change output) helps, but spending several coins together links their
  addresses (common-input ownership), and round amounts reveal change.
* GradientCoin's data and query transactions are public too: who trained or asked what is as visible as
  who paid whom.

**Discussion**
1. An exchange knows the real name behind one of Alice's addresses. How much of her activity does the
   clustering reveal now?
2. How could a wallet choose coins to avoid linking addresses? What does that cost?
3. Which parts of a GradientCoin training-data transaction (notebook 09) leak information about its
   author, even with fresh keys?
"""),
]


NOTEBOOKS = {
    "04_the_network.ipynb": NB04,
    "05_incentives_attacks_and_calculations.ipynb": NB05,
    "06_privacy.ipynb": NB06,
}


if __name__ == "__main__":
    nbbuild.main(NOTEBOOKS)
