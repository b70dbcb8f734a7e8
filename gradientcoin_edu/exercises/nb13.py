"""[tooling] Checks for notebook 13, "Join the network".

13.1 read a peer line ``HEXKEY@tcp://host:port`` (what the instructor hands out), 13.2 which
nodes lag behind the class. Each check compares the student's function with the library's answer
on seeded inputs, including malformed lines; a stub's ``NotImplementedError`` passes through.
"""
from __future__ import annotations

import random

from . import exercise

__all__: list[str] = []


def _reference_peer(line: str) -> tuple[str, str]:
    key, sep, rest = line.rpartition("@tcp://")
    if not sep or len(key) != 64 or any(c not in "0123456789abcdefABCDEF" for c in key) or not rest:
        raise ValueError(line)
    return "tcp://" + rest, key.lower()


@exercise("13.1", "read a peer line")
def check_peer_line(candidate) -> None:
    rng = random.Random(13)
    good = [f"{rng.randbytes(32).hex()}@tcp://{host}:{rng.randrange(1024, 65536)}"
            for host in ("127.0.0.1", "10.0.0.7", "relay.example.org")]
    good.append(rng.randbytes(32).hex().upper() + "@tcp://192.168.1.2:5001")
    for line in good:
        got = candidate(line)
        assert got is not None, "read_peer returned None - did you forget `return`?"
        want = _reference_peer(line)
        assert tuple(got) == want, (f"read_peer({line[:12]}...{line[-22:]!r}) should be {want[0]!r} and the key in "
                                    f"lower-case hex, you return {got!r}. Hint: split at the last '@tcp://'.")
    bad = ["tcp://127.0.0.1:5001", "@tcp://127.0.0.1:5001", "abc@tcp://127.0.0.1:5001",
           "zz" * 32 + "@tcp://127.0.0.1:5001", "ab" * 32 + "@udp://127.0.0.1:5001", "ab" * 32 + "@tcp://"]
    for line in bad:
        try:
            got = candidate(line)
        except ValueError:
            continue
        raise AssertionError(f"read_peer({line!r}) returned {got!r}; a malformed line must raise ValueError "
                             "(the key is 64 hex digits, then '@tcp://' and an address)")


@exercise("13.2", "who lags behind the class")
def check_laggards(candidate) -> None:
    rng = random.Random(1313)
    cases = [({"relay": 7, "ada": 7, "bob": 6, "eve": 3}, 1), ({"relay": 5}, 1), ({"a": 2, "b": 2, "c": 2}, 0),
             ({"relay": 10, "dan": 0, "eve": 9}, 0)]
    cases += [({f"n{i}": rng.randrange(20) for i in range(rng.randrange(1, 8))}, rng.randrange(3)) for _ in range(20)]
    for heights, tolerance in cases:
        top = max(heights.values())
        want = sorted(name for name, h in heights.items() if h < top - tolerance)
        got = candidate(dict(heights), tolerance)
        assert got is not None, "laggards returned None - did you forget `return`?"
        assert list(got) == want, (f"laggards({heights}, tolerance={tolerance}) is {want}, you return {got!r}. "
                                   "Hint: more than `tolerance` blocks below the highest node, names sorted.")
