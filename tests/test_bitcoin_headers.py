"""Real Bitcoin headers and merkle roots.

Sources (public block data, any block explorer or `bitcoin-cli getblockheader`):
* Block 0 (genesis), 3 January 2009: hash 000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f,
  raw header as in Bitcoin Core's src/kernel/chainparams.cpp (CreateGenesisBlock: time 1231006505,
  nonce 2083236893, bits 0x1d00ffff, version 1; merkle root 4a5e1e4b...da33b).
* Block 100000, 29 December 2010: four transactions; txids, merkle root and header fields as
  shown by block explorers (e.g. https://blockstream.info/block/000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506).
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from gradientcoin_edu.chain.bitcoin_header import GENESIS_HEADER_HEX, BitcoinHeader
from gradientcoin_edu.chain.bits import bits_to_target
from gradientcoin_edu.crypto.hashes import hash_to_hex, hex_to_hash, sha256d
from gradientcoin_edu.crypto.merkle import bitcoin_merkle_root, merkle_root
from gradientcoin_edu.errors import InvalidBlock, ParseError

GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
GENESIS_MERKLE = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"

BLOCK_100000_TXIDS = [
    "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
]
BLOCK_100000_MERKLE = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
BLOCK_100000_HASH = "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506"
BLOCK_100000_PREV = "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250"


def test_genesis_header_fields_and_hash():
    header = BitcoinHeader.from_hex(GENESIS_HEADER_HEX)
    assert (header.version, header.time, header.bits, header.nonce) == (1, 1231006505, 0x1D00FFFF, 2083236893)
    assert header.prev_hash == bytes(32)
    assert hash_to_hex(header.merkle_root) == GENESIS_MERKLE
    assert header.hash_hex() == GENESIS_HASH
    assert header.hash() == sha256d(bytes.fromhex(GENESIS_HEADER_HEX))     # hashlib as the oracle
    assert header.serialize().hex() == GENESIS_HEADER_HEX


def test_genesis_meets_its_target_and_a_changed_nonce_does_not():
    header = BitcoinHeader.from_hex(GENESIS_HEADER_HEX)
    assert header.check_pow()
    assert header.hash_value() <= bits_to_target(0x1D00FFFF) < 2**224
    assert not replace(header, nonce=header.nonce + 1).check_pow()
    assert not replace(header, bits=0x04923456).check_pow()              # a negative target is never met


def test_genesis_merkle_root_is_its_only_txid():
    txid = hex_to_hash(GENESIS_MERKLE)
    assert bitcoin_merkle_root([txid]) == txid


def test_block_100000_merkle_root_from_its_txids():
    txids = [hex_to_hash(t) for t in BLOCK_100000_TXIDS]
    assert hash_to_hex(bitcoin_merkle_root(txids)) == BLOCK_100000_MERKLE
    assert merkle_root(txids, mode="chain") != hex_to_hash(BLOCK_100000_MERKLE)   # our tree is a different tree


def test_block_100000_header_hash_and_pow():
    header = BitcoinHeader(1, hex_to_hash(BLOCK_100000_PREV), hex_to_hash(BLOCK_100000_MERKLE),
                           1293623863, 0x1B04864C, 274148111)
    assert header.hash_hex() == BLOCK_100000_HASH
    assert header.check_pow()
    assert BitcoinHeader.parse(header.serialize()) == header


@pytest.mark.parametrize("length", [0, 79, 81])
def test_wrong_length_is_a_parse_error(length):
    with pytest.raises(ParseError) as info:
        BitcoinHeader.parse(bytes(length))
    assert info.value.reason == "bad-header-length"


def test_bad_hex_is_a_parse_error():
    with pytest.raises(ParseError):
        BitcoinHeader.from_hex("zz" * 80)


GENESIS = BitcoinHeader.from_hex(GENESIS_HEADER_HEX)


@pytest.mark.parametrize("changes, reason", [
    (dict(prev_hash=bytes(31)), "bad-prev-hash"),            # used to be padded with a zero byte
    (dict(prev_hash=bytes(33)), "bad-prev-hash"),            # used to be truncated
    (dict(prev_hash="00" * 32), "bad-prev-hash"),
    (dict(merkle_root=GENESIS.merkle_root[:-1]), "bad-merkle-root"),
    (dict(merkle_root=GENESIS.merkle_root + b"\x00"), "bad-merkle-root"),
    (dict(time=2**32), "bad-time"),                           # used to leak struct.error
    (dict(time=-1), "bad-time"),
    (dict(nonce=2**32), "bad-nonce"),
    (dict(nonce=-1), "bad-nonce"),
    (dict(bits=2**32), "bad-bits"),
    (dict(version=2**31), "bad-version"),
    (dict(version=-2**31 - 1), "bad-version"),
    (dict(nonce=1.5), "bad-nonce"),
    (dict(time=True), "bad-time"),
])
def test_bad_fields_raise_invalid_block_with_a_reason(changes, reason):
    with pytest.raises(InvalidBlock) as info:
        replace(GENESIS, **changes)
    assert info.value.reason == reason


def test_field_bounds_are_inclusive_of_what_fits():
    edge = replace(GENESIS, version=-2**31, time=2**32 - 1, nonce=2**32 - 1, bits=0)
    assert BitcoinHeader.parse(edge.serialize()) == edge
    assert replace(GENESIS, prev_hash=bytearray(32)).prev_hash == bytes(32)
