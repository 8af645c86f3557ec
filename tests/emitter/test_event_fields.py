"""The event's fields, derived as emitter/README.md says (in-process, no network)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from git_repository import git, repository

from session_event_emitter import __version__
from session_event_emitter.event import HookInput, build_event, idempotency_key
from session_event_emitter.identity import quarter_salt
from session_event_emitter.settings import Settings

REQUIRED = {
    "identity_hash",
    "session_id_hash",
    "ended_at",
    "tool_count",
    "tokens_saved",
    "plugin_version",
}
ALLOWED = REQUIRED | {"github_hash", "branch_sha", "discovery_refs"}
HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_event(hook: HookInput | None = None, **kwargs: Any) -> dict[str, object]:
    return build_event(Settings.load(), hook or HookInput(), dict(os.environ), **kwargs)


def git_repo(path: Path) -> str:
    """A repository with one commit; its HEAD."""
    return git(repository(path), "rev-parse", "HEAD")


def test_payload_has_exactly_the_contract_fields(home: Any) -> None:
    event = make_event(HookInput(session_id="s"))
    assert REQUIRED <= set(event) <= ALLOWED
    assert HEX64.fullmatch(str(event["identity_hash"]))
    assert HEX64.fullmatch(str(event["session_id_hash"]))
    assert event["plugin_version"] == __version__
    assert "schema_version" not in event
    assert event["discovery_refs"] == []
    assert isinstance(event["tool_count"], int)
    assert isinstance(event["tokens_saved"], int)


def test_payload_carries_no_raw_identifier_or_path(home: Any, tmp_path: Path) -> None:
    hook = HookInput(session_id="raw-session-id-42", cwd=str(tmp_path), transcript_path="/x/y")
    text = json.dumps(make_event(hook))
    for raw in ("raw-session-id-42", str(tmp_path), "/x/y", "home"):
        assert raw not in text


def test_ended_at_is_utc_with_milliseconds(home: Any) -> None:
    now = datetime(2026, 5, 22, 12, 34, 56, 789123, tzinfo=UTC)
    assert make_event(now=now)["ended_at"] == "2026-05-22T12:34:56.789Z"


def test_session_id_hash_is_sha256_of_the_raw_id(home: Any) -> None:
    assert make_event(HookInput(session_id="abc-123"))["session_id_hash"] == sha256("abc-123")


def test_session_id_comes_from_environment_without_hook_input(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_SESSION_ID", "from-env")
    assert make_event()["session_id_hash"] == sha256("from-env")


def test_hook_input_session_id_wins_over_environment(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_SESSION_ID", "from-env")
    assert make_event(HookInput(session_id="from-stdin"))["session_id_hash"] == sha256("from-stdin")


def test_fallback_session_id_is_random_not_derived_from_pid_or_user(home: Any) -> None:
    import getpass

    first, second = make_event()["session_id_hash"], make_event()["session_id_hash"]
    assert first != second
    guesses = {str(os.getpid()), getpass.getuser(), os.environ["HOME"]}
    guesses |= {f"{os.getpid()}-{os.environ['HOME']}", f"{os.environ['HOME']}-{os.getpid()}"}
    assert all(sha256(guess) != first for guess in guesses)


def test_identity_hash_is_deterministic_for_one_install(home: Any) -> None:
    assert make_event()["identity_hash"] == make_event()["identity_hash"]


def test_identity_hash_uses_original_machine_id_and_quarter_salt(home: Any) -> None:
    legacy = home.legacy
    legacy.mkdir()
    (legacy / "machine-id").write_text("machine-abc\n")
    now = datetime(2026, 5, 1, tzinfo=UTC)
    assert make_event(now=now)["identity_hash"] == sha256("machine-abcsalt_2026Q2")


def test_install_id_is_kept_private_and_reused(home: Any) -> None:
    make_event()
    path = home.state / "install-id"
    assert path.stat().st_mode & 0o777 == 0o600
    install = path.read_text().strip()
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert make_event(now=now)["identity_hash"] == sha256(install + "salt_2026Q1")


@pytest.mark.parametrize(
    ("month", "salt"),
    [
        (1, "salt_2026Q1"),
        (3, "salt_2026Q1"),
        (4, "salt_2026Q2"),
        (6, "salt_2026Q2"),
        (7, "salt_2026Q3"),
        (10, "salt_2026Q4"),
        (12, "salt_2026Q4"),
    ],
)
def test_quarter_salt(month: int, salt: str) -> None:
    assert quarter_salt(2026, month) == salt


def test_identity_changes_with_the_quarter(home: Any) -> None:
    q1 = make_event(now=datetime(2026, 3, 31, 23, 59, tzinfo=UTC))["identity_hash"]
    q2 = make_event(now=datetime(2026, 4, 1, 0, 0, tzinfo=UTC))["identity_hash"]
    assert q1 != q2


def test_github_hash_is_null_without_a_login(home: Any) -> None:
    event = make_event()
    assert "github_hash" in event
    assert event["github_hash"] is None


def test_github_hash_from_configured_login(home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_EVENTS_GITHUB_LOGIN", "octocat")
    now = datetime(2026, 5, 1, tzinfo=UTC)
    assert make_event(now=now)["github_hash"] == sha256("octocatsalt_2026Q2")


@pytest.mark.parametrize(("valid", "present"), [(True, True), (False, False)])
def test_github_hash_from_original_token_cache(home: Any, valid: bool, present: bool) -> None:
    legacy = home.legacy
    legacy.mkdir()
    cache = {"valid": valid, "githubLogin": "octocat", "token": "secret-token"}
    (legacy / "pro-token-cache.json").write_text(json.dumps(cache))
    event = make_event()
    assert (event["github_hash"] is not None) is present
    assert "secret-token" not in json.dumps(event)


def test_no_branch_sha_outside_a_repository(home: Any, tmp_path: Path) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert "branch_sha" not in make_event(HookInput(cwd=str(outside)))


def test_branch_sha_inside_a_repository_is_a_head_prefix(home: Any, tmp_path: Path) -> None:
    head = git_repo(tmp_path / "repo")
    sha = str(make_event(HookInput(cwd=str(tmp_path / "repo")))["branch_sha"])
    assert re.fullmatch(r"[0-9a-f]{7,40}", sha)
    assert head.startswith(sha)


def test_branch_sha_without_git_installed_is_read_from_the_repository(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = git_repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert make_event(HookInput(cwd=str(tmp_path / "repo")))["branch_sha"] == head[:12]


def test_no_branch_sha_when_git_is_needed_and_missing(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_repo(tmp_path / "repo")
    (tmp_path / "repo" / ".git" / "reftable").mkdir()  # a layout only git itself reads
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert "branch_sha" not in make_event(HookInput(cwd=str(tmp_path / "repo")))


def test_flags_set_counts(home: Any) -> None:
    event = make_event(tool_count=7, tokens_saved=1234)
    assert (event["tool_count"], event["tokens_saved"]) == (7, 1234)


def test_counts_come_from_the_original_stats_file(home: Any) -> None:
    legacy = home.legacy
    legacy.mkdir()
    stats = {
        "schemaVersion": 2,
        "sessions": {"s-1": {"calls": 12, "tokensSaved": 3400}, "s-2": {"calls": 1}},
        "lifetime": {"calls": 13, "tokensSaved": 3400},
    }
    (legacy / "stats.json").write_text(json.dumps(stats))
    event = make_event(HookInput(session_id="s-1"))
    assert (event["tool_count"], event["tokens_saved"]) == (12, 3400)


def test_discovery_refs_come_from_config(home: Any) -> None:
    state = home.state
    state.mkdir()
    (state / "config.json").write_text(json.dumps({"discovery_refs": ["docs:intro", "bad ref"]}))
    assert make_event()["discovery_refs"] == ["docs:intro"]


def test_idempotency_key_hashes_the_pair() -> None:
    event = {"identity_hash": "a" * 64, "session_id_hash": "b" * 64}
    assert idempotency_key(event) == sha256("a" * 64 + ":" + "b" * 64)


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[1, 2]", b'{"session_id": 5}', b"\xff\xfe", b'{"session_id": ""}'],
)
def test_malformed_hook_input_yields_empty_fields(data: bytes) -> None:
    assert HookInput.parse(data) == HookInput()
