"""Consensus under attack, chain rules: each test plays the attacker (docs/protocol.md, sections 1 and 9).

* A relayer who delivers a *mutated* copy first (body changed, header kept) no longer poisons the
  block's hash: the copy is dropped, the genuine block and its descendants are accepted, and the
  honest peer who relays it is not punished (the mutator is).
* Blocks that really are invalid are remembered as invalid, in the store too: a restart keeps it.
* Junk is checked before it is stored: a side-branch block with a payload its header does not
  commit to is stored neither in memory nor in SQLite.
* A block verified once is not verified again when a reorganisation returns to it.
* The time-warp attack on a retargeting chain (BIP 94) and the negative-period variant (BIP 54).
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from _chain_helpers import ALICE, BOB, MINER, NOW, PARAMS, extend, new_chain, next_block, remine, state
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)
from gradientcoin_edu.chain import (
    AddResult, Block, BlockStore, ProofOfWork, WorkRule, bits_to_target, mine, target_to_bits,
)
from gradientcoin_edu.chain.block import compute_tx_root
from gradientcoin_edu.errors import InvalidBlock, MutatedBlock
from gradientcoin_edu.ledger import COIN, Transaction, TxOut


def mutate_payload(block: Block) -> Block:
    """Same header, a payload byte added (proof-of-work commits to an empty payload)."""
    return replace(block, payload=block.payload + b"\x01")


def mutate_txs(block: Block) -> Block:
    """Same header, the transaction list changed (the last one dropped, or a second coinbase added)."""
    if len(block.txs) > 1:
        return replace(block, txs=block.txs[:-1])
    extra = Transaction.coinbase(99, [TxOut(1, BOB.address)], extra=b"mutated")
    return replace(block, txs=(*block.txs, extra))


def rejects_mutated(chain, block, reason):
    before = state(chain)
    with pytest.raises(MutatedBlock) as info:
        chain.add_block(block)
    assert info.value.reason == reason
    assert state(chain) == before                               # valid rows, tip, UTXO set
    assert block.hash() not in chain and block.hash() not in chain.invalid
    if chain.store is not None:
        assert block.hash() not in chain.store                  # no invalid mark either


# ------------------------------------------------------------------ 1. mutated is not invalid

@pytest.mark.parametrize("mutate, reason", [(mutate_payload, "unexpected-payload"), (mutate_txs, "bad-tx-root")])
def test_a_mutated_copy_first_does_not_poison_the_genuine_block(mutate, reason):
    """On the old code the payload mutation made the genuine block ``known-invalid`` and every
    descendant ``invalid-parent``."""
    chain = new_chain(store=BlockStore(":memory:"))
    extend(chain, 2)
    tx = MINER.pay(chain.utxo, ALICE.address, COIN, fee=5)
    genuine = next_block(chain, txs=[tx])
    rejects_mutated(chain, mutate(genuine), reason)
    rejects_mutated(chain, mutate(genuine), reason)            # again: still not remembered
    assert chain.add_block(genuine) is AddResult.EXTENDED
    child = next_block(chain)
    assert chain.add_block(child) is AddResult.EXTENDED and chain.tip.hash == child.hash()
    assert chain.store.get(genuine.hash()).status == "valid"


def test_a_mutated_copy_of_a_known_block_is_refused_and_the_original_kept():
    chain = new_chain()
    (block,) = extend(chain, 1)
    with pytest.raises(MutatedBlock):
        chain.add_block(mutate_payload(block))
    assert chain.get_block(block.hash()) == block and chain.is_active(block.hash())


def test_a_mutated_orphan_is_refused_before_the_parent_is_looked_up():
    """A node keeps orphans by hash: a mutated orphan kept first would shadow the genuine one."""
    source = new_chain()
    blocks = extend(source, 2)
    chain = new_chain()
    with pytest.raises(MutatedBlock):
        chain.add_block(mutate_payload(blocks[1]))
    with pytest.raises(InvalidBlock) as info:
        chain.add_block(blocks[1])
    assert info.value.reason == "unknown-parent"               # the genuine one is a plain orphan


def test_mutated_side_branch_junk_is_stored_neither_in_memory_nor_on_disk(tmp_path):
    """Old code stored a side-branch block with junk payload (it is checked only when connected)."""
    path = tmp_path / "node.sqlite"
    chain = new_chain(store=BlockStore(path))
    main = extend(chain, 3)
    side = next_block(chain, parent=main[0].hash(), miner=ALICE)
    junk = replace(side, payload=bytes(100_000))
    rejects_mutated(chain, junk, "unexpected-payload")
    assert chain.store.payload_bytes() == 0 and len(chain.store) == 4
    assert chain.add_block(side) is AddResult.SIDE_BRANCH      # the genuine side block is fine
    chain.close()


def test_duplicated_transactions_in_a_list_the_header_commits_to_are_invalid_and_marked():
    """CVE-2012-2459 shape: our merkle tree gives ``[a, b, c]`` and ``[a, b, c, c]`` different roots,
    so the duplicated list under the original header is a mutation, and under a header that commits
    to it (re-mined, work done) it is the block's own fault."""
    chain = new_chain(store=BlockStore(":memory:"))
    extend(chain, 2)
    tx = MINER.pay(chain.utxo, ALICE.address, COIN, fee=5)
    genuine = next_block(chain, txs=[tx])
    doubled = (*genuine.txs, tx)
    assert compute_tx_root(doubled) != genuine.header.tx_root
    rejects_mutated(chain, replace(genuine, txs=doubled), "bad-tx-root")
    committed = remine(replace(genuine, txs=doubled))
    with pytest.raises(InvalidBlock) as info:
        chain.add_block(committed)
    assert info.value.reason == "duplicate-tx" and not isinstance(info.value, MutatedBlock)
    assert committed.hash() in chain.invalid and chain.store.get(committed.hash()).status == "invalid"
    assert chain.add_block(genuine) is AddResult.EXTENDED


# ------------------------------------------------------------------ invalid marks survive a restart

def _overpaying(chain, parent=None):
    """A block whose coinbase claims one unit too much: its body is genuine, it breaks a rule."""
    return next_block(chain, parent=parent, fees=1)


def test_invalid_marks_are_kept_in_the_store_across_a_restart(tmp_path):
    path = tmp_path / "node.sqlite"
    chain = new_chain(store=BlockStore(path))
    main = extend(chain, 2)
    bad_connect = _overpaying(chain)                            # found invalid when connected
    with pytest.raises(InvalidBlock) as info:
        chain.add_block(bad_connect)
    assert info.value.reason == "bad-coinbase-amount"
    second = Transaction.coinbase(3, [TxOut(1, BOB.address)], extra=b"again")
    bad_body = remine(replace(next_block(chain, parent=main[0].hash()), txs=(next_block(chain).txs[0], second)))
    with pytest.raises(InvalidBlock) as info:                 # found invalid before storing (rule 5)
        chain.add_block(bad_body)
    assert info.value.reason == "extra-coinbase"
    marks = {bad_connect.hash(), bad_body.hash()}
    assert marks <= chain.invalid
    tip = chain.tip.hash
    chain.close()

    again = new_chain(store=BlockStore(path))
    assert again.tip.hash == tip and marks <= again.invalid
    for block in (bad_connect, bad_body):
        with pytest.raises(InvalidBlock) as info:
            again.add_block(block)
        assert info.value.reason == "known-invalid"            # old code: re-checked (and forgotten again)
        with pytest.raises(InvalidBlock) as info:
            again.add_block(next_block(again, parent=block.hash()))
        assert info.value.reason == "invalid-parent"
    row = again.store.get(bad_connect.hash())
    assert row.status == "invalid" and row.block.txs == bad_connect.txs
    assert again.add_block(next_block(again)) is AddResult.EXTENDED
    again.close()


def test_header_failures_leave_no_mark():
    """A header with bad work costs nothing to make: marking it would let anyone fill the store."""
    chain = new_chain(store=BlockStore(":memory:"))
    extend(chain, 1)
    block = next_block(chain)
    target = bits_to_target(block.header.bits)
    nonce = next(n for n in range(1000) if block.header.with_nonce(n).hash_value() > target)
    bad = replace(block, header=block.header.with_nonce(nonce))
    for _ in range(2):
        with pytest.raises(InvalidBlock) as info:
            chain.add_block(bad)
        assert info.value.reason == "bad-pow"
    assert bad.hash() not in chain and bad.hash() not in chain.store


# ------------------------------------------------------------------ network: who gets punished

def test_the_node_punishes_the_mutator_and_accepts_the_genuine_block_from_an_honest_peer():
    from gradientcoin_edu.chain import Chain
    from gradientcoin_edu.network import messages as m
    from gradientcoin_edu.network.node import Node

    class Transport:
        def send(self, peer, data):
            pass

        def disconnect(self, peer):
            pass

        def now(self):
            return NOW

    chain = Chain(PARAMS, clock=lambda: NOW)
    node = Node("victim", chain, Transport(), miner_address=MINER.address)
    for peer in ("mutator", "honest"):
        node.on_connect(peer)
        node.on_message(peer, m.encode(m.Version(genesis=chain.genesis.hash, nonce=len(peer))))
    source = new_chain()
    blocks = extend(source, 3)
    node.on_message("mutator", m.encode(m.BlockMsg(mutate_payload(blocks[0]).serialize())))
    for block in blocks:
        node.on_message("honest", m.encode(m.BlockMsg(block.serialize())))
    assert node.chain.tip.hash == blocks[-1].hash()
    honest = node.peerbook.get("honest", NOW)
    assert honest.score == 0 and not honest.offences                    # old code: banned (known-invalid)
    assert node.peerbook.get("mutator", NOW).offences["invalid-block"] == 1


# ------------------------------------------------------------------ 5. never verify the same block twice

class CountingWork(ProofOfWork):
    """Proof-of-work whose full check (``connect``) counts as the expensive step, per block."""

    name = "counting"

    def __init__(self):
        self.full: dict[bytes, int] = {}
        self.again: dict[bytes, int] = {}

    def connect(self, block, parent_header, height):
        self.full[block.hash()] = self.full.get(block.hash(), 0) + 1
        return super().connect(block, parent_header, height)

    def reconnect(self, block, parent_header, height, utxo_undo):
        self.again[block.hash()] = self.again.get(block.hash(), 0) + 1
        return None                                  # verified before: nothing to recompute


def test_a_reorganisation_back_and_forth_verifies_each_block_once():
    rule = CountingWork()
    chain = new_chain(work_rule=rule)
    a = extend(chain, 3)
    b = extend(chain, 4, parent=chain.genesis.hash, miner=ALICE)        # heavier: reorg to b
    a += extend(chain, 2, parent=a[-1].hash())                            # a heavier again: back to a
    b += extend(chain, 2, parent=b[-1].hash(), miner=ALICE)              # and to b again
    assert chain.tip.hash == b[-1].hash()
    assert all(rule.full[x.hash()] == 1 for x in a + b)                   # old code: 2 or 3 each
    assert sum(rule.again.values()) == 3 + 4                              # a[:3] once, b[:4] once


def test_a_forged_fork_does_not_make_the_node_reverify_the_honest_blocks():
    """Each attempt: a heavier fork whose last block fails to connect. The node disconnects its
    honest blocks, fails, and reconnects them - without redoing their expensive check."""
    rule = CountingWork()
    chain = new_chain(work_rule=rule)
    honest = extend(chain, 4)
    fork = extend(chain, 4, parent=chain.genesis.hash, miner=BOB)         # equal work: a side branch
    for attempt in range(3):
        forged = next_block(chain, parent=fork[-1].hash(), fees=1, extra=bytes([attempt]))
        with pytest.raises(InvalidBlock) as info:
            chain.add_block(forged)
        assert info.value.reason == "bad-coinbase-amount" and chain.tip.hash == honest[-1].hash()
    assert all(rule.full[x.hash()] == 1 for x in honest)
    assert all(rule.full[x.hash()] == 1 for x in fork)
    assert rule.again[honest[0].hash()] == 3 and rule.again[fork[0].hash()] == 2


def test_signatures_are_not_verified_again_when_a_reorganisation_returns(monkeypatch):
    from gradientcoin_edu.ledger import Transaction as Tx
    calls: list[bytes] = []
    real = Tx.verify_input
    monkeypatch.setattr(Tx, "verify_input", lambda self, i, out: calls.append(self.txid) or real(self, i, out))
    chain = new_chain()
    extend(chain, 2)
    pay = MINER.pay(chain.utxo, ALICE.address, COIN, fee=3)
    paid = next_block(chain, txs=[pay])
    calls.clear()                                                               # (the wallet and miner checked too)
    chain.add_block(paid)
    assert calls.count(pay.txid) == len(pay.inputs)
    extend(chain, 5, parent=chain.genesis.hash, miner=BOB)                     # away (heavier)
    extend(chain, 3, parent=paid.hash())                                        # and back
    assert chain.is_active(paid.hash()) and chain.balance(ALICE.address) == COIN
    assert calls.count(pay.txid) == len(pay.inputs)                             # old code: twice


def test_the_default_reconnect_verifies_again():
    """A rule that does not override ``reconnect`` is simply asked again (``connect_block``)."""
    class Plain(ProofOfWork):
        calls = 0

        def connect(self, block, parent_header, height):
            Plain.calls += 1
            return None

    chain = new_chain(work_rule=Plain())
    a = extend(chain, 2)
    extend(chain, 3, parent=chain.genesis.hash, miner=ALICE)
    extend(chain, 2, parent=a[-1].hash())
    assert Plain.calls == 2 + 3 + 2 + 2 and isinstance(Plain(), WorkRule)


# ------------------------------------------------------------------ 9. time warp

WARP = PARAMS.with_changes(genesis_bits=target_to_bits(2**246), retarget_interval=6, target_spacing=600)


def _warp_time(chain, params, comply: bool) -> int:
    """The time-warp attacker's timestamp for the next block: the last block of each period as late
    as the clock allows, every other block at median time past + 1. ``comply``: the first block of
    a period no earlier than the fixed rule allows."""
    height = chain.height + 1
    if height % params.retarget_interval == params.retarget_interval - 1:
        return NOW + params.max_future_seconds
    time = chain.median_time_past() + 1
    if comply and height % params.retarget_interval == 0:
        time = max(time, chain.tip.header.time - params.timewarp_grace)
    return time


def _attack(params, periods: int, comply: bool = False) -> list[int]:
    chain = new_chain(params)
    targets = [bits_to_target(params.start_bits)]
    for _ in range(periods * params.retarget_interval):
        chain.add_block(next_block(chain, time=_warp_time(chain, params, comply)))
        if (chain.height + 1) % params.retarget_interval == 0:
            targets.append(bits_to_target(chain.next_bits()))
    return targets


def test_time_warp_makes_mining_four_times_easier_every_period_without_the_rule():
    targets = _attack(WARP.with_changes(enforce_timewarp=False), periods=3)
    assert [b // a for a, b in zip(targets, targets[1:])] == [4, 4, 4]


def test_time_warp_is_refused_and_complying_with_the_rule_gains_nothing():
    chain = new_chain(WARP)
    for _ in range(WARP.retarget_interval - 1):
        chain.add_block(next_block(chain, time=_warp_time(chain, WARP, comply=False)))
    warped = next_block(chain, time=_warp_time(chain, WARP, comply=False))     # first block of period 2
    before = state(chain)
    with pytest.raises(InvalidBlock) as info:
        chain.add_block(warped)
    assert info.value.reason == "time-timewarp-attack" and state(chain) == before
    edge = next_block(chain, time=chain.tip.header.time - WARP.timewarp_grace)
    assert chain.add_block(edge) is AddResult.EXTENDED                          # the grace itself is allowed
    targets = _attack(WARP, periods=3, comply=True)
    assert targets[1] == 4 * targets[0]            # the first period really was slow (genesis -> clock)
    assert all(b <= a for a, b in zip(targets[1:], targets[2:]))                # then never easier


def test_a_period_may_not_end_before_it_starts():
    """BIP 54's second rule: without it the measured period can be negative (Murch-Zawy)."""
    chain = new_chain(WARP)
    for _ in range(WARP.retarget_interval - 1):
        chain.add_block(next_block(chain))
    first = next_block(chain, time=NOW)                                          # period 2 starts late
    chain.add_block(first)
    for _ in range(WARP.retarget_interval - 2):
        chain.add_block(next_block(chain, time=chain.median_time_past() + 1))  # then far back in time
    last = next_block(chain, time=chain.median_time_past() + 1)
    with pytest.raises(InvalidBlock) as info:
        chain.add_block(last)
    assert info.value.reason == "time-negative-period"
    assert chain.add_block(next_block(chain, time=NOW)) is AddResult.EXTENDED


def test_the_miner_never_makes_a_template_the_time_warp_rule_refuses():
    chain = new_chain(WARP)
    for _ in range(WARP.retarget_interval - 2):
        chain.add_block(next_block(chain))
    chain.add_block(next_block(chain, time=NOW + WARP.max_future_seconds))      # last of the period, ahead
    assert (chain.height + 1) % WARP.retarget_interval == 0
    from gradientcoin_edu.chain import make_block
    block = mine(make_block(chain, MINER.address), progress=False)             # default time: the clock
    assert block.header.time == chain.tip.header.time - WARP.timewarp_grace
    assert chain.add_block(block) is AddResult.EXTENDED


def test_bitcoin_mainnet_preset_does_not_enforce_the_time_warp_rule():
    from gradientcoin_edu.chain import ChainParams
    assert not ChainParams.preset("bitcoin").enforce_timewarp
    assert ChainParams.preset("bitcoin").timewarp_grace == 600                  # BIP 94's figure
    assert ChainParams.preset("demo").enforce_timewarp and ChainParams.preset("demo").timewarp_grace == 0
    assert WARP.with_changes(timewarp_grace_seconds=60).timewarp_grace == 60


# ------------------------------------------------------------------ the same under proof-of-gradient

LLM_CLOCK = lambda: 2_000_000_000                                               # noqa: E731


@pytest.fixture(scope="module")
def llm_branches(spec):
    """Two branches of the decentralized LLM (tiny preset) from genesis: a (5 blocks) and b (4 blocks)."""
    from gradientcoin_edu.llm import LLMChain
    branches = []
    for miner, n in ((MINER, 5), (BOB, 4)):
        source = LLMChain(spec, clock=LLM_CLOCK)
        branches.append([source.mine_and_add(miner.address) for _ in range(n)])
    return branches


def _flip(payload: bytes, at: int) -> bytes:
    return payload[:at] + bytes([payload[at] ^ 1]) + payload[at + 1:]


def test_pog_a_copy_with_one_payload_byte_changed_does_not_poison_the_block(spec, llm_branches, tmp_path):
    """Old code: the copy failed when connecting (``grad-root-mismatch``), the hash was marked, and the
    genuine block and its descendants were refused for good."""
    from gradientcoin_edu.llm import LLMChain
    a = llm_branches[0][:3]
    chain = LLMChain(spec, store=str(tmp_path / "node.sqlite"), clock=LLM_CLOCK)
    for at in (0, len(a[0].payload) // 2, len(a[0].payload) - 1):
        with pytest.raises(MutatedBlock):
            chain.add_block(replace(a[0], payload=_flip(a[0].payload, at)))
        assert a[0].hash() not in chain and a[0].hash() not in chain.invalid
    with pytest.raises(MutatedBlock):
        chain.add_block(mutate_txs(a[0]))
    for block in a:
        assert chain.add_block(block) is AddResult.EXTENDED
    assert chain.tip.hash == a[-1].hash() and chain.weights_root_at(3) == a[-1].header.weights_root
    chain.close()


def test_pog_side_branch_junk_of_the_wrong_size_is_not_stored(spec, llm_branches, tmp_path):
    from gradientcoin_edu.llm import LLMChain
    a, b = llm_branches[0][:3], llm_branches[1]
    chain = LLMChain(spec, store=str(tmp_path / "node.sqlite"), clock=LLM_CLOCK)
    for block in a:
        chain.add_block(block)
    rows, payload_bytes = len(chain.store), chain.store.payload_bytes()
    for junk in (b[0].payload[:-8], b[0].payload + bytes(8), bytes(1 << 20)):
        with pytest.raises(MutatedBlock):
            chain.add_block(replace(b[0], payload=junk))              # would be a side branch (less work)
    assert b[0].hash() not in chain and len(chain.store) == rows and chain.store.payload_bytes() == payload_bytes
    assert chain.add_block(b[0]) is AddResult.SIDE_BRANCH
    chain.close()


def test_pog_a_reorganisation_back_and_forth_computes_each_gradient_once(spec, llm_branches, monkeypatch):
    from gradientcoin_edu.llm import LLMChain
    from gradientcoin_edu.proof_of_gradient import rule as pog_rule
    a, b = llm_branches
    computed: list[int] = []
    real = pog_rule.verify
    monkeypatch.setattr(pog_rule, "verify", lambda params, dataset, validation, parent, proof, *args, **kw:
                        computed.append(proof.nonce) or real(params, dataset, validation, parent, proof, *args, **kw))
    chain = LLMChain(spec, clock=LLM_CLOCK)
    for block in a[:2] + b + a[2:3]:                 # a1 a2, then b (heavier: reorg), then a3 (less work: side)
        chain.add_block(block)
    assert chain.tip.hash == b[-1].hash() and len(computed) == 2 + 4
    for block in a[3:]:                              # a4 (equal work), a5 (heavier): back to a
        chain.add_block(block)
    assert chain.tip.hash == a[-1].hash()
    assert len(computed) == 2 + 4 + 1 + 2            # old code: a1 and a2 computed again (11)
