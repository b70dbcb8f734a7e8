"""SHA-256 against the FIPS 180-2 examples, SHA-256d and byte order against Bitcoin's genesis
block, the teaching SHA-256 against hashlib, and both Merkle trees (crypto/merkle.py)."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from gradientcoin_edu.crypto.hashes import (
    bytes_to_hex_le, hash_to_hex, hex_le_to_bytes, hex_to_hash, sha256, sha256d,
)
from gradientcoin_edu.crypto.merkle import (
    EMPTY_ROOT, MerkleProof, bitcoin_merkle_root, leaf_hash, merkle_proof, merkle_root, node_hash, verify_proof,
)
from gradientcoin_edu.crypto.teaching import sha256_compress, sha256_pad, sha256_teaching, SHA256_H0

# FIPS 180-2, appendix B (SHA-256 examples)
FIPS_VECTORS = [
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
]
MILLION_A = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

# Bitcoin's genesis block header (80 bytes) and its hash as block explorers show it.
GENESIS_HEADER = bytes.fromhex(
    "01000000" + "00" * 32
    + "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a"
    + "29ab5f49" + "ffff001d" + "1dac2b7c")
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"

# Block 100000: four txids (display order) and the merkle root in its header (display order).
BLOCK_100000_TXIDS = [
    "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
]
BLOCK_100000_ROOT = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"


# ------------------------------------------------------------------ SHA-256 / SHA-256d
@pytest.mark.parametrize("message,digest", FIPS_VECTORS)
def test_sha256_fips_examples(message, digest):
    assert sha256(message).hex() == digest
    assert sha256_teaching(message).hex() == digest


def test_sha256_one_million_a():
    assert sha256(b"a" * 1_000_000).hex() == MILLION_A


@pytest.mark.slow
def test_teaching_sha256_one_million_a():
    assert sha256_teaching(b"a" * 1_000_000).hex() == MILLION_A


def test_sha256d_is_sha256_twice_and_hashes_the_genesis_header():
    assert sha256d(b"hello") == hashlib.sha256(hashlib.sha256(b"hello").digest()).digest()
    assert sha256d(b"hello") != sha256(b"hello")
    digest = sha256d(GENESIS_HEADER)
    assert hash_to_hex(digest) == GENESIS_HASH            # shown byte-reversed
    assert digest.hex() != GENESIS_HASH
    assert digest.endswith(bytes(4))                      # the proof of work: trailing zero bytes internally


def test_hex_byte_order_helpers():
    digest = bytes(range(32))
    assert hash_to_hex(digest) == digest[::-1].hex()
    assert hex_to_hash(hash_to_hex(digest)) == digest
    assert bytes_to_hex_le is hash_to_hex and hex_le_to_bytes is hex_to_hash
    assert hex_to_hash(GENESIS_HASH) == sha256d(GENESIS_HEADER)


@pytest.mark.parametrize("length", [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000])
def test_teaching_sha256_matches_hashlib_across_padding_boundaries(length):
    message = bytes((7 * i + length) % 256 for i in range(length))
    assert sha256_teaching(message) == hashlib.sha256(message).digest()
    assert len(sha256_pad(message)) % 64 == 0


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_teaching_sha256_matches_hashlib(message):
    assert sha256_teaching(message) == hashlib.sha256(message).digest()


def test_teaching_compress_is_one_block_of_sha256():
    block = sha256_pad(b"abc")
    assert len(block) == 64
    state = sha256_compress(SHA256_H0, block)
    assert b"".join(x.to_bytes(4, "big") for x in state) == hashlib.sha256(b"abc").digest()


# ------------------------------------------------------------------ Merkle: the bitcoin tree
def test_bitcoin_merkle_root_of_block_100000():
    txids = [hex_to_hash(t) for t in BLOCK_100000_TXIDS]
    assert hash_to_hex(bitcoin_merkle_root(txids)) == BLOCK_100000_ROOT


def test_bitcoin_merkle_root_by_hand_with_hashlib():
    a, b, c = (hashlib.sha256(bytes([i])).digest() for i in range(3))
    h = lambda x: hashlib.sha256(hashlib.sha256(x).digest()).digest()  # noqa: E731
    assert bitcoin_merkle_root([a]) == a
    assert bitcoin_merkle_root([a, b]) == h(a + b)
    assert bitcoin_merkle_root([a, b, c]) == h(h(a + b) + h(c + c))   # odd node paired with itself
    with pytest.raises(ValueError):
        bitcoin_merkle_root([])


def test_bitcoin_tree_has_the_duplicate_list_flaw_cve_2012_2459():
    a, b, c = (sha256(bytes([i])) for i in range(3))
    assert merkle_root([a, b, c], "bitcoin") == merkle_root([a, b, c, c], "bitcoin")
    six = [sha256(bytes([i])) for i in range(6)]
    assert merkle_root(six, "bitcoin") == merkle_root(six + six[4:], "bitcoin")


def test_chain_tree_does_not_have_the_duplicate_list_flaw():
    a, b, c = (sha256(bytes([i])) for i in range(3))
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    six = [sha256(bytes([i])) for i in range(6)]
    assert merkle_root(six) != merkle_root(six + six[4:])


# ------------------------------------------------------------------ Merkle: the chain tree
def test_chain_tree_by_hand_with_hashlib():
    h = lambda x: hashlib.sha256(x).digest()  # noqa: E731
    leaf = lambda x: h(b"\x00" + x)            # noqa: E731
    node = lambda l, r: h(b"\x01" + l + r)     # noqa: E731
    assert merkle_root([]) == EMPTY_ROOT == h(b"")
    assert merkle_root([b"x"]) == leaf(b"x") == leaf_hash(b"x")
    assert merkle_root([b"x", b"y"]) == node(leaf(b"x"), leaf(b"y")) == node_hash(leaf(b"x"), leaf(b"y"))
    # an odd node is carried up unchanged
    assert merkle_root([b"x", b"y", b"z"]) == node(node(leaf(b"x"), leaf(b"y")), leaf(b"z"))


def test_chain_tree_leaf_cannot_pass_for_an_inner_node():
    x, y = leaf_hash(b"x"), leaf_hash(b"y")
    inner = x + y                                   # 64 bytes that form the inner node's preimage
    assert merkle_root([inner]) != merkle_root([b"x", b"y"])
    assert merkle_root([b"x", b"y"]) != merkle_root([x, y])


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError):
        merkle_root([b"x"], mode="sideways")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=12), st.lists(st.binary(max_size=8), max_size=12))
def test_chain_tree_different_lists_have_different_roots(first, second):
    if first != second:
        assert merkle_root(first) != merkle_root(second)


@pytest.mark.parametrize("mode", ["chain", "bitcoin"])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_every_leaf_has_a_proof_and_wrong_ones_fail(mode, count):
    items = [sha256(bytes([i])) for i in range(count)]
    root = merkle_root(items, mode)
    for index, item in enumerate(items):
        proof = merkle_proof(items, index, mode)
        assert verify_proof(item, proof, root)
        assert not verify_proof(sha256(b"other"), proof, root)
        assert not verify_proof(item, proof, sha256(b"another root"))
        if proof.siblings:
            bad = (bytes(32),) + proof.siblings[1:]
            assert not verify_proof(item, MerkleProof(proof.index, proof.leaf_count, bad, mode), root)
            assert not verify_proof(item, MerkleProof(proof.index, proof.leaf_count, proof.siblings[:-1], mode), root)
        if count > 1:
            moved = MerkleProof((index + 1) % count, count, proof.siblings, mode)
            assert not verify_proof(item, moved, root) or items[(index + 1) % count] == item


def test_proof_index_out_of_range():
    with pytest.raises(IndexError):
        merkle_proof([b"a"], 1)
    assert not verify_proof(b"a", MerkleProof(5, 1, (), "chain"), merkle_root([b"a"]))
    assert not verify_proof(b"a", MerkleProof(0, 1, ("junk",), "chain"), merkle_root([b"a"]))
