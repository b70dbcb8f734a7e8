"""[tooling] Simplified verification: check a piece of the model, or an answer, with a block header alone.

Whitepaper section 8: a user who keeps only the block headers (80 bytes each in Bitcoin, 180
here) can still check that a transaction is in a block, by a Merkle branch from the
transaction to the header's ``tx_root``. The model has the same structure:

* **a chunk of weights** - ``weights_root`` in the header of block ``h`` is the ``"chain"``
  Merkle root over the SHA-256 digests of the ``chunk_bytes``-sized chunks of the weights'
  canonical bytes (int64 little-endian, parameters in canonical order). A full node sends one
  chunk and the sibling hashes on its path; the light client hashes the chunk, climbs to the
  root and compares with the header (:func:`verify_weights_chunk`). 4 KiB of weights and
  ``log2(n_chunks)`` hashes prove that these 512 numbers are the model at height ``h``.
* **an answer** - the coinbase of the block that answered a query commits to the root of the
  block's answer records (``commitment.py``). The proof is the coinbase, its Merkle branch to
  ``tx_root`` (it must be transaction 0: only the coinbase's commitment counts), the answer
  record, and its branch to the committed ``answers_root`` (:func:`verify_answer`). The light
  client learns the answer every full node agreed to, without the weights.

Taught in notebook 10.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..chain import BlockHeader
from ..crypto.hashes import sha256
from ..crypto.merkle import MerkleProof, merkle_proof, verify_proof
from ..errors import InvalidBlock
from ..ledger import Transaction
from ..model.fixed_point import param_spec, weights_chunk_proof
from .commitment import read_commitment
from .inference import AnswerRecord

__all__ = ["WeightsChunkProof", "prove_weights_chunk", "verify_weights_chunk", "chunk_values", "chunk_parameters",
           "n_chunks", "AnswerProof", "prove_answer", "verify_answer"]


@dataclass(frozen=True)
class WeightsChunkProof:
    """Chunk ``index`` of the weights after block ``height`` and its Merkle branch."""

    height: int
    index: int
    chunk: bytes
    proof: MerkleProof


def n_chunks(spec) -> int:
    """How many chunks the committed state (the weights, then the optimizer's state) is cut into."""
    total = 8 * spec.pog.state_size
    return (total + spec.pog.chunk_bytes - 1) // spec.pog.chunk_bytes


def prove_weights_chunk(chain, height: int, index: int) -> WeightsChunkProof:
    """A full node's answer to "show me chunk ``index`` of the model at ``height``"."""
    chunk, proof = weights_chunk_proof(chain.weights_at(height), index, chain.spec.pog.chunk_bytes)
    return WeightsChunkProof(height, index, chunk, proof)


def verify_weights_chunk(header: BlockHeader, p: WeightsChunkProof, spec) -> bool:
    """True when ``p.chunk`` is chunk ``p.index`` of the weights ``header`` commits to.

    The tree's shape is pinned by the network's parameters (``spec``): the leaf count must be
    :func:`n_chunks` and the chunk exactly as long as that chunk is. A proof's own leaf count is
    not trusted - with a smaller one, the real bytes of chunk 8 of a 9-chunk tree verify as chunk 2
    (both are carried up the tree the same way)."""
    count, size = n_chunks(spec), spec.pog.chunk_bytes
    last = 8 * spec.pog.state_size - (count - 1) * size
    if not (isinstance(p.index, int) and 0 <= p.index < count) or p.proof.leaf_count != count:
        return False
    if len(p.chunk) != (last if p.index == count - 1 else size):
        return False
    return p.proof.index == p.index and verify_proof(sha256(p.chunk), p.proof, header.weights_root)


def chunk_values(chunk: bytes, scale_log2: int) -> np.ndarray:
    """The weights in a chunk as float64 values (integer ``W`` times ``2^-s``)."""
    return np.ldexp(np.frombuffer(chunk, dtype="<i8").astype(np.float64), -scale_log2)


def chunk_parameters(spec, index: int) -> list[tuple[str, int, int]]:
    """Which parameters chunk ``index`` holds: ``[(name, first element, end element), ...]``."""
    per_chunk = spec.pog.chunk_bytes // 8
    lo, hi = index * per_chunk, (index + 1) * per_chunk
    out, offset = [], 0
    for name, shape in param_spec(spec.pog.model):
        n = int(np.prod(shape))
        a, b = max(lo, offset), min(hi, offset + n)
        if a < b:
            out.append((name, a - offset, b - offset))
        offset += n
    return out


@dataclass(frozen=True)
class AnswerProof:
    """An answer, and the Merkle branches that tie it to the header of the block that answered it."""

    height: int
    coinbase: Transaction
    coinbase_proof: MerkleProof
    answer: AnswerRecord
    answer_proof: MerkleProof


def prove_answer(chain, query_txid: bytes) -> AnswerProof:
    """A full node proves the committed answer to query ``query_txid``."""
    found = chain.find_answer(query_txid)
    if found is None:
        raise KeyError("no block answered this query")
    height, _ = found
    block = chain.block_at(height)
    answers = chain.answers_in(height)
    index = next(i for i, a in enumerate(answers) if a.query_txid == query_txid)
    return AnswerProof(height, block.txs[0], merkle_proof(block.txids(), 0, "chain"), answers[index],
                       merkle_proof([a.serialize() for a in answers], index, "chain"))


def verify_answer(header: BlockHeader, p: AnswerProof) -> bool:
    """True when ``header``'s block commits (in its coinbase) to ``p.answer``."""
    if p.coinbase_proof.index != 0 or not p.coinbase.is_coinbase:
        return False                                   # only the coinbase's commitment counts
    if not verify_proof(p.coinbase.txid, p.coinbase_proof, header.tx_root):
        return False
    try:
        commitment = read_commitment(p.coinbase)
    except InvalidBlock:
        return False
    return verify_proof(p.answer.serialize(), p.answer_proof, commitment.answers_root)
