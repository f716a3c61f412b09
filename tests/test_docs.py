"""The design lives in the repository: code cites docs/ sections that exist, and nothing else.

Background notes outside the repository (a DESIGN, LITERATURE or FEASIBILITY file) are not
available to a user of it, so the code must not cite them; every ``docs/NAME.md §N`` a comment or
docstring cites must be a numbered heading of that page; links between the pages must resolve.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# spelled in pieces so that this file does not match itself
OUTSIDE_NOTES = re.compile(r"\b(" + "DESIGN|LITERATURE|FEASIBILITY" + r")(\.md)? ?§")
CITATION = re.compile(r"docs/(\w+)\.md §(\d+(?:\.\d+)*)")
LINK = re.compile(r"\]\(([^)\s#]*\.md)?(?:#([^)\s]+))?\)")


def _sources() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml", *sorted(DOCS.glob("*.md"))]
    for folder in ("theory", "auxtasks", "verify", "benchmarks", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f.is_file() and f.resolve() != Path(__file__).resolve()]


def _numbered_sections(page: Path) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", page.read_text(encoding="utf-8"), re.M)}


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_no_citation_of_notes_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _sources()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if OUTSIDE_NOTES.search(line)]
    assert found == [], "cite docs/<page>.md §N instead:\n" + "\n".join(found)


def test_every_cited_docs_section_exists():
    cited = 0
    for path in _sources():
        for page, section in CITATION.findall(path.read_text(encoding="utf-8")):
            target = DOCS / f"{page}.md"
            assert target.is_file(), f"{path.relative_to(ROOT)} cites docs/{page}.md, which does not exist"
            assert section in _numbered_sections(target), \
                f"{path.relative_to(ROOT)} cites docs/{page}.md §{section}, which has no such numbered heading"
            cited += 1
    assert cited >= 10  # the code does cite the docs (the re-pointed citations are still there)


def test_links_between_pages_resolve():
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target, anchor in LINK.findall(path.read_text(encoding="utf-8")):
            page = (path.parent / target).resolve() if target else path
            if page.suffix != ".md" or not page.is_relative_to(ROOT):
                continue
            assert page.is_file(), f"{path.relative_to(ROOT)} links to missing {target}"
            if anchor:
                headings = re.findall(r"^#+ (.*)$", page.read_text(encoding="utf-8"), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{path.relative_to(ROOT)}: no #{anchor} in {target}"


def test_anchor_rule_on_known_headings():
    assert _anchor("4. Training throughput") == "4-training-throughput"
    assert _anchor("8.1 Awasthi, Gupta & Kumar — Length") == "81-awasthi-gupta--kumar--length"
