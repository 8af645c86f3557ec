"""`--dry-run` is exact, or says where it cannot be.

Before the install id exists (nothing may be written by a dry run, and with consent off
nothing at all), the identity is marked as made at the first consented run instead of a
random hash shown as real. Once it exists, the printed event is the one the next real
hook sends, field for field (`ended_at` being the moment each ran).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from git_repository import repository

from session_event_emitter import __version__
from session_event_emitter.pluginversion import OWN_SOURCE

FRESH_IDENTITY = "made at the first consented run"
BOUND_S = 30.0


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_fresh_install_with_consent_off_marks_the_identity_and_writes_nothing(
    home: Any, run_cli: Any, hook_json: Any
) -> None:
    done = run_cli("--dry-run", stdin=hook_json("s1"))
    assert done.returncode == 0
    event = json.loads(done.stdout)
    assert FRESH_IDENTITY in event["identity_hash"]
    assert FRESH_IDENTITY.encode() in done.stderr
    assert home.all_files() == []


def test_a_fresh_install_with_consent_on_marks_the_identity_and_writes_nothing(
    consent_on: Any,
    run_cli: Any,
    hook_json: Any,
    stub_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    event = json.loads(run_cli("--dry-run", stdin=hook_json("s1")).stdout)
    assert FRESH_IDENTITY in event["identity_hash"]
    assert consent_on.all_files() == []
    assert stub_server.received == []


def test_the_dry_run_event_is_the_next_real_one_field_for_field(
    consent_on: Any,
    run_cli: Any,
    hook_json: Any,
    stub_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", "20")  # its start on a loaded machine
    monkeypatch.setenv("SESSION_EVENTS_GITHUB_LOGIN", "octocat")
    consent_on.state.mkdir(parents=True)
    (consent_on.state / "config.json").write_text(json.dumps({"discovery_refs": ["docs:intro"]}))
    repo = repository(consent_on.root / "repo")
    transcript = consent_on.root / "transcript.jsonl"
    block = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    transcript.write_text(json.dumps({"type": "assistant", "message": {"content": [block]}}))
    # A first consented session makes the install id (and is delivered).
    assert run_cli(stdin=hook_json("first", cwd=str(repo))).returncode == 0
    _wait(lambda: len(stub_server.events) == 1)

    run_cli("ref", "--session-id", "second", "skill:grep")
    stdin = hook_json("second", cwd=str(repo), transcript_path=str(transcript))
    dry = run_cli("--dry-run", stdin=stdin)
    assert dry.returncode == 0
    # Nothing differs: stderr names only where plugin_version came from.
    assert [line for line in dry.stderr.split(b"\n") if line] == [
        f"plugin_version {__version__} (source: {OWN_SOURCE})".encode()
    ]
    printed = json.loads(dry.stdout)
    assert run_cli(stdin=stdin).returncode == 0
    _wait(lambda: len(stub_server.events) == 2)
    sent = stub_server.events[1]

    assert set(printed) == set(sent)
    assert {k: v for k, v in printed.items() if k != "ended_at"} == {
        k: v for k, v in sent.items() if k != "ended_at"
    }
    assert _when(str(printed["ended_at"])) <= _when(str(sent["ended_at"]))
    # Every optional field took part in the comparison.
    assert {"github_hash", "branch_sha"} <= set(sent)
    assert sent["discovery_refs"] == ["docs:intro", "skill:grep"]
    assert sent["tool_count"] == 1


def test_without_a_session_id_the_dry_run_says_its_hash_is_random(
    consent_on: Any, run_cli: Any
) -> None:
    (consent_on.state).mkdir(parents=True)
    (consent_on.state / "install-id").write_text("0b7ad1f2-7a1c-4c55-9a53-6ac1c9e1d7b1\n")
    done = run_cli("--dry-run", stdin=b"{}")
    assert done.returncode == 0
    assert b"session_id_hash is random" in done.stderr
    assert FRESH_IDENTITY.encode() not in done.stdout


def _wait(condition: Any) -> None:
    ends = time.monotonic() + BOUND_S
    while time.monotonic() < ends:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the event never arrived")
