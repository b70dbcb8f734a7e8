"""Checks for notebook 10, "Asking the decentralized model".

10.1 deterministic greedy decoding (context cropping, lowest token id on a tie); 10.2 checking
a chunk of weights against a ``weights_root`` with its Merkle branch. A stub's
``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import numpy as np

from ..crypto.hashes import sha256
from ..crypto.merkle import MerkleProof, merkle_proof, merkle_root
from . import exercise


def _logits_fn(vocab: int, seen: list):
    """A deterministic 'model': logits for the next token from the ids it is shown (ties on purpose)."""
    def logits(ids):
        seen.append(list(ids))
        out = np.zeros(vocab)
        out[(sum(ids) * 7 + len(ids)) % vocab] = 2.0
        out[(ids[-1] * 3) % vocab] = 2.0                # often a tie with the first: lowest id must win
        out[0] = -1.0
        return out
    return logits


def _reference_decode(logits_fn, ids, n, block_size):
    ids = list(ids)
    for _ in range(n):
        logits = np.asarray(logits_fn(ids[-block_size:]))
        ids.append(int(np.flatnonzero(logits == logits.max())[0]))
    return ids[-n:] if n else []


@exercise("10.1", "deterministic greedy decoding")
def check_greedy(candidate) -> None:
    for vocab, prompt, n, block_size in ((11, [3, 5], 6, 4), (5, [1], 8, 3), (13, [2, 9, 4, 4, 1], 5, 2),
                                         (7, [6], 0, 4)):
        seen: list = []
        got = candidate(_logits_fn(vocab, seen), list(prompt), n, block_size)
        assert got is not None, "your function returned None - did you forget `return`?"
        want = _reference_decode(_logits_fn(vocab, []), prompt, n, block_size)
        assert [int(t) for t in got] == want, (
            f"prompt {prompt}, {n} tokens, context {block_size}: expected {want}, got {list(got)}. Hint: "
            "show the model only the last block_size ids; on a tie take the lowest token id "
            "(np.argmax does); return only the new tokens.")
        assert all(len(s) <= block_size for s in seen), "the model was shown more than block_size tokens"


def _tree(n_chunks: int, seed: int):
    rng = np.random.default_rng(seed)
    chunks = [rng.integers(0, 256, 64, dtype=np.uint8).tobytes() for _ in range(n_chunks)]
    digests = [sha256(c) for c in chunks]
    return chunks, digests, merkle_root(digests, "chain")


@exercise("10.2", "a chunk of weights against the weights root")
def check_chunk_proof(candidate) -> None:
    for n, seed in ((1, 0), (2, 1), (5, 2), (8, 3), (13, 4)):
        chunks, digests, root = _tree(n, seed)
        for i in range(n):
            proof = merkle_proof(digests, i, "chain")
            ok = candidate(chunks[i], proof, root)
            assert ok is not None, "your function returned None - did you forget `return`?"
            assert ok is True or ok == True, f"a true chunk ({i} of {n}) was refused"       # noqa: E712
            bad = bytearray(chunks[i])
            bad[0] ^= 1
            assert not candidate(bytes(bad), proof, root), f"a changed chunk ({i} of {n}) was accepted"
            if n > 1:
                other = (i + 1) % n
                assert not candidate(chunks[other], proof, root), "another chunk was accepted at this position"
                moved = MerkleProof(other, proof.leaf_count, proof.siblings, proof.mode)
                assert not candidate(chunks[i], moved, root) or chunks[i] == chunks[other], \
                    "the proof's index must matter (left or right at each level)"
        assert not candidate(chunks[0], merkle_proof(digests, 0, "chain"), sha256(b"another root"))
