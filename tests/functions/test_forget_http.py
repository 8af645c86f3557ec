"""POST /v1/forget on every real store: a person's events go, everyone else's stay.

Events are sent through the real ingest endpoints, each under the identity the emitter
derives for the quarter it was made in: sha256(install id + "salt_<YYYY>Q<n>").
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from support import BATCH_URL, Backend, SqliteBackend, event, hexhash

FORGET = "/v1/forget"
# Days before now, each in a quarter of its own (a quarter is at most 92 days long), all
# within the default retention of 365 days.
WITHIN_RETENTION = (0, 93, 186, 279, 362)


def salt(moment: datetime) -> str:
    return f"salt_{moment.year}Q{(moment.month - 1) // 3 + 1}"


def identity(install_id: str, moment: datetime) -> str:
    return hashlib.sha256((install_id + salt(moment)).encode()).hexdigest()


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def history(install_id: str, moments: list[datetime], per_quarter: int = 2) -> list[dict[str, Any]]:
    """The events one install sent: `per_quarter` sessions at each moment, salted by it."""
    return [
        event(
            identity_hash=identity(install_id, moment),
            session_id_hash=hexhash(f"{install_id}-{moment.isoformat()}-{n}"),
            ended_at=stamp(moment - timedelta(minutes=n)),
        )
        for moment in moments
        for n in range(per_quarter)
    ]


def send(client: FlaskClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 100):
        answer = client.post(BATCH_URL, json={"events": events[start : start + 100]})
        assert answer.status_code == 200, answer.get_json()
        statuses = {result["status"] for result in answer.get_json()["results"]}
        assert statuses == {"accepted"}


def moments_within_retention() -> list[datetime]:
    now = datetime.now(UTC)
    return [now - timedelta(days=days) for days in WITHIN_RETENTION]


def forget(client: FlaskClient, install_id: object, **headers: str) -> Any:
    return client.post(FORGET, json={"install_id": install_id}, headers=headers)


def owners(backend: Backend) -> dict[str, int]:
    """identity_hash -> how many stored events carry it."""
    counts: dict[str, int] = {}
    for row in backend.rows():
        counts[row["identity_hash"]] = counts.get(row["identity_hash"], 0) + 1
    return counts


def test_forget_deletes_every_event_of_the_install_from_every_quarter_and_nothing_else(
    backend: Backend, backend_client: FlaskClient
) -> None:
    person, others = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(2)]
    moments = moments_within_retention()
    send(backend_client, history(person, moments))
    for other in others:
        send(backend_client, history(other, moments, per_quarter=3))
    before = owners(backend)
    theirs = {identity(person, moment) for moment in moments}
    assert sum(before.get(hash_, 0) for hash_ in theirs) == 2 * len(moments)

    answer = forget(backend_client, person)

    assert answer.status_code == 200
    assert answer.get_json() == {"ok": True, "deleted": 2 * len(moments)}
    after = owners(backend)
    assert theirs.isdisjoint(after)
    assert after == {hash_: n for hash_, n in before.items() if hash_ not in theirs}
    assert sum(after.values()) == 2 * 3 * len(moments)
    # Nothing is left, so a repeat deletes nothing and says so in the same shape.
    again = forget(backend_client, person)
    assert (again.status_code, again.get_json()) == (200, {"ok": True, "deleted": 0})


def test_forget_reaches_events_the_emitter_dated_in_any_quarter_the_server_accepts(
    backend: Backend, backend_client: FlaskClient
) -> None:
    """ended_at (and so the salt) comes from the person's clock: one set years back, or a
    day ahead, still made events the server stored, and they are erased too."""
    person = str(uuid.uuid4())
    now = datetime.now(UTC)
    moments = [datetime(2020, 1, 1, 0, 5, tzinfo=UTC), datetime(2023, 8, 9, tzinfo=UTC)]
    moments.append(now + timedelta(hours=23))
    send(backend_client, history(person, moments, per_quarter=1))
    other = str(uuid.uuid4())
    send(backend_client, history(other, moments, per_quarter=1))

    answer = forget(backend_client, person)

    assert answer.get_json() == {"ok": True, "deleted": 3}
    assert set(owners(backend)) == {identity(other, moment) for moment in moments}


def test_a_wrong_install_id_deletes_nothing_and_answers_like_a_right_one_with_nothing_stored(
    backend: Backend, backend_client: FlaskClient
) -> None:
    person = str(uuid.uuid4())
    send(backend_client, history(person, moments_within_retention()))
    before = owners(backend)

    wrong = forget(backend_client, str(uuid.uuid4()))
    nothing_stored = forget(backend_client, str(uuid.uuid4()))

    assert wrong.status_code == nothing_stored.status_code == 200
    assert wrong.get_json() == nothing_stored.get_json() == {"ok": True, "deleted": 0}
    assert wrong.headers["Content-Type"] == nothing_stored.headers["Content-Type"]
    assert owners(backend) == before


MALFORMED: list[tuple[str, bytes]] = [
    ("not a string", b'{"install_id": 4242424242}'),
    ("empty", b'{"install_id": ""}'),
    ("too long", json.dumps({"install_id": "leaky-id-" * 40}).encode()),
    ("a control character", b'{"install_id": "leaky-id\\u0000x"}'),
    ("a new line", b'{"install_id": "leaky-id\\n"}'),
    ("missing", b'{"install": "leaky-id"}'),
    ("an extra key", b'{"install_id": "b8e0f7d2-leaky", "leaky-key": "leaky-id"}'),
    ("a list", b'{"install_id": ["leaky-id"]}'),
]


@pytest.mark.parametrize(("what", "body"), MALFORMED, ids=[what for what, _ in MALFORMED])
def test_a_malformed_install_id_is_a_400_that_does_not_echo_it(
    client: FlaskClient, what: str, body: bytes
) -> None:
    answer = client.post(FORGET, data=body, content_type="application/json")
    assert answer.status_code == 400, what
    payload = answer.get_json()
    assert payload["ok"] is False
    assert payload["error"] == "validation_failed"
    assert payload["issues"] and all(set(i) == {"loc", "type", "msg"} for i in payload["issues"])
    assert b"leaky" not in answer.data
    assert b"4242424242" not in answer.data


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"not json", "invalid_json"), (b'["a list"]', "invalid_json")],
)
def test_a_body_that_is_not_a_json_object_is_invalid_json(
    client: FlaskClient, body: bytes, code: str
) -> None:
    answer = client.post(FORGET, data=body, content_type="application/json")
    assert (answer.status_code, answer.get_json()) == (400, {"ok": False, "error": code})


def test_forget_takes_only_post(client: FlaskClient) -> None:
    answer = client.get(FORGET)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


def test_the_install_id_is_in_no_log_line_no_stored_row_and_no_answer(
    backend: Backend, backend_client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    person, other = str(uuid.uuid4()), str(uuid.uuid4())
    moments = moments_within_retention()
    send(backend_client, history(person, moments) + history(other, moments))
    capsys.readouterr()

    answers = [forget(backend_client, person), forget(backend_client, person + "\u0000")]
    answers.append(forget(backend_client, other))

    logged = capsys.readouterr().out
    for secret in (person, other):
        assert secret not in logged
        assert secret not in str(backend.rows())
        assert all(secret.encode() not in answer.data for answer in answers)
        if isinstance(backend, SqliteBackend):
            files = [backend.path, Path(f"{backend.path}-wal")]
            assert all(secret.encode() not in f.read_bytes() for f in files if f.exists())
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert [(line["message"], line.get("deleted")) for line in lines] == [
        ("POST /v1/forget 200", 2 * len(moments)),
        ("POST /v1/forget 400", None),
        ("POST /v1/forget 200", 2 * len(moments)),
    ]
    # No derived identity reaches the log either, not even as a prefix.
    derived = [identity(secret, moment)[:6] for secret in (person, other) for moment in moments]
    assert not any(prefix in logged for prefix in derived)
    assert not re.search(r"[0-9a-f]{64}", logged)


def test_the_ingest_token_applies_to_forget(make_client: Any, tmp_path: Path) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_INGEST_TOKEN="s3cret-token",
    )
    person = str(uuid.uuid4())
    refused = forget(client, person)
    assert refused.status_code == 401
    assert refused.get_json() == {"ok": False, "error": "unauthorized"}
    wrong = forget(client, person, Authorization="Bearer not-it")
    assert wrong.status_code == 401
    taken = forget(client, person, Authorization="Bearer s3cret-token")
    assert (taken.status_code, taken.get_json()) == (200, {"ok": True, "deleted": 0})


def test_repeated_forgets_of_one_install_are_rate_limited_with_the_true_wait(
    make_client: Any, tmp_path: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="2",
    )
    person = str(uuid.uuid4())
    assert [forget(client, person).status_code for _ in range(2)] == [200, 200]
    limited = forget(client, person)
    assert limited.status_code == 429
    assert limited.get_json() == {"ok": False, "error": "rate_limited"}
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    # Another install is not held back by this one.
    other = str(uuid.uuid4())
    assert forget(client, other).status_code == 200
    # The bucket is the one the install's events of this quarter draw from.
    send(client, history(other, [datetime.now(UTC)], per_quarter=1))
    assert forget(client, other).status_code == 429


def test_past_the_store_time_bound_forget_is_a_503_and_a_repeat_finishes_the_job(
    make_client: Any, tmp_path: Path
) -> None:
    db = tmp_path / "events.db"
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(db),
        SESSION_EVENTS_STORE_TIMEOUT_S="0.3",
    )
    person = str(uuid.uuid4())
    moments = moments_within_retention()
    send(client, history(person, moments))
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        busy = forget(client, person)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert busy.status_code == 503
    assert busy.get_json() == {"ok": False, "error": "store_unavailable"}
    assert int(busy.headers["Retry-After"]) >= 1

    done = forget(client, person)

    assert (done.status_code, done.get_json()) == (200, {"ok": True, "deleted": 2 * len(moments)})
    assert SqliteBackend(db).rows() == []
