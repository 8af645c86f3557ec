"""The hook's weight: git is not started inside a repository, and no heavy module is loaded.

The layout says the same: the hook path (the package's top level) loads nothing of
``commands/`` or ``send/``, and so neither requests nor urllib3.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from exit_probe import run_watching_imports
from git_repository import repository


def test_hook_in_a_repository_records_head_without_importing_subprocess(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    repo = repository(consent_on.root / "repo")
    head = (
        subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, timeout=60
        )
        .stdout.decode()
        .strip()
    )
    done = run_watching_imports([], hook_json("in-a-repository", cwd=str(repo)), ("subprocess",))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    [pending] = consent_on.outbox_files()
    assert json.loads(pending.read_text())["event"]["branch_sha"] == head


def test_hook_with_consent_off_and_no_config_file_loads_no_json(
    home: Any, hook_json: Any, tmp_path: Path
) -> None:
    done = run_watching_imports(
        [], hook_json("consent-off", cwd=str(tmp_path)), ("json", "re", "enum")
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert home.outbox_files() == []


# Standard modules whose import costs the hook milliseconds each (json brings re and enum,
# hashlib OpenSSL, contextlib collections and functools), or a shared library to load for
# one function (math: several per cent of the interpreter's start), and which it does without.
HEAVY_MODULES = (
    "math",
    "json",
    "re",
    "enum",
    "hashlib",
    "_hashlib",
    "datetime",
    "contextlib",
    "collections",
    "functools",
    "subprocess",
    "typing",
    "pathlib",
    "logging",
    "argparse",
    "sqlite3",
    "_sqlite3",
)


HTTP_LIBRARIES = ("requests", "urllib3")

# Shared libraries the hook storing an event has no use for: fcntl's locks guard the
# outbox's counters (moved only when the outbox is pruned) and the refs store, not a put.
HOOK_ALSO_AVOIDS = ("fcntl",)


def _modules_in(folder: str) -> tuple[str, ...]:
    """The emitter's subpackage `folder` (commands, send) and every module in it."""
    package = importlib.import_module(f"session_event_emitter.{folder}")
    inside = pkgutil.iter_modules(package.__path__, prefix=f"{package.__name__}.")
    return (package.__name__, *(info.name for info in inside))


def test_the_watched_folders_are_the_emitters() -> None:
    assert "session_event_emitter.send.transport" in _modules_in("send")
    assert "session_event_emitter.commands.ref" in _modules_in("commands")


def test_hook_with_consent_on_stores_its_event_without_any_heavy_module(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    repo = repository(consent_on.root / "repo")
    transcript = consent_on.root / "transcript.jsonl"
    block = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    transcript.write_text(json.dumps({"type": "assistant", "message": {"content": [block]}}))
    hook_input = hook_json("light", cwd=str(repo), transcript_path=str(transcript))
    # Run from a plugin, as it is: its version is read from the plugin's manifest.
    manifest = consent_on.root / "plugin" / ".claude-plugin" / "plugin.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"name": "a-plugin", "version": "1.4.2"}))
    monkeypatch.setenv("CLAUDE_PLUGIN_ROOT", str(manifest.parents[1]))
    watched = (
        *HEAVY_MODULES,
        *HOOK_ALSO_AVOIDS,
        *_modules_in("commands"),
        *_modules_in("send"),
        *HTTP_LIBRARIES,
    )
    done = run_watching_imports([], hook_input, watched)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    [pending] = consent_on.outbox_files()
    event = json.loads(pending.read_text())["event"]
    assert event["tool_count"] == 1
    assert len(event["branch_sha"]) == 12
    assert event["plugin_version"] == "1.4.2"


def test_ref_run_after_every_tool_call_loads_no_parser_other_command_sender_or_heavy_module(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    own = ("session_event_emitter.commands", "session_event_emitter.commands.ref")
    others = tuple(name for name in _modules_in("commands") if name not in own)
    watched = (*HEAVY_MODULES, *others, *_modules_in("send"), *HTTP_LIBRARIES)
    done = run_watching_imports(["ref", "owner-repo"], hook_json("with-refs"), watched)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    [recorded] = (consent_on.state / "session-refs").glob("*.json")
    assert json.loads(recorded.read_text())["refs"] == ["owner-repo"]
