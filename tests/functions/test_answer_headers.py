"""Every JSON answer, success or error, on every route table, tells the browser not to sniff
its type (`X-Content-Type-Options: nosniff`), so no answer is ever run as a page or script."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from support import BATCH_URL, URL, event
from test_stats_http import JOB, JOB_TOKEN, READ_ENV, READ_TOKEN, bearer


@pytest.fixture(autouse=True)
def _no_read_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in READ_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client(make_client: AppFactory, tmp_path: Path) -> FlaskClient:
    return make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
    )


READ = bearer(READ_TOKEN)
JSON = {"Content-Type": "application/json"}
ANSWERS = [
    ("POST", URL, event(), {}, 202),
    ("POST", URL, event(), {}, 202),  # the duplicate
    ("POST", BATCH_URL, {"events": [event()]}, {}, 200),
    ("POST", URL, "{not json", JSON, 400),
    ("POST", URL, {"tool_count": "<script>"}, {}, 400),
    ("POST", URL, "x", {"Content-Type": "text/html"}, 415),
    ("GET", URL, None, {}, 405),
    ("GET", "/nothing/here.html", None, {}, 404),
    ("GET", "/healthz", None, {}, 200),
    ("GET", "/openapi.json", None, {}, 200),
    ("POST", JOB, None, {}, 401),
    ("POST", JOB, None, bearer(JOB_TOKEN), 200),
    ("GET", "/v1/stats/versions", None, {}, 404),
    ("GET", "/admin/sessions", None, {}, 401),
    ("GET", "/admin/sessions", None, READ, 200),
    ("GET", "/admin/sessions?days=0", None, READ, 400),
    ("GET", f"/admin/sessions/{'0' * 64}", None, READ, 404),
    ("GET", "/admin/rollups?kind=daily", None, READ, 200),
]


def test_every_json_answer_says_nosniff(client: FlaskClient) -> None:
    seen = []
    for method, path, body, headers, status in ANSWERS:
        if isinstance(body, str):
            answer = client.open(path, method=method, data=body, headers=headers)
        else:
            answer = client.open(path, method=method, json=body, headers=headers)
        seen.append((method, path, answer.status_code))
        assert answer.status_code == status, (method, path, answer.get_data(as_text=True)[:200])
        assert answer.mimetype == "application/json", (method, path)
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", (method, path)
    assert len(seen) == len(ANSWERS)
