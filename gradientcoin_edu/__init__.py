"""gradientcoin_edu: GradientCoin (Gao, Song, Yin 2023, arXiv 2308.10502) made to run.

A decentralized tiny language model secured like Bitcoin: signed transactions over a UTXO
set, blocks chained by hash, and proof-of-gradient mining in which every lottery ticket
costs one real gradient of the model. Start with ``notebooks/00_start_here.ipynb`` or
``gradientcoin demo``.
"""
__version__ = "0.1.0"

from .errors import GradientCoinError  # noqa: F401

__all__ = ["__version__", "GradientCoinError"]


def environment_line() -> str:
    """One line saying what this notebook runs on: package, Python, torch, device, threads."""
    import platform
    try:
        import torch
        dev = f"CUDA ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
        return (f"gradientcoin_edu {__version__} | Python {platform.python_version()} | torch {torch.__version__} "
                f"| device: {dev} | threads: {torch.get_num_threads()}")
    except ImportError:  # pragma: no cover - torch is a dependency
        return f"gradientcoin_edu {__version__} | Python {platform.python_version()} | torch not installed"


def print_environment() -> None:
    """Print :func:`environment_line` once (returns None, so a notebook does not echo it a second time)."""
    print(environment_line())


__all__ += ["environment_line", "print_environment"]
