"""Reference solutions for notebook 10 (for instructors): ``SOLUTIONS = {"10.k": function}``."""
from __future__ import annotations

import numpy as np

from gradientcoin_edu.crypto.hashes import sha256
from gradientcoin_edu.crypto.merkle import leaf_hash, node_hash


def greedy_decode(logits_fn, prompt_ids, n_new, block_size):
    """10.1: n_new times: show the last block_size ids, take the argmax (lowest id on a tie)."""
    ids = list(prompt_ids)
    for _ in range(n_new):
        logits = np.asarray(logits_fn(ids[-block_size:]))
        ids.append(int(np.argmax(logits)))          # np.argmax returns the first maximum
    return ids[len(prompt_ids):]


def verify_chunk(chunk, proof, root):
    """10.2: leaf = H(0x00 | SHA-256(chunk)); climb with the siblings (left or right by the index);
    an odd last node is carried up without a sibling."""
    i, n = proof.index, proof.leaf_count
    if not 0 <= i < n:
        return False
    h, siblings = leaf_hash(sha256(chunk)), list(proof.siblings)
    while n > 1:
        if i ^ 1 < n:                                # this node has a sibling at this level
            if not siblings:
                return False
            s = siblings.pop(0)
            h = node_hash(h, s) if i % 2 == 0 else node_hash(s, h)
        i, n = i // 2, (n + 1) // 2
    return not siblings and h == root


SOLUTIONS = {"10.1": greedy_decode, "10.2": verify_chunk}
