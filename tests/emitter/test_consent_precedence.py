"""Consent (any off wins, then any on, else off) and endpoint resolution (flag > env > file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from session_event_emitter.consent import parse_switch
from session_event_emitter.settings import Settings


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "SESSION_EVENTS_HOME": str(tmp_path / "state"),
        **values,
    }


def test_consent_is_off_by_default(tmp_path: Path) -> None:
    settings = Settings.load(_env(tmp_path))
    assert settings.consent.enabled is False
    assert settings.consent.source.startswith("default")


@pytest.mark.parametrize(
    ("variables", "expected", "source"),
    [
        ({"SESSION_EVENTS_TELEMETRY": "on"}, True, "SESSION_EVENTS_TELEMETRY"),
        ({"SESSION_EVENTS_TELEMETRY": "off"}, False, "SESSION_EVENTS_TELEMETRY"),
        ({"ASHLR_TELEMETRY": "on"}, True, "ASHLR_TELEMETRY"),
        ({"ASHLR_TELEMETRY": "opt-in"}, False, "default (opt-in: off until enabled)"),
        ({"ASHLR_TELEMETRY": "off"}, False, "ASHLR_TELEMETRY"),
        (
            {"SESSION_EVENTS_TELEMETRY": "off", "ASHLR_TELEMETRY": "on"},
            False,
            "SESSION_EVENTS_TELEMETRY",
        ),
        ({"SESSION_EVENTS_TELEMETRY": "maybe"}, False, "default (opt-in: off until enabled)"),
    ],
)
def test_environment_sets_consent(
    tmp_path: Path, variables: dict[str, str], expected: bool, source: str
) -> None:
    consent = Settings.load(_env(tmp_path, **variables)).consent
    assert (consent.enabled, consent.source) == (expected, source)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True"])
def test_do_not_track_wins_over_every_opt_in(tmp_path: Path, value: str) -> None:
    _write_json(tmp_path / "state" / "config.json", {"telemetry": "on"})
    env = _env(tmp_path, DO_NOT_TRACK=value, SESSION_EVENTS_TELEMETRY="on", ASHLR_TELEMETRY="on")
    consent = Settings.load(env, telemetry=True).consent
    assert consent.enabled is False
    assert consent.source == "DO_NOT_TRACK"


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_do_not_track_zero_or_false_does_not_block(tmp_path: Path, value: str) -> None:
    env = _env(tmp_path, DO_NOT_TRACK=value, SESSION_EVENTS_TELEMETRY="on")
    assert Settings.load(env).consent.enabled is True


def test_flag_on_does_not_outvote_an_environment_off(tmp_path: Path) -> None:
    env = _env(tmp_path, SESSION_EVENTS_TELEMETRY="off")
    consent = Settings.load(env, telemetry=True).consent
    assert (consent.enabled, consent.source) == (False, "SESSION_EVENTS_TELEMETRY")


def test_flag_off_beats_an_environment_on(tmp_path: Path) -> None:
    env = _env(tmp_path, SESSION_EVENTS_TELEMETRY="on")
    consent = Settings.load(env, telemetry=False).consent
    assert (consent.enabled, consent.source) == (False, "command-line flag")


def test_flag_on_turns_consent_on_when_nothing_says_off(tmp_path: Path) -> None:
    consent = Settings.load(_env(tmp_path), telemetry=True).consent
    assert (consent.enabled, consent.source) == (True, "command-line flag")


def test_environment_beats_config_file(tmp_path: Path) -> None:
    _write_json(tmp_path / "state" / "config.json", {"telemetry": "on"})
    env = _env(tmp_path, SESSION_EVENTS_TELEMETRY="off")
    assert Settings.load(env).consent.enabled is False


def test_config_file_turns_consent_on(tmp_path: Path) -> None:
    _write_json(tmp_path / "state" / "config.json", {"telemetry": "on"})
    consent = Settings.load(_env(tmp_path)).consent
    assert consent.enabled is True
    assert consent.source.endswith("config.json")


def test_config_file_do_not_track_turns_consent_off(tmp_path: Path) -> None:
    _write_json(tmp_path / "state" / "config.json", {"telemetry": "on", "do_not_track": True})
    assert Settings.load(_env(tmp_path)).consent.enabled is False


@pytest.mark.parametrize(("value", "expected"), [("opt-in", True), ("off", False)])
def test_original_plugin_config_is_honoured(tmp_path: Path, value: str, expected: bool) -> None:
    _write_json(tmp_path / "home" / ".ashlr" / "config.json", {"telemetry": value})
    assert Settings.load(_env(tmp_path)).consent.enabled is expected


def test_own_config_file_beats_original_plugin_config(tmp_path: Path) -> None:
    _write_json(tmp_path / "home" / ".ashlr" / "config.json", {"telemetry": "opt-in"})
    _write_json(tmp_path / "state" / "config.json", {"telemetry": "off"})
    assert Settings.load(_env(tmp_path)).consent.enabled is False


@pytest.mark.parametrize("which", ["own", "original"])
@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b'{"telemetry": "of', b"[]", b'"off"', b" " * (70 * 1024)],
    ids=["malformed", "empty", "cut-short", "array", "string", "too-big"],
)
def test_a_config_file_that_cannot_be_read_turns_telemetry_off(
    tmp_path: Path, which: str, content: bytes
) -> None:
    """It may have said off: an "on" elsewhere does not outvote what could not be read."""
    path = (tmp_path / "state" if which == "own" else tmp_path / "home" / ".ashlr") / "config.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    consent = Settings.load(
        _env(tmp_path, SESSION_EVENTS_TELEMETRY="on", ASHLR_TELEMETRY="on")
    ).consent
    assert consent.enabled is False
    assert consent.source == f"{path} (there, but not readable as a JSON object)"


def test_a_config_file_the_user_cannot_read_turns_telemetry_off(tmp_path: Path) -> None:
    path = tmp_path / "state" / "config.json"
    _write_json(path, {"telemetry": "on"})
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("this user reads any file (root); CI runs this as an unprivileged user")
        consent = Settings.load(_env(tmp_path, SESSION_EVENTS_TELEMETRY="on")).consent
    finally:
        path.chmod(0o600)
    assert consent.enabled is False


def test_a_directory_where_the_config_file_should_be_turns_telemetry_off(tmp_path: Path) -> None:
    (tmp_path / "state" / "config.json").mkdir(parents=True)
    assert Settings.load(_env(tmp_path, SESSION_EVENTS_TELEMETRY="on")).consent.enabled is False


def test_do_not_track_is_named_before_an_unreadable_config(tmp_path: Path) -> None:
    path = tmp_path / "state" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"{")
    consent = Settings.load(_env(tmp_path, DO_NOT_TRACK="1")).consent
    assert (consent.enabled, consent.source) == (False, "DO_NOT_TRACK")


@pytest.mark.parametrize(
    ("word", "expected"),
    [("on", True), ("Opt-In", True), ("1", True), ("off", False), ("0", False), ("x", None)],
)
def test_parse_switch_reads_on_off_words(word: str, expected: bool | None) -> None:
    assert parse_switch(word) is expected


def test_default_home_follows_xdg_state_home(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert Settings.load(env).home == tmp_path / "xdg" / "session-events"


def test_default_home_without_xdg(tmp_path: Path) -> None:
    assert Settings.load({"HOME": str(tmp_path)}).home == tmp_path / ".local/state/session-events"
