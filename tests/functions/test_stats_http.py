"""The rollup job and the public statistics over HTTP, through functions-framework."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from support import BATCH_URL, hexhash

from session_events.contract.schema import format_timestamp

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

STATS = ["/v1/stats/daily", "/v1/stats/versions", "/v1/stats/refs"]


@pytest.mark.parametrize("path", STATS)
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
        **sqlite_env, SESSION_EVENTS_PUBLIC_STATS="on", SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN
    )
    seed(client, crowd())
    assert client.post(JOB, headers=bearer(JOB_TOKEN)).status_code == 200
    return client


@pytest.mark.parametrize("path", STATS)
def test_stats_are_public_cacheable_json(public: FlaskClient, path: str) -> None:
    answer = public.get(path)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert answer.mimetype == "application/json"
    assert answer.get_json()["k"] == 10


def test_daily_stats_suppress_small_days_and_round(public: FlaskClient) -> None:
    rows = public.get("/v1/stats/daily?days=3").get_json()["rows"]
    today = datetime.now(UTC).date()
    assert [row["day"] for row in rows] == [
        (today - timedelta(days=d)).isoformat() for d in (2, 1, 0)
    ]
    two_days_ago, yesterday, _today = rows
    assert two_days_ago == {
        "day": two_days_ago["day"],
        "identities": None,
        "sessions": None,
        "suppressed": True,
    }
    assert yesterday == {
        "day": yesterday["day"],
        "identities": 25,
        "sessions": 25,
        "suppressed": False,
    }  # 26 rounded to the nearest 5


def test_version_stats_hide_small_versions_with_complementary_suppression(
    public: FlaskClient,
) -> None:
    body = public.get("/v1/stats/versions?window=7d").get_json()
    assert body["window"] == "7d"
    rows = {row["version"]: row for row in body["rows"]}
    assert rows["0.9.0"]["suppressed"] is True and rows["0.9.0"]["identities"] is None
    assert rows["1.0.0"]["suppressed"] is True  # the only other row: it would give 0.9.0 away


def test_refs_below_k_are_not_named_in_public(public: FlaskClient) -> None:
    body = public.get("/v1/stats/refs?window=28d&limit=50").get_json()
    assert body["window"] == "28d"
    assert [row["ref"] for row in body["rows"]] == ["skill:grep"]
    assert body["rows"][0]["identities"] == 25  # 23 rounded to the nearest 5
    assert "doc:rare" not in public.get("/v1/stats/refs").get_data(as_text=True)


def test_stats_come_from_rollups_only(make_client: AppFactory, sqlite_env: dict[str, str]) -> None:
    client = make_client(**sqlite_env, SESSION_EVENTS_PUBLIC_STATS="on")
    seed(client, crowd())
    assert client.get("/v1/stats/versions").get_json()["rows"] == []
    assert all(row["suppressed"] for row in client.get("/v1/stats/daily").get_json()["rows"])


@pytest.mark.parametrize(
    "query",
    [
        "/v1/stats/daily?days=0",
        "/v1/stats/daily?days=91",
        "/v1/stats/daily?days=x",
        "/v1/stats/versions?window=30d",
        "/v1/stats/refs?window=7d",
        "/v1/stats/refs?limit=0",
    ],
)
def test_only_fixed_windows_are_answered(public: FlaskClient, query: str) -> None:
    answer = public.get(query)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "validation_failed"
    assert body["issues"][0]["loc"][0] == "query"
    assert all(set(issue) == {"loc", "type", "msg"} for issue in body["issues"])


def test_unknown_stats_path_is_404(public: FlaskClient) -> None:
    assert public.get("/v1/stats/identities").status_code == 404


def test_publish_k_raises_the_threshold(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    client = make_client(
        **sqlite_env,
        SESSION_EVENTS_PUBLIC_STATS="on",
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
        SESSION_EVENTS_PUBLISH_K="30",
    )
    seed(client, crowd())
    client.post(JOB, headers=bearer(JOB_TOKEN))
    body = client.get("/v1/stats/refs").get_json()
    assert (body["k"], body["rows"]) == (30, [])


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/stats/daily", "DailyStats"),
        ("/v1/stats/versions?window=7d", "VersionStats"),
        ("/v1/stats/refs", "RefStats"),
    ],
)
def test_stats_answers_match_their_published_models(
    public: FlaskClient, path: str, model: str
) -> None:
    from session_events.contract import openapi_read

    body = public.get(path).get_json()
    getattr(openapi_read, model).model_validate(body)
    assert body["ok"] is True


def test_job_answer_matches_its_published_model(
    make_client: AppFactory, sqlite_env: dict[str, str]
) -> None:
    from session_events.contract.openapi_read import JobAnswer

    client = make_client(**sqlite_env, SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN)
    answer = JobAnswer.model_validate(client.post(JOB, headers=bearer(JOB_TOKEN)).get_json())
    assert answer.events == 0
