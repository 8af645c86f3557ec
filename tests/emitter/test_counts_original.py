"""Counts from the original plugin's stats.json add up the buckets the original adds up.

The original's SessionEnd emitter sums ``calls`` and ``tokensSaved`` over the buckets of
the session's own id and of the ``sessionId`` in ``last-project.json`` when its
``updatedAt`` is at most 24 hours old, each bucket once, from a ``schemaVersion: 2`` file.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from session_event_emitter.event import HookInput, build_event
from session_event_emitter.settings import Settings

NOW = datetime(2026, 5, 22, 12, 0, tzinfo=UTC)
OWN = "3f0c1a2e-0000-4000-8000-00000000000a"
HINTED = "3f0c1a2e-0000-4000-8000-00000000000b"


def _stats(legacy: Path, sessions: dict[str, object], **top: object) -> None:
    legacy.mkdir(exist_ok=True)
    body = {"schemaVersion": 2, "sessions": sessions, "lifetime": {"calls": 0}, **top}
    (legacy / "stats.json").write_text(json.dumps(body))


def _hint(legacy: Path, session_id: object, updated_at: object) -> None:
    legacy.mkdir(exist_ok=True)
    body = {"sessionId": session_id, "updatedAt": updated_at, "projectDir": "/somewhere"}
    (legacy / "last-project.json").write_text(json.dumps(body))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _counts(hook: HookInput | None = None, **kwargs: Any) -> tuple[object, object]:
    event = build_event(
        Settings.load(), hook or HookInput(session_id=OWN), dict(os.environ), now=NOW, **kwargs
    )
    return event["tool_count"], event["tokens_saved"]


ISSUE_BUCKETS = {
    OWN: {"calls": 17, "tokensSaved": 4321, "startedAt": "2026-05-22T10:00:00.000Z"},
    HINTED: {"calls": 3, "tokensSaved": 79, "startedAt": "2026-05-22T10:00:01.000Z"},
}


def test_issue_example_adds_the_hinted_bucket(home: Any) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, HINTED, _iso(NOW - timedelta(hours=1)))
    assert _counts() == (20, 4400)


def test_without_a_hint_only_the_sessions_own_bucket_counts(home: Any) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    assert _counts() == (17, 4321)


@pytest.mark.parametrize(
    "age", [timedelta(hours=24, seconds=1), timedelta(days=3), -timedelta(minutes=5)]
)
def test_hint_older_than_a_day_or_in_the_future_is_ignored(home: Any, age: timedelta) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, HINTED, _iso(NOW - age))
    assert _counts() == (17, 4321)


def test_hint_just_under_a_day_old_counts(home: Any) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, HINTED, _iso(NOW - timedelta(hours=23, minutes=59)))
    assert _counts() == (20, 4400)


def test_hint_with_a_utc_offset_is_read_as_that_instant(home: Any) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, HINTED, "2026-05-22T13:30:00+02:00")  # 11:30 UTC, half an hour ago
    assert _counts() == (20, 4400)


@pytest.mark.parametrize("hinted", [OWN, f" {OWN}\n", f"\ufeff{OWN}"], ids=ascii)
def test_hint_naming_the_own_session_counts_its_bucket_once(home: Any, hinted: str) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, hinted, _iso(NOW - timedelta(hours=1)))
    assert _counts() == (17, 4321)


def test_padded_hint_finds_its_bucket(home: Any) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, f"\u3000{HINTED}\t", _iso(NOW - timedelta(hours=1)))
    assert _counts() == (20, 4400)


@pytest.mark.parametrize(
    ("session_id", "updated_at"),
    [
        (None, "2026-05-22T11:00:00Z"),
        ("", "2026-05-22T11:00:00Z"),
        (" \n", "2026-05-22T11:00:00Z"),
        (7, "2026-05-22T11:00:00Z"),
        ([HINTED], "2026-05-22T11:00:00Z"),
        (HINTED, None),
        (HINTED, 1779447600000),
        (HINTED, "not a date"),
    ],
)
def test_malformed_hint_is_no_hint(home: Any, session_id: object, updated_at: object) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, session_id, updated_at)
    assert _counts() == (17, 4321)


def test_hint_alone_counts_when_the_own_bucket_is_missing(home: Any) -> None:
    _stats(home.legacy, {HINTED: ISSUE_BUCKETS[HINTED]})
    _hint(home.legacy, HINTED, _iso(NOW - timedelta(hours=1)))
    assert _counts() == (3, 79)


def test_hint_counts_for_a_session_without_an_id(home: Any) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    _hint(home.legacy, HINTED, _iso(NOW - timedelta(hours=1)))
    assert _counts(HookInput()) == (3, 79)


def test_padded_claude_session_id_finds_its_bucket(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    monkeypatch.setenv("CLAUDE_SESSION_ID", f" {OWN}\r\n")
    assert _counts(HookInput()) == (17, 4321)


def test_stats_buckets_beat_the_transcript_count(home: Any, tmp_path: Path) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    transcript = tmp_path / "t.jsonl"
    block = {"type": "tool_use", "id": "toolu_1"}
    transcript.write_text(json.dumps({"message": {"content": [block]}}) + "\n")
    assert _counts(HookInput(session_id=OWN, transcript_path=str(transcript))) == (17, 4321)


def test_transcript_counts_when_no_bucket_exists(home: Any, tmp_path: Path) -> None:
    _stats(home.legacy, {"someone-else": {"calls": 9, "tokensSaved": 9}})
    transcript = tmp_path / "t.jsonl"
    blocks = [{"type": "tool_use", "id": "a"}, {"type": "tool_use", "id": "b"}]
    transcript.write_text(json.dumps({"message": {"content": blocks}}) + "\n")
    assert _counts(HookInput(session_id=OWN, transcript_path=str(transcript))) == (2, 0)


def test_flags_beat_the_stats_buckets(home: Any) -> None:
    _stats(home.legacy, ISSUE_BUCKETS)
    assert _counts(tool_count=1, tokens_saved=2) == (1, 2)


@pytest.mark.parametrize(
    "top",
    [
        {"schemaVersion": 1},
        {"schemaVersion": "2"},
        {"schemaVersion": True},
        {"lifetime": None},
        {"lifetime": 0},
        {"lifetime": ""},
    ],
)
def test_a_file_the_original_reads_as_an_older_layout_has_no_buckets(
    home: Any, top: dict[str, object]
) -> None:
    _stats(home.legacy, ISSUE_BUCKETS, **top)
    assert _counts() == (0, 0)


def test_a_file_without_schema_version_has_no_buckets(home: Any) -> None:
    home.legacy.mkdir()
    body = {"sessions": ISSUE_BUCKETS, "lifetime": {"calls": 20}}
    (home.legacy / "stats.json").write_text(json.dumps(body))
    assert _counts() == (0, 0)


def test_a_file_javascript_cannot_parse_has_no_buckets(home: Any) -> None:
    home.legacy.mkdir()
    text = json.dumps({"schemaVersion": 2, "sessions": ISSUE_BUCKETS, "lifetime": {}})
    (home.legacy / "stats.json").write_text(text.replace('"calls": 3', '"calls": NaN'))
    assert _counts() == (0, 0)


def test_fields_that_are_not_finite_numbers_count_as_zero(home: Any) -> None:
    buckets = {
        OWN: {"calls": "17", "tokensSaved": 4321},
        HINTED: {"calls": 3, "tokensSaved": True},
    }
    _stats(home.legacy, buckets)
    _hint(home.legacy, HINTED, _iso(NOW - timedelta(hours=1)))
    assert _counts() == (3, 4321)


def test_a_bucket_that_is_not_an_object_counts_as_zero(home: Any) -> None:
    _stats(home.legacy, {OWN: 5, HINTED: ISSUE_BUCKETS[HINTED]})
    _hint(home.legacy, HINTED, _iso(NOW - timedelta(hours=1)))
    assert _counts() == (3, 79)


def test_a_fractional_sum_is_rounded_down_and_a_negative_one_is_zero(home: Any) -> None:
    _stats(home.legacy, {OWN: {"calls": 2.5, "tokensSaved": -10}})
    assert _counts() == (2, 0)


def test_sums_are_capped_at_the_wire_limits(home: Any) -> None:
    buckets = {
        OWN: {"calls": 900_000, "tokensSaved": 900_000_000},
        HINTED: {"calls": 900_000, "tokensSaved": 900_000_000},
    }
    _stats(home.legacy, buckets)
    _hint(home.legacy, HINTED, _iso(NOW - timedelta(hours=1)))
    assert _counts() == (1_000_000, 1_000_000_000)


def test_a_file_with_a_byte_that_is_not_utf8_is_still_read(home: Any) -> None:
    home.legacy.mkdir()
    text = json.dumps({"schemaVersion": 2, "sessions": ISSUE_BUCKETS, "lifetime": {}})
    data = text.encode().replace(b'"startedAt": "2026-05-22T10:00:00.000Z"', b'"x": "\xff"')
    (home.legacy / "stats.json").write_bytes(data)
    assert _counts() == (17, 4321)
