"""Docstrings and comments cite documents that are in the repository, by file and section.

A citation is `docs/<file>.md` or `docs/<file>.md#<section anchor>`; the anchor is the
GitHub slug of a heading of that file. Citations of documents outside the repository
("contract §5.1", "design §3") are not allowed: the next engineer cannot follow them.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("endpoints", "jobs", "llmengine_site", "tests", "templates", "bench", "scripts")
CODE_SUFFIXES = {".py", ".html", ".sh", ".txt"}
CITATION = re.compile(r"(?<![\w/.-])docs/([\w.-]+\.md)(?:#([\w-]+))?")
FOREIGN_CITATION = re.compile(r"(contract|design)\s*§|§\s*\d")


def _code_files() -> list[Path]:
    """Project code and scripts; this file is left out (its examples are broken on purpose)."""
    files = []
    for name in CODE_DIRS:
        files += [p for p in (ROOT / name).rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file()]
    return [p for p in files if p != Path(__file__).resolve()] + [ROOT / "Makefile", ROOT / "Dockerfile"]


def _slug(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    anchors, in_fence = set(), False
    for line in doc.read_text().splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def broken_citations(text: str) -> list[str]:
    """Citations in `text` whose file or section does not exist, as `docs/x.md#y` strings."""
    broken = []
    for match in CITATION.finditer(text):
        doc, anchor = ROOT / "docs" / match[1], match[2]
        if not doc.is_file() or (anchor and anchor not in _anchors(doc)):
            broken.append(match[0])
    return broken


def test_no_code_file_cites_a_document_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _code_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if FOREIGN_CITATION.search(line)
    ]
    assert offenders == []


def test_every_cited_document_and_section_exists():
    sources = _code_files() + sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
    broken = {
        str(path.relative_to(ROOT)): found
        for path in sources
        if (found := broken_citations(path.read_text(errors="replace")))
    }
    assert broken == {}


def test_code_cites_the_project_docs():
    """The rewrite kept its citations: the design, the wire contract and the naming rules are
    each cited from the code."""
    cited = {match[1] for path in _code_files() for match in CITATION.finditer(path.read_text(errors="replace"))}
    assert {"design.md", "wire-contract.md", "naming.md"} <= cited


def test_a_citation_of_a_missing_file_or_section_is_reported():
    text = "see docs/design.md#layers-and-dependencies, docs/design.md#no-such-section and docs/nowhere.md"
    assert broken_citations(text) == ["docs/design.md#no-such-section", "docs/nowhere.md"]
