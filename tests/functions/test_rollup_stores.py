"""The rollup job and the read port on every real store: SQLite, the Firestore emulator, moto.

The same events go into each store through its own write path; every figure read back must
be the one the plain computation gives, and the same on every store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, hexhash

from session_events.contract.schema import SessionEvent, format_timestamp
from session_events.core.errors import StoreUnavailable
from session_events.rollups.compute import Plan, compute
from session_events.rollups.documents import read_daily, read_refs, read_versions, to_documents
from session_events.rollups.job import run_rollup
from session_events.stores.base import EventRecord, ReadStore
from session_events.stores.readmodel import Cursor, StoredEvent

NOW = datetime(2026, 5, 28, 18, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 5, 28, 18, 0, tzinfo=UTC)


def make_event(
    identity: int,
    day: int,
    n: int = 0,
    *,
    github: bool = False,
    hour: int = 12,
    version: str = "1.0.0",
    tools: int = 5,
    refs: tuple[str, ...] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identity_hash": hexhash(f"identity-{identity}"),
        "session_id_hash": hexhash(f"session-{identity}-{day}-{n}-{hour}"),
        "ended_at": f"2026-05-{day:02d}T{hour:02d}:{n // 60:02d}:{n % 60:02d}.000Z",
        "tool_count": tools,
        "tokens_saved": tools * 100,
        "plugin_version": version,
        "discovery_refs": list(refs),
    }
    if github:
        body["github_hash"] = hexhash(f"gh-{identity}")
    return body


def record(body: dict[str, Any], *, retention_days: int = 365) -> EventRecord:
    return EventRecord(
        SessionEvent.model_validate(body), RECEIVED, RECEIVED + timedelta(days=retention_days)
    )


def sample() -> list[dict[str, Any]]:
    """A month of sessions: 12 identities, two versions, refs, a busy identity over the cap."""
    events = []
    for identity in range(12):
        for day in (2, 15, 22, 27, 28):
            if (identity + day) % 3 == 0:
                continue
            version = "2.0.0" if identity % 4 == 0 else "1.0.0"
            refs = ("skill:grep",) if identity < 7 else ("doc:rare",) if identity == 8 else ()
            events.append(
                make_event(
                    identity,
                    day,
                    github=identity % 2 == 0,
                    version=version,
                    tools=identity + day,
                    refs=refs,
                )
            )
    events += [make_event(99, 27, n, tools=n) for n in range(25)]  # over the daily cap
    events.append(make_event(5, 29))  # after the last day: outside every window
    return events


@pytest.fixture(
    params=["sqlite", "memory", pytest.param("firestore", marks=pytest.mark.firestore), "dynamodb"]
)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    if request.param == "sqlite":
        from session_events.stores.sqlite.store import SqliteStore

        sqlite = SqliteStore(str(tmp_path / "events.db"))
        yield sqlite
        sqlite.close()
    elif request.param == "memory":
        from session_events.stores.memory import MemoryStore

        yield MemoryStore()
    elif request.param == "firestore":
        from session_events.stores.firestore.store import FirestoreStore

        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", request.getfixturevalue("firestore_emulator"))
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-session-events")
        yield FirestoreStore(f"session_events_{uuid.uuid4().hex[:12]}")
    else:
        from session_events.stores.dynamodb.store import DynamoDbStore
        from session_events.stores.dynamodb.table import create_table

        client = request.getfixturevalue("moto_dynamodb")
        table = f"session_events_{uuid.uuid4().hex[:12]}"
        create_table(client, table)
        dynamo = DynamoDbStore(table)
        yield dynamo
        dynamo.close()


def fill(store: Any, bodies: list[dict[str, Any]]) -> list[StoredEvent]:
    store.put_many([record(body) for body in bodies])
    return [
        StoredEvent(
            identity_hash=b["identity_hash"],
            session_id_hash=b["session_id_hash"],
            ended_at=b["ended_at"],
            tool_count=b["tool_count"],
            tokens_saved=b["tokens_saved"],
            plugin_version=b["plugin_version"],
            github_hash=b.get("github_hash"),
            discovery_refs=tuple(b["discovery_refs"]),
        )
        for b in bodies
    ]


def test_every_adapter_implements_the_read_port(store: Any) -> None:
    assert isinstance(store, ReadStore)


def test_events_between_is_start_inclusive_and_end_exclusive(store: Any) -> None:
    bodies = [
        make_event(1, 10, hour=0),
        make_event(2, 10, hour=23, n=59 * 60 + 59),
        make_event(3, 11, hour=0),
        make_event(4, 9, hour=23, n=59 * 60 + 59),
    ]
    fill(store, bodies)
    found = store.events_between("2026-05-10T00:00:00.000Z", "2026-05-11T00:00:00.000Z")
    assert sorted(e.identity_hash for e in found) == sorted(
        [hexhash("identity-1"), hexhash("identity-2")]
    )


def test_events_read_back_whole(store: Any) -> None:
    [expected] = fill(store, [make_event(1, 10, github=True, refs=("b", "a"))])
    [found] = store.events_between("2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z")
    assert found == expected


def test_job_writes_the_rollups_the_computation_gives(store: Any) -> None:
    events = fill(store, sample())
    result = run_rollup(store, days=8, clock=lambda: NOW)
    plan = Plan(NOW.date(), 8)
    expected = compute(events, plan)
    assert result.days == [f"2026-05-{d}" for d in range(21, 29)]
    assert result.events == len(events) - 1  # the one after the last day is not read
    assert read_daily(store, plan.daily_days) == expected.daily
    assert read_versions(store, "7d") == ("2026-05-28", expected.versions["7d"])
    assert read_versions(store, "28d") == ("2026-05-28", expected.versions["28d"])
    assert read_refs(store) == ("2026-05-28", expected.refs)


def test_job_figures_are_the_expected_numbers(store: Any) -> None:
    fill(store, sample())
    run_rollup(store, days=8, clock=lambda: NOW)
    daily = {row.day: row for row in read_daily(store, Plan(NOW.date(), 8).daily_days)}
    assert (daily["2026-05-27"].identities, daily["2026-05-27"].sessions) == (9, 28)
    assert (daily["2026-05-22"].identities, daily["2026-05-22"].sessions) == (8, 8)
    assert (daily["2026-05-23"].identities, daily["2026-05-23"].sessions) == (0, 0)
    _as_of, refs = read_refs(store)
    assert [(row.ref, row.identities) for row in refs] == [("skill:grep", 7)]


def test_a_second_run_writes_the_same_rollups(store: Any) -> None:
    fill(store, sample())
    run_rollup(store, days=8, clock=lambda: NOW)
    keys = list(to_documents(compute([], Plan(NOW.date(), 8))))
    first = store.read_rollups(keys)
    run_rollup(store, days=8, clock=lambda: NOW)
    assert store.read_rollups(keys) == first


def test_a_run_that_cannot_read_everything_writes_nothing(store: Any) -> None:
    fill(store, sample())
    run_rollup(store, days=8, clock=lambda: NOW)
    keys = list(to_documents(compute([], Plan(NOW.date(), 8))))
    before = store.read_rollups(keys)
    fill(store, [make_event(50, 28, n) for n in range(5)])

    class Failing:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def events_between(self, start: str, end: str) -> Iterator[StoredEvent]:
            yield from list(store.events_between(start, end))[:3]
            raise StoreUnavailable("lost the connection")

    with pytest.raises(StoreUnavailable):
        run_rollup(Failing(), days=8, clock=lambda: NOW)  # type: ignore[arg-type]
    assert store.read_rollups(keys) == before


def test_rollup_write_is_all_or_nothing(store: Any) -> None:
    store.write_rollups({"daily:2026-05-01": '{"v":1}'})
    bad: Any = None if type(store).__name__ in ("SqliteStore", "MemoryStore") else "x" * 1_100_000
    with pytest.raises(Exception):  # each store fails its own way
        store.write_rollups({"daily:2026-05-01": '{"v":2}', "daily:2026-05-02": bad})
    assert store.read_rollups(["daily:2026-05-01", "daily:2026-05-02"]) == {
        "daily:2026-05-01": '{"v":1}'
    }


def test_sessions_page_is_newest_first_and_the_cursor_walks_every_session(store: Any) -> None:
    events = fill(store, [make_event(i, 20 + i % 5, n=i) for i in range(13)])
    seen: list[StoredEvent] = []
    after: Cursor | None = None
    for _page in range(10):
        page = store.sessions_page(
            "2026-05-01T00:00:00.000Z",
            "2026-06-01T00:00:00.000Z",
            limit=5,
            logged_in=None,
            after=after,
        )
        seen += page.events
        after = page.next_cursor
        if after is None:
            break
    assert [e.ended_at for e in seen] == sorted((e.ended_at for e in events), reverse=True)
    assert len({e.session_id_hash for e in seen}) == 13


def test_sessions_page_filters_logged_in_and_anonymous(store: Any) -> None:
    fill(store, [make_event(i, 20, n=i, github=i % 3 == 0) for i in range(10)])
    window = ("2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z")
    logged = store.sessions_page(*window, limit=50, logged_in=True, after=None).events
    anonymous = store.sessions_page(*window, limit=50, logged_in=False, after=None).events
    assert len(logged) == 4 and all(e.github_hash for e in logged)
    assert len(anonymous) == 6 and not any(e.github_hash for e in anonymous)
    assert store.count_between(*window, None) == 10
    assert store.count_between(*window, True) == 4
    assert store.count_between(*window, False) == 6


def test_logged_in_pages_do_not_repeat_or_skip(store: Any) -> None:
    fill(store, [make_event(i, 20, n=i, github=i % 2 == 0) for i in range(9)])
    window = ("2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z")
    first = store.sessions_page(*window, limit=2, logged_in=True, after=None)
    second = store.sessions_page(*window, limit=2, logged_in=True, after=first.next_cursor)
    third = store.sessions_page(*window, limit=2, logged_in=True, after=second.next_cursor)
    ids = [e.session_id_hash for e in first.events + second.events + third.events]
    assert len(ids) == len(set(ids)) == 5
    assert third.next_cursor is None


def test_session_by_identity_and_hash_and_unknown(store: Any) -> None:
    [wanted, other] = fill(store, [make_event(1, 10), make_event(2, 11)])
    assert store.session(wanted.identity_hash, wanted.session_id_hash) == wanted
    assert store.session(other.identity_hash, wanted.session_id_hash) is None
    assert store.session(wanted.identity_hash, hexhash("nobody")) is None
    assert store.session_senders(hexhash("nobody"), 10) == []


def test_senders_of_one_session_hash_come_in_the_order_they_were_stored(store: Any) -> None:
    """Each later sender ended earlier: the order is the order received, never `ended_at`."""
    shared = hexhash("one session hash, three senders")
    senders = [hexhash(f"sender-{n}") for n in range(3)]
    for n, identity in enumerate(senders):
        body = {**make_event(n, 20 - n, tools=n), "identity_hash": identity}
        received = RECEIVED + timedelta(seconds=n)
        event = SessionEvent.model_validate({**body, "session_id_hash": shared})
        store.put(EventRecord(event, received, received + timedelta(days=365)))
    fill(store, [make_event(9, 21)])  # another session hash
    assert store.session_senders(shared, 10) == senders
    assert store.session_senders(shared, 1) == senders[:1]
    assert [store.session(identity, shared).tool_count for identity in senders] == [0, 1, 2]


def test_identity_sessions_in_window_newest_first_with_limit(store: Any) -> None:
    fill(store, [make_event(1, day) for day in (1, 5, 10, 20)] + [make_event(2, 10)])
    found = store.identity_sessions(
        hexhash("identity-1"), "2026-05-05T00:00:00.000Z", "2026-05-20T00:00:00.000Z", 50
    )
    assert [e.day for e in found] == ["2026-05-10", "2026-05-05"]
    limited = store.identity_sessions(
        hexhash("identity-1"), "2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z", 2
    )
    assert [e.day for e in limited] == ["2026-05-20", "2026-05-10"]


def test_sqlite_sweeps_expired_events_and_keeps_the_rest(tmp_path: Path) -> None:
    from session_events.stores.sqlite.store import SqliteStore

    store = SqliteStore(str(tmp_path / "events.db"))
    store.put_many([record(make_event(1, 10), retention_days=1), record(make_event(2, 10))])
    assert store.sweep_expired(RECEIVED + timedelta(days=2)) == 1
    [left] = store.events_between("2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z")
    assert left.identity_hash == hexhash("identity-2")


def test_the_job_sweeps_on_sqlite(tmp_path: Path) -> None:
    from session_events.stores.sqlite.store import SqliteStore

    store = SqliteStore(str(tmp_path / "events.db"))
    store.put_many([record(make_event(1, 10), retention_days=1)])
    result = run_rollup(store, days=8, clock=lambda: RECEIVED + timedelta(days=2))
    assert result.swept == 1


def _job_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What `make rollup` runs."""
    return subprocess.run(
        [sys.executable, "-m", "session_events.rollups.job"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "functions"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_job_runs_once_on_the_configured_store(tmp_path: Path) -> None:
    from session_events.stores.sqlite.store import SqliteStore

    path = tmp_path / "events.db"
    store = SqliteStore(str(path))
    today = datetime.now(UTC)
    store.put_many([record(make_event(1, 10) | {"ended_at": format_timestamp(today)})])
    store.close()
    done = _job_command(
        {
            "SESSION_EVENTS_STORE": "sqlite",
            "SESSION_EVENTS_SQLITE_PATH": str(path),
            "SESSION_EVENTS_ROLLUP_DAYS": "3",
        }
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["ok"], len(answer["days"]), answer["events"]) == (True, 3, 1)
    reopened = SqliteStore(str(path))
    key = f"daily:{today.date().isoformat()}"
    assert json.loads(reopened.read_rollups([key])[key])["identities"] == 1


def test_the_command_line_job_fails_loudly_when_the_store_is_unreachable() -> None:
    done = _job_command(
        {"SESSION_EVENTS_STORE": "sqlite", "SESSION_EVENTS_SQLITE_PATH": "/proc/nowhere/events.db"}
    )
    assert done.returncode == 1
    assert "nothing written" in done.stderr


def test_a_window_larger_than_one_page_is_read_whole(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import session_events.stores.firestore.reads as firestore_read

    monkeypatch.setattr(firestore_read, "WINDOW_PAGE", 3)
    fill(store, [make_event(i, 10 + i % 3, n=i) for i in range(11)])
    found = list(store.events_between("2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z"))
    assert len({e.session_id_hash for e in found}) == len(found) == 11
