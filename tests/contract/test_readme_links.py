"""The READMEs stand alone: every link leads to a file (and heading) of this repository."""

from __future__ import annotations

import re
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
