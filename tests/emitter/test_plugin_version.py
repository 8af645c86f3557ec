"""`plugin_version` is the version of the plugin whose hook runs the emitter.

Sources, first usable one wins: ``--plugin-version``, ``SESSION_EVENTS_PLUGIN_VERSION``,
``$CLAUDE_PLUGIN_ROOT/.claude-plugin/plugin.json``'s ``version``,
``$CLAUDE_PLUGIN_ROOT/package.json``'s ``version``, the emitter's own version. A value that
is not 1-64 characters of ``[0-9A-Za-z.+_-]`` falls through to the next source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from session_event_emitter import __version__
from session_event_emitter.event import HookInput, build_event
from session_event_emitter.settings import Settings

FLAG, ENV, MANIFEST, PACKAGE = "4.0.0-flag", "3.0.0+env", "2.0.0", "1.0.0_pkg"


def _plugin(root: Path, manifest: object = None, package: object = None) -> Path:
    """A plugin directory; `manifest` / `package` are the JSON documents (None: no file)."""
    (root / ".claude-plugin").mkdir(parents=True, exist_ok=True)
    files = ((root / ".claude-plugin" / "plugin.json", manifest), (root / "package.json", package))
    for path, document in files:
        if isinstance(document, bytes):
            path.write_bytes(document)
        elif document is not None:
            path.write_text(json.dumps(document))
    return root


def _version(flag: str | None = None, **env: str) -> object:
    environment = {**os.environ, **env}
    event = build_event(
        Settings.load(environment), HookInput(session_id="s"), environment, plugin_version=flag
    )
    return event["plugin_version"]


@pytest.fixture
def plugin(home: Any) -> Path:
    return _plugin(home.root / "plugin", {"name": "p", "version": MANIFEST}, {"version": PACKAGE})


def test_the_flag_beats_every_other_source(plugin: Path) -> None:
    version = _version(FLAG, SESSION_EVENTS_PLUGIN_VERSION=ENV, CLAUDE_PLUGIN_ROOT=str(plugin))
    assert version == FLAG


def test_the_environment_beats_the_plugin_files(plugin: Path) -> None:
    assert _version(SESSION_EVENTS_PLUGIN_VERSION=ENV, CLAUDE_PLUGIN_ROOT=str(plugin)) == ENV


def test_the_plugin_manifest_beats_package_json(plugin: Path) -> None:
    assert _version(CLAUDE_PLUGIN_ROOT=str(plugin)) == MANIFEST


def test_package_json_when_the_manifest_has_no_version(home: Any) -> None:
    root = _plugin(home.root / "plugin", {"name": "p"}, {"version": PACKAGE})
    assert _version(CLAUDE_PLUGIN_ROOT=str(root)) == PACKAGE


def test_package_json_when_there_is_no_manifest(home: Any) -> None:
    root = _plugin(home.root / "plugin", None, {"version": PACKAGE})
    assert _version(CLAUDE_PLUGIN_ROOT=str(root)) == PACKAGE


def test_the_emitters_own_version_without_any_source(home: Any) -> None:
    assert _version() == __version__
    assert _version(CLAUDE_PLUGIN_ROOT="") == __version__
    assert _version(CLAUDE_PLUGIN_ROOT=str(home.root / "no-such-plugin")) == __version__


MALFORMED = [
    "",
    " 1.2.3",
    "1.2.3 ",
    "1.2.3\n",
    "1.2.3 beta",
    "1.2/3",
    "v1.2.3é",
    "1" * 65,
    "1.2.3;rm",
]


@pytest.mark.parametrize("bad", MALFORMED, ids=repr)
def test_a_malformed_flag_falls_through_to_the_environment(plugin: Path, bad: str) -> None:
    assert _version(bad, SESSION_EVENTS_PLUGIN_VERSION=ENV, CLAUDE_PLUGIN_ROOT=str(plugin)) == ENV


@pytest.mark.parametrize("bad", MALFORMED, ids=repr)
def test_a_malformed_environment_value_falls_through_to_the_manifest(
    plugin: Path, bad: str
) -> None:
    assert _version(SESSION_EVENTS_PLUGIN_VERSION=bad, CLAUDE_PLUGIN_ROOT=str(plugin)) == MANIFEST


@pytest.mark.parametrize(
    "manifest",
    [
        {"version": "1.2.3 beta"},
        {"version": ""},
        {"version": 2},
        {"version": None},
        {"version": ["2.0.0"]},
        {"version": "1" * 65},
        ["2.0.0"],
        b'{"version": "2.0.0",}',
        b'{"version": NaN, "name": "p"}',
        b'\xef\xbb\xbf{"version": "2.0.0"}',
        b"",
    ],
    ids=repr,
)
def test_a_manifest_without_a_usable_version_falls_through_to_package_json(
    home: Any, manifest: object
) -> None:
    root = _plugin(home.root / "plugin", manifest, {"version": PACKAGE})
    assert _version(CLAUDE_PLUGIN_ROOT=str(root)) == PACKAGE


@pytest.mark.parametrize("package", [{"version": "1.0 .0"}, {"name": "p"}, b"{", None], ids=repr)
def test_a_package_json_without_a_usable_version_falls_through_to_the_emitter(
    home: Any, package: object
) -> None:
    root = _plugin(home.root / "plugin", {"name": "p"}, package)
    assert _version(CLAUDE_PLUGIN_ROOT=str(root)) == __version__


@pytest.mark.parametrize("good", ["0", "1.2.3", "1.0.0-rc.1+build_7", "a" * 64, "2026.05.22"])
def test_every_value_of_the_pattern_is_taken(good: str) -> None:
    assert _version(good) == good
    assert _version(SESSION_EVENTS_PLUGIN_VERSION=good) == good


def test_a_fifo_or_directory_in_place_of_the_manifest_is_skipped_without_waiting(
    home: Any,
) -> None:
    root = _plugin(home.root / "plugin", None, {"version": PACKAGE})
    os.mkfifo(root / ".claude-plugin" / "plugin.json")
    assert _version(CLAUDE_PLUGIN_ROOT=str(root)) == PACKAGE
    (root / "package.json").unlink()
    (root / "package.json").mkdir()
    assert _version(CLAUDE_PLUGIN_ROOT=str(root)) == __version__


def test_a_huge_manifest_is_not_read(home: Any) -> None:
    padding = " " * (1024 * 1024)
    root = _plugin(home.root / "plugin", b'{"version": "9.9.9",' + padding.encode() + b"}")
    assert _version(CLAUDE_PLUGIN_ROOT=str(root)) == __version__


# The real command, as a plugin's hooks.json runs it.


def test_the_hook_stores_the_flags_version(
    consent_on: Any, run_cli: Any, hook_json: Any, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("SESSION_EVENTS_PLUGIN_VERSION", ENV)
    done = run_cli("--plugin-version", FLAG, stdin=hook_json("with-a-flag"))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    [stored] = consent_on.outbox_files()
    assert json.loads(stored.read_text())["event"]["plugin_version"] == FLAG


def test_the_hook_with_a_malformed_flag_still_stores_its_event(
    consent_on: Any, run_cli: Any, hook_json: Any, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("SESSION_EVENTS_PLUGIN_VERSION", ENV)
    done = run_cli("--plugin-version", "not a version", stdin=hook_json("bad-flag"))
    assert (done.returncode, done.stdout) == (0, b"")
    [stored] = consent_on.outbox_files()
    assert json.loads(stored.read_text())["event"]["plugin_version"] == ENV


def test_the_bare_hook_takes_the_version_from_the_plugin_root(
    consent_on: Any,
    run_cli: Any,
    hook_json: Any,
    monkeypatch: pytest.MonkeyPatch,
    free_port: int,
    plugin: Path,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("CLAUDE_PLUGIN_ROOT", str(plugin))
    assert run_cli(stdin=hook_json("bare")).returncode == 0
    [stored] = consent_on.outbox_files()
    assert json.loads(stored.read_text())["event"]["plugin_version"] == MANIFEST


def test_dry_run_prints_the_version_and_names_its_source(
    home: Any, run_cli: Any, hook_json: Any, monkeypatch: pytest.MonkeyPatch, plugin: Path
) -> None:
    monkeypatch.setenv("CLAUDE_PLUGIN_ROOT", str(plugin))
    monkeypatch.setenv("SESSION_EVENTS_PLUGIN_VERSION", "not a version")
    done = run_cli("--dry-run", stdin=hook_json())
    assert done.returncode == 0
    assert json.loads(done.stdout)["plugin_version"] == MANIFEST
    manifest = str(plugin / ".claude-plugin" / "plugin.json")
    assert f"plugin_version {MANIFEST} (source: {manifest})" in done.stderr.decode()
    assert "SESSION_EVENTS_PLUGIN_VERSION ignored" in done.stderr.decode()


def test_dry_run_names_the_flag_as_the_source(home: Any, run_cli: Any, hook_json: Any) -> None:
    done = run_cli("--dry-run", "--plugin-version", FLAG, stdin=hook_json())
    assert json.loads(done.stdout)["plugin_version"] == FLAG
    assert f"plugin_version {FLAG} (source: --plugin-version)" in done.stderr.decode()


def test_status_shows_the_version_and_its_source(
    home: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, plugin: Path
) -> None:
    monkeypatch.setenv("CLAUDE_PLUGIN_ROOT", str(plugin))
    report = json.loads(run_cli("status", "--json").stdout)
    package = str(plugin / "package.json")
    manifest = str(plugin / ".claude-plugin" / "plugin.json")
    assert (report["plugin_version"], report["plugin_version_source"]) == (MANIFEST, manifest)
    (plugin / ".claude-plugin" / "plugin.json").write_text('{"version": "2.0.0 final"}')
    text = run_cli("status").stdout.decode()
    assert f"plugin version: {PACKAGE} (source: {package})" in text
    assert f"{manifest} ignored" in text


def test_status_without_a_plugin_names_the_emitters_own_version(home: Any, run_cli: Any) -> None:
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["plugin_version"] == __version__
    assert "emitter" in report["plugin_version_source"]
