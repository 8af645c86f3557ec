"""Public releases on every real store (SQLite, the Firestore emulator, moto's DynamoDB): the
same suite on each, through the function over HTTP and through the job itself.

What must hold: a due week is released once, from the events stored then, and no later
run, late event or concurrent writer changes it; a run that cannot finish writes no
release; a configuration over the budget writes nothing at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from support import Backend
from test_stats_http import (
    DECLARED,
    JOB_TOKEN,
    REFS_PATH,
    VERSIONS_PATH,
    WEEKS_PATH,
    in_week,
    latest_due_week,
    release,
    seed,
    week_crowd,
)

from session_events.core.errors import StoreUnavailable
from session_events.ingest.config import Settings
from session_events.rollups import release as release_module
from session_events.rollups.job import run_rollup
from session_events.rollups.release import BudgetExceeded
from session_events.rollups.releases import ReleaseSettings, release_key
from session_events.rollups.weeks import due_weeks
from session_events.runtime import open_store
from session_events.stores.base import ReadStore

WEEK = latest_due_week()
SETTINGS = ReleaseSettings(public_versions=("1.0.0",), public_refs=("skill:grep",))


@pytest.fixture
def client(make_client: AppFactory, backend: Backend) -> FlaskClient:
    return make_client(
        **backend.env,
        **DECLARED,
        SESSION_EVENTS_PUBLIC_STATS="on",
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
    )


@pytest.fixture
def store(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReadStore]:
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    opened = open_store(Settings.from_env(os.environ))
    assert isinstance(opened, ReadStore)
    yield opened
    close = getattr(opened, "close", None)
    if close is not None:
        close()


def public_text(client: FlaskClient) -> list[bytes]:
    paths = [
        f"{WEEKS_PATH}?count=52",
        f"{VERSIONS_PATH}?week={WEEK.name}",
        f"{REFS_PATH}?week={WEEK.name}",
        "/stats/",
    ]
    return [client.get(path).get_data() for path in paths]


def test_a_release_is_frozen_against_late_events_and_reruns(client: FlaskClient) -> None:
    seed(client, week_crowd(WEEK, 30, discovery_refs=["skill:grep"]))
    assert WEEK.name in release(client)["released"]
    before = public_text(client)
    seed(client, [in_week(WEEK, f"late-{n}", plugin_version="1.1.0") for n in range(20)])
    for _ in range(2):
        assert release(client)["released"] == []
    assert public_text(client) == before


def test_a_document_is_created_once_and_never_replaced(store: ReadStore) -> None:
    key = release_key(WEEK)
    assert store.create_rollup(key, '{"first":1}') is True
    assert store.create_rollup(key, '{"second":2}') is False
    assert store.read_rollups([key]) == {key: '{"first":1}'}
    store.write_rollups({"daily:2026-01-01": "{}"})  # the operator's rollups leave it alone
    assert store.read_rollups([key]) == {key: '{"first":1}'}


def test_a_week_released_by_another_run_meanwhile_is_left_as_it_was(store: ReadStore) -> None:
    """Two runs racing: the one that writes second keeps nothing of its own."""
    key, theirs = release_key(WEEK), f'{{"week":"{WEEK.name}","by":"the other run"}}'
    store.create_rollup(key, theirs)
    run_rollup(store, days=1, releases=SETTINGS)
    assert store.read_rollups([key])[key] == theirs


class FailingAt:
    """A store whose reads of events fail from the n-th week on (the job must give up)."""

    def __init__(self, store: ReadStore, fail_from: int) -> None:
        self.store, self.calls, self.fail_from = store, 0, fail_from

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def events_between(self, start: str, end: str) -> Any:
        self.calls += 1
        if self.calls > self.fail_from:
            raise StoreUnavailable("the store went away")
        return self.store.events_between(start, end)


def test_a_run_that_cannot_finish_writes_no_release(store: ReadStore) -> None:
    failing = FailingAt(store, fail_from=3)  # the rollup window, then two weeks, then fails
    with pytest.raises(StoreUnavailable):
        run_rollup(failing, days=1, releases=SETTINGS)  # type: ignore[arg-type]
    weeks = due_weeks(datetime.now(UTC), SETTINGS.delay_days)
    assert store.read_rollups([release_key(week) for week in weeks]) == {}
    assert run_rollup(store, days=1, releases=SETTINGS).released == [w.name for w in weeks]


def test_a_configuration_over_the_budget_writes_nothing_and_says_why(
    store: ReadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    greedy = {name: share * 2 for name, share in release_module.SPLIT.items()}
    monkeypatch.setattr(release_module, "SPLIT", greedy)
    release_module._cached_plan.cache_clear()
    try:
        with pytest.raises(BudgetExceeded, match=r"epsilon=2,.*over the budget epsilon=1,"):
            run_rollup(store, days=1, releases=SETTINGS)
    finally:
        release_module._cached_plan.cache_clear()
    weeks = due_weeks(datetime.now(UTC), SETTINGS.delay_days)
    assert store.read_rollups([release_key(week) for week in weeks]) == {}
    assert store.read_rollups(["daily:" + datetime.now(UTC).date().isoformat()]) == {}
