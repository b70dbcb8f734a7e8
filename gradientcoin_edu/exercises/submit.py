"""[tooling] Hand in a notebook: a zip with the notebook and who submitted it, in Colab, JupyterLab or Jupyter.

    from gradientcoin_edu.exercises.submit import export_submission
    export_submission("06", student="ada.lovelace")      # -> 06_privacy-ada.lovelace-20261207T101500.zip

The instructor grades the zips with ``python -m grading.grade`` (docs/grading.md). otter-grader's
own ``Notebook.export`` refuses to run in Colab; this function does not need otter and works there:
in Colab the notebook is read from the Colab frontend (the notebook as it is in the browser, saved
or not) and the zip is offered as a download; elsewhere it reads the saved ``NN_*.ipynb`` in the
working folder (save first: JupyterLab gives a kernel no way to save the notebook).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import re
import sys
import zipfile
from pathlib import Path

__all__ = ["export_submission", "notebook_from_colab", "find_notebook"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def notebook_from_colab(timeout_s: float = 30.0) -> dict | None:
    """The notebook open in Colab, as JSON, or None outside Colab."""
    if "google.colab" not in sys.modules:
        try:
            import google.colab  # noqa: F401
        except ImportError:
            return None
    from google.colab import _message       # Colab's frontend channel (what its own download uses)

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=timeout_s)
    if not reply or "ipynb" not in reply:
        raise RuntimeError("Colab did not send the notebook: run the cell again")
    return reply["ipynb"]


def find_notebook(number: str, folder: Path | str = ".") -> Path:
    """The one course notebook ``NN_*.ipynb`` in ``folder``."""
    if not re.fullmatch(r"\d\d", str(number)):
        raise ValueError(f"a notebook number has two digits, like '06', got {number!r}")
    found = sorted(Path(folder).glob(f"{number}_*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebook {number}_*.ipynb in {Path(folder).resolve()}, found "
                                f"{[p.name for p in found] or 'none'}: pass its path instead")
    return found[0]


def _notebook_number(nb: dict) -> str | None:
    for cell in nb.get("cells", []):
        src = "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) else cell.get("source", "")
        m = re.search(r"^#\s+(\d\d)\s*·", src, re.M)
        if cell.get("cell_type") == "markdown" and m:
            return m.group(1)
    return None


def export_submission(notebook: str | Path, student: str, out_dir: str | Path = ".", *, download: bool = True,
                      now: _dt.datetime | None = None) -> Path:
    """Write ``NN_name-STUDENT-TIMESTAMP.zip`` (the notebook and ``submission.json``); return its path.

    ``notebook`` is the notebook's number (``"06"``) or its path. In Colab the notebook comes from
    the browser and the zip is downloaded (``download=False`` only writes it)."""
    student_id = _SAFE.sub("_", str(student)).strip("._-")
    if not student_id:
        raise ValueError("give your name or student id as student=..., as your instructor asked")
    nb = notebook_from_colab()
    if nb is not None:
        number = str(notebook) if re.fullmatch(r"\d\d", str(notebook)) else _notebook_number(nb)
        title = next((p.stem for p in Path(".").glob(f"{number}_*.ipynb")), None) if number else None
        name = f"{title or (number or 'notebook') + '_submission'}.ipynb"
        source = "the Colab frontend"
    else:
        path = Path(notebook)
        if re.fullmatch(r"\d+", str(notebook)):
            path = find_notebook(str(notebook))
        if not path.is_file():
            raise FileNotFoundError(f"no notebook at {path}")
        nb = json.loads(path.read_text(encoding="utf-8"))
        name = path.name
        source = f"{path} (as last saved)"
    if not re.match(r"\d\d_", name) or not isinstance(nb, dict) or "cells" not in nb:
        raise ValueError(f"{name} is not a course notebook")
    raw = json.dumps(nb, indent=1, ensure_ascii=False).encode("utf-8")
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%dT%H%M%S")
    out = Path(out_dir) / f"{Path(name).stem}-{student_id}-{stamp}.zip"
    from .. import __version__
    meta = {"student": str(student), "notebook": name, "created_utc": stamp, "sha256": hashlib.sha256(raw).hexdigest(),
            "gradientcoin_edu": __version__, "source": source}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, raw)
        zf.writestr("submission.json", json.dumps(meta, indent=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    print(f"wrote {out} ({len(nb['cells'])} cells from {source}); hand this file in")
    if download and source == "the Colab frontend":
        from google.colab import files
        files.download(str(out))
    return out
