"""Cryptographic building blocks: hashes, Merkle trees, keys and signatures (notebooks 01 and 03)."""
from .hashes import sha256, sha256d, hash_to_hex, hex_to_hash
from .merkle import merkle_root, bitcoin_merkle_root, merkle_proof, verify_proof, MerkleProof, EMPTY_ROOT
from .keys import (PrivateKey, PublicKey, verify, address_of, address_to_str, address_from_str,
                   SIGNATURE_SIZE, PUBLIC_KEY_SIZE, ADDRESS_SIZE)

__all__ = ["sha256", "sha256d", "hash_to_hex", "hex_to_hash", "merkle_root", "bitcoin_merkle_root",
           "merkle_proof", "verify_proof", "MerkleProof", "EMPTY_ROOT",
           "PrivateKey", "PublicKey", "verify", "address_of", "address_to_str", "address_from_str",
           "SIGNATURE_SIZE", "PUBLIC_KEY_SIZE", "ADDRESS_SIZE"]
