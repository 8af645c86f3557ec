"""Erasure inside the stores: the time bound, the SQLite file's bytes, the identities
derived, and the operator's rollups after the next job run."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from support import Backend, hexhash
from test_forget_http import forget, history, identity, moments_within_retention, send
from test_rollup_stores import make_event, record

from session_events.core.errors import StoreUnavailable
from session_events.ingest.config import Settings
from session_events.ingest.forget import identity_hashes, salts
from session_events.rollups.documents import read_daily, read_versions
from session_events.rollups.job import run_rollup
from session_events.runtime import open_store


def test_the_salts_run_from_the_first_quarter_the_server_accepts_to_24_hours_ahead() -> None:
    may = salts(datetime(2026, 5, 15, tzinfo=UTC))
    assert (may[0], may[-1], len(may)) == ("salt_2020Q1", "salt_2026Q2", 26)
    quarter_end = salts(datetime(2026, 3, 31, 6, tzinfo=UTC))
    assert quarter_end[-2:] == ["salt_2026Q1", "salt_2026Q2"]
    install = "0f8c1a52-8b7e-4d4c-9a57-3c8c0e6b2f11"
    expected = hashlib.sha256(f"{install}salt_2026Q2".encode()).hexdigest()
    assert identity_hashes(install, datetime(2026, 5, 15, tzinfo=UTC))[-1] == expected


def test_after_forget_the_sqlite_file_holds_no_byte_of_the_erased_identities(
    make_client: Any, tmp_path: Path
) -> None:
    db = tmp_path / "events.db"
    client = make_client(SESSION_EVENTS_STORE="sqlite", SESSION_EVENTS_SQLITE_PATH=str(db))
    person, other = str(uuid.uuid4()), str(uuid.uuid4())
    moments = moments_within_retention()
    send(client, history(person, moments) + history(other, moments))
    theirs = [identity(person, moment).encode() for moment in moments]
    files = [db, Path(f"{db}-wal")]

    def on_disk() -> bytes:
        return b"".join(path.read_bytes() for path in files if path.exists())

    assert all(hash_ in on_disk() for hash_ in theirs)
    assert forget(client, person).get_json() == {"ok": True, "deleted": 2 * len(moments)}
    assert not any(hash_ in on_disk() for hash_ in theirs)
    assert identity(other, moments[0]).encode() in on_disk()


@pytest.fixture
def firestore_store(firestore_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from session_events.stores.firestore.store import FirestoreStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-session-events")
    # A cold emulator on a busy machine can take seconds over its first request.
    return FirestoreStore(f"session_events_{uuid.uuid4().hex[:12]}", timeout_s=30)


@pytest.fixture
def dynamodb_store(moto_dynamodb: Any) -> Iterator[Any]:
    from session_events.stores.dynamodb.store import DynamoDbStore
    from session_events.stores.dynamodb.table import create_table

    table = f"session_events_{uuid.uuid4().hex[:12]}"
    create_table(moto_dynamodb, table)
    store = DynamoDbStore(table)
    yield store
    store.close()


def _fill_one_identity(store: Any, count: int) -> str:
    identity_hash = hexhash(f"erase-{uuid.uuid4()}")
    bodies = [{**make_event(0, 20, n), "identity_hash": identity_hash} for n in range(count)]
    outcomes = store.put_many([record(body) for body in bodies])
    assert {str(outcome) for outcome in outcomes} == {"accepted"}
    return identity_hash


class _Clock:
    """A clock for the stores' deadlines that stands still until the test ends the time."""

    def __init__(self) -> None:
        self.now = 0.0

    def run_out(self) -> None:
        self.now = 10_000.0

    def deadline(self) -> type[Any]:
        from session_events.core.deadline import Deadline

        clock = self

        class Stopped(Deadline):
            def __init__(self, seconds: float, **_: Any) -> None:
                super().__init__(seconds, clock=lambda: clock.now)

        return Stopped


@pytest.mark.firestore
def test_a_firestore_erasure_cut_off_by_the_time_bound_is_finished_by_a_repeat(
    firestore_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the bound the store says unavailable (the route answers 503); the pages it
    deleted stay deleted, and the repeat deletes the rest and counts only those."""
    import session_events.stores.firestore.store as module

    store = firestore_store
    target, keep = _fill_one_identity(store, 12), _fill_one_identity(store, 3)
    clock = _Clock()
    monkeypatch.setattr(module, "Deadline", clock.deadline())
    monkeypatch.setattr(store, "erase_page", 5, raising=False)
    delete = store._delete_batch

    def delete_then_run_out(*args: Any) -> None:
        delete(*args)
        clock.run_out()  # one page is deleted, then time is up

    monkeypatch.setattr(store, "_delete_batch", delete_then_run_out)
    with pytest.raises(StoreUnavailable):
        store.erase_identities([target])
    assert _count(store, target) == 12 - 5

    monkeypatch.undo()
    assert store.erase_identities([target]) == 12 - 5
    assert (_count(store, target), _count(store, keep)) == (0, 3)


def test_a_dynamodb_erasure_cut_off_by_the_time_bound_is_finished_by_a_repeat(
    dynamodb_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import session_events.stores.dynamodb.store as module

    store = dynamodb_store
    target, keep = _fill_one_identity(store, 12), _fill_one_identity(store, 3)
    clock = _Clock()
    monkeypatch.setattr(module, "Deadline", clock.deadline())
    lookup = store._identity_keys
    started = threading.Event()

    def slow_delete(*args: Any) -> int:
        started.wait(5)  # the deletes start only once the caller has given up
        return int(delete(*args))

    def lookup_then_run_out(*args: Any) -> list[str]:
        keys = lookup(*args)
        clock.run_out()
        return list(keys)

    delete = store._delete
    monkeypatch.setattr(store, "_identity_keys", lookup_then_run_out)
    monkeypatch.setattr(store, "_delete", slow_delete)
    with pytest.raises(StoreUnavailable):
        store.erase_identities([target])
    started.set()

    monkeypatch.undo()
    repeated = store.erase_identities([target])
    assert 0 <= repeated <= 12
    assert (_count(store, target), _count(store, keep)) == (0, 3)


def _count(store: Any, identity_hash: str) -> int:
    return len(
        store.identity_sessions(
            identity_hash, "2020-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z", 1000
        )
    )


def test_the_next_rollup_run_leaves_the_erased_sessions_out_of_the_operators_figures(
    backend: Backend, backend_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    person, others = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0)
    moments = [yesterday, yesterday - timedelta(days=2)]
    send(backend_client, history(person, moments, per_quarter=4))
    for other in others:
        send(backend_client, history(other, moments, per_quarter=1))
    store = open_store(Settings.from_env(backend.env))
    days = [moment.date() for moment in moments]

    def figures() -> tuple[list[tuple[int, int]], tuple[int, int]]:
        daily = [(row.identities, row.sessions) for row in read_daily(store, days)]
        _as_of, versions = read_versions(store, "7d")
        return daily, (sum(r.identities for r in versions), sum(r.sessions for r in versions))

    run_rollup(store, days=8)
    assert figures() == ([(4, 7), (4, 7)], (4, 14))

    assert forget(backend_client, person).get_json() == {"ok": True, "deleted": 8}
    run_rollup(store, days=8)

    assert figures() == ([(3, 3), (3, 3)], (3, 6))


def test_a_day_the_window_left_behind_is_recomputed_once_an_erasure_or_a_late_event_changes_it(
    backend: Backend, backend_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    person, others = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(2)]
    # Days the 8-day window no longer recomputes, that the operator's 90 days still show.
    old = (datetime.now(UTC) - timedelta(days=30)).replace(hour=12, minute=0)
    older = old - timedelta(days=20)
    send(backend_client, history(person, [old, older], per_quarter=3))
    for other in others:
        send(backend_client, history(other, [old], per_quarter=1))
    store = open_store(Settings.from_env(backend.env))

    def daily(moment: datetime) -> tuple[int, int]:
        [row] = read_daily(store, [moment.date()])
        return row.identities, row.sessions

    first = run_rollup(store, days=8)
    assert (daily(old), daily(older)) == ((3, 5), (1, 3))
    assert set(first.recomputed) == {old.date().isoformat(), older.date().isoformat()}
    assert run_rollup(store, days=8).recomputed == []  # nothing changed: nothing rewritten

    assert forget(backend_client, person).get_json() == {"ok": True, "deleted": 6}
    after = run_rollup(store, days=8)
    assert (daily(old), daily(older)) == ((2, 2), (0, 0))
    assert set(after.recomputed) == {old.date().isoformat(), older.date().isoformat()}

    # A machine that was offline for weeks sends a session of that old day.
    late = str(uuid.uuid4())
    send(backend_client, history(late, [old], per_quarter=1))
    assert run_rollup(store, days=8).recomputed == [old.date().isoformat()]
    assert daily(old) == (3, 3)


@pytest.mark.parametrize("days_back", [15, 40])  # in the 28 days a run reads; before them
def test_an_erasure_evened_out_by_a_late_event_of_the_same_day_is_still_recomputed(
    backend: Backend,
    backend_client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    days_back: int,
) -> None:
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    person, other = str(uuid.uuid4()), str(uuid.uuid4())
    day = (datetime.now(UTC) - timedelta(days=days_back)).replace(hour=12, minute=0)
    send(backend_client, history(person, [day], per_quarter=1))
    send(backend_client, history(other, [day], per_quarter=1))
    store = open_store(Settings.from_env(backend.env))
    run_rollup(store, days=8)
    [row] = read_daily(store, [day.date()])
    assert (row.identities, row.sessions, row.events) == (2, 2, 2)

    # Between two runs the person erases their session and another session of that day
    # arrives late: the day's count of events is 2 again.
    assert forget(backend_client, person).get_json() == {"ok": True, "deleted": 1}
    send(backend_client, history(other, [day + timedelta(minutes=30)], per_quarter=1))
    assert run_rollup(store, days=8).recomputed == [day.date().isoformat()]
    [row] = read_daily(store, [day.date()])
    assert (row.identities, row.sessions, row.events) == (1, 2, 2)
    assert run_rollup(store, days=8).recomputed == []  # the erasure is handled once
