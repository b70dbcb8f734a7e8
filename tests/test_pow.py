"""Proof-of-work: the work rule, the mining loop, chain parameters and retargeting.

Retarget vectors: Bitcoin Core, src/test/pow_tests.cpp (get_next_work, get_next_work_pow_limit,
get_next_work_lower_limit_actual, get_next_work_upper_limit_actual), mainnet parameters.
"""
from __future__ import annotations

import hashlib
import statistics

import pytest

from _chain_helpers import ALICE, MINER, extend, new_chain
from gradientcoin_edu import kernels
from gradientcoin_edu.chain import (
    COIN, Block, BlockHeader, ChainParams, ProofOfWork, WorkRule, bits_to_target, calculate_next_bits,
    compute_tx_root, make_block, mine, search_nonces, target_to_bits,
)
from gradientcoin_edu.chain import pow as pow_module
from gradientcoin_edu.chain.pow import MAX_NONCE
from gradientcoin_edu.errors import InvalidBlock


def header(bits=0x207FFFFF, nonce=0, time=1_700_000_000) -> BlockHeader:
    return BlockHeader(1, b"\x01" * 32, compute_tx_root([]), time=time, bits=bits, nonce=nonce)


# ------------------------------------------------------------------ the work rule

def test_proof_of_work_is_a_work_rule():
    assert isinstance(ProofOfWork(), WorkRule) and ProofOfWork().name == "proof-of-work"


def test_check_header_accepts_a_mined_header_and_rejects_a_bad_nonce():
    bits = target_to_bits(2**248)
    block = mine(Block(header(bits)), progress=False)
    ProofOfWork().check_header(block.header, None)
    bad = next(n for n in range(10_000) if block.header.with_nonce(n).hash_value() > 2**248)
    with pytest.raises(InvalidBlock) as info:
        ProofOfWork().check_header(block.header.with_nonce(bad), None)
    assert info.value.reason == "bad-pow"


@pytest.mark.parametrize("bits", [0x04923456, 0x01003456, 0xFF123456])   # negative, zero, overflow
def test_malformed_bits(bits):
    with pytest.raises(InvalidBlock) as info:
        ProofOfWork().check_header(header(bits), None)
    assert info.value.reason == "bad-bits"


def test_connect_and_disconnect_keep_no_state():
    rule, block = ProofOfWork(), Block(header())
    undo = rule.connect(block, header(), 1)
    assert undo is None and rule.disconnect(block, undo) is None


# ------------------------------------------------------------------ mining

def test_search_nonces_finds_the_first_nonce_below_the_target():
    h = header(bits=target_to_bits(2**250))
    prefix, target = h.serialize()[:-4], 2**250
    found = search_nonces(prefix, target, 0, 10_000)
    oracle = [n for n in range(found + 1)
              if int.from_bytes(hashlib.sha256(hashlib.sha256(prefix + n.to_bytes(4, "little")).digest()).digest(),
                                "little") <= target]
    assert oracle == [found]                                   # hashlib agrees: first success
    assert search_nonces(prefix, target, found + 1, 0) is None


def test_mine_returns_a_valid_block_and_gives_up_after_max_attempts():
    template = Block(header(bits=target_to_bits(2**244)))
    block = mine(template, progress=False)
    assert block.header.hash_value() <= 2**244 and block.txs == template.txs
    assert mine(template, max_attempts=block.header.nonce, progress=False) is None
    assert mine(template, max_attempts=block.header.nonce + 1, progress=False) == block


def test_average_attempts_match_two_to_the_difficulty_bits():
    """Attempts are geometric with mean 2^256/(target+1): here 2^6 = 64 (seeded by the header time)."""
    target = 2**250 - 1
    attempts = [mine(Block(header(target_to_bits(target), time=t)), progress=False).header.nonce + 1
                for t in range(1_700_000_000, 1_700_000_400)]
    assert 64 * 0.85 < statistics.mean(attempts) < 64 * 1.15


def test_search_nonces_cuts_the_range_at_the_last_nonce():
    prefix = header().serialize()[:-4]
    assert search_nonces(prefix, 2**256 - 1, MAX_NONCE, 10) == MAX_NONCE
    assert search_nonces(prefix, 2**256 - 1, MAX_NONCE + 1, 10) is None
    assert search_nonces(prefix, 2**256 - 1, 5, 0) is None


def test_mining_runs_on_the_kernels_nonce_search_in_batches(monkeypatch):
    """mine() hands batches of CPU_BATCH nonces to kernels.nonce_search and moves the bar per batch."""
    target = 2**243                                            # about 8192 tries per block
    def first_nonce(h: BlockHeader) -> int:
        return search_nonces(h.serialize()[:-4], target, 0, 2**32)

    h = next(h for h in (header(bits=target_to_bits(target), time=t) for t in range(1_700_000_000, 1_700_000_100))
             if first_nonce(h) > 2 * pow_module.CPU_BATCH)                   # three batches at least
    want = first_nonce(h)
    calls, updates = [], []

    def spy(prefix, target_, start, count, *, backend=None):
        calls.append((start, count, backend))
        return real(prefix, target_, start, count, backend=backend)

    class Bar:
        update = staticmethod(updates.append)
        close = staticmethod(lambda: None)

    real = kernels.nonce_search
    monkeypatch.setattr(kernels, "nonce_search", spy)
    monkeypatch.setattr(pow_module, "_progress_bar", lambda enabled, total: Bar())
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    block = mine(Block(h))
    assert block.header.nonce == want and block.header.hash_value() <= target
    assert [c[0] for c in calls] == list(range(0, want + 1, pow_module.CPU_BATCH))
    assert all(c[1] == pow_module.CPU_BATCH and c[2] == "cpu" for c in calls)   # an easy target: the CPU path
    assert updates[:-1] == [pow_module.CPU_BATCH] * (len(calls) - 1) and sum(updates) == want + 1


def test_hard_targets_leave_the_choice_to_the_kernels(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    assert pow_module._backend(2**250) == "cpu"
    assert pow_module._backend(bits_to_target(0x1D00FFFF)) is None          # the GPU, when there is one
    monkeypatch.setenv(kernels.ENV_VAR, "interpret")
    assert pow_module._backend(2**250) is None                              # the variable always wins


def test_mining_with_the_triton_kernel_in_the_interpreter_matches_the_cpu_path():
    pytest.importorskip("triton")
    template = Block(header(bits=target_to_bits(2**250)))
    prefix, target = template.header.serialize()[:-4], bits_to_target(template.header.bits)
    want = search_nonces(prefix, target, 0, 10_000, backend="cpu")
    assert search_nonces(prefix, target, 0, 128, backend="interpret") == want
    assert mine(template, max_attempts=128, progress=False, backend="interpret") == \
        mine(template, progress=False, backend="cpu")


def test_make_block_pays_subsidy_plus_fees_and_carries_expected_bits():
    chain = new_chain()
    extend(chain, 1)
    tx = MINER.pay(chain.utxo, ALICE.address, COIN, fee=1234)
    block = make_block(chain, MINER.address, [tx], time=chain.tip.header.time + 600)
    assert block.txs[0].is_coinbase and block.txs[1:] == (tx,)
    assert block.txs[0].total_out() == chain.params.subsidy(2) + 1234
    assert block.header.bits == chain.next_bits() and block.header.prev_hash == chain.tip.hash
    assert block.header.tx_root == compute_tx_root(block.txs)


def test_make_block_default_time_passes_the_timestamp_rules():
    chain = new_chain()
    block = mine(make_block(chain, MINER.address), progress=False)
    assert block.header.time > chain.median_time_past()
    chain.add_block(block)


# ------------------------------------------------------------------ parameters

def test_subsidy_halves_every_interval():
    p = ChainParams.preset("regtest")
    assert p.subsidy(0) == p.subsidy(149) == 50 * COIN
    assert p.subsidy(150) == 25 * COIN and p.subsidy(300) == 1_250_000_000
    assert p.subsidy(150 * 64) == 0


def test_total_supply_matches_the_sum_of_subsidies():
    p = ChainParams.preset("regtest").with_changes(halving_interval=3, initial_subsidy=1000)
    assert p.total_supply() == sum(p.subsidy(h) for h in range(3 * 70))
    # Bitcoin: 20,999,999.9769 BTC (the famous "21 million" is rounded up).
    assert ChainParams.preset("bitcoin").total_supply() == 2_099_999_997_690_000


def test_presets():
    with pytest.raises(KeyError):
        ChainParams.preset("nope")
    demo = ChainParams.preset("demo")
    assert 2**13 < 2**256 / bits_to_target(demo.start_bits) < 2**15     # ~16k hashes per block
    assert demo.target_timespan == 100


# ------------------------------------------------------------------ retargeting (Bitcoin Core vectors)

@pytest.mark.parametrize("first_time, last_height, last_time, bits, expected", [
    (1261130161, 32255, 1262152739, 0x1D00FFFF, 0x1D00D86A),   # get_next_work: first real retarget
    (1231006505, 2015, 1233061996, 0x1D00FFFF, 0x1D00FFFF),    # get_next_work_pow_limit: capped
    (1279008237, 68543, 1279297671, 0x1C05A3F4, 0x1C0168FD),   # get_next_work_lower_limit_actual: 4x harder
    (1263163443, 46367, 1269211443, 0x1C387F6F, 0x1D00E1FD),   # get_next_work_upper_limit_actual: 4x easier
])
def test_retarget_matches_bitcoin_core(first_time, last_height, last_time, bits, expected):
    params = ChainParams.preset("bitcoin")
    assert (last_height + 1) % params.retarget_interval == 0
    assert calculate_next_bits(params, bits, last_time, first_time) == expected


def test_retarget_never_goes_above_the_pow_limit():
    params = ChainParams.preset("regtest").with_changes(retarget_interval=10)
    assert calculate_next_bits(params, params.pow_limit_bits, 10**9, 0) == params.pow_limit_bits
