"""A block holds its payload once (docs/benchmarks.md, "Forged blocks under the loss sheet": memory).

Before, ``Block`` cached its whole encoding next to the payload (and ``Block.parse`` kept the
message bytes as that cache): every block a node held cost it twice its payload, and the demo's
three nodes peaked at 2.8 GB. This test fails on that code (the bytes held were 2x the payload)."""
from __future__ import annotations

from gradientcoin_edu.chain import Block
from gradientcoin_edu.llm import LLMChain, LLMSpec
from gradientcoin_edu.ledger import Wallet


def held_bytes(block: Block) -> int:
    """Bytes held by the block's own byte fields (payload and any cache)."""
    return sum(len(v) for v in vars(block).values() if isinstance(v, (bytes, bytearray, memoryview)))


def test_a_block_parsed_from_the_wire_holds_its_payload_once():
    spec = LLMSpec.builtin("tiny")
    chain = LLMChain(spec, clock=lambda: 2_000_000_000)
    mined = chain.mine(Wallet.from_seed("memory").address).block
    data = mined.serialize()
    for block in (mined, Block.parse(data)):
        assert block.serialize() == data and block.size() == len(data)
        assert held_bytes(block) < len(block.payload) + 2_000, held_bytes(block)
        assert held_bytes(block) >= len(block.payload)
