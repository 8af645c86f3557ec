"""Configured URLs: which endpoints they name, which setting wins, and unusable ones named."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_event_emitter.endpoint import Endpoint, UnusableUrl, parse_endpoint, redact
from session_event_emitter.settings import Settings

B = "/v1/session-events/batch"
S = "/v1/session-events"


@pytest.mark.parametrize(
    ("raw", "exact", "single", "batch"),
    [
        (
            "https://ingest.example",
            False,
            "https://ingest.example" + S,
            "https://ingest.example" + B,
        ),
        (
            "https://ingest.example/",
            False,
            "https://ingest.example" + S,
            "https://ingest.example" + B,
        ),
        ("http://h:8080/prefix/", False, "http://h:8080/prefix" + S, "http://h:8080/prefix" + B),
        # The full endpoint, as the README's curl example writes it.
        ("http://h:8080/v1/session-events", False, "http://h:8080" + S, "http://h:8080" + B),
        ("http://h:8080/v1/session-events/", False, "http://h:8080" + S, "http://h:8080" + B),
        ("http://h:8080/v1/session-events/batch", False, "http://h:8080" + S, "http://h:8080" + B),
        ("  HTTPS://h/x  ", False, "https://h/x" + S, "https://h/x" + B),
        # The original plugin's ASHLR_SESSION_EVENTS_URL: the single endpoint exactly.
        (
            "https://api.example/v1/session-events",
            True,
            "https://api.example" + S,
            "https://api.example" + B,
        ),
        (
            "https://api.example/telemetry/ingest",
            True,
            "https://api.example/telemetry/ingest",
            None,
        ),
    ],
)
def test_a_url_names_its_single_and_batch_endpoints(
    raw: str, exact: bool, single: str, batch: str | None
) -> None:
    assert parse_endpoint(raw, exact_single=exact) == Endpoint(single, batch)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("localhost:8080", "http:// or https://"),
        ("ftp://h/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("http://", "no host"),
        ("http://h:99999", "port"),
        ("http://h:port", "port"),
        ("http://h/ x", "white space"),
        ("http://h/?a=1", "query"),
        ("", "empty"),
    ],
)
def test_an_unusable_url_is_refused_in_words(raw: str, words: str) -> None:
    with pytest.raises(UnusableUrl, match=words.replace("?", r"\?")):
        parse_endpoint(raw)


def test_a_password_in_a_url_is_hidden_when_shown() -> None:
    assert redact("https://user:s3cret@h.example/x") == "https://user:***@h.example/x"
    assert "s3cret" not in parse_endpoint("https://user:s3cret@h.example").shown


def _env(tmp_path: Path, **variables: str) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "SESSION_EVENTS_HOME": str(tmp_path / "state"),
        **variables,
    }


@pytest.mark.parametrize(
    ("variables", "single", "source"),
    [
        (
            {"SESSION_EVENTS_URL": "https://a.example/"},
            "https://a.example" + S,
            "SESSION_EVENTS_URL",
        ),
        (
            {"ASHLR_SESSION_EVENTS_URL": "https://b.example/v1/session-events"},
            "https://b.example" + S,
            "ASHLR_SESSION_EVENTS_URL",
        ),
        (
            {"ASHLR_API_URL": "https://c.example/base/"},
            "https://c.example/base" + S,
            "ASHLR_API_URL",
        ),
        (
            {"SESSION_EVENTS_URL": "https://a.example", "ASHLR_API_URL": "https://c.example"},
            "https://a.example" + S,
            "SESSION_EVENTS_URL",
        ),
    ],
)
def test_the_endpoint_comes_from_the_first_setting_that_gives_one(
    tmp_path: Path, variables: dict[str, str], single: str, source: str
) -> None:
    settings = Settings.load(_env(tmp_path, **variables))
    assert settings.endpoint is not None
    assert (settings.endpoint.single, settings.url_source) == (single, source)


def test_the_url_flag_beats_the_environment(tmp_path: Path) -> None:
    settings = Settings.load(
        _env(tmp_path, SESSION_EVENTS_URL="https://env.example"), url="http://127.0.0.1:1"
    )
    assert settings.endpoint == Endpoint("http://127.0.0.1:1" + S, "http://127.0.0.1:1" + B)


def test_the_config_file_gives_the_endpoint_last(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "config.json").write_text(
        '{"url": "https://cfg.example/v1/session-events"}'
    )
    settings = Settings.load(_env(tmp_path))
    assert settings.endpoint == Endpoint("https://cfg.example" + S, "https://cfg.example" + B)
    assert settings.url_source == "the config file (url)"


def test_no_url_anywhere_means_nothing_is_sent(tmp_path: Path) -> None:
    settings = Settings.load(_env(tmp_path))
    assert (settings.url, settings.endpoint, settings.url_problem) == (None, None, None)


def test_an_unusable_url_is_named_with_its_source_not_replaced_by_a_lower_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "config.json").write_text('{"url": "https://cfg.example"}')
    settings = Settings.load(_env(tmp_path, SESSION_EVENTS_URL="localhost:8080"))
    assert settings.endpoint is None
    assert settings.url_problem is not None
    assert "'localhost:8080'" in settings.url_problem
    assert "SESSION_EVENTS_URL" in settings.url_problem
