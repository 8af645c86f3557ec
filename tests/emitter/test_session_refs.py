"""``session-event-emit ref``: refs recorded during a session reach its SessionEnd event."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from session_event_emitter import refs

SESSION = "3f0c1a2e-0000-4000-8000-0000000000aa"


def _post_tool_use(session_id: str | None = SESSION, **extra: object) -> bytes:
    payload: dict[str, object] = {
        "hook_event_name": "PostToolUse",
        "tool_name": "mcp__docs__search",
        "tool_input": {"query": "x"},
        "tool_response": {"ok": True},
        **extra,
    }
    if session_id is not None:
        payload["session_id"] = session_id
    return json.dumps(payload).encode()


def _refs_file(home: Any, session_id: str = SESSION) -> Path:
    digest = hashlib.sha256(session_id.encode()).hexdigest()
    return home.state / "session-refs" / f"{digest}.json"


def _stored(home: Any, session_id: str = SESSION) -> list[str]:
    return list(json.loads(_refs_file(home, session_id).read_text())["refs"])


@pytest.fixture
def sending(consent_on: Any, monkeypatch: pytest.MonkeyPatch, free_port: int) -> Any:
    """Consent on and an endpoint (that refuses connections: events stay in the outbox)."""
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    return consent_on


def _configure_refs(home: Any, configured: list[str]) -> None:
    home.state.mkdir(parents=True, exist_ok=True)
    (home.state / "config.json").write_text(json.dumps({"discovery_refs": configured}))


def _session_end(run_cli: Any, hook_json: Any, home: Any) -> dict[str, Any]:
    assert run_cli(stdin=hook_json(SESSION)).returncode == 0
    [path] = home.outbox_files()
    event: dict[str, Any] = json.loads(path.read_text())["event"]
    return event


def test_hook_run_records_refs_quietly(sending: Any, run_cli: Any) -> None:
    done = run_cli("ref", "docs:intro", "api.search", stdin=_post_tool_use())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert _stored(sending) == ["docs:intro", "api.search"]


def test_refs_files_are_private(sending: Any, run_cli: Any) -> None:
    run_cli("ref", "docs:intro", stdin=_post_tool_use())
    assert _refs_file(sending).stat().st_mode & 0o777 == 0o600
    assert _refs_file(sending).parent.stat().st_mode & 0o777 == 0o700


def test_session_end_adds_refs_after_the_configured_ones_in_order_of_first_use(
    sending: Any, run_cli: Any, hook_json: Any
) -> None:
    _configure_refs(sending, ["cfg:a", "shared:x"])
    run_cli("ref", "r:1", "shared:x", stdin=_post_tool_use())
    run_cli("ref", "r:2", "r:1", stdin=_post_tool_use())
    event = _session_end(run_cli, hook_json, sending)
    assert event["discovery_refs"] == ["cfg:a", "shared:x", "r:1", "r:2"]


def test_session_end_forgets_the_refs_once_the_event_is_stored(
    sending: Any, run_cli: Any, hook_json: Any
) -> None:
    run_cli("ref", "r:1", stdin=_post_tool_use())
    _session_end(run_cli, hook_json, sending)
    assert not _refs_file(sending).exists()


def test_refs_are_kept_when_the_event_cannot_be_stored(
    sending: Any, run_cli: Any, hook_json: Any
) -> None:
    run_cli("ref", "r:1", stdin=_post_tool_use())
    (sending.state / "outbox").write_text("in the way")  # the outbox cannot be created
    assert run_cli(stdin=hook_json(SESSION)).returncode == 0
    assert _stored(sending) == ["r:1"]


def test_refs_of_another_session_are_not_taken(sending: Any, run_cli: Any, hook_json: Any) -> None:
    run_cli("ref", "other:1", stdin=_post_tool_use("another-session"))
    event = _session_end(run_cli, hook_json, sending)
    assert event["discovery_refs"] == []
    assert _stored(sending, "another-session") == ["other:1"]


def test_dry_run_shows_the_refs_and_keeps_them(sending: Any, run_cli: Any, hook_json: Any) -> None:
    run_cli("ref", "r:1", stdin=_post_tool_use())
    printed = json.loads(run_cli("--dry-run", stdin=hook_json(SESSION)).stdout)
    assert printed["discovery_refs"] == ["r:1"]
    assert _stored(sending) == ["r:1"]


def test_session_ids_are_matched_after_trimming(sending: Any, run_cli: Any, hook_json: Any) -> None:
    run_cli("ref", "r:1", stdin=_post_tool_use(f"\ufeff {SESSION}\n"))
    event = _session_end(run_cli, hook_json, sending)
    assert event["discovery_refs"] == ["r:1"]


def test_at_most_200_refs_reach_the_event(sending: Any, run_cli: Any, hook_json: Any) -> None:
    configured = [f"cfg:{i}" for i in range(150)]
    _configure_refs(sending, configured)
    recorded = [f"r:{i}" for i in range(100)]
    run_cli("ref", *recorded, stdin=_post_tool_use())
    event = _session_end(run_cli, hook_json, sending)
    assert event["discovery_refs"] == configured + recorded[:50]


def test_a_session_keeps_its_first_200_refs(sending: Any, run_cli: Any) -> None:
    recorded = [f"r:{i}" for i in range(250)]
    run_cli("ref", *recorded[:120], stdin=_post_tool_use())
    run_cli("ref", *recorded[120:], stdin=_post_tool_use())
    assert _stored(sending) == recorded[:200]


def test_consent_off_creates_nothing_at_all(home: Any, run_cli: Any, free_port: int) -> None:
    env = dict(os.environ, SESSION_EVENTS_URL=f"http://127.0.0.1:{free_port}")
    done = run_cli("ref", "docs:intro", stdin=_post_tool_use(), env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert not home.state.exists()
    assert list(home.user_home.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("DO_NOT_TRACK", "1"), ("ASHLR_TELEMETRY", "off"), ("SESSION_EVENTS_TELEMETRY", "off")],
)
def test_any_off_creates_nothing(
    sending: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    assert run_cli("ref", "docs:intro", stdin=_post_tool_use()).returncode == 0
    assert not sending.state.exists()


def test_no_endpoint_creates_nothing(consent_on: Any, run_cli: Any) -> None:
    assert run_cli("ref", "docs:intro", stdin=_post_tool_use()).returncode == 0
    assert not consent_on.state.exists()


def test_hook_run_skips_invalid_refs_silently(sending: Any, run_cli: Any) -> None:
    done = run_cli("ref", "ok:1", "_bad", "with space", "x" * 129, "", stdin=_post_tool_use())
    assert (done.returncode, done.stderr) == (0, b"")
    assert _stored(sending) == ["ok:1"]


def test_direct_run_names_invalid_refs_and_stores_the_rest(sending: Any, run_cli: Any) -> None:
    done = run_cli("ref", "--session-id", SESSION, "ok:1", "bad ref", stdin=None)
    assert done.returncode == 1
    assert b"'bad ref'" in done.stderr
    assert _stored(sending) == ["ok:1"]


def test_direct_run_with_session_id_flag_matches_the_session_end(
    sending: Any, run_cli: Any, hook_json: Any
) -> None:
    done = run_cli("ref", "--session-id", f" {SESSION} ", "r:1", stdin=None)
    assert (done.returncode, done.stderr) == (0, b"")
    assert _session_end(run_cli, hook_json, sending)["discovery_refs"] == ["r:1"]


def test_direct_run_without_a_session_id_is_a_usage_error(sending: Any, run_cli: Any) -> None:
    done = run_cli("ref", "--session-id", " ", "r:1", stdin=None)
    assert done.returncode == 2
    assert b"session id" in done.stderr
    assert not (sending.state / "session-refs").exists()


def test_hook_run_falls_back_to_claude_session_id(
    sending: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_SESSION_ID", SESSION)
    assert run_cli("ref", "r:1", stdin=b"").returncode == 0
    assert _stored(sending) == ["r:1"]


@pytest.mark.parametrize("stdin", [b"", b"not json", b"[]", _post_tool_use(None)])
def test_hook_run_without_a_session_id_records_nothing_and_exits_0(
    sending: Any, run_cli: Any, stdin: bytes
) -> None:
    done = run_cli("ref", "r:1", stdin=stdin)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert not (sending.state / "session-refs").exists()


@pytest.mark.parametrize("args", [("ref", "--no-such-flag", "r:1"), ("ref", "-r"), ("ref",)])
def test_hook_run_exits_0_on_a_bad_command_line(sending: Any, run_cli: Any, args: Any) -> None:
    done = run_cli(*args, stdin=_post_tool_use())
    assert (done.returncode, done.stdout) == (0, b"")


def test_hook_run_exits_0_when_the_state_directory_is_unusable(sending: Any, run_cli: Any) -> None:
    sending.state.mkdir()
    (sending.state / "session-refs").write_text("in the way")
    done = run_cli("ref", "r:1", stdin=_post_tool_use())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_large_post_tool_use_input_is_read(sending: Any, run_cli: Any) -> None:
    data = _post_tool_use(tool_response={"content": "x" * (3 * 1024 * 1024)})
    assert run_cli("ref", "r:1", stdin=data).returncode == 0
    assert _stored(sending) == ["r:1"]


def test_concurrent_runs_all_add_up(sending: Any) -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "session_event_emitter", "ref", f"r:{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=sending.root,
        )
        for i in range(8)
    ]
    for run in runs:  # every input is written before any run is waited for
        assert run.stdin is not None
        run.stdin.write(_post_tool_use())
        run.stdin.close()
    for run in runs:
        assert run.wait(timeout=60) == 0
    assert sorted(_stored(sending)) == sorted(f"r:{i}" for i in range(8))


_NO_NETWORK = """
import sys
from session_event_emitter.cli import main
code = main(["ref", "r:1"])
loaded = sorted(m for m in ("requests", "urllib3", "http.client", "ssl") if m in sys.modules)
sys.stderr.write(f"{code} {loaded}")
"""


def test_ref_loads_no_network_module(sending: Any, run_cli: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK],
        input=_post_tool_use(),
        capture_output=True,
        timeout=60,
        check=False,
        cwd=sending.root,
    )
    assert done.stderr == b"0 []"
    assert _stored(sending) == ["r:1"]


def test_old_session_files_are_pruned_when_a_new_session_records(sending: Any) -> None:
    old = "a" * 64
    refs.record(str(sending.state), old, ["r:old"])
    old_path = sending.state / "session-refs" / f"{old}.json"
    eight_days_ago = time.time() - 8 * 24 * 3600
    os.utime(old_path, (eight_days_ago, eight_days_ago))
    refs.record(str(sending.state), "b" * 64, ["r:new"])
    assert not old_path.exists()


def test_at_most_100_session_files_are_kept_oldest_first_out(sending: Any) -> None:
    hashes = [f"{i:064x}" for i in range(105)]
    for age, digest in enumerate(reversed(hashes)):
        refs.record(str(sending.state), digest, ["r:1"])
        path = sending.state / "session-refs" / f"{digest}.json"
        then = time.time() - 3600 - (105 - age)
        os.utime(path, (then, then))
    kept = {p.name[:-5] for p in (sending.state / "session-refs").glob("*.json")}
    assert len(kept) == 100
    assert hashes[0] in kept  # the last one recorded
    assert hashes[-1] not in kept  # the first one recorded


def test_merge_keeps_order_of_first_use_and_caps_at_200() -> None:
    assert refs.merge(["a", "b"], ["b", "c", "a"]) == ["a", "b", "c"]
    assert refs.merge([f"x{i}" for i in range(300)]) == [f"x{i}" for i in range(200)]
