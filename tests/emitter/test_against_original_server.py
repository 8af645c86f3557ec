"""Our emitter, set up only as the original plugin is, against a stand-in of the original server.

The stand-in (original_server.py) has only the single endpoint, a strict schema of nine
keys and JSON 404s elsewhere: every event must arrive once, none may be dead-lettered, and
`status` must say events go one by one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from original_server import OriginalServer, original_server_fixture  # noqa: F401

from session_event_emitter.event import HookInput, build_event, idempotency_key
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings


@pytest.mark.parametrize("variable", ["ASHLR_SESSION_EVENTS_URL", "ASHLR_API_URL"])
def test_the_original_server_gets_every_event_once_and_nothing_is_dead_lettered(
    home: Any,
    run_cli: Any,
    hook_json: Any,
    monkeypatch: pytest.MonkeyPatch,
    original_server: OriginalServer,
    variable: str,
) -> None:
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")
    # The batch probe and the single endpoint's verdict in one run, on a loaded machine too:
    # a run cut between them would ask the batch endpoint again.
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", "30")
    url = (
        original_server.endpoint if variable == "ASHLR_SESSION_EVENTS_URL" else original_server.url
    )
    monkeypatch.setenv(variable, url)
    sessions = [f"original-{n}" for n in range(3)]
    for session in sessions:
        assert run_cli(stdin=hook_json(session)).returncode == 0
    done = run_cli("flush", "--deadline", "10")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(original_server.events) == 3
    assert all("schema_version" not in event for event in original_server.events)
    assert all(event["github_hash"] is None for event in original_server.events)  # as sent
    assert home.outbox_files() == []
    assert Outbox(home.state).dead_letters() == []
    status = json.loads(run_cli("status", "--json").stdout)
    assert "one event per request" in status["endpoint_line"]
    assert status["last_delivery"]["mode"] == "single"

    assert run_cli(stdin=hook_json("original-later")).returncode == 0
    assert run_cli("flush").returncode == 0
    assert len(original_server.events) == 4
    batch_tries = [path for _, path in original_server.requests if path.endswith("/batch")]
    assert len(batch_tries) <= 1  # remembered: the batch endpoint is not asked again


def test_our_own_function_still_gets_batches(
    home: Any, run_cli: Any, hook_json: Any, monkeypatch: pytest.MonkeyPatch, stub_server: Any
) -> None:
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")
    monkeypatch.setenv("ASHLR_API_URL", stub_server.url)
    for n in range(3):
        assert run_cli(stdin=hook_json(f"ours-{n}")).returncode == 0
    assert run_cli("flush").returncode == 0
    assert sum(len(batch) for batch in stub_server.received) == 3
    status = json.loads(run_cli("status", "--json").stdout)
    assert "batches" in status["endpoint_line"]


def test_an_event_stored_before_github_hash_was_sent_as_null_is_sent_with_null(
    home: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, original_server: OriginalServer
) -> None:
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")
    monkeypatch.setenv("ASHLR_SESSION_EVENTS_URL", original_server.endpoint)
    event = build_event(Settings.load(), HookInput(session_id="older"), {})
    del event["github_hash"]
    Outbox(home.state).put(idempotency_key(event), event)
    assert run_cli("flush").returncode == 0
    [stored] = original_server.events
    assert "github_hash" in stored
    assert stored["github_hash"] is None
