"""The repository stands alone: every README link leads to a file (and heading) of it, and
no file points to a document that lives beside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = sorted(
    path
    for path in ROOT.rglob("README.md")
    if not any(part.startswith(".") or part == "node_modules" for part in path.parts)
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Documents that live beside the repository, not in it: a reader of a clone has none of them.
OUTSIDE = re.compile(r"CONTRACT|STYLE\.md|\.\./shared|/work/")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_slug(m[1]) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_leads_inside_the_repository(readme: Path) -> None:
    text = readme.read_text()
    assert not OUTSIDE.search(text), OUTSIDE.search(text)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file_part, _, anchor = target.partition("#")
        linked = (readme.parent / file_part).resolve() if file_part else readme
        assert linked.exists(), f"{readme.relative_to(ROOT)} links to a missing {target}"
        assert linked.is_relative_to(ROOT), f"{target} leaves the repository"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"no heading #{anchor} in {linked.name}"


def test_the_readmes_are_found() -> None:
    names = {str(path.relative_to(ROOT)) for path in READMES}
    assert {"README.md", "emitter/README.md", "infra/README.md", "tests/bench/README.md"} <= names


def test_no_file_of_the_repository_points_outside_it() -> None:
    """Code, scripts and docs cite the repository's own documents, never one beside it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False
    ).stdout.decode()
    files = [ROOT / name for name in listed.split("\0") if name]
    if not files:  # not a git checkout: every file under the root, hidden folders aside
        files = [
            path
            for path in ROOT.rglob("*")
            if path.is_file() and not any(p.startswith(".") for p in path.relative_to(ROOT).parts)
        ]
    this = Path(__file__).resolve()
    pointing = []
    for path in files:
        if path.resolve() == this or not path.is_file():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # not text
        pointing += [
            f"{path.relative_to(ROOT)}:{number}"
            for number, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert len(files) > 50
    assert pointing == []
