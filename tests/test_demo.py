"""``gradientcoin demo``: miners train the GPT on a simulated network (or as real processes); the
validation loss really falls, every node agrees, and a paid query is answered by a miner."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gradientcoin_edu.demo import run_llm_demo
from _fixtures import one_torch_thread  # noqa: F401 (fixtures)


def gradientcoin(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradientcoin_edu", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_the_llm_demo_trains_the_model_and_answers_a_query():
    lines: list[str] = []
    r = run_llm_demo(blocks=14, preset="tiny", seed=1, progress=False, echo=lines.append)
    assert r.agree and r.height >= 14
    assert r.loss_after < r.loss_before - 0.3                     # the loss really falls
    assert abs(r.loss_after - r.baseline_loss) < 0.5              # about as far as central training
    assert sum(r.blocks_by_miner.values()) == r.height and len(r.blocks_by_miner) == 3
    assert r.gradients >= r.height                                # every block cost at least one gradient
    assert r.records_after > r.records_before                     # ada's contribution is in the dataset
    assert r.answered_by.startswith("miner-") and len(r.answer) == 8
    assert r.answer_height == r.query_height + 1
    text = "\n".join(lines)
    assert r.evaluation is not None and 0 <= r.evaluation.sentences_valid <= 1
    for needle in ("== the chain ==", "validation loss:", "== a paid query ==", "earned the fee",
                   "== what the model learned", "valid corpus sentences:"):
        assert needle in text


def test_the_demo_is_deterministic():
    a = run_llm_demo(blocks=6, preset="tiny", seed=2, progress=False, echo=None)
    b = run_llm_demo(blocks=6, preset="tiny", seed=2, progress=False, echo=None)
    assert (a.loss_after, a.answer, a.blocks_by_miner) == (b.loss_after, b.answer, b.blocks_by_miner)


def test_the_command_runs_the_llm_demo_by_default():
    result = gradientcoin("demo", "--model", "tiny", "--blocks", "8", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr
    out = result.stdout
    assert "proof-of-gradient" in out and "every node has the same tip" in out
    before, after = (float(x) for x in out.split("validation loss: ")[1].split(" after")[0].split(" at genesis -> "))
    assert after < before
    help_text = gradientcoin("demo", "--help").stdout
    assert "--processes" in help_text and "--mode" in help_text


@pytest.mark.processes
def test_the_process_demo_with_three_blocks_finishes_and_says_where_its_data_went():
    """Three node processes mine, agree, learn and answer a paid query that ada's node verifies.
    (It used to hang: one miner could not pay for the query and the orchestrator waited silently.)"""
    result = gradientcoin("demo", "--processes", "--preset", "tiny", "--blocks", "3", "--no-progress", timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--preset is deprecated; use --model" in result.stderr      # the old flag still works
    out = result.stdout
    assert "every process has the same tip and the same weights root" in out
    before, after = (float(x) for x in out.split("validation loss: ")[1].split(" at height")[0].split(" at genesis -> "))
    assert after < before, out
    assert "temporary folder" in result.stdout and "was deleted" in result.stdout
    assert "verified by ada's node" in result.stdout


@pytest.mark.processes
def test_sigterm_stops_the_process_demo_and_every_node(tmp_path):
    import json
    import os
    import signal
    import time
    proc = subprocess.Popen([sys.executable, "-m", "gradientcoin_edu", "demo", "--processes", "--preset", "tiny",
                             "--blocks", "200", "--no-progress", "--data-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folders = [tmp_path / f"miner-{i}" for i in (1, 2, 3)]
    pids = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all((f / "status.json").exists() for f in folders):
            time.sleep(0.3)
        pids = [json.loads((f / "status.json").read_text())["pid"] for f in folders]
        assert all((f / "blocks.sqlite").exists() for f in folders)      # --data-dir: the chains are kept there
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "Traceback" not in err, err
    time.sleep(0.5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)                            # every node process is gone


def test_the_demos_background_baseline_is_central_training_of_the_final_height():
    """The central baseline the demo trains in a background thread (while the network runs) gives the
    loss a plain ``central_training`` run of that many steps gives: same batches, same schedule."""
    from gradientcoin_edu.demo import _Background, _central_loss
    from gradientcoin_edu.llm import LLMSpec
    from gradientcoin_edu.llm.baseline import central_training
    spec = LLMSpec.builtin("tiny", seed=3)
    inside = _central_loss(_Background("tiny", 3, 12, 8), spec, 10, 3)      # height within the run
    beyond = _central_loss(_Background("tiny", 3, 12, 8), spec, 14, 3)      # the story needed more blocks
    assert inside.final_loss == central_training(spec, 10, seed=3).final_loss
    assert beyond.final_loss == central_training(spec, 14, seed=3).final_loss
    assert inside.final_loss != beyond.final_loss
