"""A bad setting or a store that cannot be opened is explained in one read.

Every malformed variable is named at once, in a log line at start-up and on the first
request (which answers a bare 500); a store that cannot be opened is named with the reason
in the log line, `/readyz` answers 503 for it, and `/healthz` stays a liveness probe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AppFactory
from loopback import clean_env
from support import MAIN, ROOT, URL, event

from session_events.core.errors import ConfigurationError
from session_events.ingest.config import Settings
from session_events.read.settings import ReadSettings

BAD = {
    "SESSION_EVENTS_STORE": "postgres",
    "SESSION_EVENTS_RETENTION_DAYS": "soon",
    "SESSION_EVENTS_RATE_LIMIT_PER_MINUTE": "-4",
    "SESSION_EVENTS_STORE_TIMEOUT_S": "inf",
    "SESSION_EVENTS_COLLECTION": "a/b",
    "SESSION_EVENTS_DYNAMODB_TABLE": "no",
    "SESSION_EVENTS_DYNAMODB_ENDPOINT": "localhost:8000",
}


def log_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(BAD)
    for name in BAD:
        assert name in caught.value.detail


READ_SIDE_BAD = {
    "SESSION_EVENTS_PUBLIC_STATS": "yes-please",
    "SESSION_EVENTS_PUBLISH_K": "ten",
    "SESSION_EVENTS_ROLLUP_DAYS": "400",
    "SESSION_EVENTS_DP_EPSILON": "nan",
    "SESSION_EVENTS_RELEASE_DELAY_DAYS": "-1",
    "SESSION_EVENTS_PUBLIC_VERSIONS": "1.0.0,not a version!",
    "SESSION_EVENTS_PUBLIC_REFS": "owner-repo,<script>",
}


def test_every_bad_read_side_variable_is_named_at_once_without_its_value() -> None:
    shared = "same-token-for-both"
    with pytest.raises(ConfigurationError) as caught:
        ReadSettings.from_env(
            {
                **READ_SIDE_BAD,
                "SESSION_EVENTS_JOB_TOKEN": shared,
                "SESSION_EVENTS_READ_TOKEN": shared,
            }
        )
    for name in (*READ_SIDE_BAD, "SESSION_EVENTS_JOB_TOKEN"):
        assert name in caught.value.detail
    for value in (*READ_SIDE_BAD.values(), shared):
        assert value not in caught.value.detail


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_EVENTS_DP_EPSILON", "0.1"),
        ("SESSION_EVENTS_DP_EPSILON", "10"),
        ("SESSION_EVENTS_ROLLUP_DAYS", "90"),
        ("SESSION_EVENTS_RELEASE_DELAY_DAYS", "0"),
        ("SESSION_EVENTS_PUBLISH_K", "1"),
        ("SESSION_EVENTS_PUBLIC_STATS", " ON "),
    ],
)
def test_read_side_bounds_are_inclusive(name: str, value: str) -> None:
    ReadSettings.from_env({name: value})


def test_the_error_never_carries_a_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BAD, "SESSION_EVENTS_RETENTION_DAYS": "s3cret-looking-value"})
    assert "s3cret" not in caught.value.detail


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_EVENTS_RETENTION_DAYS", "99999999"),
        ("SESSION_EVENTS_RATE_LIMIT_PER_MINUTE", "9" * 400),
    ],
)
def test_a_number_too_large_to_compute_with_is_refused_at_start_up(name: str, value: str) -> None:
    """Taken, it made every request a 500 that named nothing (an expiry past the year 9999,
    a rate that overflows a float)."""
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("SESSION_EVENTS_RETENTION_DAYS", "36500"), ("SESSION_EVENTS_RATE_LIMIT_PER_MINUTE", "0")],
)
def test_the_largest_retention_and_no_rate_limit_serve_events(
    make_client: AppFactory, name: str, value: str
) -> None:
    client = make_client(**{name: value})
    assert client.post(URL, json=event()).status_code == 202


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e9", "five"])
def test_store_timeout_must_be_a_positive_finite_number(value: str) -> None:
    with pytest.raises(ConfigurationError, match="SESSION_EVENTS_STORE_TIMEOUT_S"):
        Settings.from_env({"SESSION_EVENTS_STORE_TIMEOUT_S": value})


def test_good_settings_are_taken() -> None:
    settings = Settings.from_env(
        {
            "SESSION_EVENTS_STORE": "dynamodb",
            "SESSION_EVENTS_DYNAMODB_TABLE": "events.prod-1",
            "SESSION_EVENTS_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
            "SESSION_EVENTS_STORE_TIMEOUT_S": "2.5",
        }
    )
    assert (settings.dynamodb_table, settings.store_timeout_s) == ("events.prod-1", 2.5)
    assert settings.dynamodb_endpoint_url == "http://127.0.0.1:8000"


def test_first_request_is_a_bare_500_and_its_log_line_names_every_variable(
    make_client: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(**BAD)
    answer = client.post(URL, json=event())
    assert answer.status_code == 500
    assert answer.get_json() == {"ok": False, "error": "internal"}
    [line] = [line for line in log_lines(capsys.readouterr().out) if line.get("status") == 500]
    for name in BAD:
        assert name in str(line["error_type"])


def test_start_up_logs_every_bad_variable_before_any_request(tmp_path: Path) -> None:
    script = (
        "import functions_framework\n"
        f"functions_framework.create_app(target='session_events', source={MAIN!r})\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT / "functions",
        env=clean_env(**BAD),
        timeout=120,
        check=True,
    )
    [line] = [line for line in log_lines(started.stdout) if line["severity"] == "ERROR"]
    for name in BAD:
        assert name in str(line["message"])


BOTH_SIDES_BAD = {
    "SESSION_EVENTS_RETENTION_DAYS": "soon",  # the ingest's
    "SESSION_EVENTS_ROLLUP_DAYS": "many",  # the read side's
    "SESSION_EVENTS_JOB_TOKEN": "job-token",
}


def test_a_read_side_request_names_the_bad_variables_of_both_sides(
    make_client: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(**BOTH_SIDES_BAD)
    capsys.readouterr()  # what start-up logged
    answer = client.post("/v1/jobs/rollup", headers={"Authorization": "Bearer job-token"})
    assert answer.status_code == 500
    assert answer.get_json() == {"ok": False, "error": "internal"}
    [line] = [line for line in log_lines(capsys.readouterr().out) if line.get("status") == 500]
    for name in ("SESSION_EVENTS_RETENTION_DAYS", "SESSION_EVENTS_ROLLUP_DAYS"):
        assert name in str(line["error_type"])


def test_the_rollup_command_names_the_bad_variables_of_both_sides(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "session_events.rollups.job"],
        capture_output=True,
        text=True,
        cwd=ROOT / "functions",
        env=clean_env(**BOTH_SIDES_BAD, SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db")),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    for name in ("SESSION_EVENTS_RETENTION_DAYS", "SESSION_EVENTS_ROLLUP_DAYS"):
        assert name in done.stderr
    assert "soon" not in done.stderr and "many" not in done.stderr


def test_start_up_with_good_settings_logs_nothing(tmp_path: Path) -> None:
    script = (
        "import functions_framework\n"
        f"functions_framework.create_app(target='session_events', source={MAIN!r})\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT / "functions",
        env=clean_env(SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "e.db")),
        timeout=120,
        check=True,
    )
    assert log_lines(started.stdout) == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/dev/null/events.db", "Not a directory"),
        ("{tmp}", "unable to open database file"),  # a directory, not a file
    ],
)
def test_sqlite_that_cannot_be_opened_is_named_with_the_reason_and_readyz_is_503(
    make_client: AppFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    path: str,
    reason: str,
) -> None:
    path = path.format(tmp=tmp_path)
    client = make_client(SESSION_EVENTS_STORE="sqlite", SESSION_EVENTS_SQLITE_PATH=path)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"ok": False, "error": "store_unavailable"}
    [line] = log_lines(capsys.readouterr().out)
    assert path in str(line["error_type"])
    assert reason in str(line["error_type"])
    assert path not in ready.get_data(as_text=True)


def test_healthz_is_liveness_only_even_when_the_store_cannot_open(
    make_client: AppFactory,
) -> None:
    client = make_client(SESSION_EVENTS_SQLITE_PATH="/dev/null/events.db")
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_dynamodb_missing_table_is_named_in_the_log(
    make_client: AppFactory, moto_dynamodb: object, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(SESSION_EVENTS_STORE="dynamodb", SESSION_EVENTS_DYNAMODB_TABLE="nope")
    assert client.get("/readyz").status_code == 503
    [line] = log_lines(capsys.readouterr().out)
    assert "table nope" in str(line["error_type"])
    assert "ResourceNotFoundException" in str(line["error_type"])
