"""The event's rules as constants and checks, the validated event, and the issues a client sees.

The one place they are written: the schema (contract/schema.py, for the OpenAPI document) and
its compiled copy on the ingest path (ingest/validator.py) both take them from here. Standard
library and pydantic_core only, so the ingest path's cold start does not pay for pydantic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import ValidationError

from session_events.core.timestamps import parse_rfc3339

HASH_PATTERN = r"^[0-9a-f]{64}$"
BRANCH_SHA_PATTERN = r"^[0-9A-Fa-f]{7,40}$"
VERSION_PATTERN = r"^[0-9A-Za-z.+_-]{1,64}$"
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

EARLIEST_ENDED_AT = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(hours=24)
MAX_REFS = 200
MAX_BATCH_EVENTS = 100
MAX_ISSUES = 20
UNKNOWN_KEY = "(unknown field)"


def whole_number(value: Any) -> Any:
    """A JSON number with a zero fraction (`5.0`) is that integer, as the original server took
    it; any other value is left for the strict integer check (which refuses 5.5, true, "5")."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def ended_at_in_range(value: Any) -> datetime:
    """`ended_at`: an RFC 3339 string, from 2020-01-01 to 24 hours past the server's time."""
    if not isinstance(value, str):
        raise ValueError("must be a string holding an RFC 3339 date-time")
    parsed = parse_rfc3339(value)
    if parsed < EARLIEST_ENDED_AT:
        raise ValueError("must not be before 2020-01-01")
    if parsed > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError("must not be more than 24 hours in the future")
    return parsed


def lowercase(value: str | None) -> str | None:
    """`branch_sha` is stored lowercase."""
    return value.lower() if value is not None else None


# The slots pydantic_core fills on a model instance; the fields themselves live in __dict__.
MODEL_SLOTS = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__")


class SessionEvent:
    """A valid session event (infra/session-event.schema.json), as the validator builds it.

    Named as schema.py's model is, so a ValidationError reads the same from either.
    """

    __slots__ = MODEL_SLOTS

    identity_hash: str
    session_id_hash: str
    ended_at: datetime
    tool_count: int
    tokens_saved: int
    plugin_version: str
    github_hash: str | None
    branch_sha: str | None
    discovery_refs: list[str] | None
    schema_version: int

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    @property
    def refs(self) -> list[str]:
        return list(self.discovery_refs or [])


# The keys a client may send (an event's fields and the batch envelope's): any other key is
# itself a submitted value and is never named back.
KNOWN_FIELDS = frozenset(
    {
        "identity_hash",
        "session_id_hash",
        "ended_at",
        "tool_count",
        "tokens_saved",
        "plugin_version",
        "github_hash",
        "branch_sha",
        "discovery_refs",
        "schema_version",
        "events",
    }
)


def validation_issues(
    error: ValidationError, known: frozenset[str] = KNOWN_FIELDS
) -> list[dict[str, Any]]:
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
        loc = [p if isinstance(p, int) or p in known else UNKNOWN_KEY for p in item["loc"]]
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
