"""Every answer of README.md's API table that is not about a particular store."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from support import BATCH_URL, URL, event, hexhash


def test_healthz_answers_without_touching_the_store(make_client: AppFactory) -> None:
    client = make_client(SESSION_EVENTS_STORE="sqlite", SESSION_EVENTS_SQLITE_PATH="/dev/null/x.db")
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"ok": True}
    assert answer.headers["Content-Type"] == "application/json"


def test_readyz_is_503_when_the_store_cannot_open(make_client: AppFactory) -> None:
    client = make_client(SESSION_EVENTS_STORE="sqlite", SESSION_EVENTS_SQLITE_PATH="/dev/null/x.db")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "store_unavailable"}


def test_unreachable_store_is_503_with_retry_after(make_client: AppFactory) -> None:
    client = make_client(SESSION_EVENTS_STORE="sqlite", SESSION_EVENTS_SQLITE_PATH="/dev/null/x.db")
    answer = client.post(URL, json=event())
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "store_unavailable"}
    assert int(answer.headers["Retry-After"]) >= 1


def test_unknown_path_is_404(client: FlaskClient) -> None:
    answer = client.get("/v2/anything")
    assert answer.status_code == 404
    assert answer.get_json() == {"ok": False, "error": "not_found"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", URL, "POST"),
        ("PUT", BATCH_URL, "POST"),
        ("DELETE", URL, "POST"),
        ("POST", "/healthz", "GET, HEAD"),
        ("PATCH", "/readyz", "GET, HEAD"),
    ],
)
def test_other_method_on_known_path_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allow: str
) -> None:
    answer = client.open(path, method=method)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allow
    assert answer.get_json()["ok"] is False


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"\xff\xfe"]
)
def test_non_json_or_non_object_body_is_invalid_json(client: FlaskClient, body: bytes) -> None:
    answer = client.post(URL, data=body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json() == {"ok": False, "error": "invalid_json"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"tool_count": NaN}',
        b'{"tool_count": Infinity}',
        b'{"a": 1, "a": 2}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"tool_count": ' + b"9" * 5000 + b"}",
    ],
    ids=["nan", "infinity", "duplicate-keys", "deep-nesting", "5000-digit-number"],
)
def test_hostile_json_is_invalid_json(make_client: AppFactory, tmp_path: Path, body: bytes) -> None:
    client = make_client(SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db"))
    answer = client.post(BATCH_URL, data=body, content_type="application/json")
    assert answer.status_code in (400, 413)
    assert answer.get_json()["error"] in ("invalid_json", "payload_too_large")


def test_schema_violation_lists_issues_without_input(client: FlaskClient) -> None:
    answer = client.post(URL, json=event(identity_hash="a" * 40, tool_count=-1))
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "validation_failed"
    assert {tuple(issue["loc"]) for issue in body["issues"]} == {
        ("identity_hash",),
        ("tool_count",),
    }
    assert all(set(issue) == {"loc", "type", "msg"} for issue in body["issues"])
    assert "a" * 40 not in answer.get_data(as_text=True)


def test_unknown_key_name_is_not_echoed(client: FlaskClient) -> None:
    answer = client.post(URL, json={**event(), "/Users/alice/project": 1})
    assert answer.status_code == 400
    assert "alice" not in answer.get_data(as_text=True)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_content_type_is_415(client: FlaskClient, content_type: str) -> None:
    answer = client.post(URL, data=json.dumps(event()), content_type=content_type)
    assert answer.status_code == 415
    assert answer.get_json() == {"ok": False, "error": "unsupported_media_type"}


def test_json_with_charset_and_absent_content_type_are_accepted(client: FlaskClient) -> None:
    first = client.post(
        URL, data=json.dumps(event()), content_type="application/json; charset=utf-8"
    )
    second = client.post(URL, data=json.dumps(event(session_id_hash=hexhash("2"))))
    assert (first.status_code, second.status_code) == (202, 202)


def test_unknown_content_encoding_is_415(client: FlaskClient) -> None:
    answer = client.post(URL, json=event(), headers={"Content-Encoding": "br"})
    assert answer.status_code == 415


def test_single_body_over_64_kib_is_413(client: FlaskClient) -> None:
    body = json.dumps({**event(), "padding": "x" * (64 * 1024)})
    answer = client.post(URL, data=body, content_type="application/json")
    assert answer.status_code == 413
    assert answer.get_json() == {"ok": False, "error": "payload_too_large"}


def test_batch_body_over_1_mib_is_413(client: FlaskClient) -> None:
    body = json.dumps({"events": [], "padding": "x" * (1024 * 1024)})
    answer = client.post(BATCH_URL, data=body, content_type="application/json")
    assert answer.status_code == 413


def test_ten_megabyte_body_is_413(client: FlaskClient) -> None:
    answer = client.post(URL, data=b" " * 10_000_000, content_type="application/json")
    assert answer.status_code == 413


def test_gzip_body_is_accepted(client: FlaskClient) -> None:
    body = gzip.compress(json.dumps(event()).encode())
    answer = client.post(
        URL, data=body, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 202


def test_gzip_limit_applies_to_the_decoded_body(client: FlaskClient) -> None:
    body = gzip.compress(json.dumps({**event(), "pad": " " * 70_000}).encode())
    assert len(body) < 64 * 1024
    answer = client.post(
        URL, data=body, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 413


def test_gzip_bomb_is_413(client: FlaskClient) -> None:
    bomb = gzip.compress(b" " * 200_000_000, compresslevel=9)
    answer = client.post(
        BATCH_URL, data=bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 413


def test_corrupt_gzip_is_invalid_json(client: FlaskClient) -> None:
    answer = client.post(
        URL,
        data=b"\x1f\x8b\x08garbage",
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_json"


@pytest.mark.parametrize(
    "payload",
    [{}, {"events": "x"}, {"events": [event()] * 101}, {"events": [], "extra": 1}],
    ids=["missing", "not-a-list", "101-events", "extra-key"],
)
def test_bad_batch_envelope_is_validation_failed(client: FlaskClient, payload: object) -> None:
    answer = client.post(BATCH_URL, json=payload)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "validation_failed"


def test_batch_item_that_is_not_an_object_is_invalid_alone(client: FlaskClient) -> None:
    answer = client.post(BATCH_URL, json={"events": ["text", event(), 7]})
    assert answer.status_code == 200
    assert [r["status"] for r in answer.get_json()["results"]] == ["invalid", "accepted", "invalid"]


def test_empty_batch_is_ok(client: FlaskClient) -> None:
    answer = client.post(BATCH_URL, json={"events": []})
    assert answer.get_json() == {"ok": True, "results": []}


def test_rate_limit_per_identity_is_429_with_retry_after(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db"), SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="3"
    )
    answers = [client.post(URL, json=event(session_id_hash=hexhash(str(i)))) for i in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1
    other = client.post(URL, json=event(identity_hash=hexhash("someone else")))
    assert other.status_code == 202


def test_rate_limit_zero_means_no_limit(make_client: AppFactory, tmp_path: Path) -> None:
    client = make_client(
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db"), SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="0"
    )
    events = [event(session_id_hash=hexhash(str(i))) for i in range(100)]
    for _ in range(8):
        assert client.post(BATCH_URL, json={"events": events}).status_code == 200


def test_batch_refused_by_the_rate_limit_stores_nothing(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db"), SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="5"
    )
    assert client.post(URL, json=event(session_id_hash=hexhash("first"))).status_code == 202
    events = [event(session_id_hash=hexhash(str(i))) for i in range(5)]
    assert client.post(BATCH_URL, json={"events": events}).status_code == 429
    again = client.post(URL, json=event(session_id_hash=hexhash("0")))
    assert again.get_json()["status"] == "accepted"  # the refused batch stored nothing


def test_full_batch_is_taken_under_a_limit_below_its_size(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db"), SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="5"
    )
    events = [event(session_id_hash=hexhash(str(i))) for i in range(100)]
    answer = client.post(BATCH_URL, json={"events": events})
    assert answer.status_code == 200
    assert {result["status"] for result in answer.get_json()["results"]} == {"accepted"}


def test_after_a_batch_in_debt_the_wait_told_covers_the_debt(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db"), SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="6"
    )
    events = [event(session_id_hash=hexhash(str(i))) for i in range(16)]
    assert client.post(BATCH_URL, json={"events": events}).status_code == 200
    answer = client.post(URL, json=event(session_id_hash=hexhash("next")))
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) == 110  # 10 tokens of debt + 1, at 6 a minute


class TestIngestToken:
    @pytest.fixture
    def private(self, make_client: AppFactory, tmp_path: Path) -> FlaskClient:
        return make_client(
            SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db"), SESSION_EVENTS_INGEST_TOKEN="s3cret"
        )

    @pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic s3cret", "s3cret"])
    def test_missing_or_wrong_token_is_401(self, private: FlaskClient, header: str | None) -> None:
        headers = {"Authorization": header} if header else {}
        answer = private.post(URL, json=event(), headers=headers)
        assert answer.status_code == 401
        assert answer.get_json() == {"ok": False, "error": "unauthorized"}

    def test_right_token_is_accepted(self, private: FlaskClient) -> None:
        answer = private.post(URL, json=event(), headers={"Authorization": "Bearer s3cret"})
        assert answer.status_code == 202

    def test_probes_need_no_token(self, private: FlaskClient) -> None:
        assert private.get("/healthz").status_code == 200


def test_unexpected_error_is_generic_500(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_events.ingest.service import IngestService

    def explode(*_args: object) -> None:
        raise RuntimeError("internal detail /secret/path")

    monkeypatch.setattr(IngestService, "ingest", explode)
    answer = client.post(URL, json=event())
    assert answer.status_code == 500
    assert answer.get_json() == {"ok": False, "error": "internal"}
    assert "secret" not in answer.get_data(as_text=True)


def test_bad_configuration_is_500_without_detail(make_client: AppFactory) -> None:
    client = make_client(SESSION_EVENTS_STORE="postgres")
    answer = client.post(URL, json=event())
    assert answer.status_code == 500
    assert answer.get_json() == {"ok": False, "error": "internal"}
