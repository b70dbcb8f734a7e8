"""gradientcoin_edu: GradientCoin (Gao, Song, Yin 2023, arXiv 2308.10502) made to run.

A decentralized tiny language model secured like Bitcoin: signed transactions over a UTXO
set, blocks chained by hash, and proof-of-gradient mining in which every lottery ticket
costs one real gradient of the model. Start with ``notebooks/00_start_here.ipynb`` or
``gradientcoin demo``.
"""
__version__ = "0.1.0"

from .errors import GradientCoinError  # noqa: F401

__all__ = ["__version__", "GradientCoinError"]
