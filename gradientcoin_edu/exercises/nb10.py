"""[tooling] Checks for notebook 10, "Asking the decentralized model".

10.1 deterministic greedy decoding (context cropping, lowest token id on a tie); 10.2 the light
client's check of a chunk of weights against a ``weights_root`` with its Merkle branch, judged
bit for bit against the library's ``verify_proof`` (the core of ``light.verify_weights_chunk``) on
true proofs and on every kind of broken one. Each check draws its inputs afresh at every call and
refuses the library's own functions. A stub's ``NotImplementedError`` passes through untouched.
"""
from __future__ import annotations

import numpy as np

from ..crypto.hashes import sha256
from ..crypto.merkle import MerkleProof, merkle_proof, merkle_root, verify_proof
from ..llm.inference import greedy_decode
from ..llm.light import verify_answer, verify_weights_chunk
from . import exercise
from ._own_work import fresh_np_rng, guarded


def _logits_fn(vocab: int, salt: int, seen: list):
    """A deterministic 'model': logits for the next token from the ids it is shown (ties on purpose)."""
    def logits(ids):
        seen.append(list(ids))
        out = np.zeros(vocab)
        out[(sum(ids) * 7 + len(ids) + salt) % vocab] = 2.0
        out[(ids[-1] * 3 + salt) % vocab] = 2.0         # often a tie with the first: lowest id must win
        out[salt % vocab] = -1.0
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
    call = guarded(candidate, (greedy_decode,), "greedy")
    rng = fresh_np_rng()
    cases = [(int(rng.integers(5, 30)), [int(t) for t in rng.integers(0, 5, int(rng.integers(1, 7)))],
              int(rng.integers(1, 10)), int(rng.integers(2, 6))) for _ in range(4)]
    cases.append((7, [int(rng.integers(0, 7))], 0, 4))
    for vocab, prompt, n, block_size in cases:
        salt = int(rng.integers(0, 2**31))
        seen: list = []
        got = call(_logits_fn(vocab, salt, seen), list(prompt), n, block_size)
        assert got is not None, "your function returned None - did you forget `return`?"
        want = _reference_decode(_logits_fn(vocab, salt, []), prompt, n, block_size)
        assert [int(t) for t in got] == want, (
            f"prompt {prompt}, {n} tokens, context {block_size}: expected {want}, got {list(got)}. Hint: "
            "what may the model see, which token wins when two logits are equal, and which tokens do you return?")
        assert all(len(s) <= block_size for s in seen), "the model was shown more than block_size tokens"


def _broken_proofs(proof: MerkleProof, rng: np.random.Generator) -> list[MerkleProof]:
    """The same branch, damaged in each way a careless or hostile full node could send it."""
    n, i, sibs = proof.leaf_count, proof.index, proof.siblings
    out = [MerkleProof((i + 1) % n, n, sibs, "chain") if n > 1 else None,       # another position
           MerkleProof(i, n + 1, sibs, "chain"), MerkleProof(i, max(1, n - 1), sibs, "chain"),   # another leaf count
           MerkleProof(i, n, sibs[:-1], "chain") if sibs else None,             # a sibling missing
           MerkleProof(i, n, sibs + (bytes(32),), "chain"),                      # one too many
           MerkleProof(i, n, tuple(reversed(sibs)), "chain") if len(sibs) > 1 else None,
           MerkleProof(n, n, sibs, "chain"), MerkleProof(-1, n, sibs, "chain")]   # index out of range
    if sibs:
        k = int(rng.integers(len(sibs)))
        bad = bytearray(sibs[k])
        bad[int(rng.integers(32))] ^= 1 << int(rng.integers(8))
        out.append(MerkleProof(i, n, sibs[:k] + (bytes(bad),) + sibs[k + 1:], "chain"))
    return [p for p in out if p is not None]


@exercise("10.2", "a chunk of weights against the weights root")
def check_chunk_proof(candidate) -> None:
    call = guarded(candidate, (verify_proof, verify_weights_chunk, verify_answer), "verify_chunk")
    rng = fresh_np_rng()
    for n in (1, 2, int(rng.integers(3, 8)), int(rng.integers(8, 40))):
        chunks = [rng.integers(0, 256, int(rng.integers(1, 97)), dtype=np.uint8).tobytes() for _ in range(n)]
        digests = [sha256(c) for c in chunks]
        root = merkle_root(digests, "chain")
        for i in sorted({0, n - 1, int(rng.integers(n))}):
            proof = merkle_proof(digests, i, "chain")
            tampered = bytearray(chunks[i] or b"\x00")
            tampered[int(rng.integers(len(tampered)))] ^= 1
            trials = [(chunks[i], proof, root, "a true chunk"), (bytes(tampered), proof, root, "a changed chunk"),
                      (chunks[i], proof, sha256(b"another root"), "another root")]
            if n > 1:
                trials.append((chunks[(i + 1) % n], proof, root, "another chunk at this position"))
            trials += [(chunks[i], p, root, f"a damaged proof (index {p.index}, {p.leaf_count} leaves, "
                        f"{len(p.siblings)} siblings)") for p in _broken_proofs(proof, rng)]
            for chunk, p, r, what in trials:
                want = verify_proof(sha256(chunk), p, r)
                got = call(chunk, p, r)
                assert got is not None, "your function returned None - did you forget `return`?"
                assert isinstance(got, (bool, np.bool_)), f"return True or False, not {type(got).__name__}"
                assert bool(got) == want, (
                    f"{what} in a tree of {n} chunks: the light client must answer {want}, yours says {bool(got)}. "
                    "Hint: the index decides left or right at each level, the leaf count decides where a node "
                    "has no sibling, and every sibling must be used up exactly when you reach the root.")
