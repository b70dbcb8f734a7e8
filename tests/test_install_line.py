"""The README's install line takes PyTorch's CPU build on every machine, and the package pulls no CUDA.

On an ordinary Linux machine ``pip install torch`` from PyPI brings about 2.7 GB of CUDA packages
(``nvidia-*``) and triton. The README's first command therefore installs torch, pinned, from
PyTorch's CPU wheel index (``--index-url https://download.pytorch.org/whl/cpu``, as PyTorch's own
install page writes it), then the package, whose dependencies name neither triton nor any CUDA
package (triton is the ``[gpu]`` extra).

What is checked where, honestly: this file reads the line and the package metadata (no network).
``.ci/run`` runs the line in a fresh virtual environment and fails if any ``nvidia-*`` or triton
package was installed; on a machine that cannot reach PyTorch's index (CI here has a local wheel
mirror and no internet) it installs the same pinned torch from pip's configured sources and says
so, so the index URL itself is exercised only where the internet is.
"""
from __future__ import annotations

import pathlib
import re
import shlex
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def install_line(readme: str) -> str:
    """The README's first shell command line that installs torch (what .ci/run runs)."""
    for line in readme.splitlines():
        if line.startswith("pip install torch"):
            return line.split("#", 1)[0].strip()
    raise AssertionError("README.md has no line starting with `pip install torch`")


def commands(line: str) -> list[list[str]]:
    """The ``&&``-separated commands of a line, each as its arguments."""
    return [shlex.split(part) for part in line.split("&&")]


def torch_requirements(args: list[str]) -> list[str]:
    return [a for a in args if re.match(r"^torch\b", a) and not a.startswith("torchvision")]


def check_line(line: str) -> list[str]:
    """What is wrong with an install line (empty: nothing)."""
    problems = []
    cmds = commands(line)
    pip_installs = [c for c in cmds if c[:2] == ["pip", "install"]]
    if not pip_installs:
        return ["no pip install command"]
    first = pip_installs[0]
    requirements = torch_requirements(first)
    if requirements != [r for r in requirements if re.fullmatch(r"torch==\d+\.\d+\.\d+", r)] or not requirements:
        problems.append(f"torch is not pinned to one release in {' '.join(first)!r}")
    index = first[first.index("--index-url") + 1] if "--index-url" in first else None
    if index != CPU_INDEX:
        problems.append(f"the torch command names no CPU index (--index-url {CPU_INDEX}): {' '.join(first)!r}")
    for later in pip_installs[1:]:
        if torch_requirements(later):
            problems.append(f"a later command installs torch again: {' '.join(later)!r}")
        if "--index-url" in later:
            problems.append(f"the package itself must come from PyPI: {' '.join(later)!r}")
    if not any(a.startswith("-e") or a.startswith(".") or "gradientcoin_edu" in a for c in pip_installs[1:] for a in c):
        problems.append("no command installs the package after torch")
    return problems


def test_readme_install_line_takes_the_cpu_build_pinned():
    line = install_line((ROOT / "README.md").read_text())
    assert check_line(line) == [], line


def test_the_check_catches_the_lines_that_pull_cuda():
    good = f'pip install torch==2.13.0 --index-url {CPU_INDEX} && pip install -e ".[dev]"'
    assert check_line(good) == []
    bad = {
        'pip install torch==2.13.0 && pip install -e ".[dev]"': "names no CPU index",       # the old README line
        f'pip install torch --index-url {CPU_INDEX} && pip install -e ".[dev]"': "not pinned",
        f'pip install "torch>=2.1" --index-url {CPU_INDEX} && pip install -e ".[dev]"': "not pinned",
        f'pip install torch==2.13.0 --index-url {CPU_INDEX} && pip install -e ".[dev]" torch': "installs torch again",
        f'pip install torch==2.13.0 --index-url {CPU_INDEX} && pip install -e ".[dev]" --index-url {CPU_INDEX}':
            "from PyPI",
        f'pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu121 && pip install -e .':
            "names no CPU index",
    }
    for line, needle in bad.items():
        assert any(needle in p for p in check_line(line)), (line, check_line(line))


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_package_requires_no_cuda_package_and_triton_is_the_gpu_extra():
    project = _project()
    names = [re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]]
    assert "triton" not in names and not any(n.startswith(("nvidia", "cuda")) for n in names), names
    extras = project["optional-dependencies"]
    assert any(d.startswith("triton") for d in extras["gpu"])
    for name, deps in extras.items():            # no other extra brings triton or CUDA back
        if name != "gpu":
            assert not any(re.match(r"(triton|nvidia|cuda)", d.lower()) for d in deps), (name, deps)


def test_one_torch_pin_everywhere():
    """README, environment.yml and .ci/run name the same torch release (CI tests what users install)."""
    pin = re.search(r"torch==(\S+)", install_line((ROOT / "README.md").read_text())).group(1)
    env = (ROOT / "environment.yml").read_text()
    assert re.findall(r"torch==([\w.]+)", env) == [pin], env
    assert CPU_INDEX in env and not re.search(r"^\s*- *triton", env, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "torch==" not in ci, ".ci/run should install the README's torch line, not its own pin"
    colab = (ROOT / "tests" / "test_colab_install.py").read_text()
    assert f"torch=={pin}" in colab
