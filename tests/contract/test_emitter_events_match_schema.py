"""Contract: every event the emitter builds validates against the function's pydantic model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from git_repository import repository

from session_events.contract.schema import SessionEvent

pytest.importorskip("session_event_emitter")

HOOK_INPUT = {"session_id": "contract-session", "hook_event_name": "SessionEnd", "reason": "exit"}


def _dry_run(
    tmp_path: Path, *args: str, stdin: dict[str, object] | None = None, **env: str
) -> dict[str, object]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SESSION_EVENTS_", "ASHLR_"))
        and k not in ("DO_NOT_TRACK", "CLAUDE_SESSION_ID")
    }
    clean.update(HOME=str(tmp_path / "home"), SESSION_EVENTS_HOME=str(tmp_path / "state"), **env)
    # The identity a real event carries: the install id a first consented run makes (a dry
    # run on an install without one marks the identity as not made yet).
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    if not (state / "install-id").exists():
        (state / "install-id").write_text("0b7ad1f2-7a1c-4c55-9a53-6ac1c9e1d7b1\n")
    done = subprocess.run(
        [sys.executable, "-m", "session_event_emitter", "--dry-run", *args],
        input=json.dumps(stdin if stdin is not None else HOOK_INPUT).encode(),
        env=clean,
        capture_output=True,
        timeout=20,
        check=True,
        cwd=tmp_path,
    )
    value = json.loads(done.stdout)
    assert isinstance(value, dict)
    return value


def test_minimal_event_validates(tmp_path: Path) -> None:
    SessionEvent.model_validate(_dry_run(tmp_path))


def test_event_with_every_optional_field_validates(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    refs = ["docs:intro", "a.b-c_d:e", "Z" * 128]
    (state / "config.json").write_text(json.dumps({"discovery_refs": refs}))
    transcript = tmp_path / "t.jsonl"
    block = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    transcript.write_text(json.dumps({"type": "assistant", "message": {"content": [block]}}))
    event = _dry_run(
        tmp_path,
        stdin={**HOOK_INPUT, "cwd": str(repo), "transcript_path": str(transcript)},
        SESSION_EVENTS_GITHUB_LOGIN="octocat",
    )
    assert {"github_hash", "branch_sha", "discovery_refs"} <= set(event)
    model = SessionEvent.model_validate(event)
    assert model.tool_count == 1
    assert model.refs == refs


@pytest.mark.parametrize(
    "args",
    [
        ("--tool-count", "0", "--tokens-saved", "0"),
        ("--tool-count", "1000000", "--tokens-saved", "1000000000"),
        ("--tool-count", "99999999", "--tokens-saved", "99999999999"),
    ],
)
def test_count_flags_stay_within_the_schema(tmp_path: Path, args: tuple[str, ...]) -> None:
    SessionEvent.model_validate(_dry_run(tmp_path, *args))


@pytest.mark.parametrize(
    "stdin", [{}, {"session_id": 7}, {"session_id": "x" * 4000}, {"cwd": "/nonexistent"}]
)
def test_events_from_odd_hook_input_validate(tmp_path: Path, stdin: dict[str, object]) -> None:
    SessionEvent.model_validate(_dry_run(tmp_path, stdin=stdin))


def test_emitter_sends_no_key_the_schema_does_not_know(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    event = _dry_run(
        tmp_path, stdin={**HOOK_INPUT, "cwd": str(repo)}, SESSION_EVENTS_GITHUB_LOGIN="octocat"
    )
    assert set(event) <= set(SessionEvent.model_fields)


ORIGINAL_SERVER_KEYS = {
    "identity_hash",
    "github_hash",
    "session_id_hash",
    "ended_at",
    "tool_count",
    "tokens_saved",
    "branch_sha",
    "discovery_refs",
    "plugin_version",
}


def test_emitter_sends_only_the_nine_keys_the_original_server_knows(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    event = _dry_run(
        tmp_path, stdin={**HOOK_INPUT, "cwd": str(repo)}, SESSION_EVENTS_GITHUB_LOGIN="octocat"
    )
    assert set(event) == ORIGINAL_SERVER_KEYS
    assert SessionEvent.model_validate(event).schema_version == 1


def test_minimal_event_has_refs_as_a_list_and_no_branch_sha(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    event = _dry_run(tmp_path, stdin={**HOOK_INPUT, "cwd": str(outside)})
    assert event["discovery_refs"] == []
    assert "branch_sha" not in event
    assert "schema_version" not in event
