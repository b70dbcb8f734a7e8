"""Batch selection by strata and the poisoning defense (docs/protocol.md sections 5 and 6).

Plays two attackers at small scale on the tiny preset: a miner who previews
batches before computing gradients (it gains nothing: the slots a stratum gets do not depend
on the nonce), and a slow poisoner who holds most of the dataset (it still fills at most
``data_share_pct`` of any batch). Both fail against the uniform batch rule that came before -
each test shows that too, so it could not pass by accident. Plus the new consensus checks:
bad parameters and bad strata are refused with a reason."""
from __future__ import annotations

import numpy as np
import pytest

from gradientcoin_edu.crypto.hashes import sha256
from gradientcoin_edu.errors import ModelError, ParseError
from gradientcoin_edu.ledger import Wallet
from gradientcoin_edu.llm import EASIEST_BITS, LLMChain, LLMParams, LLMSpec, build_data_tx
from gradientcoin_edu.llm.data import extend_dataset, stratum_weights, truncate_dataset
from gradientcoin_edu.llm.poisoning import poison_text
from gradientcoin_edu.llm.preview import expected_share, preview_share
from gradientcoin_edu.model import Dataset
from gradientcoin_edu.proof_of_gradient.batch import (StratifiedDataset, allocation_seed, batch_indices, batch_seed,
                                                      select_batch, select_indices, slot_strata, template_seed)
from _fixtures import one_torch_thread  # noqa: F401 (fixture)

CLOCK = lambda: 2_000_000_000                      # noqa: E731
MINER, ADA, MALLORY = (Wallet.from_seed(f"consensus-data-{n}") for n in ("miner", "ada", "mallory"))
PARENTS = [sha256(b"parent %d" % i) for i in range(30)]


def _chain_with(spec, contributions) -> LLMChain:
    """A chain where each (wallet, text) is contributed in its own block (coins mined first)."""
    chain = LLMChain(spec, clock=CLOCK)
    for wallet, _ in contributions:
        chain.mine_and_add(wallet.address)
    for _ in range(3):
        chain.mine_and_add(MINER.address)
    for wallet, text in contributions:
        tx = build_data_tx(chain.utxo, wallet.key, text, spec.params)
        chain.mine_and_add(MINER.address, [tx])
    return chain


def _owned(chain: LLMChain, n_last: int) -> np.ndarray:
    own = np.zeros(len(chain.dataset), dtype=bool)
    own[len(chain.dataset) - n_last:] = True
    return own


# ============================================================================ batch preview (section 5)

def test_a_previewing_miner_lifts_its_share_by_nothing():
    spec = LLMSpec.builtin("tiny", bits=EASIEST_BITS)
    rt = spec.params.record_tokens
    honest = "the cat has a red hat.\n1+2=3\n" * 5               # 140 characters: 15 records of 9
    mine = "the fox sees a blue cup.\n4+4=8\n" * 4              # 124 characters: 13 records
    chain = _chain_with(spec, [(ADA, honest), (MALLORY, mine)])
    assert isinstance(chain.dataset, StratifiedDataset) and len(chain.dataset.starts) == 3
    own = _owned(chain, len(mine) // rt)                             # Mallory mines and contributed
    bs = spec.pog.batch_size
    plain = preview_share(chain.dataset, own, PARENTS, MALLORY.address, 1, bs)
    greedy = preview_share(chain.dataset, own, PARENTS, MALLORY.address, 50, bs)    # 50 batches per gradient
    assert greedy.share <= 1.25 * plain.share and greedy.share == plain.share      # previews buy nothing
    assert 0.5 < plain.share / plain.expected < 1.5                  # and the weights are what she gets
    # the rule before strata: uniform draws over the same records; the same miner gains several-fold
    old = Dataset(chain.dataset.records)
    before = preview_share(old, own, PARENTS, MALLORY.address, 50, bs)
    assert before.lift > 3


def test_the_allocation_depends_on_the_parent_not_on_the_nonce():
    spec = LLMSpec.builtin("tiny")
    d = extend_dataset(spec.train, [spec.train.records[:5], spec.train.records[5:9]], spec.params)
    bs = spec.pog.batch_size
    for parent in PARENTS[:10]:
        strata = {tuple(d.stratum_of(int(i)) for i in select_indices(d, parent, template_seed(parent, b"m", n), bs))
                  for n in range(30)}
        assert len(strata) == 1                                      # same strata for every nonce
        assert list(next(iter(strata))) == slot_strata(allocation_seed(parent), d.weights, bs).tolist()
    idx = [select_batch(d, PARENTS[0], template_seed(PARENTS[0], b"m", n), bs)[0] for n in range(5)]
    assert len({tuple(i) for i in idx}) == 5                         # but the records differ
    # one stratum (a plain dataset): exactly the uniform draw of before
    assert np.array_equal(select_indices(spec.train, PARENTS[0], b"s" * 32, bs), batch_indices(b"s" * 32, len(spec.train), bs))


def test_systematic_sampling_gives_each_stratum_its_weight():
    weights = (700, 30, 150, 120)
    counts = np.zeros(4)
    for i in range(2000):
        s = slot_strata(sha256(b"%d" % i), weights, 16)
        assert np.all(np.diff(s) >= 0)
        c = np.bincount(s, minlength=4)
        assert np.all(np.abs(c - 16 * np.array(weights) / 1000) < 1)  # floor or ceil of its share, never more
        counts += c
    assert np.allclose(counts / counts.sum(), np.array(weights) / 1000, atol=0.01)


# ============================================================================ slow poisoning (section 6)

def test_a_slow_poisoner_holds_most_records_but_a_quarter_of_each_batch():
    spec = LLMSpec.builtin("tiny", bits=EASIEST_BITS, max_records_per_tx=256)
    rt = spec.params.record_tokens
    text = poison_text(4 * 256, rt)
    floods = [(MALLORY, text[i * 256 * rt:(i + 1) * 256 * rt]) for i in range(4)]
    chain = _chain_with(spec, floods)                                # every contribution passed the screen
    n_bad = 4 * 256
    assert len(chain.dataset) - len(spec.train) == n_bad and n_bad / len(chain.dataset) > 0.5
    own = _owned(chain, n_bad)
    bs, cap = spec.pog.batch_size, spec.params.data_share_pct
    for parent in PARENTS:
        idx = select_indices(chain.dataset, parent, template_seed(parent, MINER.address, 0), bs)
        assert own[idx].sum() == bs * cap // 100                     # exactly 4 of 16 slots, every batch
    assert expected_share(chain.dataset, own) == pytest.approx(cap / 100)
    contributions = chain.contributions()                            # the chain's own account of it
    assert [c.n_records for c in contributions] == [256] * 4
    assert sum(c.batch_share for c in contributions) == pytest.approx(cap / 100)
    # under the rule before strata she would fill most of every batch
    old = preview_share(Dataset(chain.dataset.records), own, PARENTS, MINER.address, 1, bs)
    assert old.share > 0.4
    # the chain goes on with the strata: a fresh node replays it to the same weights, and a block
    # mined on top draws a quarter of its batch from her records
    block = chain.mine_and_add(MINER.address)
    replica = LLMChain(spec, clock=CLOCK)
    for entry in chain.active_chain()[1:]:
        replica.add_block(entry.block)
    assert replica.rule.weights_root() == chain.rule.weights_root() and replica.dataset.weights == chain.dataset.weights
    idx, _, _ = select_batch(chain.dataset, block.header.prev_hash, batch_seed(block.header), bs)
    assert own[idx].sum() == bs * cap // 100


def test_weights_are_proportional_until_the_cap_then_capped():
    assert stratum_weights((900, 50, 50), 25) == (900, 50, 50)       # 10 %: proportional
    assert stratum_weights((300, 50, 50), 25) == (300, 50, 50)       # exactly 25 %
    w = stratum_weights((300, 500, 100), 25)
    assert w == (75 * 600, 25 * 500, 25 * 100) and sum(w[1:]) * 4 == sum(w)
    assert stratum_weights((10, 1000), 100) == (10, 1000)            # 100 %: no cap


def test_reorg_truncates_the_strata_exactly():
    spec = LLMSpec.builtin("tiny")
    a = extend_dataset(spec.train, [spec.train.records[:5]], spec.params)
    b = extend_dataset(a, [spec.train.records[5:9], spec.train.records[9:10]], spec.params)
    back = truncate_dataset(b, len(a), spec.params)
    assert back.starts == a.starts and back.weights == a.weights and back.root == a.root
    assert type(truncate_dataset(a, len(spec.train), spec.params)) is Dataset
    with pytest.raises(ModelError) as err:
        truncate_dataset(b, len(a) + 2, spec.params)                 # not a stratum boundary
    assert err.value.reason == "bad-strata"
    assert b.starts == (0, len(spec.train), len(spec.train) + 5, len(spec.train) + 9)   # unchanged


@pytest.mark.parametrize("starts, weights", [
    ((1,), (1,)),                    # does not start at 0
    ((0, 5, 5), (1, 1, 1)),          # an empty stratum
    ((0, 5), (1, 0)),                # a zero weight
    ((0, 5), (1,)),                  # lengths differ
    ((0, 10_000), (1, 1)),           # a stratum past the end
])
def test_bad_strata_are_refused(starts, weights):
    records = np.zeros((100, 9), dtype=np.int64)
    with pytest.raises(ModelError) as err:
        StratifiedDataset(records, starts, weights)
    assert err.value.reason == "bad-strata"


@pytest.mark.parametrize("pct", [0, 101, -1])
def test_the_share_parameter_is_checked(pct):
    with pytest.raises(ModelError) as err:
        LLMParams(data_share_pct=pct)
    assert err.value.reason == "bad-params"
    good = LLMParams(data_share_pct=10)
    assert LLMParams.parse(good.serialize()) == good and good.hash != LLMParams().hash
    raw = bytearray(good.serialize())
    raw[-1] = 0                                                      # the share is the last byte
    with pytest.raises(ParseError) as err:
        LLMParams.parse(bytes(raw))
    assert err.value.reason == "bad-llm-params"
