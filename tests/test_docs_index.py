"""docs/index.md lists every document, the README links it and the protocol, and the project's text
speaks for itself (it never points at a numbered issue of a tracker the reader cannot see)."""
from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)


def test_the_index_lists_every_document_once_and_every_link_exists():
    index = (DOCS / "index.md").read_text()
    links = _links(index)
    documents = sorted(p.name for p in DOCS.iterdir() if p.is_file() and p.suffix in {".md", ".json"}
                       and p.name != "index.md")
    listed = [link for link in links if "/" not in link]
    missing = [d for d in documents if d not in listed]
    assert not missing, f"documents missing from docs/index.md: {missing}"
    assert len(listed) == len(set(listed)), "a document is listed twice"
    broken = [link for link in links if not (DOCS / link).resolve().exists()]
    assert not broken, f"docs/index.md links to files that do not exist: {broken}"
    for line in index.splitlines():           # one line each, saying what the document is
        if line.startswith("- ["):
            assert re.match(r"^- \[[^]]+\]\([^)]+\): \S", line), line


def test_the_readme_links_the_index_and_the_protocol():
    links = _links((ROOT / "README.md").read_text())
    assert "docs/index.md" in links and "docs/protocol.md" in links


# Where a numbered issue may still be named: nowhere (llm/ and node_cli.py were cleaned when they moved).
_ISSUE_ALLOWED: tuple[str, ...] = ()
_ISSUE = re.compile(r"\b[Ii]ssues? +#?\d+|\bissue-\d+")


def issue_mentions(root: pathlib.Path = ROOT) -> list[str]:
    found = []
    files = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    for folder in ("gradientcoin_edu", "kernels", "scripts", "benchmarks", "tests", "notebooks"):
        files += sorted(p for p in (root / folder).rglob("*") if p.suffix in {".py", ".md"})
    for path in files:
        rel = path.relative_to(root).as_posix()
        if rel.startswith(_ISSUE_ALLOWED) or rel == "tests/test_docs_index.py":
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _ISSUE.search(line):
                found.append(f"{rel}:{n}: {line.strip()[:100]}")
    return found


def test_the_project_text_names_no_numbered_issue():
    assert issue_mentions() == []


def test_the_issue_check_finds_a_mention(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("fine\n")
    (tmp_path / "docs" / "a.md").write_text("the attacks of issue 10 are gone\nIssue #3 too\n")
    assert [m.split(":")[1] for m in issue_mentions(tmp_path)] == ["1", "2"]
