"""The blocks of fixed-seed runs are byte for byte those recorded (``scripts/record_run.py``).

A refactor that moves code between layers must not change one byte of one block: the demo's
story on simulated proof-of-gradient miners, an ``LLMChain`` mining alone, a simulated
proof-of-work network with payments and the proof-of-work demo, each block hashed as serialized.
"""
from __future__ import annotations

import json

from tests._scripts import load_script

record_run = load_script("record_run")


def test_recorded_run_is_byte_identical():
    recorded = json.loads(record_run.RECORD.read_text())
    now = record_run.record()
    for run in sorted(recorded):
        assert now[run] == recorded[run], f"the blocks of the run {run!r} changed"
    assert set(now) == set(recorded)
    assert recorded["llm-sim"]["answer"] is not None, "the query was answered in a block"
    assert max(recorded["llm-sim"]["txs-per-block"]) > 1 and recorded["pow-sim"]["payments"] > 0
