"""Reference solutions for notebook 13 (for instructors): ``SOLUTIONS = {"13.k": function}``."""
from __future__ import annotations

import string


def read_peer(line: str) -> tuple[str, str]:
    """13.1: ``HEXKEY@tcp://host:port`` -> ``("tcp://host:port", hexkey in lower case)``."""
    key, sep, rest = line.rpartition("@tcp://")
    if not sep or not rest or len(key) != 64 or not all(c in string.hexdigits for c in key):
        raise ValueError(f"not a peer line: {line!r}")
    return "tcp://" + rest, key.lower()


def laggards(heights: dict[str, int], tolerance: int = 1) -> list[str]:
    """13.2: the nodes more than ``tolerance`` blocks below the highest, sorted by name."""
    top = max(heights.values())
    return sorted(name for name, height in heights.items() if height < top - tolerance)


SOLUTIONS = {"13.1": read_peer, "13.2": laggards}
