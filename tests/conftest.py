"""Shared pytest set-up: GPU tests are skipped with a reason when no CUDA device is present, and
under pytest-xdist the longest test files start first."""
from __future__ import annotations

import pytest

# The test files that take longest (worker seconds in CI, docs/benchmarks.md "CI"), longest first.
# Under pytest-xdist (``--dist loadfile``) a file is one unit of work, handed to the next free
# worker in collection order: these go first, so that the course site (which waits for every
# notebook, then runs Sphinx and the browser) and the notebooks start at once on the two workers,
# and the short files fill in around them at the end instead of a long file running alone at the
# tail. (pytest-xdist's own order, by number of tests, put the site's 14 tests near the end.)
LONGEST_FIRST = (
    "test_site.py",                 # builds the site (executing notebooks from the end of the course)
    "test_notebooks_fresh_env.py",  # executes notebooks from the start of the course
    "test_kernels_interpret.py", "test_kernels.py", "test_grading.py", "test_cli.py", "test_demo.py",
    "test_colab_install.py", "test_soak.py", "test_node_processes.py", "test_classroom.py",
    "test_transport_robustness.py", "test_exercises.py",
)


def _cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), order[id(item)]))
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is present on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def pytest_sessionstart(session):
    """Every test process runs PyTorch on one thread unless a test asks for more: the README's test
    command runs one pytest-xdist worker per core, and a worker's PyTorch threads beyond the first
    only spin waiting for the small tensors of these tests (on 2 cores, 2 workers x 2 threads cost
    several times the CPU of 1 thread each: docs/benchmarks.md, "CI").

    Without a GPU, every test process (each pytest-xdist worker) loads the Triton kernels for the
    interpreter before any test runs. A process loads them once, interpreted or compiled
    (``kernels.kernel_mode``), so otherwise the first test to touch them decided for the whole
    worker, and which tests shared a worker depended on the file order: an interpreter test failed
    in CI after an sm_90 compile test had loaded them compiled. Compiling for sm_90 without a GPU
    happens in a fresh process (``kernels/bench.py compile_only`` and ``tests/test_kernels_gpu.py``)."""
    import os
    threads = os.environ.get("GRADIENTCOIN_TEST_THREADS", "1")
    if threads != "default":
        import torch
        torch.set_num_threads(int(threads))
    if _cuda_available():
        return
    from gradientcoin_edu import kernels as K
    if K.triton_available():
        K.triton_module("chunk_hash", interpret=True)


def pytest_configure(config):
    # keep the collection order below (pytest-xdist would reorder files by their number of tests)
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
