"""The ingest path's validator: schema.py's models written as the pydantic_core schema of them.

pydantic's model machinery takes tens of milliseconds to import and build, all of it paid by
a cold instance before its first answer; the core schema below is what that machinery would
produce, so pydantic_core validates with it directly, in the same engine, with the same
issues. schema.py stays the definition (its models give the OpenAPI document), and
tests/functions/test_validator.py holds the two to the same schema and the same answers.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from session_events.contract.rules import (
    BRANCH_SHA_PATTERN,
    HASH_PATTERN,
    MAX_BATCH_EVENTS,
    MAX_REFS,
    MODEL_SLOTS,
    REF_PATTERN,
    VERSION_PATTERN,
    SessionEvent,
    ended_at_in_range,
    lowercase,
    validation_issues,
    whole_number,
)

__all__ = ["SessionEvent", "batch_items", "validate_event", "validation_issues"]


class BatchEnvelope:
    """The batch body `{"events": [...]}`: its items, each still to be validated on its own."""

    __slots__ = MODEL_SLOTS

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


def validate_event(payload: Any) -> SessionEvent:
    """The event in `payload`, or the ValidationError schema.SessionEvent would raise."""
    return cast(SessionEvent, _EVENT.validate_python(payload))


def batch_items(payload: Any) -> list[Any]:
    """The items of a batch body, not yet validated, or ValidationError."""
    return cast(BatchEnvelope, _BATCH.validate_python(payload)).events
