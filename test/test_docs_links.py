"""Every relative link of the README, CONTRIBUTING.md, CHANGELOG.md and the pages of docs/ points
to a file or folder of the repository, and every page of docs/ is reachable from the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md", *(REPO / "docs").glob("*.md")])
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")


def relative_links(document: Path) -> list[str]:
    return [target for target in _LINK.findall(document.read_text(encoding="utf-8"))
            if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(REPO).as_posix())
def test_relative_links_resolve(document: Path) -> None:
    broken = [target for target in relative_links(document) if not (document.parent / target).exists()]
    assert not broken, f"{document.relative_to(REPO)} links to missing files: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(REPO / target).resolve() for target in relative_links(REPO / "README.md")}
    pages = {page.resolve() for page in (REPO / "docs").glob("*.md")} - {(REPO / "docs" / "CONTRIBUTING_NOTES.md").resolve()}
    missing = sorted(page.name for page in pages - linked)
    assert not missing, f"pages of docs/ the README does not link: {missing}"
