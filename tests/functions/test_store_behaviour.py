"""The seed server's behaviours, run through HTTP against every real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from support import FIXTURE_EVENT, URL, Backend, event, hexhash


def test_full_payload_is_stored_field_by_field(
    backend_client: FlaskClient, backend: Backend
) -> None:
    payload = event(github_hash=hexhash("octocat"), branch_sha="3F9C2AB71E04")
    answer = backend_client.post(URL, json=payload)
    assert answer.status_code == 202
    assert answer.get_json() == {"ok": True, "status": "accepted"}
    [row] = backend.rows()
    assert row["identity_hash"] == payload["identity_hash"]
    assert row["session_id_hash"] == payload["session_id_hash"]
    assert row["github_hash"] == hexhash("octocat")
    assert row["ended_at"] == "2026-05-22T12:34:56.000Z"
    assert row["tool_count"] == 42
    assert row["tokens_saved"] == 12800
    assert row["branch_sha"] == "3f9c2ab71e04"
    assert row["discovery_refs"] == ["skill:grep", "doc:readme"]
    assert row["plugin_version"] == "1.4.0"
    received = datetime.fromisoformat(row["received_at"])
    expire = datetime.fromisoformat(row["expire_at"])
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=5)
    assert abs(expire - received - timedelta(days=365)) < timedelta(seconds=5)


def test_same_pair_twice_is_one_row_and_both_answers_are_202(
    backend_client: FlaskClient, backend: Backend
) -> None:
    first = backend_client.post(URL, json=event())
    second = backend_client.post(URL, json=event(tool_count=7))
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.get_json()["status"] == "accepted"
    assert second.get_json()["status"] == "duplicate"
    [row] = backend.rows()
    assert row["tool_count"] == 42  # the first event wins; the second changes nothing


def test_optional_fields_omitted_are_null_and_empty(
    backend_client: FlaskClient, backend: Backend
) -> None:
    payload = event(github_hash=None, branch_sha=None, discovery_refs=None, schema_version=None)
    assert backend_client.post(URL, json=payload).status_code == 202
    [row] = backend.rows()
    assert row["github_hash"] is None
    assert row["branch_sha"] is None
    assert row["discovery_refs"] == []


def test_explicit_nulls_are_accepted_as_absent(
    backend_client: FlaskClient, backend: Backend
) -> None:
    payload = {**FIXTURE_EVENT, "github_hash": None, "branch_sha": None, "discovery_refs": None}
    assert backend_client.post(URL, json=payload).status_code == 202
    [row] = backend.rows()
    assert (row["branch_sha"], row["discovery_refs"]) == (None, [])


def test_discovery_refs_keep_their_order(backend_client: FlaskClient, backend: Backend) -> None:
    refs = ["zeta", "alpha", "mid:1", "alpha.2", "0first"]
    assert backend_client.post(URL, json=event(discovery_refs=refs)).status_code == 202
    assert backend.rows()[0]["discovery_refs"] == refs


def test_same_identity_with_two_sessions_is_two_rows(
    backend_client: FlaskClient, backend: Backend
) -> None:
    for seed in ("session-1", "session-2"):
        answer = backend_client.post(URL, json=event(session_id_hash=hexhash(seed)))
        assert answer.get_json() == {"ok": True, "status": "accepted"}
    rows = backend.rows()
    assert len(rows) == 2
    assert {row["session_id_hash"] for row in rows} == {hexhash("session-1"), hexhash("session-2")}


def test_offset_timestamp_is_stored_in_utc(backend_client: FlaskClient, backend: Backend) -> None:
    payload = event(ended_at="2026-05-22T14:34:56.5+02:00")
    assert backend_client.post(URL, json=payload).status_code == 202
    assert backend.rows()[0]["ended_at"] == "2026-05-22T12:34:56.500Z"


def test_rejected_events_store_nothing(backend_client: FlaskClient, backend: Backend) -> None:
    answer = backend_client.post(URL, json=event(identity_hash="a" * 40))
    assert answer.status_code == 400
    assert backend.rows() == []


def test_batch_gives_per_event_verdicts_in_order(
    backend_client: FlaskClient, backend: Backend
) -> None:
    backend_client.post(URL, json=event(session_id_hash=hexhash("already")))
    events = [
        event(session_id_hash=hexhash("new-1")),
        event(session_id_hash=hexhash("already")),
        event(session_id_hash=hexhash("bad"), tool_count=-1),
        event(session_id_hash=hexhash("new-2")),
        event(session_id_hash=hexhash("new-1")),
    ]
    answer = backend_client.post(f"{URL}/batch", json={"events": events})
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert [result["status"] for result in results] == [
        "accepted",
        "duplicate",
        "invalid",
        "accepted",
        "duplicate",
    ]
    assert results[2]["issues"][0]["loc"] == ["tool_count"]
    stored = {row["session_id_hash"] for row in backend.rows()}
    assert stored == {hexhash("already"), hexhash("new-1"), hexhash("new-2")}


def test_readyz_answers_when_the_store_answers(backend_client: FlaskClient) -> None:
    answer = backend_client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {"ok": True}


def test_counts_sent_as_5_point_0_are_stored_as_integers(
    backend_client: FlaskClient, backend: Backend
) -> None:
    body = json.dumps(event(tool_count=None, tokens_saved=None))[:-1]
    body += ', "tool_count": 5.0, "tokens_saved": 4400.0}'  # as Python's json.dumps(5.0) writes
    answer = backend_client.post(URL, data=body, content_type="application/json")
    assert answer.get_json() == {"ok": True, "status": "accepted"}
    [row] = backend.rows()
    assert (row["tool_count"], row["tokens_saved"]) == (5, 4400)
    assert type(row["tool_count"]) is int


@pytest.mark.parametrize("value", ["5.5", "true", '"5"'])
def test_counts_that_are_not_whole_numbers_are_refused(
    backend_client: FlaskClient, backend: Backend, value: str
) -> None:
    body = json.dumps(event(tool_count=None))[:-1] + f', "tool_count": {value}}}'
    answer = backend_client.post(URL, data=body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["issues"][0]["loc"] == ["tool_count"]
    assert backend.rows() == []
