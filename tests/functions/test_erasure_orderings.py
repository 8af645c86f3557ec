"""Orderings of erasures and rollup runs that the erasure mark must survive."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, tzinfo

import pytest
from flask.testing import FlaskClient
from support import Backend
from test_forget_http import forget, history, send

import session_events.ingest.forget as forget_module
from session_events.ingest.config import Settings
from session_events.rollups.documents import read_daily
from session_events.rollups.job import run_rollup
from session_events.runtime import open_store
from session_events.stores.base import LAST_ERASURE_KEY, EventStore


def _tick() -> None:
    time.sleep(0.005)  # the stored times have milliseconds: keep the steps apart


def test_an_erasure_whose_marker_is_overwritten_by_an_older_one_is_still_recomputed(
    backend: Backend, backend_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two erasures at once: A stamps its time, B runs whole, then A's write lands (a slow
    instance, a commit retried after a lost answer). `erasure:last` goes back to A's time,
    which a run that started between the two already marked handled, so B's erasure, evened
    out by a late event of the same day, is never recomputed."""
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    person, other = str(uuid.uuid4()), str(uuid.uuid4())
    day = (datetime.now(UTC) - timedelta(days=40)).replace(hour=12, minute=0)
    send(backend_client, history(person, [day], per_quarter=1))
    send(backend_client, history(other, [day], per_quarter=1))
    store = open_store(Settings.from_env(backend.env))
    run_rollup(store, days=8)
    [row] = read_daily(store, [day.date()])
    assert (row.identities, row.sessions, row.events) == (2, 2, 2)

    # An earlier erasure (of someone with nothing stored): the next run rechecks.
    assert forget(backend_client, str(uuid.uuid4())).get_json() == {"ok": True, "deleted": 0}
    _tick()

    # Erasure A: its deletes are done and its time is read; its write of the marker is late.
    real_record = forget_module._record_erasure
    late: list[datetime] = []

    def stalled(store: EventStore) -> None:
        late.append(datetime.now(UTC))  # the time its write carries

    monkeypatch.setattr(forget_module, "_record_erasure", stalled)
    assert forget(backend_client, str(uuid.uuid4())).get_json() == {"ok": True, "deleted": 0}
    monkeypatch.setattr(forget_module, "_record_erasure", real_record)
    _tick()

    run_rollup(store, days=8)  # starts after A's time: marks the erasures up to now handled
    _tick()

    # Erasure B (the person), then a late session of that day evens the day's count.
    assert forget(backend_client, person).get_json() == {"ok": True, "deleted": 1}
    send(backend_client, history(other, [day + timedelta(minutes=30)], per_quarter=1))
    _tick()

    # A's write lands now, after B's: the same write, with the time A read.
    class AsReadByA(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> AsReadByA:  # type: ignore[override]
            return cls.fromtimestamp(late[0].timestamp(), tz)

    monkeypatch.setattr(forget_module, "datetime", AsReadByA)
    real_record(store)
    monkeypatch.setattr(forget_module, "datetime", datetime)
    assert store.read_rollups([LAST_ERASURE_KEY])  # type: ignore[attr-defined]

    assert run_rollup(store, days=8).recomputed == [day.date().isoformat()]
    [row] = read_daily(store, [day.date()])
    assert (row.identities, row.sessions, row.events) == (1, 2, 2)  # the person is gone
