"""The repository's ``scripts/*.py`` loaded as modules (they are not a package), for the tests that
check the course table and the site. No heavy imports here: the site and Colab tests use it too."""
from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(name: str):
    """``scripts/<name>.py`` as a fresh module named ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def current_run_id() -> str:
    """One id per test run, the same in every pytest-xdist worker (xdist's own run id), so that a
    notebook executed by one worker is reused by the other (``course_table.executed_copy``)."""
    import os
    import uuid
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or os.environ.setdefault("GRADIENTCOIN_TEST_RUN",
                                                                              uuid.uuid4().hex)
