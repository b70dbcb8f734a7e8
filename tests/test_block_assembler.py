"""One block template for every miner, and the time-warp grace in one place (``chain.pow.block_time``).

At a retarget boundary the first block of a period may precede its parent by at most the
time-warp grace. A miner whose clock is behind its parent's time (the parent was stamped in the
future, within the two hours the rules allow) must still make a block its own chain accepts:
the network node's assembler and the proof-of-gradient miner build their templates with
``chain.pow.make_block``, as the proof-of-work miner does. (Before, each had its own template
code, which ignored the grace: their own chain refused the block, ``time-timewarp-attack``.)
"""
from __future__ import annotations

import dataclasses

import pytest

from _transport import RecordingTransport
from gradientcoin_edu.chain import Chain, ChainParams
from gradientcoin_edu.chain.pow import block_time, make_block
from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.network.node import Node

INTERVAL = 4
PARAMS = ChainParams(name="boundary", target_spacing=10, retarget_interval=INTERVAL)   # easy regtest target
T0 = PARAMS.genesis_time
AHEAD = 3000                       # the last block of the period is stamped this far in the future


def _pow_node(now: float) -> Node:
    transport = RecordingTransport(now)
    chain = Chain(PARAMS, clock=transport.now)
    return Node("boundary", chain, transport, miner_address=PrivateKey.from_seed(b"boundary").address())


@pytest.mark.parametrize("grace", [0, 25])
def test_node_template_at_a_retarget_boundary_passes_its_own_chain(grace):
    params = dataclasses.replace(PARAMS, timewarp_grace_seconds=grace)
    transport = RecordingTransport(T0 + 100)
    node = Node("boundary", Chain(params, clock=transport.now), transport,
                miner_address=PrivateKey.from_seed(b"boundary").address())
    for h in range(1, INTERVAL):
        node.mine_block(time=T0 + 10 * h if h < INTERVAL - 1 else T0 + 100 + AHEAD)
    parent = node.chain.tip
    assert node.chain.height == INTERVAL - 1 and parent.header.time > transport.now() + grace
    template = node.block_template()                        # our clock is behind the parent: the grace decides
    assert template.header.time == parent.header.time - grace == block_time(node.chain, parent, transport.now())
    block = node.mine_block()                               # the old template code: InvalidBlock("rejected")
    assert node.chain.height == INTERVAL and node.tip == block.hash()


def test_one_template_for_the_node_and_make_block():
    """The node's template is ``make_block``'s, field for field but the coinbase's own bytes."""
    node = _pow_node(T0 + 50)
    node.mine_block()
    template = node.block_template()
    direct = make_block(node.chain, node.miner_address, now=T0 + 50, miner_id=node.miner_id,
                        extra=template.txs[0].inputs[0].signature[4:])
    assert template.serialize() == direct.serialize()


@pytest.mark.slow
def test_llm_template_at_a_retarget_boundary_passes_its_own_chain():
    from gradientcoin_edu.llm import LLMChain, LLMSpec
    spec = LLMSpec.builtin("tiny")
    spec = dataclasses.replace(spec, chain_params=dataclasses.replace(
        spec.chain_params, retarget_interval=INTERVAL, target_spacing=10, timewarp_grace_seconds=0))
    now = spec.chain_params.genesis_time + 100
    chain = LLMChain(spec, clock=lambda: now)
    miner = PrivateKey.from_seed(b"boundary llm").address()
    for h in range(1, INTERVAL):
        t = spec.chain_params.genesis_time + 10 * h if h < INTERVAL - 1 else now + AHEAD
        chain.mine_and_add(miner, time=t)
    parent = chain.tip
    block = chain.mine(miner, time=now).block               # our clock is behind the parent's time
    assert block.header.time == parent.header.time
    chain.add_block(block)                                  # the old template code: time-timewarp-attack
    assert chain.height == INTERVAL
