"""The emitter's folders keep their import rules, read from the source with ast.

The top level is the hook path and imports neither ``commands/`` nor ``send/``; only
``send/`` imports requests or urllib3; and no module imports itself through others (every
import counts, also those inside functions: they run, just later).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import session_event_emitter

PACKAGE = "session_event_emitter"
SOURCE = Path(session_event_emitter.__file__).parent
# The command line's entry dispatches to every folder; it is not on the hook path itself.
DISPATCHERS = {f"{PACKAGE}.cli", f"{PACKAGE}.__main__"}
HTTP_LIBRARIES = ("requests", "urllib3")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imported(name: str) -> Iterator[str]:
    """Every module `name` imports (absolute names; an imported name that is a module of
    this package counts as that module)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}"


def _own_imports(name: str) -> set[str]:
    return {target for target in _imported(name) if target in MODULES and target != name}


def _cycles() -> list[list[str]]:
    """The import cycles among the package's modules (one path around each, as found)."""
    graph = {name: sorted(_own_imports(name)) for name in MODULES}
    found: list[list[str]] = []
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for target in graph[name]:
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name)
    return found


def _folder(name: str) -> str:
    """'' for the top level, else the subpackage's name (commands, send)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and _is_package(name)) else ""


def test_the_layout_has_the_three_rooms() -> None:
    folders = {_folder(name) for name in MODULES}
    assert folders == {"", "commands", "send"}


def test_no_import_cycle_among_emitter_modules() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_the_sender_imports_http_libraries(name: str) -> None:
    if _folder(name) == "send":
        return
    heavy = sorted(target for target in _imported(name) if target.split(".")[0] in HTTP_LIBRARIES)
    assert heavy == [], f"{name} imports {heavy}: HTTP belongs in {PACKAGE}.send"


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if _folder(n) == "" and n not in DISPATCHERS)
)
def test_the_hook_path_imports_no_command_and_no_sender(name: str) -> None:
    outside = sorted(target for target in _own_imports(name) if _folder(target) != "")
    assert outside == [], f"{name} (hook path) imports {outside}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _is_package(n)))
def test_each_package_says_what_lives_there_and_what_it_may_import(name: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8"))) or ""
    assert "import" in doc, f"{name}: its docstring names no import rule"
