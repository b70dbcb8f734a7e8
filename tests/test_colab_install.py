"""The Colab install, tested: the notebooks' setup cell runs its ``%pip install`` line in Colab. Here
that exact command (the repository URL replaced by this checkout) runs in a fresh virtual
environment, and a notebook then runs in that environment, outside the repository.

A separate file from tests/test_notebooks_fresh_env.py so that pytest-xdist (``--dist loadfile``)
can run the two slow files on different workers.
"""
from __future__ import annotations

import pathlib
import tempfile

import pytest
from _scripts import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
HANG_LIMIT_S = 300


course_table = load_script("course_table")


COLAB_URL = "git+https://github.com/gradientcoin-edu/gradientcoin_edu"
COLAB_TORCH = "torch==2.13.0"     # the README's pin (tests/test_install_line.py checks that they agree)


def colab_install_command(setup_cell: str) -> list[str]:
    """The arguments of the setup cell's ``%pip install`` line (what Colab runs), as a list."""
    import shlex

    lines = [line.strip() for line in setup_cell.splitlines() if line.strip().startswith("%pip install")]
    assert len(lines) == 1, f"the setup cell should have one %pip install line, has {len(lines)}"
    return shlex.split(lines[0].removeprefix("%pip install"))


def test_setup_cell_installs_the_notebooks_extra_not_dev():
    args = colab_install_command(course_table.SETUP_CELL)
    [requirement] = [a for a in args if not a.startswith("-")]
    assert requirement == f"gradientcoin_edu[notebooks] @ {COLAB_URL}", requirement


def _copy_checkout(dest: pathlib.Path) -> pathlib.Path:
    """The files git would commit (tracked, and untracked but not ignored), copied to ``dest``."""
    import shutil
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _preinstalled_like_colab(names: list[str], dest: pathlib.Path, venv_dir: pathlib.Path) -> list[str]:
    """Colab's own packages live outside the notebook's pip environment (in the system's
    dist-packages): here ``names`` and everything they require are linked from this interpreter's
    environment into ``dest``, and a ``.pth`` file puts ``dest`` on the fresh venv's path. pip sees
    them as installed and, since they lie outside its environment, never removes or changes them.
    Linking instead of installing torch again saves unpacking 700 MB (about 12 s of CPU and 35 s of
    wall time on the 2-core machine). Returns the distributions linked."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    dists, todo = {}, list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in dists:
            continue
        dists[name] = dist = metadata.distribution(name)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    dest.mkdir(parents=True, exist_ok=True)
    for dist in dists.values():
        site = pathlib.Path(dist.locate_file(""))
        tops = {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")
                and not f.parts[0].endswith(".pth")}
        for top in sorted(tops):
            if (site / top).exists() and not (dest / top).exists():
                (dest / top).symlink_to(site / top)
    [site_packages] = (venv_dir / "lib").glob("python*/site-packages")
    (site_packages / "colab_preinstalled.pth").write_text(f"{dest}\n")
    return sorted(dists)


@pytest.mark.slow
def test_colab_install_command_in_a_fresh_venv(tmp_path_factory):
    """What a student gets in Colab: a fresh environment (no system site-packages), the CPU torch
    (Colab has torch, preinstalled outside the notebook's pip environment: ``_preinstalled_like_colab``),
    the setup cell's own install command with the repository URL replaced by this checkout, and
    ipykernel (Colab's Jupyter). Then notebook 01 runs there, outside the repository."""
    import subprocess
    import venv

    base = tmp_path_factory.mktemp("colab")
    if course_table._inside(base.resolve(), ROOT):
        base = pathlib.Path(tempfile.mkdtemp(prefix="gc-colab-"))
    checkout = _copy_checkout(base / "checkout")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(base / "venv")
    python = str(base / "venv" / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check"]

    def run(cmd):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"

    linked = _preinstalled_like_colab(["torch"], base / "preinstalled", base / "venv")   # Colab ships torch
    assert "torch" in linked, linked
    from importlib.metadata import version
    assert f"torch=={version('torch').split('+')[0]}" == COLAB_TORCH, \
        f"this environment has torch {version('torch')}, the README pins {COLAB_TORCH}: install the README's line"
    torch_line = subprocess.run([python, "-c", "import torch; print(torch.__version__, torch.__file__)"],
                                capture_output=True, text=True).stdout
    assert str(base / "preinstalled") in torch_line, torch_line
    args = [a.replace(COLAB_URL, checkout.as_uri()) for a in colab_install_command(course_table.SETUP_CELL)]
    assert any(checkout.as_uri() in a for a in args), args
    run(pip + ["install"] + args)                                          # the setup cell's command
    run(pip + ["install", "-q", "ipykernel"])                             # Colab's Jupyter kernel
    listed = subprocess.run(pip + ["list", "--format=freeze"], capture_output=True, text=True).stdout.lower()
    for tool in ("pytest", "nbval", "jupyterlab", "jupytext", "ruff"):     # [dev] stays out of Colab
        assert f"\n{tool}==" not in f"\n{listed}", f"{tool} was installed by the notebooks extra"

    [path] = sorted(ROOT.glob("notebooks/01_*.ipynb"))
    workdir = base / "run"
    ran, _ = course_table.execute_outside_repo(path, workdir, timeout=HANG_LIMIT_S, python=python)
    first = "".join(o.get("text", "") for o in ran.cells[1].outputs)
    assert first.count("gradientcoin_edu ") == 1, first                    # the environment line, once
    assert str(base / "venv") in subprocess.run([python, "-c", "import gradientcoin_edu, sys; print(sys.prefix)"],
                                                capture_output=True, text=True).stdout
    import shutil
    shutil.rmtree(base, ignore_errors=True)      # the venv is about 1 GB: kept only when the test failed
