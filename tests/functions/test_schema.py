"""The event's schema as a table: which events are valid, and what an invalid one reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from support import event

from session_events.contract.schema import SessionEvent, format_timestamp, validation_issues


def soon(hours: float) -> str:
    return format_timestamp(datetime.now(UTC) + timedelta(hours=hours))


VALID: list[tuple[str, dict[str, Any]]] = [
    ("fixture", event()),
    ("minimal", event(github_hash=None, branch_sha=None, discovery_refs=None, schema_version=None)),
    ("no offset means UTC", event(ended_at="2026-05-22T12:34:56")),
    ("lowercase z and t", event(ended_at="2026-05-22t12:34:56z")),
    ("offset", event(ended_at="2026-05-22T12:34:56.123-07:30")),
    ("nanoseconds", event(ended_at="2026-05-22T12:34:56.123456789Z")),
    ("earliest", event(ended_at="2020-01-01T00:00:00Z")),
    ("23 h ahead", event(ended_at=soon(23))),
    ("short sha", event(branch_sha="abcdef0")),
    ("full uppercase sha", event(branch_sha="A" * 40)),
    ("maximum counts", event(tool_count=1_000_000, tokens_saved=1_000_000_000)),
    ("zero counts", event(tool_count=0, tokens_saved=0)),
    ("200 refs", event(discovery_refs=[f"r{i}" for i in range(200)])),
    ("128-char ref", event(discovery_refs=["a" * 128])),
    ("version charset", event(plugin_version="1.0.0-rc.1+build_7")),
    ("64-char version", event(plugin_version="v" * 64)),
]

INVALID: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("40-char identity", event(identity_hash="a" * 40), ["identity_hash"]),
    ("hash with newline", event(identity_hash="a" * 64 + "\n"), ["identity_hash"]),
    ("uppercase identity", event(identity_hash="A" * 64), ["identity_hash"]),
    ("30-char session", event(session_id_hash="b" * 30), ["session_id_hash"]),
    ("slashed date", event(ended_at="2026/05/22"), ["ended_at"]),
    (
        "arabic-indic digits",
        event(ended_at="\u0662\u0660\u0662\u0666-05-22T12:34:56Z"),
        ["ended_at"],
    ),
    ("date only", event(ended_at="2026-05-22"), ["ended_at"]),
    ("garbage after seconds", event(ended_at="2026-05-22T12:34:56Zjunk"), ["ended_at"]),
    ("impossible date", event(ended_at="2026-02-30T12:00:00Z"), ["ended_at"]),
    ("before 2020", event(ended_at="2019-12-31T23:59:59Z"), ["ended_at"]),
    ("25 h ahead", event(ended_at=soon(25)), ["ended_at"]),
    ("epoch number", event(ended_at=1_750_000_000), ["ended_at"]),
    ("negative tool count", event(tool_count=-1), ["tool_count"]),
    ("boolean tool count", event(tool_count=True), ["tool_count"]),
    ("string tool count", event(tool_count="3"), ["tool_count"]),
    ("fractional tool count", event(tool_count=1.5), ["tool_count"]),
    ("fractional tokens saved", event(tokens_saved=5.5), ["tokens_saved"]),
    ("boolean tokens saved", event(tokens_saved=True), ["tokens_saved"]),
    ("string tokens saved", event(tokens_saved="5"), ["tokens_saved"]),
    ("whole float over the maximum", event(tool_count=1_000_001.0), ["tool_count"]),
    ("negative whole float", event(tokens_saved=-1.0), ["tokens_saved"]),
    ("tool count too big", event(tool_count=1_000_001), ["tool_count"]),
    ("tokens too big", event(tokens_saved=1_000_000_001), ["tokens_saved"]),
    ("empty version", event(plugin_version=""), ["plugin_version"]),
    ("version with space", event(plugin_version="1.0 beta"), ["plugin_version"]),
    ("65-char version", event(plugin_version="v" * 65), ["plugin_version"]),
    ("6-char sha", event(branch_sha="abcdef"), ["branch_sha"]),
    ("non-hex sha", event(branch_sha="abcdefg"), ["branch_sha"]),
    ("short github hash", event(github_hash="c" * 63), ["github_hash"]),
    ("201 refs", event(discovery_refs=[f"r{i}" for i in range(201)]), ["discovery_refs"]),
    ("ref starting with dash", event(discovery_refs=["ok", "-x"]), ["discovery_refs", 1]),
    ("ref with slash", event(discovery_refs=["a/b"]), ["discovery_refs", 0]),
    ("129-char ref", event(discovery_refs=["a" * 129]), ["discovery_refs", 0]),
    ("refs not a list", event(discovery_refs="a,b"), ["discovery_refs"]),
    ("schema version 2", event(schema_version=2), ["schema_version"]),
    ("unknown key", {**event(), "transcript": "secret"}, ["(unknown field)"]),
    (
        "missing identity",
        {k: v for k, v in event().items() if k != "identity_hash"},
        ["identity_hash"],
    ),
]


@pytest.mark.parametrize(("case", "payload"), VALID, ids=[case for case, _ in VALID])
def test_valid_events(case: str, payload: dict[str, Any]) -> None:
    assert SessionEvent.model_validate(payload).identity_hash == payload["identity_hash"]


@pytest.mark.parametrize(("case", "payload", "loc"), INVALID, ids=[case for case, _, _ in INVALID])
def test_invalid_events_report_the_location(
    case: str, payload: dict[str, Any], loc: list[Any]
) -> None:
    with pytest.raises(ValidationError) as caught:
        SessionEvent.model_validate(payload)
    issues = validation_issues(caught.value)
    assert [issue["loc"] for issue in issues] == [loc]
    assert set(issues[0]) == {"loc", "type", "msg"}


def test_issues_never_carry_the_submitted_value() -> None:
    secret = "/home/alice/secret-project"
    payload = {**event(plugin_version=secret, ended_at=secret), secret: secret}
    with pytest.raises(ValidationError) as caught:
        SessionEvent.model_validate(payload)
    assert "alice" not in repr(validation_issues(caught.value))


def test_offsets_are_converted_to_utc() -> None:
    parsed = SessionEvent.model_validate(event(ended_at="2026-05-22T14:34:56+02:00"))
    assert parsed.ended_at == datetime(2026, 5, 22, 12, 34, 56, tzinfo=UTC)


@pytest.mark.parametrize("field", ["tool_count", "tokens_saved"])
def test_a_number_with_a_zero_fraction_is_that_integer(field: str) -> None:
    value = getattr(SessionEvent.model_validate(event(**{field: 5.0})), field)
    assert (value, type(value)) == (5, int)


def test_branch_sha_is_lowercased() -> None:
    assert SessionEvent.model_validate(event(branch_sha="ABCDEF0")).branch_sha == "abcdef0"


def test_issues_are_capped_with_a_count_of_the_rest() -> None:
    payload = {**event(), **{f"unknown_{i}": i for i in range(500)}}
    with pytest.raises(ValidationError) as caught:
        SessionEvent.model_validate(payload)
    issues = validation_issues(caught.value)
    assert len(issues) == 21
    assert issues[-1] == {"loc": [], "type": "too_many_issues", "msg": "480 more issues not listed"}
