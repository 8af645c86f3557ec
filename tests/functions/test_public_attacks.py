"""The seven ways the earlier public statistics gave one person away, tried on the releases.

Each test sends the attack's data through the real ingest endpoint, runs the real job over
HTTP, and reads only what the public can read. The releases are random (OpenDP's noise,
which cannot be seeded), so every assertion holds for every draw, except where a key must
stay unlisted: there the chance of a failing draw is the one OpenDP's map bounds
(test_release_measurement: below 1e-7 per key at the default ε), so the test cannot flake
in practice and a failure means the selection is broken.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from test_stats_http import (
    DECLARED,
    JOB,
    JOB_TOKEN,
    REFS_PATH,
    VERSIONS_PATH,
    WEEKS_PATH,
    bearer,
    in_week,
    latest_due_week,
    release,
    seed,
    week_crowd,
)

from session_events.contract.schema import format_timestamp
from session_events.rollups.release import TOKENS_SAVED_GRID, TOOL_COUNT_GRID
from session_events.rollups.weeks import IsoWeek

WEEK = latest_due_week()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
def public_client(make_client: AppFactory, sqlite_path: Path) -> FlaskClient:
    return make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(sqlite_path),
        **DECLARED,
        SESSION_EVENTS_PUBLIC_STATS="on",
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
    )


def answers(client: FlaskClient, week: IsoWeek = WEEK) -> dict[str, str]:
    """Every public answer about the week, as text."""
    paths = [
        *(f"{WEEKS_PATH}?count={n}" for n in (1, 2, 12, 52)),
        f"{VERSIONS_PATH}?week={week.name}",
        f"{REFS_PATH}?week={week.name}",
        VERSIONS_PATH,
        REFS_PATH,
        f"/stats/?week={week.name}",
        "/stats/",
    ]
    found = {}
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        found[path] = answer.get_data(as_text=True)
    return found


def week_row(client: FlaskClient, count: int = 12) -> dict[str, Any]:
    rows = client.get(f"{WEEKS_PATH}?count={count}").get_json()["rows"]
    return next(row for row in rows if row["week"] == WEEK.name)


# 1. A 7-day total minus published daily rows gave a suppressed day's sessions.


def test_no_day_or_window_can_be_differenced_out_of_a_week(public_client: FlaskClient) -> None:
    """A crowd over the week and a target with sessions on one day only: the public sees one
    figure per week, the same in every answer, and no daily row or other range to subtract."""
    crowd = week_crowd(WEEK, 30)
    target = [in_week(WEEK, "target", n) for n in range(6)]  # all on the Tuesday
    seed(public_client, crowd + target)
    release(public_client)
    rows = [week_row(public_client, count) for count in (1, 2, 12, 52)]
    assert all(row == rows[0] for row in rows)  # one release, one set of figures
    for path in ("/v1/stats/daily", "/v1/stats/daily?days=7", "/v1/stats/versions?window=7d"):
        assert public_client.get(path).status_code == 404
    for text in answers(public_client).values():
        assert "sessions_by_day" not in text and '"day"' not in text
    versions = public_client.get(f"{VERSIONS_PATH}?week={WEEK.name}").get_json()["rows"]
    assert all(set(row) == {"version", "identities"} for row in versions)


# 2. A ref's first_seen_day / last_seen_day dated one person's use of it.


def test_no_date_of_anyones_use_is_published(public_client: FlaskClient) -> None:
    crowd = week_crowd(WEEK, 30, discovery_refs=["skill:grep"])
    target = in_week(WEEK, "target", discovery_refs=["skill:grep", "doc:intro"])
    target["ended_at"] = target["ended_at"].replace("T09", "T23")
    seed(public_client, [*crowd, target])
    release(public_client)
    day = re.compile(r"\d{4}-\d{2}-\d{2}")
    for path, text in answers(public_client).items():
        if path.startswith("/v1/"):
            assert day.search(text) is None, path
    refs = public_client.get(f"{REFS_PATH}?week={WEEK.name}").get_json()["rows"]
    assert all(set(row) == {"ref", "identities"} for row in refs)


# 3. Adding one identity moved a published median to that identity's exact value.


def test_one_added_identity_never_sets_the_median_to_its_value(
    public_client: FlaskClient,
) -> None:
    crowd = week_crowd(WEEK, 10, tool_count=3, tokens_saved=300)
    target = in_week(WEEK, "target", tool_count=437, tokens_saved=123_457)
    seed(public_client, [*crowd, target])
    release(public_client)
    row = week_row(public_client)
    assert row["tool_count_median"] in (*TOOL_COUNT_GRID, None)
    assert row["tokens_saved_median"] in (*TOKENS_SAVED_GRID, None)
    assert "437" not in json.dumps(row) and "123457" not in json.dumps(row)


# 4. One heavy user (20 sessions a day) owned a row's p50 and p90.


def test_a_heavy_user_counts_as_one_person_in_the_median_and_twenty_sessions(
    public_client: FlaskClient, sqlite_path: Path
) -> None:
    """The release's input is read back from the stored events: the heavy user's 140
    sessions enter as one value among ten and as twenty sessions."""
    from session_events.rollups.release import contributions
    from session_events.stores.readmodel import stamp
    from session_events.stores.sqlite.store import SqliteStore

    light = week_crowd(WEEK, 9, tool_count=3)
    heavy = [in_week(WEEK, "heavy", n, tool_count=900) for n in range(140)]
    for n, body in enumerate(heavy):  # twenty a day, every day of the week
        moment = WEEK.start + timedelta(days=n // 20, hours=8, minutes=n % 20)
        body["ended_at"] = format_timestamp(moment)
    seed(public_client, light + heavy)
    release(public_client)
    store = SqliteStore(str(sqlite_path))
    records = contributions(store.events_between(stamp(WEEK.start), stamp(WEEK.end)), WEEK)
    assert sorted(r.tool_count for r in records) == [3] * 9 + [900]
    assert sorted(r.sessions for r in records) == [1] * 9 + [20]
    row = week_row(public_client)
    assert row["tool_count_median"] in (*TOOL_COUNT_GRID, None)


# 5. Ten invented identities lifted a suppressed row over K, or listed a ref only the
#    target used.


def test_nine_invented_identities_and_the_target_never_list_an_undeclared_ref(
    public_client: FlaskClient,
) -> None:
    crowd = week_crowd(WEEK, 40, discovery_refs=["skill:grep"])
    target = in_week(WEEK, "target", discovery_refs=["secret:target-only"])
    invented = [in_week(WEEK, f"{n:064x}", discovery_refs=["secret:target-only"]) for n in range(9)]
    seed(public_client, [*crowd, target, *invented])
    release(public_client)
    for text in answers(public_client).values():
        assert "secret:target-only" not in text


def test_invented_identities_cannot_publish_the_targets_version_or_values(
    public_client: FlaskClient,
) -> None:
    target = in_week(WEEK, "target", plugin_version="0.0.1-target", tool_count=437)
    invented = [
        in_week(WEEK, f"fake-{n}", plugin_version="0.0.1-target", tool_count=437) for n in range(9)
    ]
    seed(public_client, [*week_crowd(WEEK, 40), target, *invented])
    release(public_client)
    texts = answers(public_client)
    assert all("0.0.1-target" not in text for text in texts.values())
    assert week_row(public_client)["tool_count_median"] in (*TOOL_COUNT_GRID, None)


# 6. Rounding to 5 flipped on a single late event.


def test_a_late_event_and_any_number_of_reruns_leave_every_answer_byte_identical(
    public_client: FlaskClient,
) -> None:
    seed(public_client, week_crowd(WEEK, 30, discovery_refs=["skill:grep"]))
    release(public_client)
    before = answers(public_client)
    seed(public_client, [in_week(WEEK, "late", discovery_refs=["skill:grep"])])
    for _ in range(3):
        assert (
            WEEK.name
            not in public_client.post(JOB, headers=bearer(JOB_TOKEN)).get_json()["released"]
        )
    assert answers(public_client) == before


# 7. Suppressed version names were listed by name.


def test_a_small_undeclared_version_is_never_named(public_client: FlaskClient) -> None:
    small = [in_week(WEEK, f"small-{n}", plugin_version="0.9.0") for n in range(3)]
    seed(public_client, [*week_crowd(WEEK, 40), *small])
    release(public_client)
    for text in answers(public_client).values():
        assert "0.9.0" not in text
