"""Fidelity markers (docs/authoring.md): every notebook says what comes from the paper, from Bitcoin,
and what this project added, and why.

* every notebook from 07 on has at least one ``> **Added by this project**`` marker;
* every such marker carries a ``**Why:**`` in the same blockquote;
* a notebook that names one of the six mechanisms this project added (quantization tolerance,
  loss sheet, Lion, data screen, validation guard, 25 % cap) has an *Added by this project*
  marker that names it too;
* notebook 00's map of the course lists every notebook.

The rules read the markdown of ``notebooks/NN_name.md`` (the source the ``.ipynb`` is made from;
``tests/test_notebook_sources.py`` keeps the two in sync). Each rule is also run on a small broken
text, to show that it notices.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))
ADDED = "**Added by this project**"

MECHANISMS = {
    "the quantization tolerance": re.compile(r"rounding allowance|(quantization|rounding) tolerance|tolerance \(?δ|"
                                             r"\bδ\b", re.I),
    "the loss sheet": re.compile(r"\bloss sheets?\b", re.I),
    "the Lion optimizer": re.compile(r"\bLion\b"),
    "the data screen": re.compile(r"data screen|\bthe screen\b|\bscreened\b", re.I),
    "the validation guard": re.compile(r"\b(anchored|validation) guard\b|\bthe guard\b|anchored rule", re.I),
    "the 25 % cap": re.compile(r"25\s?%\s?cap|cap (of|at) 25\s?%|cap on paid data", re.I),
}


def markdown_of(source: str) -> str:
    """The prose of a MyST notebook: everything outside code cells and the front matter."""
    source = re.sub(r"\A---\n.*?\n---\n", "", source, flags=re.S)
    return re.sub(r"^```\{code-cell\}.*?^```\s*$", "", source, flags=re.S | re.M)


def blockquotes(markdown: str) -> list[str]:
    """Each blockquote (a run of lines starting with '>') as one text, without the '>'."""
    quotes, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.lstrip().startswith(">"):
            current.append(line.lstrip()[1:].strip())
        elif current:
            quotes.append(" ".join(current))
            current = []
    return quotes


def marker_problems(markdown: str, needs_added: bool) -> list[str]:
    quotes = blockquotes(markdown)
    added = [q for q in quotes if ADDED in q]
    problems = []
    if needs_added and not added:
        problems.append("no '> **Added by this project**: ... **Why:** ...' marker")
    problems += [f"an Added-by-this-project marker without **Why:** ({q[:70]}...)"
                 for q in added if "**Why:**" not in q]
    prose = "\n".join(line for line in markdown.splitlines() if not line.lstrip().startswith(">"))
    for name, pattern in MECHANISMS.items():
        if (pattern.search(prose) or any(pattern.search(q) for q in quotes if ADDED not in q)) \
                and not any(pattern.search(q) for q in added):
            problems.append(f"names {name} but no Added-by-this-project marker names it")
    return problems


def map_problems(markdown: str, numbers: list[str]) -> list[str]:
    section = re.search(r"^## [^\n]*map of the course[^\n]*$(.*?)(?=^## )", markdown, re.M | re.S | re.I)
    if section is None:
        return ["no '## ... map of the course' section"]
    listed = re.findall(r"^\|\s*(\d\d)\s*\|", section.group(1), re.M)
    missing = [n for n in numbers if n not in listed]
    return [f"the map does not list notebook {n}" for n in missing]


# --- the repository ----------------------------------------------------------------------------------

def test_there_are_notebook_sources():
    assert len(SOURCES) >= 15, [p.name for p in SOURCES]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_notebook_marks_what_this_project_added(path):
    number = int(path.name[:2])
    problems = marker_problems(markdown_of(path.read_text()), needs_added=number >= 7)
    assert problems == [], f"{path.name}: {problems}"


def test_start_here_map_covers_every_notebook():
    start = ROOT / "notebooks" / "00_start_here.md"
    markdown = markdown_of(start.read_text())
    assert map_problems(markdown, [p.name[:2] for p in SOURCES]) == []
    quotes = blockquotes(markdown)
    for marker in ("**From the paper**", "**From Bitcoin**", ADDED):
        assert any(marker in q for q in quotes), f"notebook 00 does not introduce {marker}"
    added = " ".join(q for q in quotes if ADDED in q)
    unnamed = [name for name, pattern in MECHANISMS.items() if not pattern.search(added)]
    assert unnamed == [], f"notebook 00's Added-by-this-project marker does not name {unnamed}"


# --- the rules notice breakage -------------------------------------------------------------------------

GOOD = """# 08 · Something

The verifier allows a rounding allowance δ at a few elements.

> **Added by this project**: the quantization tolerance, a rounding allowance δ and a cap. **Why:**
> honest machines disagree in the last bits.
"""


def test_the_rules_accept_a_marked_notebook():
    assert marker_problems(markdown_of(GOOD), needs_added=True) == []


def test_the_rules_notice_a_missing_marker_a_missing_why_and_an_unmarked_mechanism():
    assert marker_problems("# 09 · x\n\nplain text\n", needs_added=True) == [
        "no '> **Added by this project**: ... **Why:** ...' marker"]
    no_why = GOOD.replace("**Why:**", "because")
    assert any("without **Why:**" in p for p in marker_problems(no_why, needs_added=True))
    unmarked = GOOD + "\nEach block carries a loss sheet, and the anchored guard refuses a poison.\n"
    problems = marker_problems(unmarked, needs_added=True)
    assert any("loss sheet" in p for p in problems) and any("validation guard" in p for p in problems)
    assert not any("quantization" in p for p in problems)
    # a mechanism named only in a From-the-paper note still needs its own Added marker
    paper = "> **From the paper** (GradientCoin §4): the update uses Lion.\n"
    assert any("Lion" in p for p in marker_problems(paper, needs_added=False))


def test_code_cells_and_timestamps_do_not_count_as_naming_a_mechanism():
    text = "A block's timestamp.\n\n```{code-cell}\nstamp = 1  # the guard\n```\n"
    assert marker_problems(markdown_of(text), needs_added=False) == []


def test_the_map_rule_notices_a_missing_notebook():
    markdown = "## 2. The map of the course\n\n| # | notebook |\n|---|---|\n| 00 | a |\n| 01 | b |\n\n## 3. Next\n"
    assert map_problems(markdown, ["00", "01"]) == []
    assert map_problems(markdown, ["00", "01", "02"]) == ["the map does not list notebook 02"]
