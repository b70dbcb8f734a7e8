"""A paid query survives a short reorg: the node's wallet never builds on a fresh mining reward.

An LLM node (``tiny`` preset) and its RPC service run in this process without a network; a rival
chain, mined apart from the node, replaces the node's tip block by another block at the same
height (and a child, so that it is heavier) - what a classroom sees when two students find a
block at nearly the same time. The LLM chain lets consensus spend a reward at once
(``coinbase_maturity`` 0); the wallet waits for ``COINBASE_SAFE_DEPTH`` confirmations
(``ledger/wallet.py``), so a payment, the contribution built on it and the query built on that
cannot vanish with the block whose reward paid for them."""
from __future__ import annotations

import pytest

from gradientcoin_edu.crypto.keys import PrivateKey, address_to_str
from gradientcoin_edu.errors import UsageError
from gradientcoin_edu.ledger import COIN, build_payment
from gradientcoin_edu.ledger.wallet import COINBASE_SAFE_DEPTH, WalletCoins
from gradientcoin_edu.llm import LLMChain
from gradientcoin_edu.llm.network import LLMNode, LLMNodeService
from _fixtures import one_torch_thread, spec  # noqa: F401 (fixtures)

TEXT = "".join(f"{a}+{a}={a + a}\n" for a in range(10))
RIVAL = PrivateKey.from_seed(b"wallet reorg rival").address()


class _NullTransport:
    def send(self, peer, data):
        pass

    def disconnect(self, peer):
        pass

    def now(self):
        import time
        return time.time()


@pytest.fixture
def served(spec, tmp_path):
    """(node, service, bob's address): the node mines to the ``default`` wallet (the payer)."""
    key = PrivateKey.from_seed(b"wallet reorg payer")
    node = LLMNode("n1", LLMChain(spec), _NullTransport(), miner_address=key.address())
    service = LLMNodeService(node, tmp_path, key)
    bob = service.rpc_createwallet("bob")["address"]
    return node, service, bob


def _txid(hex_txid: str) -> bytes:
    return bytes.fromhex(hex_txid)[::-1]


def _replace_tip(node, spec) -> None:
    """A rival mines, from the tip's parent, a block at the tip's height and one more; the node
    takes the heavier branch and abandons its tip block."""
    rival = LLMChain(spec)
    for entry in node.chain.active_chain()[1:-1]:
        rival.add_block(entry.block)
    old_tip, height = node.chain.tip_hash, node.chain.height
    blocks = [rival.mine_and_add(RIVAL, time=rival.tip.header.time + 1) for _ in range(2)]
    for block in blocks:
        node.submit_block(block, publish=False)
    assert node.chain.height == height + 1 and not node.chain.is_active(old_tip)
    assert node.chain.entry_at(height).hash == blocks[0].hash()          # same height, another block


def _pay_contribute_ask(service, bob: str) -> tuple[dict, dict, dict]:
    """The notebook's steps: the payer pays Bob once its balance allows, Bob contributes and asks
    (each paid from the previous one's output, still waiting in the pool)."""
    paid = service.rpc_send(bob, "2.5")
    sent = service.methods()["contribute"](TEXT, wallet="bob")
    asked = service.methods()["ask"]("\n3+4=", tokens=4, wallet="bob")
    return paid, sent, asked


def _mine_until_payer_can_pay(node, service) -> None:
    while float(service.rpc_balance()["confirmed"]) < 3:                 # as notebook 13 waits
        node.mine_block()


def test_a_query_survives_a_same_height_reorg_of_the_tip_when_the_payer_pays_as_soon_as_it_may(served, spec):
    """Before the wallet rule the payer paid from the reward of the tip block as soon as it had
    one confirmation; the reorg abandoned that block, and the payment, Bob's contribution and his
    query all became invalid and left the pool: ``answer`` said ``unknown-query``."""
    node, service, bob = served
    node.mine_block()
    _mine_until_payer_can_pay(node, service)
    paid_at = node.chain.height
    paid, sent, asked = _pay_contribute_ask(service, bob)
    _replace_tip(node, spec)
    node.mine_block()
    answer = service.methods()["answer"](asked["txid"])                       # before: UsageError unknown-query
    assert answer["answered"] and answer["verified"] and answer["height"] == node.chain.height
    assert paid_at == COINBASE_SAFE_DEPTH                              # the first reward had to mature
    mined = [tx.txid for tx in node.chain.tip.block.txs[1:]]
    assert mined == [_txid(t["txid"]) for t in (paid, sent, asked)]    # parents first


def test_a_query_whose_own_block_is_abandoned_goes_back_to_the_pool_and_is_answered(served, spec):
    """Only the block holding the query is abandoned: the query spends no reward, so it returns to
    the pool with the block's other transactions and the next block answers it."""
    node, service, bob = served
    node.mine_block()
    _mine_until_payer_can_pay(node, service)
    paid = service.rpc_send(bob, "2.5")
    node.mine_block()
    sent = service.methods()["contribute"](TEXT, wallet="bob")
    node.mine_block()
    asked = service.methods()["ask"]("\n3+4=", tokens=4, wallet="bob")
    node.mine_block()
    first = service.methods()["answer"](asked["txid"])
    assert first["answered"] and first["height"] == node.chain.height
    _replace_tip(node, spec)
    assert _txid(asked["txid"]) in node.mempool and service.rpc_gettx(paid["txid"])["height"] is not None
    node.mine_block()
    answer = service.methods()["answer"](asked["txid"])
    assert answer["answered"] and answer["verified"] and answer["height"] == node.chain.height
    assert service.rpc_gettx(sent["txid"])["height"] is not None


def test_the_balance_says_what_is_immature_and_the_wallet_waits_for_it(served):
    node, service, bob = served
    node.mine_block()
    balance = service.rpc_balance()
    assert balance["confirmed"] == "0.00000000" and balance["immature"] == "50.00000000"
    assert service.rpc_status()["balance"] == "0.00000000" and service.rpc_status()["immature"] == "50.00000000"
    with pytest.raises(UsageError) as err:
        service.rpc_send(bob, "1")
    assert err.value.reason == "insufficient-funds" and "50.00000000 more are immature" in err.value.message
    for _ in range(COINBASE_SAFE_DEPTH - 1):
        node.mine_block()
    balance = service.rpc_balance()                                    # the first reward has matured
    assert balance["confirmed"] == "50.00000000" and balance["immature"] == "100.00000000"
    service.rpc_send(bob, "1")
    assert service.rpc_balance()["spent_in_mempool"] == "50.00000000"


def test_a_payment_built_on_a_fresh_reward_by_another_wallet_is_not_spent_until_the_reward_matures(served, spec):
    """A careless (or hostile) payer's wallet spends its reward of the tip block at once, as
    consensus allows. Bob's wallet sees the waiting payment but will not build on it: a reorg of
    one block would take the payment, and anything Bob built on it, away for good."""
    node, service, bob = served
    careless = PrivateKey.from_seed(b"careless payer")
    node.miner_address = careless.address()
    node.mine_block()
    pool_view = node.mempool.coins(node.chain.utxo)
    pay = build_payment(pool_view, careless, [(service.wallet("bob").address(), 5 * COIN)], fee=10_000)
    node.submit_transaction(pay)
    view = service.pool_coins()
    assert view.coins_of(service.wallet("bob").address()) == []         # waits on a young reward
    assert [op.txid for op, _ in view.immature_of(service.wallet("bob").address())] == [pay.txid]
    with pytest.raises(UsageError) as err:
        service.methods()["ask"]("\n3+4=", tokens=4, wallet="bob")
    assert err.value.reason == "insufficient-funds"
    for _ in range(COINBASE_SAFE_DEPTH - 1):       # the payment is mined, the reward it spends matures
        node.mine_block()
    asked = service.methods()["ask"]("\n3+4=", tokens=4, wallet="bob")
    assert _txid(asked["txid"]) in node.mempool
    assert WalletCoins(node.chain.utxo, 1).coins_of(careless.address())   # depth 1: consensus' own view
    assert address_to_str(service.wallet("bob").address()) == bob
