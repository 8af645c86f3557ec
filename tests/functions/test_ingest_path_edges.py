"""Attempts to break the lighter ingest path: its validator, time stamps and SQLite file."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from support import BATCH_URL, URL, event, hexhash

from session_events.core.errors import StoreUnavailable
from session_events.ingest.validator import validate_event
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.sqlite.store import SqliteStore

# "Not forever": a bound on waiting, never a timing assertion.
LIVENESS_S = 60

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


def _record(seed: str) -> EventRecord:
    now = datetime.now(UTC)
    return EventRecord(
        validate_event(event(session_id_hash=hexhash(seed))), now, now + timedelta(days=365)
    )


def _count_seen_by_another_connection(path: Path) -> int:
    reader = sqlite3.connect(path)
    try:
        (count,) = reader.execute("SELECT COUNT(*) FROM session_events").fetchone()
    finally:
        reader.close()
    return int(count)


def _read_side_set_up_while_another_writer_holds_the_lock(path: Path) -> SqliteStore:
    """A store whose first read came while another process held the write lock."""
    store = SqliteStore(str(path), timeout_s=0.3)
    assert store.put(_record("before")) is Outcome.ACCEPTED
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            store.events_between("2020-01-01", "2100-01-01")
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    return store


def test_event_accepted_after_a_read_refused_under_a_lock_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = _read_side_set_up_while_another_writer_holds_the_lock(path)
    assert store.put(_record("after")) is Outcome.ACCEPTED
    assert _count_seen_by_another_connection(path) == 2


def test_batch_after_a_read_refused_under_a_lock_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = _read_side_set_up_while_another_writer_holds_the_lock(path)
    assert store.put_many([_record("batched")]) == [Outcome.ACCEPTED]
    assert _count_seen_by_another_connection(path) == 2


class _SlowOpen:
    """A deadline of `seconds` whose first reading comes before an open that takes `spent`."""

    def __init__(self, seconds: float, spent: float) -> None:
        self._readings = [seconds]
        self._after = seconds - spent

    def remaining(self) -> float:
        return self._readings.pop() if self._readings else self._after


class _Left:
    """A deadline with a fixed time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def remaining(self) -> float:
        return self.seconds


def test_busy_wait_after_a_slow_open_is_never_longer_than_the_time_left(tmp_path: Path) -> None:
    """The busy timeout the connection was opened with is the one the next call bounds."""
    store = SqliteStore(str(tmp_path / "events.db"), timeout_s=4)
    conn = store._connect(_SlowOpen(4.0, spent=3.0))  # type: ignore[arg-type]
    store._bound_busy_timeout(conn, _Left(1.02))  # type: ignore[arg-type]
    (busy_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
    assert busy_ms <= 1020


PROCESSES = 8


def _post_once(path: str, start: Any, answers: Any) -> None:
    store = SqliteStore(path, timeout_s=LIVENESS_S)  # each its own instance of a new file
    record = _record("the same event")
    start.wait()
    answers.put(str(store.put(record)))


def test_one_event_from_eight_processes_at_once_on_a_new_file_is_stored_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new" / "events.db"
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    answers = context.Queue()
    processes = [
        context.Process(target=_post_once, args=(str(path), start, answers))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(LIVENESS_S)
    told = sorted(answers.get(timeout=LIVENESS_S) for _ in range(PROCESSES))
    assert told == ["accepted"] + ["duplicate"] * (PROCESSES - 1)
    assert _count_seen_by_another_connection(path) == 1
