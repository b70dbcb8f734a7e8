"""``gradientcoin demo``: a small chain mined on your CPU, in a few seconds.

The classic proof-of-work demo: three keys (alice, bob and a miner), a few blocks mined at
an easy target with a progress bar, payments between them, and the chain printed with
each block's height, hash, number of transactions and the balances after it. With
``--data-dir`` the chain lives in a SQLite file and the next run continues it.

A later issue makes ``demo`` the full decentralized-LLM demo (proof-of-gradient); this
one stays available as ``--mode pow`` and as the function ``run_pow_demo``.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Callable

from .chain import BlockStore, Chain, ChainParams, expected_attempts, mine_block
from .crypto.keys import PrivateKey
from .errors import InvalidTransaction
from .ledger import COIN, Wallet

__all__ = ["add_arguments", "run", "run_pow_demo", "demo_wallets", "format_coins"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=["pow"], default="pow",
                        help="pow: classic proof-of-work (default; proof-of-gradient comes in a later version)")
    parser.add_argument("--blocks", type=int, default=5, help="blocks to mine (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed for keys and payments (default 0)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the chain in DATA_DIR/chain.sqlite and continue it next time")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    run_pow_demo(blocks=args.blocks, seed=args.seed, data_dir=args.data_dir,
                 progress=not args.no_progress, echo=print)
    return 0


def demo_wallets(seed: int = 0) -> dict[str, Wallet]:
    """alice, bob and the miner, with keys derived from ``seed``."""
    return {name: Wallet(name, PrivateKey.from_seed(f"gradientcoin demo/{seed}/{name}".encode()))
            for name in ("alice", "bob", "miner")}


def format_coins(units: int) -> str:
    return f"{units // COIN:,}.{units % COIN:08d}"


def _payments(chain: Chain, wallets: dict[str, Wallet], rng: random.Random) -> list:
    """A few random payments between the wallets that their coins can cover."""
    txs, spent = [], set()
    for payer, payee in (("miner", "alice"), ("alice", "bob"), ("bob", "alice")):
        balance = wallets[payer].balance(chain.utxo)
        if balance < COIN:
            continue
        amount = rng.randint(1, max(1, balance // (2 * COIN))) * COIN // 2
        try:
            tx = wallets[payer].pay(chain.utxo, wallets[payee].address, amount, fee=rng.randint(1, 50) * 100,
                                    exclude=spent)
        except InvalidTransaction:          # coins already used by an earlier payment in this block
            continue
        spent.update(i.outpoint for i in tx.inputs)
        txs.append(tx)
    return txs


def run_pow_demo(blocks: int = 5, seed: int = 0, data_dir: str | Path | None = None,
                 progress: bool = True, echo: Callable[[str], None] | None = None,
                 params: ChainParams | str = "demo") -> Chain:
    """Mine ``blocks`` blocks with payments between alice, bob and the miner; return the chain.

    Deterministic for a given ``seed`` (block times advance by the target spacing). Lines of
    output go to ``echo`` (``print`` on the command line; ``None``: silent).
    """
    say = echo or (lambda line: None)
    store = None
    if data_dir is not None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        store = BlockStore(Path(data_dir) / "chain.sqlite")
    chain = Chain(params, store=store)
    wallets = demo_wallets(seed)
    rng = random.Random(f"{seed}/{chain.height}")
    p = chain.params
    say(f"GradientCoin proof-of-work demo: network '{p.name}', {blocks} new blocks, "
        f"~{expected_attempts(chain.next_bits()):,.0f} hashes per block"
        + (f", chain file {store.path}" if store else ""))
    say(_row_header())
    if chain.height == 0 or store is None:
        say(_row(chain, chain.height, wallets))
    for _ in range(blocks):
        txs = _payments(chain, wallets, rng) if chain.height > 0 else []
        block = mine_block(chain, wallets["miner"].address, txs, time=chain.tip.header.time + p.target_spacing,
                           progress=progress)
        chain.add_block(block)
        say(_row(chain, chain.height, wallets))
    minted = sum(p.subsidy(h) for h in range(1, chain.height + 1))
    assert chain.utxo.total_value() == minted, "coins were created or destroyed"
    say(f"tip {chain.tip.hash_hex()} at height {chain.height}; "
        f"{format_coins(minted)} coins mined so far, all of them accounted for in the UTXO set")
    chain.close()
    return chain


def _row_header() -> str:
    return f"{'height':>6}  {'block hash':<16}  {'txs':>3}  {'alice':>14}  {'bob':>14}  {'miner':>14}"


def _row(chain: Chain, height: int, wallets: dict[str, Wallet]) -> str:
    entry = chain.entry_at(height)
    balances = "  ".join(f"{format_coins(w.balance(chain.utxo)):>14}" for w in wallets.values())
    return f"{height:>6}  {entry.hash_hex()[:16]}  {len(entry.block.txs):>3}  {balances}"
