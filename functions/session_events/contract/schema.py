"""The wire contract: the session event as pydantic models and nothing else.

These models are the definition: the OpenAPI document is generated from them, and the
ingest path validates with the same schema compiled by hand in validator.py (kept off the
cold start); tests/functions/test_validator.py holds the two to one schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from session_events.contract.rules import (
    BRANCH_SHA_PATTERN,
    EARLIEST_ENDED_AT,
    FUTURE_TOLERANCE,
    HASH_PATTERN,
    MAX_BATCH_EVENTS,
    MAX_ISSUES,
    MAX_REFS,
    REF_PATTERN,
    UNKNOWN_KEY,
    VERSION_PATTERN,
    ended_at_in_range,
    lowercase,
    validation_issues,
    whole_number,
)
from session_events.core.timestamps import format_timestamp, parse_rfc3339

__all__ = [
    "BRANCH_SHA_PATTERN",
    "EARLIEST_ENDED_AT",
    "FUTURE_TOLERANCE",
    "HASH_PATTERN",
    "MAX_BATCH_EVENTS",
    "MAX_ISSUES",
    "MAX_REFS",
    "REF_PATTERN",
    "UNKNOWN_KEY",
    "VERSION_PATTERN",
    "BatchEnvelope",
    "ForgetRequest",
    "SessionEvent",
    "format_timestamp",
    "parse_rfc3339",
    "validation_issues",
]

Hash = Annotated[str, StringConstraints(min_length=64, max_length=64, pattern=HASH_PATTERN)]
Ref = Annotated[str, StringConstraints(pattern=REF_PATTERN)]
# An install id is a UUID (36 characters) where this emitter or the original plugin made it.
MAX_INSTALL_ID_CHARS = 256
Count = BeforeValidator(whole_number)


class SessionEvent(BaseModel):
    """One session's shape: hashes, counts, a commit-SHA prefix, opaque refs and versions."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    identity_hash: Hash
    session_id_hash: Hash
    ended_at: Annotated[datetime, BeforeValidator(ended_at_in_range)]
    tool_count: Annotated[int, Field(ge=0, le=1_000_000), Count]
    tokens_saved: Annotated[int, Field(ge=0, le=1_000_000_000), Count]
    plugin_version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
    github_hash: Hash | None = None
    branch_sha: Annotated[
        Annotated[str, StringConstraints(pattern=BRANCH_SHA_PATTERN)] | None,
        AfterValidator(lowercase),
    ] = None
    discovery_refs: Annotated[list[Ref], Field(max_length=MAX_REFS)] | None = None
    schema_version: Literal[1] = 1

    @property
    def refs(self) -> list[str]:
        return list(self.discovery_refs or [])


def printable(value: str) -> str:
    """`install_id`: printable characters only (no control, separator or lone surrogate)."""
    if not value.isprintable():
        raise ValueError("must hold printable characters only")
    return value


class ForgetRequest(BaseModel):
    """The erasure request: the install id whose events are to be deleted.

    Knowing it is the proof: it is a random id kept in the person's files, sent nowhere
    else (events carry only its salted hash). The server never stores or logs it.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    install_id: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_INSTALL_ID_CHARS),
        AfterValidator(printable),
    ]


class BatchEnvelope(BaseModel):
    """The batch body `{"events": [...]}`: at most 100 items, each validated on its own."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    events: Annotated[list[Any], Field(max_length=MAX_BATCH_EVENTS)]
