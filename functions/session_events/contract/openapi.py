"""The published contract: the event's JSON Schema and the OpenAPI 3.1 document of the API.

Both are built from the pydantic models (the event from `schema.py`, the answers below) and
the error classes, so they cannot say something the code does not do. The checked-in copies
under `infra/` are written by

    python -m session_events.contract.openapi --write infra/

and a test fails when they drift from what this module builds.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from session_events import __version__
from session_events.contract import openapi_read
from session_events.contract.schema import MAX_BATCH_EVENTS, ForgetRequest, SessionEvent
from session_events.core.errors import (
    IngestError,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from session_events.ingest.config import BATCH_BODY_LIMIT, FORGET_BODY_LIMIT, SINGLE_BODY_LIMIT

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = "session-event.schema.json"
OPENAPI_FILE = "openapi.json"
JSON = "application/json"
REF = "#/components/schemas/{model}"

# What the pydantic schema cannot say by itself, attached to each property.
FIELD_NOTES: dict[str, str] = {
    "identity_hash": "sha256(install id + quarterly salt), 64 lowercase hex characters.",
    "session_id_hash": "sha256(raw session id), 64 lowercase hex characters. "
    "With identity_hash it is the idempotency key: the first event stored for the pair wins.",
    "ended_at": "RFC 3339 date-time; an offset is converted to UTC, no offset means UTC. "
    "Not before 2020-01-01 and not later than the server's time + 24 hours.",
    "tool_count": "Number of tool calls in the session; 5.0 is taken as 5, 5.5 is refused.",
    "tokens_saved": "Tokens saved in the session; 5.0 is taken as 5, 5.5 is refused.",
    "plugin_version": "Version of the emitting plugin.",
    "github_hash": "Optional: sha256(GitHub login + the same quarterly salt).",
    "branch_sha": "Optional: a commit SHA prefix of 7-40 hex characters, stored lowercase.",
    "discovery_refs": "Optional opaque refs, order kept; null means [].",
    "schema_version": "Version of this schema; only 1 is known.",
}


# ---- the answers, as models ---------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Issue(_Answer):
    """One schema violation: where and what, never the submitted value."""

    loc: list[str | int]
    type: str
    msg: str


class BatchRequest(_Answer):
    """Up to 100 events; each is validated on its own, so one bad event rejects nothing else."""

    events: Annotated[list[SessionEvent], Field(max_length=MAX_BATCH_EVENTS)]


class IngestAnswer(_Answer):
    """The event was stored now (`accepted`) or its pair was already stored (`duplicate`)."""

    ok: Literal[True]
    status: Literal["accepted", "duplicate"]


class BatchItemResult(_Answer):
    """The outcome of one event of a batch, at the event's position; `issues` when invalid.

    `retry`: the store could not take this event now; it is not stored, send it again later.
    """

    status: Literal["accepted", "duplicate", "invalid", "retry"]
    issues: list[Issue] = Field(default_factory=list)


class BatchAnswer(_Answer):
    """One result per submitted event, in order."""

    ok: Literal[True]
    results: list[BatchItemResult]


class ForgetAnswer(_Answer):
    """How many events of the install were deleted now (0 for an id that sent nothing)."""

    ok: Literal[True]
    deleted: Annotated[int, Field(ge=0)]


class HealthAnswer(_Answer):
    """The instance (healthz) or the instance and its store (readyz) answer."""

    ok: Literal[True]


class ErrorAnswer(_Answer):
    """The one error envelope; `issues` comes with `validation_failed` only."""

    ok: Literal[False]
    error: str
    issues: list[Issue] = Field(default_factory=list)


MODELS: tuple[type[BaseModel], ...] = (
    SessionEvent,
    BatchRequest,
    IngestAnswer,
    BatchAnswer,
    BatchItemResult,
    ForgetRequest,
    ForgetAnswer,
    Issue,
    HealthAnswer,
    ErrorAnswer,
    *openapi_read.MODELS,
)


# ---- JSON Schema of the event ---------------------------------------------------------------


def _with_notes(schema: dict[str, Any]) -> dict[str, Any]:
    unknown = set(FIELD_NOTES) - set(schema["properties"])
    if unknown:
        raise RuntimeError(f"FIELD_NOTES names fields the model lacks: {sorted(unknown)}")
    for name, prop in schema["properties"].items():
        if name in FIELD_NOTES:
            prop["description"] = FIELD_NOTES[name]
    return schema


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one session event, standalone."""
    schema = _with_notes(SessionEvent.model_json_schema())
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "SessionEvent", **schema}


# ---- OpenAPI 3.1 ---------------------------------------------------------------------------


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _error(description: str, *errors: type[IngestError], headers: bool = False) -> dict[str, Any]:
    codes = sorted({error.code for error in errors})
    schema = {
        "allOf": [
            _ref(ErrorAnswer),
            {"properties": {"error": {"enum": codes}}},
        ]
    }
    answer: dict[str, Any] = {"description": description, "content": _json(schema)}
    if headers:
        answer["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return answer


def _responses() -> dict[str, Any]:
    return {
        "InvalidRequest": _error(
            "The body is not a JSON object (`invalid_json`) or breaks the schema "
            "(`validation_failed`, with `issues`: loc/type/msg only, never the input).",
            InvalidJson,
            ValidationFailed,
        ),
        "Unauthorized": {
            **_error("An ingest token is configured and the bearer token is wrong.", Unauthorized),
            "headers": {
                "WWW-Authenticate": {
                    "description": "The bearer scheme.",
                    "schema": {"type": "string"},
                }
            },
        },
        "NotFound": _error("No such path.", NotFound),
        "MethodNotAllowed": {
            **_error("The path exists but not with this method.", MethodNotAllowed),
            "headers": {
                "Allow": {
                    "description": "The methods the path accepts, e.g. `POST`.",
                    "schema": {"type": "string"},
                    "required": True,
                }
            },
        },
        "PayloadTooLarge": _error(
            f"The (gzip-decoded) body is over {SINGLE_BODY_LIMIT} bytes for one event or "
            f"{BATCH_BODY_LIMIT} bytes for a batch; checked before parsing.",
            PayloadTooLarge,
        ),
        "UnsupportedMediaType": _error(
            "A Content-Type other than application/json, or a Content-Encoding other than "
            "gzip or identity.",
            UnsupportedMediaType,
        ),
        "RateLimited": _error(
            "Too many events for one identity_hash on this instance in the last minute.",
            RateLimited,
            headers=True,
        ),
        "StoreUnavailable": _error(
            "The store is unreachable or timed out; retry after the given delay.",
            StoreUnavailable,
            headers=True,
        ),
        "Internal": _error(
            "Anything unexpected; the answer never carries its detail.", IngestError
        ),
        **openapi_read.RESPONSES,
    }


def _answer(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref(model))}


def _see(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _ingest_operation(
    operation_id: str, summary: str, request: type[BaseModel], success: tuple[str, Any]
) -> dict[str, Any]:
    code, answer = success
    return {
        "operationId": operation_id,
        "summary": summary,
        "security": [{}, {"ingestToken": []}],
        "parameters": [{"$ref": "#/components/parameters/Content-Encoding"}],
        "requestBody": {"required": True, "content": _json(_ref(request))},
        "responses": {
            code: answer,
            "400": _see("InvalidRequest"),
            "401": _see("Unauthorized"),
            "413": _see("PayloadTooLarge"),
            "415": _see("UnsupportedMediaType"),
            "429": _see("RateLimited"),
            "500": _see("Internal"),
            "503": _see("StoreUnavailable"),
        },
    }


def _forget_operation() -> dict[str, Any]:
    operation = _ingest_operation(
        "forget",
        "Delete every event of one install",
        ForgetRequest,
        (
            "200",
            _answer(
                "Every event of the install that a store holds is deleted: the identity "
                "of each quarterly salt an event can carry, sha256(install id + salt), is "
                "derived and its events are deleted. An id that sent nothing gets the same "
                "answer with `deleted: 0`. The install id is never stored or logged.",
                ForgetAnswer,
            ),
        ),
    )
    operation["description"] = (
        "Knowing the install id is the proof: it is a random id kept in the person's files "
        f"(events carry only its salted hash). The body is at most {FORGET_BODY_LIMIT} "
        "bytes. The rate limit counts one request against the install's identity of the "
        "current quarter. Past the store's time bound the answer is 503 and what was "
        "deleted stays deleted: the same request again deletes the rest."
    )
    return operation


def _read_operations(
    operation_id: str, summary: str, ok: dict[str, Any], more: dict[str, Any] | None = None
) -> dict[str, Any]:
    responses = {"200": ok, **(more or {}), "500": _see("Internal")}
    head_responses = {
        code: {"description": answer.get("description", "As for GET, without a body.")}
        for code, answer in responses.items()
    }
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "security": [],
            "responses": responses,
        },
        "head": {
            "operationId": f"{operation_id}Head",
            "summary": f"{summary} (headers only)",
            "security": [],
            "responses": head_responses,
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every endpoint and answer (README.md's API table in full)."""
    return copy.deepcopy(_openapi_document())


@cache
def _openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema([(model, "validation") for model in MODELS], ref_template=REF)
    schemas = dict(sorted(defs["$defs"].items()))
    _with_notes(schemas["SessionEvent"])
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": JSON_SCHEMA_DIALECT,
        "info": {
            "title": "session-events ingest",
            "version": __version__,
            "description": (
                "Stores the shape of AI coding sessions: hashes, counts, a commit-SHA prefix, "
                "opaque refs and versions, never free text. Every answer is JSON and never "
                "echoes a submitted value. An unknown path is a 404 (`NotFound`); another "
                "method on a known path is a 405 with an `Allow` header (`MethodNotAllowed`). "
                "Unauthenticated by design; a deployment may require a shared bearer token."
            ),
        },
        "paths": {
            "/v1/session-events": {
                "post": _ingest_operation(
                    "ingestSessionEvent",
                    "Store one session event exactly once",
                    SessionEvent,
                    ("202", _answer("Stored now, or already stored (duplicate).", IngestAnswer)),
                )
            },
            "/v1/session-events/batch": {
                "post": _ingest_operation(
                    "ingestSessionEventBatch",
                    f"Store up to {MAX_BATCH_EVENTS} session events, each on its own",
                    BatchRequest,
                    (
                        "200",
                        _answer(
                            "One result per event, in order; an invalid event, or one the "
                            "store cannot take now (`retry`), is reported in its result and "
                            "does not reject the others.",
                            BatchAnswer,
                        ),
                    ),
                )
            },
            "/v1/forget": {"post": _forget_operation()},
            "/healthz": _read_operations(
                "healthz",
                "The instance is up (does not touch the store)",
                _answer("Up.", HealthAnswer),
            ),
            "/readyz": _read_operations(
                "readyz",
                "The instance and its store answer",
                _answer("Ready.", HealthAnswer),
                {"503": _see("StoreUnavailable")},
            ),
            "/openapi.json": _read_operations(
                "openapi",
                "This document",
                {
                    "description": "The OpenAPI 3.1 document.",
                    "content": _json({"type": "object"}),
                },
            ),
            **openapi_read.paths(),
        },
        "components": {
            "schemas": schemas,
            "responses": _responses(),
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before sending again.",
                    "schema": {"type": "integer", "minimum": 0},
                    "required": True,
                }
            },
            "parameters": {
                "Content-Encoding": {
                    "name": "Content-Encoding",
                    "in": "header",
                    "required": False,
                    "description": "`gzip` is accepted; the size limit applies to the decoded "
                    "body and a body that inflates past it is a 413.",
                    "schema": {"type": "string", "enum": ["gzip", "identity"]},
                }
            },
            "securitySchemes": {
                "ingestToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Only when SESSION_EVENTS_INGEST_TOKEN is set on the "
                    "function; compared in constant time. Otherwise no authentication.",
                },
                **openapi_read.SECURITY_SCHEMES,
            },
        },
    }


# ---- files ------------------------------------------------------------------------------------


def render(document: dict[str, Any]) -> str:
    """The checked-in text: two-space indent, key order as built, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def published_files() -> dict[str, str]:
    """File name -> exact text of every published contract file."""
    return {
        SCHEMA_FILE: render(event_json_schema()),
        OPENAPI_FILE: render(openapi_document()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m session_events.contract.openapi",
        description="Write or check the published contract (JSON Schema and OpenAPI).",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DIR", type=Path, help="write the files into DIR")
    group.add_argument("--check", metavar="DIR", type=Path, help="exit 1 if DIR's files differ")
    args = parser.parse_args(argv)
    stale = []
    for name, text in published_files().items():
        if args.write is not None:
            (args.write / name).write_text(text, encoding="utf-8")
            print(args.write / name)
        elif not (args.check / name).is_file() or (args.check / name).read_text("utf-8") != text:
            stale.append(str(args.check / name))
    if stale:
        print(
            "out of date (run: python -m session_events.contract.openapi --write infra/):",
            *stale,
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
