"""The wire contract: the session event as pydantic models (CONTRACT §1) and nothing else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

HASH_PATTERN = r"^[0-9a-f]{64}$"
BRANCH_SHA_PATTERN = r"^[0-9A-Fa-f]{7,40}$"
VERSION_PATTERN = r"^[0-9A-Za-z.+_-]{1,64}$"
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

EARLIEST_ENDED_AT = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(hours=24)
MAX_REFS = 200
MAX_BATCH_EVENTS = 100

# RFC 3339 date-time; the offset is optional (none means UTC) and nothing may follow it.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,  # \d is [0-9]: other scripts' digits are not RFC 3339
)

Hash = Annotated[str, StringConstraints(min_length=64, max_length=64, pattern=HASH_PATTERN)]


def _whole_number(value: Any) -> Any:
    """A JSON number with a zero fraction (`5.0`) is that integer, as the original server took
    it; any other value is left for the strict integer check (which refuses 5.5, true, "5")."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value

Ref = Annotated[str, StringConstraints(pattern=REF_PATTERN)]


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time to an aware UTC datetime, or raise ValueError."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("must be an RFC 3339 date-time such as 2026-05-22T12:34:56.000Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu or sign is None:
        tz = UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24) or int(off_m) >= 60:
            raise ValueError("has an out-of-range UTC offset")
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        raise ValueError("is not a real calendar date-time") from None
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """UTC text `YYYY-MM-DDTHH:MM:SS.mmmZ`, as stored and sent."""
    t = value if value.tzinfo is UTC else value.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


class SessionEvent(BaseModel):
    """One session's shape: hashes, counts, a commit-SHA prefix, opaque refs and versions."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    identity_hash: Hash
    session_id_hash: Hash
    ended_at: datetime
    tool_count: Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_whole_number)]
    tokens_saved: Annotated[int, Field(ge=0, le=1_000_000_000), BeforeValidator(_whole_number)]
    plugin_version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
    github_hash: Hash | None = None
    branch_sha: Annotated[str, StringConstraints(pattern=BRANCH_SHA_PATTERN)] | None = None
    discovery_refs: Annotated[list[Ref], Field(max_length=MAX_REFS)] | None = None
    schema_version: Literal[1] = 1

    @field_validator("ended_at", mode="before")
    @classmethod
    def _ended_at_is_rfc3339_in_range(cls, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValueError("must be a string holding an RFC 3339 date-time")
        parsed = parse_rfc3339(value)
        if parsed < EARLIEST_ENDED_AT:
            raise ValueError("must not be before 2020-01-01")
        if parsed > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError("must not be more than 24 hours in the future")
        return parsed

    @field_validator("branch_sha")
    @classmethod
    def _branch_sha_lowercase(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @property
    def refs(self) -> list[str]:
        return list(self.discovery_refs or [])


class BatchEnvelope(BaseModel):
    """The batch body `{"events": [...]}`: at most 100 items, each validated on its own."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    events: Annotated[list[Any], Field(max_length=MAX_BATCH_EVENTS)]


_KNOWN_FIELDS = frozenset(SessionEvent.model_fields) | frozenset(BatchEnvelope.model_fields)
UNKNOWN_KEY = "(unknown field)"


MAX_ISSUES = 20


def validation_issues(error: ValidationError) -> list[dict[str, Any]]:
    """The client-facing issues of a validation error: loc/type/msg, never the input.

    A key the schema does not know is itself a submitted value, so its name is replaced.
    At most MAX_ISSUES are listed (a body of thousands of bad keys gets a short answer);
    when more were found, a last issue of type `too_many_issues` says so.
    """
    issues: list[dict[str, Any]] = []
    found = error.errors(include_input=False, include_url=False, include_context=False)
    if len(found) > MAX_ISSUES:
        found = found[:MAX_ISSUES]
        more = error.error_count() - MAX_ISSUES
    else:
        more = 0
    for item in found:
        loc = [p if isinstance(p, int) or p in _KNOWN_FIELDS else UNKNOWN_KEY for p in item["loc"]]
        issues.append(
            {
                "loc": loc,
                "type": item["type"],
                "msg": _message(item),
            }
        )
    if more:
        issues.append(
            {"loc": [], "type": "too_many_issues", "msg": f"{more} more issues not listed"}
        )
    return issues


def _message(item: Any) -> str:
    msg = str(item["msg"])
    if item["type"] == "value_error":
        # Our own validators' texts: "Value error, <text>" -> "<text>" (they never hold input).
        return msg.removeprefix("Value error, ")
    return msg
