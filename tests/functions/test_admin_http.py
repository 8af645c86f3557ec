"""The operator's API and pages over HTTP: tokens, answers, display ids, HTML headers."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from support import URL, Backend, hexhash
from test_stats_http import (
    INGEST_TOKEN,
    JOB,
    JOB_TOKEN,
    READ_ENV,
    READ_TOKEN,
    bearer,
    crowd,
    event_body,
    seed,
)

from session_events.stores.readmodel import Cursor

SESSION = hexhash("session-1-1-0")
JSON_ROUTES = ["/admin/sessions", f"/admin/sessions/{SESSION}", "/admin/rollups?kind=daily"]
HTML_ROUTES = ["/admin/", f"/admin/sessions/{SESSION}/view"]
ALL_ROUTES = JSON_ROUTES + HTML_ROUTES


@pytest.fixture(autouse=True)
def _no_read_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in READ_ENV:
        monkeypatch.delenv(name, raising=False)


def basic(password: str, user: str = "operator") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "SESSION_EVENTS_STORE": "sqlite",
        "SESSION_EVENTS_SQLITE_PATH": str(tmp_path / "events.db"),
        "SESSION_EVENTS_JOB_TOKEN": JOB_TOKEN,
        "SESSION_EVENTS_READ_TOKEN": READ_TOKEN,
        "SESSION_EVENTS_INGEST_TOKEN": INGEST_TOKEN,
    }


@pytest.fixture
def operator(make_client: AppFactory, env: dict[str, str]) -> FlaskClient:
    client = make_client(**env)
    seed(client, crowd(), **bearer(INGEST_TOKEN))
    assert client.post(JOB, headers=bearer(JOB_TOKEN)).status_code == 200
    return client


# ---- tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_ROUTES)
def test_without_a_read_token_configured_every_operator_route_is_503(
    make_client: AppFactory, env: dict[str, str], path: str
) -> None:
    del env["SESSION_EVENTS_READ_TOKEN"]
    answer = make_client(**env).get(path, headers=bearer(READ_TOKEN))
    assert answer.status_code == 503


@pytest.mark.parametrize("path", ALL_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        bearer(JOB_TOKEN),
        bearer(INGEST_TOKEN),
        basic("wrong"),
        basic(JOB_TOKEN),
        basic(INGEST_TOKEN),
        {"Authorization": "Basic !!!"},
        {"Authorization": f"Token {READ_TOKEN}"},
    ],
    ids=[
        "missing",
        "wrong",
        "job",
        "ingest",
        "basic-wrong",
        "basic-job",
        "basic-ingest",
        "basic-garbage",
        "other-scheme",
    ],
)
def test_only_the_read_token_opens_the_operator_routes(
    operator: FlaskClient, path: str, headers: dict[str, str]
) -> None:
    assert operator.get(path, headers=headers).status_code == 401


@pytest.mark.parametrize("path", ALL_ROUTES)
@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_the_read_token_opens_every_operator_route(
    operator: FlaskClient, path: str, auth: str
) -> None:
    headers = bearer(READ_TOKEN) if auth == "bearer" else basic(READ_TOKEN)
    assert operator.get(path, headers=headers).status_code == 200


def test_the_read_token_does_not_run_the_job_or_ingest(operator: FlaskClient) -> None:
    assert operator.post(JOB, headers=bearer(READ_TOKEN)).status_code == 401
    answer = operator.post(URL, json=event_body(7, 0, n=99), headers=bearer(READ_TOKEN))
    assert answer.status_code == 401


def test_the_job_token_does_not_ingest(operator: FlaskClient) -> None:
    answer = operator.post(URL, json=event_body(7, 0, n=99), headers=bearer(JOB_TOKEN))
    assert answer.status_code == 401


@pytest.mark.parametrize("path", HTML_ROUTES)
def test_html_pages_ask_the_browser_for_basic_auth(operator: FlaskClient, path: str) -> None:
    answer = operator.get(path)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="session-events"'
    assert answer.mimetype == "text/html"


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_json_routes_offer_bearer_and_basic(operator: FlaskClient, path: str) -> None:
    answer = operator.get(path)
    assert answer.get_json() == {"ok": False, "error": "unauthorized"}
    assert "Bearer" in answer.headers["WWW-Authenticate"]
    assert "Basic" in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", [*HTML_ROUTES, "/admin/nothing-here"])
def test_html_answers_carry_the_strict_headers(operator: FlaskClient, path: str) -> None:
    answer = operator.get(path, headers=basic(READ_TOKEN))
    if path == "/admin/nothing-here":
        assert answer.status_code == 404
        return
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "img-src data:" in csp and "script-src" not in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.mimetype == "text/html"


def test_admin_without_slash_redirects(operator: FlaskClient) -> None:
    answer = operator.get("/admin")
    assert (answer.status_code, answer.headers["Location"]) == (308, "/admin/")


def test_operator_routes_are_get_only(operator: FlaskClient) -> None:
    answer = operator.post("/admin/sessions", headers=bearer(READ_TOKEN))
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD"


# ---- the session list ------------------------------------------------------------------------


def get(client: FlaskClient, path: str) -> dict[str, Any]:
    answer = client.get(path, headers=bearer(READ_TOKEN))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body: dict[str, Any] = answer.get_json()
    return body


def test_session_list_is_newest_first_with_the_contract_fields(operator: FlaskClient) -> None:
    body = get(operator, "/admin/sessions?days=7&limit=50")
    assert body["total_count_in_window"] == 30
    assert body["next_cursor"] is None
    times = [s["ended_at"] for s in body["sessions"]]
    assert times == sorted(times, reverse=True)
    assert set(body["sessions"][0]) == {
        "session_id_hash",
        "identity",
        "github",
        "ended_at",
        "tool_count",
        "tokens_saved",
        "branch_sha",
        "discovery_refs",
    }


def test_days_narrow_the_window(operator: FlaskClient) -> None:
    assert get(operator, "/admin/sessions?days=1")["total_count_in_window"] == 0
    assert get(operator, "/admin/sessions?days=2")["total_count_in_window"] == 26


def _page_through(client: FlaskClient) -> list[str]:
    """Every session hash the list gives, following its cursors 7 at a time."""
    seen: list[str] = []
    path = "/admin/sessions?limit=7"
    for _ in range(10):
        body = get(client, path)
        seen += [s["session_id_hash"] for s in body["sessions"]]
        if body["next_cursor"] is None:
            break
        path = f"/admin/sessions?limit=7&cursor={body['next_cursor']}"
    return seen


def test_cursor_pages_through_every_session_once_on_every_store(
    make_client: AppFactory, backend: Backend
) -> None:
    """The cursors each store hands out are ones the API takes back."""
    client = make_client(**backend.env, SESSION_EVENTS_READ_TOKEN=READ_TOKEN)
    seed(client, crowd())
    seen = _page_through(client)
    assert len(seen) == len(set(seen)) == len(crowd())


def test_cursor_pages_through_every_session_once(operator: FlaskClient) -> None:
    seen = _page_through(operator)
    assert len(seen) == len(set(seen)) == 30


def test_logged_in_filter(make_client: AppFactory, env: dict[str, str]) -> None:
    client = make_client(**env)
    bodies = [event_body(i, 1, github_hash=hexhash(f"gh{i}")) for i in range(3)]
    seed(client, bodies + [event_body(50 + i, 1) for i in range(5)], **bearer(INGEST_TOKEN))
    logged = get(client, "/admin/sessions?logged_in=true")
    anonymous = get(client, "/admin/sessions?logged_in=false")
    assert logged["total_count_in_window"] == 3 and len(logged["sessions"]) == 3
    assert all(s["github"] for s in logged["sessions"])
    assert anonymous["total_count_in_window"] == 5
    assert not any(s["github"] for s in anonymous["sessions"])


@pytest.mark.parametrize(
    "query",
    [
        "days=91",
        "days=0",
        "limit=201",
        "limit=0",
        "logged_in=yes",
        "cursor=%%%",
        "cursor=" + Cursor("short", "1").encode(),
    ],
)
def test_bad_list_parameters_are_400(operator: FlaskClient, query: str) -> None:
    answer = operator.get(f"/admin/sessions?{query}", headers=bearer(READ_TOKEN))
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "validation_failed"


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor("x" * 24, "1"),  # 24 characters, as a time stamp has, but not one
        Cursor("2026-11-29T00:00:00.000Z", "a/b/c"),  # a tie-breaker no store hands out
        Cursor("2026-11-29T00:00:00.000Z", ""),
    ],
    ids=["not-a-time", "path-tiebreak", "empty-tiebreak"],
)
def test_a_forged_cursor_is_400_on_every_store(
    make_client: AppFactory, backend: Backend, cursor: Cursor
) -> None:
    client = make_client(**backend.env, SESSION_EVENTS_READ_TOKEN=READ_TOKEN)
    seed(client, crowd()[:3])
    answer = client.get(f"/admin/sessions?cursor={cursor.encode()}", headers=bearer(READ_TOKEN))
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "validation_failed"


# ---- display ids -----------------------------------------------------------------------------


def test_display_ids_are_never_a_hash_or_a_prefix_of_one(
    make_client: AppFactory, env: dict[str, str]
) -> None:
    client = make_client(**env)
    bodies = [event_body(i, 1, github_hash=hexhash(f"gh{i}")) for i in range(12)]
    seed(client, bodies, **bearer(INGEST_TOKEN))
    listed = get(client, "/admin/sessions")["sessions"]
    hashes = [b["identity_hash"] for b in bodies] + [b["github_hash"] for b in bodies]
    for shown in listed:
        for display in (shown["identity"], shown["github"]):
            assert not re.fullmatch(r"[0-9a-f]+", display)
            assert not any(h.startswith(display) or display in h for h in hashes)
    assert len({s["identity"] for s in listed}) == 12
    assert len({s["github"] for s in listed}) == 12


def test_display_ids_are_stable_across_requests(operator: FlaskClient) -> None:
    first = get(operator, "/admin/sessions")["sessions"]
    second = get(operator, "/admin/sessions")["sessions"]
    assert [s["identity"] for s in first] == [s["identity"] for s in second]


def test_no_identity_or_github_hash_in_any_operator_answer(
    make_client: AppFactory, env: dict[str, str]
) -> None:
    client = make_client(**env)
    body = event_body(1, 1, n=0, github_hash=hexhash("gh"))
    seed(client, [body, event_body(1, 3, n=0)], **bearer(INGEST_TOKEN))
    texts = [
        client.get(path, headers=bearer(READ_TOKEN)).get_data(as_text=True)
        for path in [
            "/admin/sessions",
            f"/admin/sessions/{body['session_id_hash']}",
            f"/admin/sessions/{body['session_id_hash']}/view",
            "/admin/",
        ]
    ]
    for text in texts:
        assert body["identity_hash"] not in text
        assert body["github_hash"] not in text


# ---- one session ---------------------------------------------------------------------------


def test_one_session_with_its_identity_sessions_of_the_30_days_before(
    make_client: AppFactory, env: dict[str, str]
) -> None:
    client = make_client(**env)
    bodies = [event_body(1, days_ago) for days_ago in (1, 5, 20, 32, 40)]
    seed(client, [*bodies, event_body(2, 5)], **bearer(INGEST_TOKEN))
    body = get(client, f"/admin/sessions/{bodies[0]['session_id_hash']}")
    assert body["session"]["session_id_hash"] == bodies[0]["session_id_hash"]
    assert [s["ended_at"] for s in body["related"]] == [b["ended_at"] for b in bodies[1:3]]
    assert {s["identity"] for s in body["related"]} == {body["session"]["identity"]}


@pytest.mark.parametrize("suffix", ["", "/view"])
@pytest.mark.parametrize("session", [hexhash("unknown"), "abc", "A" * 64, "g" * 64])
def test_malformed_or_unknown_session_is_404(
    operator: FlaskClient, session: str, suffix: str
) -> None:
    answer = operator.get(f"/admin/sessions/{session}{suffix}", headers=bearer(READ_TOKEN))
    assert answer.status_code == 404


# ---- exact rollups -------------------------------------------------------------------------


def test_rollups_daily_are_exact(operator: FlaskClient) -> None:
    rows = get(operator, "/admin/rollups?kind=daily&days=3")["rows"]
    assert [(r["identities"], r["sessions"], r["computed"]) for r in rows] == [
        (4, 4, True),
        (26, 26, True),
        (0, 0, True),
    ]


def test_rollups_versions_are_exact(operator: FlaskClient) -> None:
    body = get(operator, "/admin/rollups?kind=versions&window=7d")
    rows = {row["version"]: row for row in body["rows"]}
    assert (rows["1.0.0"]["identities"], rows["0.9.0"]["identities"]) == (27, 3)
    assert rows["1.0.0"]["tool_count"] == {"p50": 23, "p90": 211}


def test_rollups_refs_name_only_refs_at_k(operator: FlaskClient) -> None:
    rows = get(operator, "/admin/rollups?kind=refs")["rows"]
    assert [(r["ref"], r["identities"]) for r in rows] == [("skill:grep", 23)]


def test_rollups_need_a_kind(operator: FlaskClient) -> None:
    for query in ("", "?kind=identities"):
        answer = operator.get(f"/admin/rollups{query}", headers=bearer(READ_TOKEN))
        assert answer.status_code == 400


# ---- answers match the published document ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/admin/sessions", "SessionList"),
        (f"/admin/sessions/{hexhash('session-1-1-0')}", "SessionDetail"),
        ("/admin/rollups?kind=daily", "Rollups"),
        ("/admin/rollups?kind=versions&window=7d", "Rollups"),
        ("/admin/rollups?kind=refs", "Rollups"),
    ],
)
def test_operator_answers_match_their_published_models(
    operator: FlaskClient, path: str, model: str
) -> None:
    from session_events.contract import openapi_read

    body = get(operator, path)
    getattr(openapi_read, model).model_validate(body)
    assert body["ok"] is True


# ---- the same answers on every store -----------------------------------------------------------


def test_every_store_gives_the_same_operator_answers(
    make_client: AppFactory, backend: Backend, tmp_path: Path
) -> None:
    tokens = {
        "SESSION_EVENTS_JOB_TOKEN": JOB_TOKEN,
        "SESSION_EVENTS_READ_TOKEN": READ_TOKEN,
    }
    reference = {
        "SESSION_EVENTS_STORE": "sqlite",
        "SESSION_EVENTS_SQLITE_PATH": str(tmp_path / "reference.db"),
    }
    bodies = crowd() + [event_body(300 + i, 0, github_hash=hexhash(f"g{i}")) for i in range(3)]
    answers = []
    for env in (reference, backend.env):
        each = make_client(**env, **tokens)  # one runtime at a time: the store of this env
        seed(each, bodies)
        assert each.post(JOB, headers=bearer(JOB_TOKEN)).get_json()["events"] == len(bodies)
        answers.append(
            [
                get(each, path)
                for path in [
                    "/admin/sessions?limit=200",
                    "/admin/sessions?logged_in=true",
                    "/admin/sessions?logged_in=false&limit=5",
                    f"/admin/sessions/{bodies[0]['session_id_hash']}",
                    "/admin/rollups?kind=daily",
                    "/admin/rollups?kind=versions",
                    "/admin/rollups?kind=refs",
                ]
            ]
        )
    expected, found = answers
    # ties on ended_at may be ordered differently; everything else is the same
    for listing in (0, 1):
        key = lambda s: s["session_id_hash"]  # noqa: E731
        expected[listing]["sessions"].sort(key=key)
        found[listing]["sessions"].sort(key=key)
    for page in (expected[2], found[2]):  # which of the tied sessions make the page may differ
        page["sessions"] = [s["ended_at"] for s in page["sessions"]]
        page["next_cursor"] = page["next_cursor"] is not None
    assert found == expected


def test_log_lines_of_operator_routes_carry_no_hash(
    operator: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for suffix in ("", "/view"):
        operator.get(f"/admin/sessions/{SESSION}{suffix}", headers=bearer(READ_TOKEN))
    logged = capsys.readouterr().out
    assert '"route":"/admin/sessions/{session_id_hash}"' in logged
    assert SESSION not in logged and SESSION[:6] not in logged
