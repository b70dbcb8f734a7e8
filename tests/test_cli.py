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


# ---------------------------------------------------------------- user mistakes: one line, exit status 2
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402

import pytest  # noqa: E402


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_version():
    result = gradientcoin("--version")
    assert result.returncode == 0 and result.stdout.startswith("gradientcoin_edu ")


@pytest.mark.parametrize("args, needle", [
    (["demo", "--miners", "0"], "--miners 0"),
    (["demo", "--blocks", "1"], "at least 3 blocks"),
    (["demo", "--blocks", "0"], "--blocks 0"),
    (["demo", "--mode", "pow", "--blocks", "0"], "--blocks 0"),
    (["bench", "--sizes", "0"], "--sizes"),
    (["node", "--listen", "127.0.0.1:5001", "--data-dir", "unused"], "tcp://"),
    (["node", "--listen", "tcp://127.0.0.1:5001", "--data-dir", "unused", "--mine-every", "-1"], "--mine-every"),
    (["status", "--data-dir", "/nonexistent/gc"], "no node is running"),
])
def test_argument_mistakes_are_one_line(args, needle):
    _one_line_error(gradientcoin(*args), needle)
    assert not os.path.exists("unused")


def test_data_dir_mistakes_change_nothing(tmp_path):
    listen = "tcp://127.0.0.1:0"                  # the data dir is refused before anything binds
    afile = tmp_path / "a-file"
    afile.write_text("mine")
    _one_line_error(gradientcoin("node", "--listen", listen, "--data-dir", str(afile)), "is a file")
    assert afile.read_text() == "mine"
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "blocks.sqlite").write_bytes(b"this is not a database" * 100)
    _one_line_error(gradientcoin("node", "--listen", listen, "--data-dir", str(junk)), "not a usable block store")
    assert (junk / "blocks.sqlite").read_bytes() == b"this is not a database" * 100
    assert not (junk / "key").exists()
    if os.geteuid() == 0:               # root may write anywhere but in /sys
        unwritable = "/sys/gradientcoin-test"
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        unwritable = str(ro / "dir")
    _one_line_error(gradientcoin("node", "--listen", listen, "--data-dir", unwritable), "cannot create data dir")


def test_a_busy_port_and_a_busy_data_dir_are_refused(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))                 # the OS picks the port; the holder keeps it
    holder.listen()
    listen = f"tcp://127.0.0.1:{holder.getsockname()[1]}"
    try:
        _one_line_error(gradientcoin("node", "--listen", listen, "--data-dir", str(tmp_path / "n")),
                        "Address already in use")
    finally:
        holder.close()
    from gradientcoin_edu.datadir import open_datadir
    with open_datadir(tmp_path / "n"):          # as a running node holds it
        _one_line_error(gradientcoin("node", "--listen", "tcp://127.0.0.1:0", "--data-dir", str(tmp_path / "n")),
                        "in use by another node")


def test_ctrl_c_stops_the_demo_without_a_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "gradientcoin_edu", "demo", "--preset", "tiny", "--blocks", "500",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert "GradientCoin demo" in proc.stdout.readline()      # it is running (imports done)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err


def test_bench_compile_only_names_kernel_modules_that_exist():
    """``bench --compile-only`` imports the Triton kernel modules by name: every name it uses is a
    module of the package with the kernel it compiles (they were renamed triton_*; the bench kept
    the old names and failed with a missing module before compiling anything)."""
    pytest.importorskip("triton")
    from gradientcoin_edu.kernels import bench
    cases = bench.compile_cases()
    assert len(cases) == 7
    for label, kernel, signature, constants in cases:
        assert hasattr(kernel, "fn") and kernel.fn.__module__.startswith("gradientcoin_edu.kernels.triton_"), label
        names = kernel.fn.__code__.co_varnames[:kernel.fn.__code__.co_argcount]
        assert set(signature) | set(constants) == set(names), label      # every argument given, no other


def test_bench_compile_only_refuses_a_bad_architecture_in_one_line():
    _one_line_error(gradientcoin("bench", "--compile-only", "hopper"), "such as sm_90")


@pytest.mark.slow
def test_bench_compile_only_compiles_a_kernel_for_sm_90_without_a_gpu(capsys):
    """The compile-only path end to end on one kernel (about 20 s on one CPU core)."""
    pytest.importorskip("triton")
    from gradientcoin_edu.kernels import bench
    assert bench.compile_only("sm_90", only="merkle_leaf") == 0
    assert "merkle_leaf" in capsys.readouterr().out


def test_a_node_name_with_a_percent_sign_still_logs(tmp_path):
    """A node's default name is ``node-`` and six characters of its Z85 key, and Z85 has '%': the
    name went into the log format, and then every log line failed to format (node.log stayed empty)."""
    import argparse
    import logging

    from gradientcoin_edu.node_cli import _setup_logging
    log, library = logging.getLogger("gradientcoin.node"), logging.getLogger("gradientcoin_edu")
    saved = {lg: (list(lg.handlers), lg.propagate, lg.level) for lg in (log, library)}
    try:
        log.setLevel(logging.INFO)
        _setup_logging(tmp_path / "node.log", "node-a%b%sc", argparse.Namespace(quiet=True, verbose=False))
        log.info("a block arrived")
        for h in log.handlers:
            h.flush()
        assert "node-a%b%sc INFO a block arrived" in (tmp_path / "node.log").read_text()
    finally:
        for lg, (handlers, propagate, level) in saved.items():
            for h in lg.handlers:
                if h not in handlers and lg is log:
                    h.close()
            lg.handlers[:] = handlers
            lg.propagate, lg.level = propagate, level
