"""The stand-in of the original server behaves as the original does (emitter/README.md,
"Alongside the original plugin")."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from original_server import OriginalServer, original_server_fixture  # noqa: F401

from session_event_emitter.event import HookInput, build_event
from session_event_emitter.settings import Settings


def _event(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "identity_hash": "a" * 64,
        "session_id_hash": "b" * 64,
        "ended_at": "2026-05-22T12:34:56.000Z",
        "tool_count": 3,
        "tokens_saved": 40,
        "plugin_version": "1.0.0",
        "discovery_refs": [],
    }
    event.update(changes)
    return event


def _post(url: str, body: object, method: str = "POST") -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_valid_event_is_accepted_with_the_original_answer(
    original_server: OriginalServer,
) -> None:
    assert _post(original_server.endpoint, _event()) == (202, {"ok": True})
    assert len(original_server.events) == 1


def test_same_pair_is_stored_once_and_answered_the_same(
    original_server: OriginalServer,
) -> None:
    _post(original_server.endpoint, _event(tool_count=1))
    assert _post(original_server.endpoint, _event(tool_count=2)) == (202, {"ok": True})
    assert [e["tool_count"] for e in original_server.events] == [1]


def test_schema_version_is_an_unrecognized_key(original_server: OriginalServer) -> None:
    status, body = _post(original_server.endpoint, _event(schema_version=1))
    assert status == 400
    assert body["error"] == "Validation failed"
    assert [issue["code"] for issue in body["issues"]] == ["unrecognized_keys"]
    assert original_server.events == []


def test_a_null_github_hash_is_accepted(original_server: OriginalServer) -> None:
    assert _post(original_server.endpoint, _event(github_hash=None)) == (202, {"ok": True})
    assert original_server.events[0]["github_hash"] is None


def test_null_discovery_refs_are_refused(original_server: OriginalServer) -> None:
    status, body = _post(original_server.endpoint, _event(discovery_refs=None))
    assert (status, body["error"]) == (400, "Validation failed")


def test_missing_discovery_refs_are_stored_as_an_empty_list(
    original_server: OriginalServer,
) -> None:
    event = _event()
    del event["discovery_refs"]
    assert _post(original_server.endpoint, event)[0] == 202
    assert original_server.events[0]["discovery_refs"] == []


@pytest.mark.parametrize(
    "path", ["/v1/session-events/batch", "/", "/healthz", "/v1/session-events/"]
)
def test_other_paths_are_a_json_404(original_server: OriginalServer, path: str) -> None:
    assert _post(original_server.url + path, _event()) == (404, {"error": "Not found"})
    assert original_server.events == []


def test_get_on_the_endpoint_is_a_json_404(original_server: OriginalServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(original_server.endpoint, timeout=10)
    assert raised.value.code == 404
    assert json.loads(raised.value.read()) == {"error": "Not found"}


def test_zero_fraction_count_is_stored_as_an_integer(original_server: OriginalServer) -> None:
    assert _post(original_server.endpoint, _event(tool_count=5.0))[0] == 202
    stored = original_server.events[0]["tool_count"]
    assert (stored, type(stored)) == (5, int)


@pytest.mark.parametrize(
    "changes",
    [
        {"tool_count": 5.5},
        {"tool_count": True},
        {"tool_count": "5"},
        {"tool_count": -1},
        {"tokens_saved": 1_000_000_001},
        {"identity_hash": "A" * 64},
        {"identity_hash": "a" * 64 + "\n"},
        {"ended_at": "2019-12-31T23:59:59Z"},
        {"ended_at": "2026-05-22T12:34:56Zjunk"},
        {"branch_sha": "abc"},
        {"discovery_refs": ["-starts-with-dash"]},
        {"discovery_refs": ["r"] * 201},
        {"plugin_version": ""},
        {"github_hash": "x"},
    ],
)
def test_contract_violations_are_refused(
    original_server: OriginalServer, changes: dict[str, object]
) -> None:
    status, body = _post(original_server.endpoint, _event(**changes))
    assert (status, body["error"]) == (400, "Validation failed")
    assert body["issues"]
    assert original_server.events == []


def test_body_that_is_not_json_is_refused(original_server: OriginalServer) -> None:
    assert _post(original_server.endpoint, b"{not json")[0] == 400


def test_event_the_emitter_builds_is_accepted(
    original_server: OriginalServer, home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_GITHUB_LOGIN", "octo_cat")
    event = build_event(Settings.load(), HookInput(session_id="s-1", cwd=str(home.root)), {})
    assert "branch_sha" not in event
    assert _post(original_server.endpoint, event) == (202, {"ok": True})
    assert original_server.events == [event]
