"""The ingest path's validator: schema.py's models written as the pydantic_core schema of them.

pydantic's model machinery takes tens of milliseconds to import and build, all of it paid by
a cold instance before its first answer; the core schema below is what that machinery would
produce, so pydantic_core validates with it directly, in the same engine, with the same
issues. schema.py stays the definition (its models give the OpenAPI document), and
tests/functions/test_validator.py holds the two to the same schema and the same answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic_core import SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from session_events.timestamps import parse_rfc3339

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
_MODEL_SLOTS = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__")


class SessionEvent:
    """A valid session event (CONTRACT §1) as the validator builds it; read-only.

    Named as schema.py's model is, so a ValidationError reads the same from either.
    """

    __slots__ = _MODEL_SLOTS

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


class BatchEnvelope:
    """The batch body `{"events": [...]}`: its items, each still to be validated on its own."""

    __slots__ = _MODEL_SLOTS

    events: list[Any]


def _hash() -> cs.CoreSchema:
    return cs.str_schema(pattern=HASH_PATTERN, max_length=64, min_length=64)


def _field(schema: cs.CoreSchema) -> cs.ModelField:
    return cs.model_field(schema, metadata={})


def _optional(schema: cs.CoreSchema) -> cs.CoreSchema:
    return cs.with_default_schema(cs.nullable_schema(schema), default=None)


def _count(maximum: int) -> cs.CoreSchema:
    return cs.no_info_before_validator_function(whole_number, cs.int_schema(ge=0, le=maximum))


def _model(cls: type, title: str, fields: dict[str, cs.ModelField]) -> cs.ModelSchema:
    return cs.model_schema(
        cls,
        cs.model_fields_schema(fields, model_name=title, computed_fields=[]),
        custom_init=False,
        root_model=False,
        config=cs.CoreConfig(title=title, extra_fields_behavior="forbid", strict=True),
    )


EVENT_SCHEMA = _model(
    SessionEvent,
    "SessionEvent",
    {
        "identity_hash": _field(_hash()),
        "session_id_hash": _field(_hash()),
        "ended_at": _field(
            cs.no_info_before_validator_function(
                ended_at_in_range, cs.datetime_schema(microseconds_precision="truncate")
            )
        ),
        "tool_count": _field(_count(1_000_000)),
        "tokens_saved": _field(_count(1_000_000_000)),
        "plugin_version": _field(cs.str_schema(pattern=VERSION_PATTERN)),
        "github_hash": _field(_optional(_hash())),
        "branch_sha": _field(
            cs.with_default_schema(
                cs.no_info_after_validator_function(
                    lowercase, cs.nullable_schema(cs.str_schema(pattern=BRANCH_SHA_PATTERN))
                ),
                default=None,
            )
        ),
        "discovery_refs": _field(
            _optional(
                cs.list_schema(cs.str_schema(pattern=REF_PATTERN), max_length=MAX_REFS, metadata={})
            )
        ),
        "schema_version": _field(cs.with_default_schema(cs.literal_schema([1]), default=1)),
    },
)

BATCH_SCHEMA = _model(
    BatchEnvelope,
    "BatchEnvelope",
    {"events": _field(cs.list_schema(cs.any_schema(), max_length=MAX_BATCH_EVENTS))},
)

_EVENT = SchemaValidator(EVENT_SCHEMA)
_BATCH = SchemaValidator(BATCH_SCHEMA)

_KNOWN_FIELDS = frozenset(EVENT_SCHEMA["schema"]["fields"]) | frozenset(
    BATCH_SCHEMA["schema"]["fields"]
)


def validate_event(payload: Any) -> SessionEvent:
    """The event in `payload`, or the ValidationError schema.SessionEvent would raise."""
    return cast(SessionEvent, _EVENT.validate_python(payload))


def batch_items(payload: Any) -> list[Any]:
    """The items of a batch body, not yet validated, or ValidationError."""
    return cast(BatchEnvelope, _BATCH.validate_python(payload)).events


def validation_issues(
    error: ValidationError, known: frozenset[str] = _KNOWN_FIELDS
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
