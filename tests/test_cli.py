"""The ``gradientcoin`` command: --help lists the subcommands; ``demo`` mines and prints a chain."""
from __future__ import annotations

import subprocess
import sys
import time

from gradientcoin_edu.chain import BlockStore, Chain
from gradientcoin_edu.demo import demo_wallets, run_pow_demo


def gradientcoin(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradientcoin_edu", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_the_subcommands():
    result = gradientcoin("--help")
    assert result.returncode == 0
    for name in ("demo", "node", "bench"):
        assert name in result.stdout


def test_demo_runs_in_seconds_and_prints_the_chain():
    start = time.perf_counter()
    result = gradientcoin("demo", "--mode", "pow", "--blocks", "4", "--seed", "3", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - start < 30
    lines = result.stdout.splitlines()
    assert "height" in lines[1] and "alice" in lines[1] and "bob" in lines[1] and "miner" in lines[1]
    rows = [line.split() for line in lines[2:-1]]
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3, 4]
    assert all(r[1].startswith("000") for r in rows[1:])        # ~14 zero bits: three zero hex digits
    assert "height 4" in lines[-1]


def test_pow_demo_function_is_deterministic_and_consistent():
    a = run_pow_demo(blocks=3, seed=5, progress=False)
    b = run_pow_demo(blocks=3, seed=5, progress=False)
    assert a.tip.hash == b.tip.hash and a.height == 3
    wallets = demo_wallets(5)
    total = sum(w.balance(a.utxo) for w in wallets.values())
    assert total == sum(a.params.subsidy(h) for h in range(1, 4))   # all mined coins are in the three wallets
    lines = []
    run_pow_demo(blocks=1, seed=5, progress=False, echo=lines.append)
    assert any(line.split()[:1] == ["1"] for line in lines)


def test_demo_with_a_data_dir_continues_the_chain(tmp_path):
    run_pow_demo(blocks=2, seed=1, data_dir=tmp_path, progress=False)
    chain = run_pow_demo(blocks=2, seed=1, data_dir=tmp_path, progress=False)
    assert chain.height == 4
    reopened = Chain("demo", store=BlockStore(tmp_path / "chain.sqlite"))
    assert reopened.tip.hash == chain.tip.hash and reopened.utxo == chain.utxo
    reopened.close()
