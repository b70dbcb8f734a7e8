"""Our block format: explicit bytes that round-trip, hashes over those bytes, and a parser
that either returns the one block the bytes encode or raises ParseError."""
from __future__ import annotations

import hashlib
import struct
from dataclasses import fields, replace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from _chain_helpers import ALICE, MINER, extend, new_chain, next_block
from gradientcoin_edu.chain.block import (
    HEADER_SIZE, ZERO_HASH, Block, BlockHeader, compute_tx_root, read_varint, write_varint,
)
from gradientcoin_edu.crypto.merkle import merkle_root
from gradientcoin_edu.errors import ParseError
from gradientcoin_edu.ledger import COIN


def sample_header(**changes) -> BlockHeader:
    base = dict(version=1, prev_hash=b"\x11" * 32, tx_root=b"\x22" * 32, grad_root=b"\x33" * 32,
                weights_root=b"\x44" * 32, time=1_700_000_600, bits=0x207FFFFF, nonce=7, miner_id=b"\x55" * 32)
    return BlockHeader(**{**base, **changes})


@pytest.fixture(scope="module")
def sample_block() -> Block:
    chain = new_chain()
    extend(chain, 1)
    pay = MINER.pay(chain.utxo, ALICE.address, COIN, fee=10)
    return replace(next_block(chain, txs=[pay]), payload=b"gradient payload \x00\x01")


def test_header_bytes_layout():
    h = sample_header()
    raw = h.serialize()
    assert len(raw) == HEADER_SIZE == 180
    assert raw[:4] == struct.pack("<I", 1) and raw[4:36] == b"\x11" * 32
    assert raw[-4:] == struct.pack("<I", 7)                    # nonce last: a miner hashes a fixed prefix
    assert raw[-36:-4] == b"\x55" * 32                          # miner id just before it
    assert BlockHeader.parse(raw) == h


def test_header_hash_is_double_sha256_of_its_bytes():
    h = sample_header()
    assert h.hash() == hashlib.sha256(hashlib.sha256(h.serialize()).digest()).digest()
    assert h.hash_hex() == h.hash()[::-1].hex()


@pytest.mark.parametrize("name", [f.name for f in fields(BlockHeader)])
def test_every_header_field_changes_the_hash(name):
    h = sample_header()
    value = getattr(h, name)
    other = (value ^ 1) if isinstance(value, int) else bytes([value[0] ^ 1]) + value[1:]
    assert replace(h, **{name: other}).hash() != h.hash()


@pytest.mark.parametrize("changes", [dict(prev_hash=b"short"), dict(nonce=2**32), dict(time=-1), dict(bits="x")])
def test_header_fields_are_checked(changes):
    with pytest.raises(ValueError):
        sample_header(**changes)


def test_block_round_trip(sample_block):
    raw = sample_block.serialize()
    again = Block.parse(raw)
    assert again == sample_block and again.serialize() == raw
    assert again.hash() == sample_block.header.hash()
    assert again.payload == b"gradient payload \x00\x01"


def test_tx_root_is_the_chain_merkle_root_of_txids(sample_block):
    assert compute_tx_root(sample_block.txs) == merkle_root([tx.txid for tx in sample_block.txs], mode="chain")
    assert sample_block.header.tx_root == compute_tx_root(sample_block.txs)


def test_parse_refuses_oversized_blocks(sample_block):
    raw = sample_block.serialize()
    with pytest.raises(ParseError) as info:
        Block.parse(raw, max_size=len(raw) - 1)
    assert info.value.reason == "block-too-large"


@pytest.mark.parametrize("cut", [0, 10, HEADER_SIZE, HEADER_SIZE + 1, -1])
def test_truncated_or_extended_bytes_are_rejected(sample_block, cut):
    raw = sample_block.serialize()
    with pytest.raises(ParseError):
        Block.parse(raw[:cut])
    with pytest.raises(ParseError):
        Block.parse(raw + b"\x00")


def test_varints_are_canonical():
    for n in (0, 0xFC, 0xFD, 0xFFFF, 0x10000, 0xFFFFFFFF, 2**32):
        assert read_varint(write_varint(n), 0) == (n, len(write_varint(n)))
    with pytest.raises(ParseError) as info:
        read_varint(b"\xfd\x10\x00", 0)                       # 16 written in three bytes
    assert info.value.reason == "non-canonical-varint"


def test_empty_block_encodes():
    block = Block(sample_header(tx_root=compute_tx_root([]), grad_root=ZERO_HASH), ())
    assert Block.parse(block.serialize()) == block


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_arbitrary_bytes_parse_and_round_trip_or_raise_parse_error(data):
    try:
        block = Block.parse(data)
    except ParseError:
        return
    assert block.serialize() == data


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_block_bytes_round_trip_or_raise_parse_error(sample_block, data):
    raw = bytearray(sample_block.serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del raw[data.draw(st.integers(0, len(raw) - 1)):]
    try:
        block = Block.parse(bytes(raw))
    except ParseError:
        return
    assert block.serialize() == bytes(raw)
