"""The language model the chain trains: tokenizer, corpus, a small GPT, integer weights.

* ``tokenizer.py``  - :class:`CharTokenizer`, a fixed character vocabulary committed by hash
* ``corpus.py``     - the built-in seeded corpus, :class:`Dataset` records and their Merkle root
* ``gpt.py``        - :class:`GPT` and :class:`GPTConfig` (presets ``micro``, ``nano``, ``gpu``)
* ``fixed_point.py``- weights as int64 fixed point, their canonical bytes and ``weights_root``
* ``rng.py``        - :class:`HashRNG`, SHA-256 counter mode: randomness every node agrees on

Taught in notebook 07. ``model`` knows nothing about blocks or coins.
"""
from .corpus import Dataset, arithmetic_accuracy, builtin_datasets, generate_corpus, load_text_file
from .fixed_point import (SCALE_LOG2, from_float, from_model, init_weights, load_weights, num_params,
                          param_spec, to_float, to_model, weights_root)
from .gpt import GPT, PRESETS, GPTConfig
from .rng import HashRNG
from .tokenizer import CharTokenizer

__all__ = [
    "CharTokenizer", "Dataset", "generate_corpus", "builtin_datasets", "load_text_file",
    "arithmetic_accuracy", "GPT", "GPTConfig", "PRESETS", "HashRNG",
    "SCALE_LOG2", "init_weights", "to_float", "from_float", "from_model", "load_weights",
    "to_model", "param_spec", "num_params", "weights_root",
]
