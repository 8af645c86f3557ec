"""Attempts to break the lighter ingest path: its validator, time stamps and SQLite file."""

from __future__ import annotations

import pytest
from conftest import AppFactory
from support import BATCH_URL, URL, event

# An offset that takes the moment past what a datetime can hold once it is made UTC.
UNREPRESENTABLE_IN_UTC = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("ended_at", UNREPRESENTABLE_IN_UTC)
def test_ended_at_beyond_utc_range_is_a_validation_failure_not_a_500(
    make_client: AppFactory, ended_at: str
) -> None:
    client = make_client(SESSION_EVENTS_STORE="memory")
    answer = client.post(URL, json=event(ended_at=ended_at))
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "validation_failed"
    assert [issue["loc"] for issue in answer.get_json()["issues"]] == [["ended_at"]]


@pytest.mark.parametrize("ended_at", UNREPRESENTABLE_IN_UTC)
def test_ended_at_beyond_utc_range_is_one_invalid_batch_item(
    make_client: AppFactory, ended_at: str
) -> None:
    client = make_client(SESSION_EVENTS_STORE="memory")
    answer = client.post(BATCH_URL, json={"events": [event(ended_at=ended_at), event()]})
    assert answer.status_code == 200
    statuses = [result["status"] for result in answer.get_json()["results"]]
    assert statuses == ["invalid", "accepted"]
