"""The function's import rules, read from the source: which package may import which.

Each package's `__init__` states its rule; these tests fail when a module breaks one, and
when two modules import each other (a module with two jobs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "session_events"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at any depth (a deferred import is still an arrow)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _package_imports(module: str) -> set[str]:
    """The package's own modules that `module` imports (names that are modules only)."""
    return {name for name in MODULES[module] if name in MODULES and name != module}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else parts[-1]


def test_the_package_is_grouped_in_rooms() -> None:
    flat = sorted(
        path.name
        for path in PACKAGE.glob("*.py")
        if path.name not in ("__init__.py", "runtime.py")
    )
    assert flat == [], f"modules outside a room: {flat}"


def test_no_two_modules_import_each_other() -> None:
    graph = {module: _package_imports(module) for module in MODULES}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in graph[module]:
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])
    assert cycles == [], f"import cycles: {cycles}"


# room -> rooms it may import (besides itself); "runtime" is the composition root.
ALLOWED = {
    "core": set(),
    "contract": {"core", "ingest", "read"},
    "ingest": {"core", "contract", "stores", "runtime", "read"},
    "read": {"core", "contract", "stores", "rollups", "viewer", "runtime", "ingest"},
    "rollups": {"core", "stores", "runtime", "read", "ingest", "contract"},
    "viewer": {"core"},
    "stores": {"core", "contract"},
    "runtime": {"core", "ingest", "stores"},
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_only_what_its_room_may(module: str) -> None:
    room = _room(module)
    if room == "session_events":
        return
    wrong = sorted(
        target
        for target in _package_imports(module)
        if _room(target) not in ALLOWED[room] | {room, "session_events"}
    )
    assert wrong == [], f"{module} ({room}/) may not import {wrong}"


def test_store_adapters_never_import_each_other_or_an_edge() -> None:
    for module in MODULES:
        parts = module.split(".")
        if parts[:2] != ["session_events", "stores"] or len(parts) < 4:
            continue
        adapter = parts[2]
        for target in _package_imports(module):
            tparts = target.split(".")
            if tparts[:2] == ["session_events", "stores"] and len(tparts) > 3:
                assert tparts[2] == adapter, f"{module} imports another adapter: {target}"


@pytest.mark.parametrize(
    ("client", "home"),
    [
        ("google.cloud", "session_events.stores.firestore"),
        ("google.api_core", "session_events.stores.firestore"),
        ("boto3", "session_events.stores.dynamodb"),
        ("botocore", "session_events.stores.dynamodb"),
        ("sqlite3", "session_events.stores.sqlite"),
        ("opendp", "session_events.rollups"),
        ("jinja2", "session_events.viewer"),
    ],
)
def test_a_client_library_is_imported_only_in_its_own_room(client: str, home: str) -> None:
    outside = sorted(
        module
        for module, imported in MODULES.items()
        if not module.startswith(home)
        and any(name == client or name.startswith(client + ".") for name in imported)
    )
    assert outside == [], f"{client} imported outside {home}: {outside}"
