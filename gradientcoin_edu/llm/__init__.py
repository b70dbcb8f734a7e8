"""The decentralized LLM: a tiny GPT that lives on the chain, trained by proof-of-gradient mining.

This package wires the layers below into the system GradientCoin describes: the chain's work
rule *is* the model, mining a block *is* a training step, and every node derives bit-identical
weights from the blocks. Read in this order:

* ``params.py``     - :class:`LLMParams`: the data and query rules every node agrees on
* ``spec.py``       - :class:`LLMSpec`: one network's rules, data and genesis block
* ``data.py``       - training-data transactions (pay a fee, add text to the dataset)
* ``inference.py``  - paid queries, deterministic greedy answers, answer records
* ``commitment.py`` - the coinbase commitment to the dataset root and the answers
* ``rule.py``       - :class:`LLMRule`: proof-of-gradient plus data, answers and snapshots
* ``miner.py``      - building and mining a block
* ``chain.py``      - :class:`LLMChain`: the chain wired with the rule; the model at any height
* ``pruning.py``    - reclaiming disk space: prune old gradients, keep roots and snapshots
* ``light.py``      - simplified verification: a chunk of weights, an answer, against a header
* ``baseline.py``   - the central baseline: the same model trained the ordinary way
* ``network.py``    - :func:`LLMNode`, :func:`LLMSimulator`, :func:`LLMMempool`: the network layer's objects with the LLM plugged in
* ``processes.py``  - the same nodes as real processes over ZeroMQ
* ``preview.py``    - attacker: a miner who previews batches (gains nothing against strata)
* ``poisoning.py``  - attacker: slow poisoning inside the rules, and how its damage is measured

``gradientcoin demo`` (``gradientcoin_edu/demo.py``) runs it all. Taught in notebooks 09 and 10.
"""
from .chain import Contribution, LLMChain
from .commitment import Commitment, read_commitment
from .data import build_data_tx, data_fee, data_payload, parse_data_payload
from .inference import AnswerRecord, Query, answers_root, build_query_tx, greedy_decode
from .miner import MinedBlock, Proof, mine_llm_block, mine_proof
from .params import LLMParams
from .rule import LLMRule, miner_id_for
from .spec import DEMO_BITS, EASIEST_BITS, LLMSpec, read_genesis

__all__ = [
    "LLMParams", "LLMSpec", "DEMO_BITS", "EASIEST_BITS", "read_genesis",
    "build_data_tx", "data_fee", "data_payload", "parse_data_payload",
    "Query", "AnswerRecord", "answers_root", "build_query_tx", "greedy_decode",
    "Commitment", "read_commitment", "LLMRule", "miner_id_for", "MinedBlock", "Proof", "mine_proof", "mine_llm_block", "LLMChain",
    "Contribution",
]
