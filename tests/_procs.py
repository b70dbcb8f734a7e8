"""Helpers for tests that start processes: wait for a condition, signal a process group, stop a set
of processes whatever state they are in, and tell whether a pid has exited. Import them by name
(``from _procs import stop_groups, wait_for``)."""
from __future__ import annotations

import os
import signal
import subprocess
import time


def wait_for(predicate, timeout: float, poll: float = 0.2):
    """Call ``predicate`` every ``poll`` seconds until it returns something true (returned) or
    ``timeout`` seconds pass (then its last value is returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    return predicate()


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to ``proc``'s process group (it was started with ``start_new_session=True``);
    a group that is gone already is no error."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_groups(procs, grace: float = 5.0) -> None:
    """SIGTERM to every process group still running, then wait ``grace`` seconds for each; SIGKILL
    the ones that did not stop. For ``finally`` blocks: it never raises for a process already gone."""
    for p in procs:
        if p.poll() is None:
            kill_group(p, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill_group(p, signal.SIGKILL)
            p.wait(timeout=5)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for a parent that does not reap counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status
