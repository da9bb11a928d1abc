"""The maps of the code match the tree: docs/CONTRIBUTING_NOTES.md names every module of the
package, the "Layout" section of docs/architecture.md every top-level module and sub-package and
every top-level entry of the repository, and no file these documents (and CONTRIBUTING.md) name has
been renamed or removed since."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "dualposenet_ros"
NOTES = REPO / "docs" / "CONTRIBUTING_NOTES.md"
ARCHITECTURE = REPO / "docs" / "architecture.md"
_FILE_NAME = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.py)\b")


def modules() -> list[Path]:
    """Every module of the package, relative to it (``core/camera.py``, ``ros/node.py``...)."""
    return sorted(path.relative_to(PACKAGE_DIR) for path in PACKAGE_DIR.rglob("*.py") if path.name != "__init__.py")


def layout_section() -> str:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    start = text.index("\n## Layout")
    end = text.find("\n## ", start + 1)
    return text[start: end if end != -1 else len(text)]


def named_in_notes(module: Path, lines: list[str]) -> bool:
    """Named by its path in backticks, or by its name in backticks on the row of its package."""
    if f"`{module.as_posix()}`" in "\n".join(lines):
        return True
    package = f"`{module.parent.as_posix()}/`"
    return any(package in line and f"`{module.stem}`" in line for line in lines)


def test_contributor_notes_name_every_module() -> None:
    lines = NOTES.read_text(encoding="utf-8").splitlines()
    missing = [module.as_posix() for module in modules() if not named_in_notes(module, lines)]
    assert not missing, (f"modules {NOTES.relative_to(REPO)} does not name (a row `path.py`, or `name` on the row "
                         f"of `package/`): {missing}")


def test_layout_names_every_top_level_module_and_package() -> None:
    layout = layout_section()
    top = [module.name for module in modules() if len(module.parts) == 1]
    packages = sorted({f"{module.parts[-2]}/" for module in modules() if len(module.parts) > 1})
    missing = [name for name in top + packages if not re.search(rf"(?<![\w.]){re.escape(name)}", layout)]
    assert not missing, f"docs/architecture.md 'Layout' does not name: {missing}"


def test_layout_names_every_top_level_entry_of_the_repository() -> None:
    listing = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listing.returncode != 0 or not listing.stdout:
        pytest.skip("not a git checkout: the tracked files are unknown")
    top = {path.split("/")[0] + ("/" if "/" in path else "") for path in listing.stdout.split()}
    entries = sorted(top - {"README.md", ".gitignore"})
    layout = layout_section()
    missing = [entry for entry in entries if not re.search(rf"(?<![\w./-]){re.escape(entry)}", layout)]
    assert not missing, f"docs/architecture.md 'Layout' does not name: {missing}"


def _exists(name: str) -> bool:
    """A file name a document gives: relative to the repository or the package, or a unique base name."""
    if (REPO / name).is_file() or (PACKAGE_DIR / name).is_file() or (REPO / "test" / name).is_file():
        return True
    return "/" not in name and any(REPO.glob(f"[!.]*/**/{name}"))


def test_documents_name_only_files_that_exist() -> None:
    documents = {"docs/architecture.md (Layout)": layout_section(),
                 "CONTRIBUTING.md": (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8"),
                 str(NOTES.relative_to(REPO)): NOTES.read_text(encoding="utf-8")}
    stale = [f"{document}: {name}" for document, text in documents.items()
             for name in sorted(set(_FILE_NAME.findall(text))) if not _exists(name)]
    assert not stale, f"files named in the documents but not in the tree: {stale}"
