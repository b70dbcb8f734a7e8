"""Cryptographic building blocks: hashes, Merkle trees, keys and signatures (notebooks 01 and 03)."""
from .hashes import sha256, sha256d, hash_to_hex, hex_to_hash
from .merkle import merkle_root, bitcoin_merkle_root, merkle_proof, verify_proof, MerkleProof, EMPTY_ROOT

__all__ = ["sha256", "sha256d", "hash_to_hex", "hex_to_hash", "merkle_root", "bitcoin_merkle_root",
           "merkle_proof", "verify_proof", "MerkleProof", "EMPTY_ROOT"]
