"""The rollup job and the public statistics over HTTP, through functions-framework.

The public answers read the weekly releases the job writes (README.md, "Public statistics");
their noise is OpenDP's, so these tests assert what holds for every draw: which weeks exist,
the shape, the headers, the privacy terms, and what is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from support import BATCH_URL, MAIN, ROOT, event, hexhash

from session_events.contract.schema import format_timestamp
from session_events.rollups.weeks import IsoWeek, due_weeks

JOB = "/v1/jobs/rollup"
JOB_TOKEN = "job-token-0123456789"
READ_TOKEN = "read-token-0123456789"
INGEST_TOKEN = "ingest-token-0123456789"
READ_ENV = (
    "SESSION_EVENTS_JOB_TOKEN",
    "SESSION_EVENTS_READ_TOKEN",
    "SESSION_EVENTS_PUBLIC_STATS",
    "SESSION_EVENTS_PUBLISH_K",
    "SESSION_EVENTS_ROLLUP_DAYS",
    "SESSION_EVENTS_DP_EPSILON",
    "SESSION_EVENTS_RELEASE_DELAY_DAYS",
    "SESSION_EVENTS_PUBLIC_VERSIONS",
    "SESSION_EVENTS_PUBLIC_REFS",
)


@pytest.fixture(autouse=True)
def _no_read_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in READ_ENV:
        monkeypatch.delenv(name, raising=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event_body(identity: int, days_ago: int, n: int = 0, **changes: Any) -> dict[str, Any]:
    ended = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0)
    ended -= timedelta(days=days_ago)
    ended += timedelta(seconds=n)
    return {
        "identity_hash": hexhash(f"identity-{identity}"),
        "session_id_hash": hexhash(f"session-{identity}-{days_ago}-{n}"),
        "ended_at": format_timestamp(ended),
        "tool_count": 10 + identity,
        "tokens_saved": 100 * identity,
        "plugin_version": "1.0.0",
        **changes,
    }


def seed(client: FlaskClient, bodies: list[dict[str, Any]], **headers: str) -> None:
    for offset in range(0, len(bodies), 100):
        answer = client.post(
            BATCH_URL, json={"events": bodies[offset : offset + 100]}, headers=headers
        )
        assert answer.status_code == 200
        assert {r["status"] for r in answer.get_json()["results"]} == {"accepted"}


def crowd() -> list[dict[str, Any]]:
    """Yesterday: 23 identities on 1.0.0 and 3 on 0.9.0; two days ago: 4 identities."""
    bodies = [event_body(i, 1, discovery_refs=["skill:grep"]) for i in range(23)]
    bodies += [event_body(100 + i, 1, plugin_version="0.9.0") for i in range(3)]
    bodies += [event_body(200 + i, 2, discovery_refs=["doc:rare"]) for i in range(4)]
    return bodies


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {
        "SESSION_EVENTS_STORE": "sqlite",
        "SESSION_EVENTS_SQLITE_PATH": str(tmp_path / "events.db"),
    }


# ---- the job ---------------------------------------------------------------------------------


def test_job_without_a_token_configured_is_503_disabled(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    answer = make_client(**sqlite_env).post(JOB, headers=bearer(JOB_TOKEN))
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "disabled"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        bearer(READ_TOKEN),
        bearer(INGEST_TOKEN),
        {"Authorization": JOB_TOKEN},
        {
            "Authorization": "Basic "
            + __import__("base64").b64encode(f"x:{JOB_TOKEN}".encode()).decode()
        },
    ],
    ids=["missing", "wrong", "read-token", "ingest-token", "no-scheme", "basic"],
)
def test_job_refuses_anything_but_its_bearer_token(
    make_client: AppFactory, sqlite_env: dict[str, str], headers: dict[str, str]
) -> None:
    client = make_client(
        **sqlite_env,
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
        SESSION_EVENTS_INGEST_TOKEN=INGEST_TOKEN,
    )
    answer = client.post(JOB, headers=headers)
    assert answer.status_code == 401
    assert answer.get_json() == {"ok": False, "error": "unauthorized"}


def test_job_runs_with_its_token_and_names_days_and_events(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    client = make_client(**sqlite_env, SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN)
    seed(client, crowd())
    answer = client.post(JOB, headers=bearer(JOB_TOKEN))
    assert answer.status_code == 200
    body = answer.get_json()
    today = datetime.now(UTC).date()
    assert body["ok"] is True
    assert body["days"] == [(today - timedelta(days=d)).isoformat() for d in range(7, -1, -1)]
    assert body["events"] == 30


def test_job_days_follow_the_setting(make_client: AppFactory, sqlite_env: dict[str, str]) -> None:
    client = make_client(
        **sqlite_env, SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN, SESSION_EVENTS_ROLLUP_DAYS="3"
    )
    assert len(client.post(JOB, headers=bearer(JOB_TOKEN)).get_json()["days"]) == 3


def test_job_is_post_only(make_client: AppFactory, sqlite_env: dict[str, str]) -> None:
    answer = make_client(**sqlite_env, SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN).get(JOB)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


def test_same_token_for_two_parts_is_refused(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    client = make_client(
        **sqlite_env, SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN, SESSION_EVENTS_READ_TOKEN=JOB_TOKEN
    )
    answer = client.post(JOB, headers=bearer(JOB_TOKEN))
    assert answer.status_code == 500
    assert answer.get_json() == {"ok": False, "error": "internal"}


def test_job_on_an_unreachable_store_is_503_and_retryable(make_client: AppFactory) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH="/proc/x/y.db",
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
    )
    answer = client.post(JOB, headers=bearer(JOB_TOKEN))
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "store_unavailable"}


# ---- public statistics -------------------------------------------------------------------------

WEEKS_PATH, VERSIONS_PATH, REFS_PATH = "/v1/stats/weeks", "/v1/stats/versions", "/v1/stats/refs"
STATS = [WEEKS_PATH, VERSIONS_PATH, REFS_PATH]
DECLARED = {
    "SESSION_EVENTS_PUBLIC_VERSIONS": "1.0.0,1.1.0",
    "SESSION_EVENTS_PUBLIC_REFS": "skill:grep,doc:intro",
}


def latest_due_week() -> IsoWeek:
    """The newest week a job run now releases (the default delay of 3 days)."""
    return due_weeks(datetime.now(UTC), 3)[-1]


def in_week(week: IsoWeek, identity: str, n: int = 0, **changes: Any) -> dict[str, Any]:
    """One session of `identity` on the week's Tuesday (n: its minute), 1.0.0 by default."""
    ended = week.start + timedelta(days=1, hours=9, minutes=n)
    return {
        "identity_hash": hexhash(f"identity-{identity}"),
        "session_id_hash": hexhash(f"session-{identity}-{week.name}-{n}"),
        "ended_at": format_timestamp(ended),
        "tool_count": 5,
        "tokens_saved": 500,
        "plugin_version": "1.0.0",
        **changes,
    }


def week_crowd(week: IsoWeek, size: int = 40, **changes: Any) -> list[dict[str, Any]]:
    return [in_week(week, f"crowd-{i}", **changes) for i in range(size)]


def release(client: FlaskClient) -> dict[str, Any]:
    answer = client.post(JOB, headers=bearer(JOB_TOKEN))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return dict(answer.get_json())


@pytest.mark.parametrize("path", [*STATS, "/stats/", "/stats"])
@pytest.mark.parametrize("switch", [None, "off", "OFF", "yes-please"])
def test_stats_are_404_unless_switched_on(
    make_client: AppFactory, sqlite_env: dict[str, str], path: str, switch: str | None
) -> None:
    env = dict(sqlite_env)
    if switch is not None:
        env["SESSION_EVENTS_PUBLIC_STATS"] = switch
    answer = make_client(**env).get(path)
    expected = 500 if switch == "yes-please" else 404
    assert answer.status_code == expected


@pytest.fixture
def public(make_client: AppFactory, sqlite_env: dict[str, str]) -> FlaskClient:
    client = make_client(
        **sqlite_env,
        **DECLARED,
        SESSION_EVENTS_PUBLIC_STATS="on",
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
    )
    seed(client, week_crowd(latest_due_week(), discovery_refs=["skill:grep"]))
    release(client)
    return client


@pytest.mark.parametrize("path", STATS)
def test_stats_are_public_cacheable_json_with_their_privacy_terms(
    public: FlaskClient, path: str
) -> None:
    answer = public.get(path)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert answer.mimetype == "application/json"
    assert answer.get_json()["privacy"] == {
        "unit": "identity-week",
        "epsilon": 1.0,
        "delta": 1e-7,
        "library": f"opendp {version('opendp')}",
    }


def test_the_job_releases_due_weeks_once_and_names_them(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    client = make_client(
        **sqlite_env, SESSION_EVENTS_PUBLIC_STATS="on", SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN
    )
    first = release(client)["released"]
    assert first == [week.name for week in due_weeks(datetime.now(UTC), 3)]
    assert release(client)["released"] == []
    weeks = client.get(f"{WEEKS_PATH}?count=52").get_json()["rows"]
    assert [row["week"] for row in weeks] == sorted(first, reverse=True)
    assert client.get(f"{WEEKS_PATH}?count=2").get_json()["rows"] == weeks[:2]


def test_no_release_is_made_while_public_statistics_are_off(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    client = make_client(**sqlite_env, SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN)
    assert release(client)["released"] == []
    on = make_client(**sqlite_env, SESSION_EVENTS_PUBLIC_STATS="on")
    assert on.get(WEEKS_PATH).get_json()["rows"] == []


def test_the_release_delay_holds_a_week_back(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    client = make_client(
        **sqlite_env,
        SESSION_EVENTS_PUBLIC_STATS="on",
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
        SESSION_EVENTS_RELEASE_DELAY_DAYS="10",
    )
    released = release(client)["released"]
    now = datetime.now(UTC)
    assert released == [week.name for week in due_weeks(now, 10)]
    assert all(IsoWeek.parse(name).end + timedelta(days=10) <= now for name in released)


def test_a_week_answers_its_own_release_and_an_unreleased_week_is_404(public: FlaskClient) -> None:
    week = latest_due_week()
    versions = public.get(f"{VERSIONS_PATH}?week={week.name}").get_json()
    assert versions["week"] == week.name
    assert public.get(VERSIONS_PATH).get_json()["week"] == week.name  # the latest release
    current = IsoWeek.of(datetime.now(UTC).date())
    for path in (VERSIONS_PATH, REFS_PATH):
        answer = public.get(f"{path}?week={current.name}")
        assert answer.status_code == 404
        assert answer.get_json() == {"ok": False, "error": "not_found"}


def test_before_any_release_the_answers_are_empty(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    client = make_client(**sqlite_env, SESSION_EVENTS_PUBLIC_STATS="on")
    assert client.get(WEEKS_PATH).get_json()["rows"] == []
    body = client.get(REFS_PATH).get_json()
    assert (body["week"], body["rows"]) == (None, [])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/stats/daily",
        "/v1/stats/daily?days=7",
        "/v1/stats/versions?window=7d",
        "/v1/stats/versions?window=28d",
        "/v1/stats/refs?window=28d",
        "/v1/stats/identities",
    ],
)
def test_the_daily_and_windowed_forms_are_gone(public: FlaskClient, path: str) -> None:
    answer = public.get(path)
    assert answer.status_code == 404
    assert answer.get_json() == {"ok": False, "error": "not_found"}


@pytest.mark.parametrize(
    "query",
    [
        "/v1/stats/weeks?count=0",
        "/v1/stats/weeks?count=53",
        "/v1/stats/weeks?count=x",
        "/v1/stats/versions?week=2026-48",
        "/v1/stats/versions?week=2025-W53",
        "/v1/stats/refs?week=2026-W00",
        "/v1/stats/refs?week=<script>",
    ],
)
def test_bad_queries_are_400_without_echo(public: FlaskClient, query: str) -> None:
    answer = public.get(query)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "validation_failed"
    assert body["issues"][0]["loc"][0] == "query"
    assert all(set(issue) == {"loc", "type", "msg"} for issue in body["issues"])
    assert "script" not in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "model"),
    [(WEEKS_PATH, "WeekStats"), (VERSIONS_PATH, "VersionRelease"), (REFS_PATH, "RefRelease")],
)
def test_stats_answers_match_their_published_models(
    public: FlaskClient, path: str, model: str
) -> None:
    from session_events.contract import openapi_read

    body = public.get(path).get_json()
    getattr(openapi_read, model).model_validate(body)
    assert body["ok"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_EVENTS_DP_EPSILON", "0.05"),
        ("SESSION_EVENTS_DP_EPSILON", "11"),
        ("SESSION_EVENTS_DP_EPSILON", "nan"),
        ("SESSION_EVENTS_DP_EPSILON", "lots"),
        ("SESSION_EVENTS_RELEASE_DELAY_DAYS", "-1"),
        ("SESSION_EVENTS_PUBLIC_VERSIONS", "1.0.0,has space"),
        ("SESSION_EVENTS_PUBLIC_REFS", "-leading-dash"),
    ],
)
def test_a_bad_release_setting_is_a_configuration_error_and_releases_nothing(
    make_client: AppFactory,
    sqlite_env: dict[str, str],
    name: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**sqlite_env, "SESSION_EVENTS_PUBLIC_STATS": "on", "SESSION_EVENTS_JOB_TOKEN": JOB_TOKEN}
    client = make_client(**env, **{name: value})
    answer = client.post(JOB, headers=bearer(JOB_TOKEN))
    assert answer.status_code == 500
    assert answer.get_json() == {"ok": False, "error": "internal"}
    assert value not in answer.get_data(as_text=True)
    monkeypatch.delenv(name)
    fine = make_client(**env)
    assert fine.get(WEEKS_PATH).get_json()["rows"] == []


def test_job_answer_matches_its_published_model(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    from session_events.contract.openapi_read import JobAnswer

    client = make_client(**sqlite_env, SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN)
    answer = JobAnswer.model_validate(client.post(JOB, headers=bearer(JOB_TOKEN)).get_json())
    assert answer.events == 0


def test_opendp_is_imported_by_the_job_only(tmp_path: Path) -> None:
    """A cold instance answers ingest, the public answers and the public page without
    importing OpenDP; the rollup job imports it when it releases weeks."""
    script = f"""
import json, sys
import functions_framework
app = functions_framework.create_app(target="session_events", source={MAIN!r})
client = app.test_client()
seen = []
answer = client.post("/v1/session-events", json={json.dumps(event())})
seen.append([answer.status_code, "opendp" in sys.modules])
for path in ("/v1/stats/weeks", "/v1/stats/versions", "/v1/stats/refs", "/stats/"):
    seen.append([client.get(path).status_code, "opendp" in sys.modules])
answer = client.post("/v1/jobs/rollup", headers={{"Authorization": "Bearer {JOB_TOKEN}"}})
seen.append([answer.status_code, "opendp" in sys.modules])
print(json.dumps(seen))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT / "functions"),
            "SESSION_EVENTS_STORE": "sqlite",
            "SESSION_EVENTS_SQLITE_PATH": str(tmp_path / "events.db"),
            "SESSION_EVENTS_PUBLIC_STATS": "on",
            "SESSION_EVENTS_JOB_TOKEN": JOB_TOKEN,
        },
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == [
        [202, False],
        [200, False],
        [200, False],
        [200, False],
        [200, False],
        [200, True],
    ]
