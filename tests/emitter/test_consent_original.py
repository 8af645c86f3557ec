"""Consent as CONTRACT §4.2 fixes it: the original plugin's reading, plus ours; any off wins."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from session_event_emitter.consent import resolve_consent
from session_event_emitter.settings import Settings


class _Missing:
    """A named stand-in for "not set" (a readable test id)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


UNSET = _Missing("unset")
NO_FILE = _Missing("no-file")


def _load(home: Any, env: dict[str, str], ours: object, original: object) -> Any:
    """Settings from real files: our config's and the original's ``telemetry`` values."""
    if ours is not NO_FILE:
        home.state.mkdir(parents=True, exist_ok=True)
        (home.state / "config.json").write_text(json.dumps({"telemetry": ours}))
    if original is not NO_FILE:
        home.legacy.mkdir(parents=True, exist_ok=True)
        (home.legacy / "config.json").write_text(json.dumps({"telemetry": original}))
    base = {"HOME": str(home.user_home), "SESSION_EVENTS_HOME": str(home.state)}
    return Settings.load({**base, **env}).consent


# The issue's table: ASHLR_TELEMETRY, the original's config, sends?
ISSUE_TABLE = [
    ("on", "off", False),
    ("1", "off", False),
    (None, "on", False),
    (None, True, False),
    ("true", NO_FILE, False),
    ("yes", NO_FILE, False),
    (None, "opt-in", True),
    ("on", NO_FILE, True),
    ("off", "opt-in", False),
    ("0", "opt-in", False),
]


@pytest.mark.parametrize(("ashlr", "original", "sends"), ISSUE_TABLE)
def test_issue_table_row(home: Any, ashlr: str | None, original: object, sends: bool) -> None:
    env = {} if ashlr is None else {"ASHLR_TELEMETRY": ashlr}
    assert _load(home, env, NO_FILE, original).enabled is sends


def test_original_config_off_beats_ashlr_telemetry_on_and_is_named(home: Any) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": "on"}, NO_FILE, "off")
    assert consent.enabled is False
    assert consent.source == str(home.legacy / "config.json")


def test_original_config_off_beats_our_own_on(home: Any) -> None:
    env = {"SESSION_EVENTS_TELEMETRY": "on"}
    consent = _load(home, env, "on", "off")
    assert (consent.enabled, consent.source) == (False, str(home.legacy / "config.json"))


def test_ashlr_off_beats_our_config_on(home: Any) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": "0"}, "on", NO_FILE)
    assert (consent.enabled, consent.source) == (False, "ASHLR_TELEMETRY")


def test_our_off_beats_the_originals_opt_in(home: Any) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": "on"}, "off", "opt-in")
    assert (consent.enabled, consent.source) == (False, str(home.state / "config.json"))


def test_our_on_is_consent_without_the_original(home: Any) -> None:
    consent = _load(home, {}, "on", NO_FILE)
    assert (consent.enabled, consent.source) == (True, str(home.state / "config.json"))


@pytest.mark.parametrize("word", ["on", "ON", " on ", "\u3000On\ufeff", "1", "\t1\n"])
def test_ashlr_telemetry_on_is_read_lowercased_and_js_trimmed(home: Any, word: str) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": word}, NO_FILE, NO_FILE)
    assert (consent.enabled, consent.source) == (True, "ASHLR_TELEMETRY")


@pytest.mark.parametrize("word", ["true", "yes", "opt-in", "enable", "2", "o n", "\x1con"])
def test_ashlr_telemetry_other_words_are_not_consent(home: Any, word: str) -> None:
    assert _load(home, {"ASHLR_TELEMETRY": word}, NO_FILE, NO_FILE).enabled is False


@pytest.mark.parametrize("value", ["on", True, "Opt-In", " opt-in", "yes", 1, None, ["opt-in"]])
def test_original_config_only_exact_opt_in_is_consent(home: Any, value: object) -> None:
    assert _load(home, {}, NO_FILE, value).enabled is False


def test_original_config_opt_in_is_consent_and_is_named(home: Any) -> None:
    consent = _load(home, {}, NO_FILE, "opt-in")
    assert (consent.enabled, consent.source) == (True, str(home.legacy / "config.json"))


@pytest.mark.parametrize("value", ["off", False, "OFF", "false", "no"])
def test_original_config_off_words_beat_ashlr_on(home: Any, value: object) -> None:
    assert _load(home, {"ASHLR_TELEMETRY": "on"}, NO_FILE, value).enabled is False


@pytest.mark.parametrize("dnt", ["1", "true", "TRUE"])
def test_do_not_track_beats_every_on_at_once(home: Any, dnt: str) -> None:
    env = {"DO_NOT_TRACK": dnt, "SESSION_EVENTS_TELEMETRY": "on", "ASHLR_TELEMETRY": "on"}
    consent = _load(home, env, "on", "opt-in")
    assert (consent.enabled, consent.source) == (False, "DO_NOT_TRACK")


# Every combination of the variables and both config files, against the rule written out
# independently: the original's own isTelemetryEnabled(), transcribed from its source,
# and our words; an "off" anywhere means nothing is sent.
DNT_VALUES = [UNSET, "1", "true", "0"]
OURS_ENV_VALUES = [UNSET, "on", "off"]
ASHLR_VALUES = [UNSET, "on", "1", " On ", "off", "0", "OFF", "true", "yes", "false", "opt-in"]
OUR_CONFIG_VALUES = [NO_FILE, "on", "off"]
ORIGINAL_CONFIG_VALUES = [NO_FILE, "off", "opt-in", "on", True, False, "OFF"]


def _original_sends(ashlr: object, original: object) -> bool:
    """The original plugin's isTelemetryEnabled(), line for line."""
    env_value = "" if ashlr is UNSET else str(ashlr).lower().strip()
    if env_value in ("off", "0"):
        return False
    if env_value in ("on", "1"):
        return original != "off"
    return original == "opt-in"


def _expected(dnt: object, ours_env: object, ashlr: object, ours: object, original: object) -> bool:
    ashlr_word = "" if ashlr is UNSET else str(ashlr).lower().strip()
    says_off = (
        dnt in ("1", "true")
        or ours_env == "off"
        or ashlr_word in ("off", "0", "false")
        or ours == "off"
        or original in ("off", "OFF", False)
    )
    if says_off:
        return False
    return ours_env == "on" or ours == "on" or _original_sends(ashlr, original)


COMBINATIONS = list(
    itertools.product(
        DNT_VALUES, OURS_ENV_VALUES, ASHLR_VALUES, OUR_CONFIG_VALUES, ORIGINAL_CONFIG_VALUES
    )
)


@pytest.mark.parametrize("ashlr", ASHLR_VALUES, ids=repr)
@pytest.mark.parametrize("original", ORIGINAL_CONFIG_VALUES, ids=repr)
def test_every_combination_follows_the_rule(ashlr: object, original: object) -> None:
    wrong = []
    for dnt, ours_env, ours in itertools.product(DNT_VALUES, OURS_ENV_VALUES, OUR_CONFIG_VALUES):
        env = {
            name: value
            for name, value in (
                ("DO_NOT_TRACK", dnt),
                ("SESSION_EVENTS_TELEMETRY", ours_env),
                ("ASHLR_TELEMETRY", ashlr),
            )
            if isinstance(value, str)
        }
        config = {} if ours is NO_FILE else {"telemetry": ours}
        legacy = {} if original is NO_FILE else {"telemetry": original}
        consent = resolve_consent(env, config, legacy)
        if consent.enabled is not _expected(dnt, ours_env, ashlr, ours, original):
            wrong.append((dnt, ours_env, ours, consent))
    assert wrong == []


@pytest.mark.parametrize("ashlr", ASHLR_VALUES, ids=repr)
@pytest.mark.parametrize("original", ORIGINAL_CONFIG_VALUES, ids=repr)
def test_without_our_words_we_send_exactly_when_the_original_does_but_for_wider_offs(
    ashlr: object, original: object
) -> None:
    env = {} if ashlr is UNSET else {"ASHLR_TELEMETRY": str(ashlr)}
    legacy = {} if original is NO_FILE else {"telemetry": original}
    wider_off = ashlr == "false" or original in ("OFF", False)
    consent = resolve_consent(env, {}, legacy)
    assert consent.enabled is (_original_sends(ashlr, original) and not wider_off)


def test_the_combination_table_covers_every_issue_row() -> None:
    pairs = {(a, o) for _, _, a, _, o in COMBINATIONS}
    for ashlr, original, _ in ISSUE_TABLE:
        assert ((UNSET if ashlr is None else ashlr), original) in pairs


def test_status_names_the_original_config_as_the_deciding_source(
    home: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_text(json.dumps({"telemetry": "off"}))
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")
    monkeypatch.setenv("SESSION_EVENTS_TELEMETRY", "on")
    report = json.loads(run_cli("status", "--json").stdout)
    assert (report["consent"], report["consent_source"]) == (
        "off",
        str(home.legacy / "config.json"),
    )


def test_enable_does_not_outvote_the_originals_off_and_says_so(home: Any, run_cli: Any) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_text(json.dumps({"telemetry": "off"}))
    done = run_cli("enable")
    assert done.returncode == 0
    assert b"still turns telemetry off" in done.stderr
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["consent"] == "off"


def test_hook_with_the_originals_off_creates_nothing(
    home: Any, run_cli: Any, hook_json: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_text(json.dumps({"telemetry": "off"}))
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")
    monkeypatch.setenv(
        "ASHLR_SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}/v1/session-events"
    )
    assert run_cli(stdin=hook_json("s")).returncode == 0
    assert not home.state.exists()
    assert sorted(p.name for p in home.legacy.iterdir()) == ["config.json"]
