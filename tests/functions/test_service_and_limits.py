"""The use case on an in-memory store, the rate limiter's arithmetic, and SQLite under threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import event, hexhash

from session_events.contract.schema import SessionEvent
from session_events.ingest.ratelimit import RateLimiter
from session_events.ingest.service import IngestService
from session_events.stores.base import Outcome, document_id
from session_events.stores.memory import MemoryStore
from session_events.stores.sqlite.store import SqliteStore

NOW = datetime(2026, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)


def make_event(seed: str) -> SessionEvent:
    return SessionEvent.model_validate(event(session_id_hash=hexhash(seed)))


def test_record_times_are_milliseconds_and_expire_after_retention() -> None:
    store = MemoryStore()
    service = IngestService(store, retention_days=30, clock=lambda: NOW)
    assert service.ingest(make_event("a")) is Outcome.ACCEPTED
    [row] = store.rows.values()
    assert row["received_at"] == NOW.replace(microsecond=123000)
    assert row["expire_at"] - row["received_at"] == timedelta(days=30)


def test_pair_repeated_inside_a_batch_reaches_the_store_once() -> None:
    store = MemoryStore()
    service = IngestService(store, clock=lambda: NOW)
    outcomes = service.ingest_many([make_event("a"), None, make_event("a"), make_event("b")])
    assert outcomes == [Outcome.ACCEPTED, Outcome.INVALID, Outcome.DUPLICATE, Outcome.ACCEPTED]
    assert len(store.rows) == 2


def test_document_id_is_sha256_of_identity_colon_session() -> None:
    import hashlib

    key = document_id("a" * 64, "b" * 64)
    assert key == hashlib.sha256(("a" * 64 + ":" + "b" * 64).encode()).hexdigest()
    assert len(key) == 64


def test_limiter_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert limiter.acquire({"x": 60}) == 0
    assert limiter.acquire({"x": 1}) == 1
    now[0] += 1.0
    assert limiter.acquire({"x": 1}) == 0


def test_limiter_takes_all_identities_or_none() -> None:
    limiter = RateLimiter(2, clock=lambda: 0.0)
    assert limiter.acquire({"x": 2}) == 0
    assert limiter.acquire({"y": 1, "x": 1}) > 0
    assert limiter.acquire({"y": 2}) == 0  # y was not charged by the refused request


def test_limiter_takes_a_request_larger_than_the_bucket_once_it_is_full() -> None:
    now = [0.0]
    limiter = RateLimiter(5, clock=lambda: now[0])
    assert limiter.acquire({"x": 100}) == 0
    wait = limiter.acquire({"x": 100})
    assert wait == 1200  # the debt of 95 and a full bucket of 5, at 5 a minute
    now[0] += wait - 1
    assert limiter.acquire({"x": 100}) > 0
    now[0] += 1
    assert limiter.acquire({"x": 100}) == 0


Request = list[tuple[str, int]]


@given(
    per_minute=st.integers(min_value=1, max_value=2000),
    requests=st.lists(
        st.lists(
            st.tuples(st.sampled_from("abc"), st.integers(min_value=1, max_value=100)),
            min_size=1,
            max_size=3,
        ),
        min_size=1,
        max_size=30,
    ),
    pauses=st.lists(st.floats(min_value=0, max_value=120), min_size=30, max_size=30),
)
@settings(max_examples=300, deadline=None)
def test_a_client_that_waits_as_told_always_gets_through(
    per_minute: int, requests: list[Request], pauses: list[float]
) -> None:
    now = [1000.0]
    limiter = RateLimiter(per_minute, clock=lambda: now[0])
    for request, pause in zip(requests, pauses, strict=False):
        counts: dict[str, int] = {}
        for identity, size in request:
            counts[identity] = counts.get(identity, 0) + size
        now[0] += pause
        wait = limiter.acquire(counts)
        if wait:
            assert wait >= 1
            now[0] += wait
            assert limiter.acquire(counts) == 0


@given(
    per_minute=st.integers(min_value=1, max_value=600),
    sizes=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=40),
)
@settings(max_examples=200, deadline=None)
def test_waiting_as_told_never_beats_the_rate(per_minute: int, sizes: list[int]) -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute, clock=lambda: now[0])
    taken = 0
    for size in sizes:
        wait = limiter.acquire({"x": size})
        if wait:
            now[0] += wait
            assert limiter.acquire({"x": size}) == 0
        taken += size
        # A full bucket, one request's overdraft, and the refill since the start.
        assert taken <= per_minute + 100 + now[0] * per_minute / 60 + 1e-6


def test_sqlite_store_under_threads_keeps_each_pair_once(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "events.db"))
    service = IngestService(store)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for i in range(50):
            outcome = service.ingest(make_event(f"s{(i + offset) % 60}"))
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(n * 7,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(Outcome.ACCEPTED) == 60
    assert outcomes.count(Outcome.DUPLICATE) == 16 * 50 - 60
    store.close()


def test_sqlite_file_appears_with_its_table_already_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    path = tmp_path / "events.db"
    real_link = os.link
    tables_when_it_appeared: list[list[tuple[str]]] = []

    def link(source: str, target: str) -> None:
        real_link(source, target)
        with sqlite3.connect(target) as reader:  # the first moment anyone can open it
            tables_when_it_appeared.append(
                reader.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            )

    monkeypatch.setattr(os, "link", link)
    SqliteStore(str(path)).ping()
    assert tables_when_it_appeared == [[("session_events",)]]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_two_instances_creating_one_database_at_once_share_it(tmp_path: Path) -> None:
    path = str(tmp_path / "events.db")
    outcomes: list[Outcome] = []
    start = threading.Barrier(4)

    def instance(number: int) -> None:
        service = IngestService(SqliteStore(path))
        start.wait()
        outcomes.append(
            service.ingest(make_event(str(number)))
        )

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [Outcome.ACCEPTED] * 4
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT COUNT(*) FROM session_events").fetchone() == (4,)
