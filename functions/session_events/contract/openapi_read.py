"""The read side's part of the OpenAPI document: answer models, parameters and operations.

`openapi.py` adds these models to its components and these paths to its document; the
query parameters come from the same pydantic models that parse them (`queryparams.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from session_events.core.displayid import IDENTITY_ID
from session_events.core.errors import NotFound, StoreUnavailable, Unauthorized, ValidationFailed
from session_events.read.access import Disabled
from session_events.read.queryparams import (
    DashboardQuery,
    RollupsQuery,
    SessionsQuery,
    WeekQuery,
    WeeksQuery,
)

JSON = "application/json"
HTML = "text/html"
REF = "#/components/schemas/{model}"
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Week = Annotated[str, Field(pattern=r"^\d{4}-W\d{2}$")]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobAnswer(_Answer):
    """The run's days (oldest first), how many events it read, the weeks it released, and
    the older days it recomputed because their events changed (an erasure, a late event)."""

    ok: Literal[True]
    days: list[Day]
    events: int
    released: list[Week]
    recomputed: list[Day]


class DailyRow(_Answer):
    """One UTC day of the operator's exact rollups."""

    day: Day
    identities: int | None
    sessions: int | None
    suppressed: bool


class OperatorDailyRow(_Answer):
    """One UTC day as the rollup job counted it, exact; numbers are null (and `computed`
    false) for a day no rollup run has computed yet. A day with no event is 0."""

    day: Day
    identities: int | None
    sessions: int | None
    computed: bool


class Percentiles(_Answer):
    p50: int | None
    p90: int | None


class VersionRow(_Answer):
    """One plugin version over the window, exact (the operator's)."""

    version: str
    identities: int | None
    sessions: int | None
    tool_count: Percentiles
    tokens_saved: Percentiles
    suppressed: bool


class RefRow(_Answer):
    """One discovery ref seen by at least K identities over 28 days, exact (the operator's)."""

    ref: str
    identities: int
    sessions: int
    first_seen_day: Day
    last_seen_day: Day


class Privacy(_Answer):
    """What the release protects: the loss for one identity's week is at most ε, δ."""

    unit: Literal["identity-week"]
    epsilon: float
    delta: float
    library: str


class WeekRow(_Answer):
    """One released ISO week; the figures are null when its noisy people count is below K."""

    week: Week
    identities: int | None
    sessions: int | None
    tool_count_median: int | None
    tokens_saved_median: int | None


class WeekStats(_Answer):
    ok: Literal[True]
    privacy: Privacy
    rows: list[WeekRow]


class VersionCount(_Answer):
    """A plugin version and its noisy count of identities (at least K)."""

    version: str
    identities: int


class RefCount(_Answer):
    """A discovery ref and its noisy count of identities (at least K)."""

    ref: str
    identities: int


class VersionRelease(_Answer):
    """One week's versions (`week` null while no week is released)."""

    ok: Literal[True]
    privacy: Privacy
    week: Week | None
    rows: list[VersionCount]


class RefRelease(_Answer):
    """One week's refs (`week` null while no week is released)."""

    ok: Literal[True]
    privacy: Privacy
    week: Week | None
    rows: list[RefCount]


class OperatorSession(_Answer):
    """One session; `identity` and `github` are display ids, never a hash or its prefix."""

    session_id_hash: str
    identity: str
    github: str | None
    ended_at: str
    tool_count: int
    tokens_saved: int
    branch_sha: str | None
    discovery_refs: list[str]


class SessionList(_Answer):
    ok: Literal[True]
    sessions: list[OperatorSession]
    total_count_in_window: int
    next_cursor: str | None


class SessionDetail(_Answer):
    """The session and its identity's sessions of the 30 days before it (at most 50)."""

    ok: Literal[True]
    session: OperatorSession
    related: list[OperatorSession]


class Rollups(_Answer):
    """Exact rollup numbers of one kind (a version's `suppressed` says it is below K)."""

    ok: Literal[True]
    k: int
    kind: Literal["daily", "versions", "refs"]
    window: Literal["7d", "28d"] | None = None
    as_of: Day | None = None
    rows: list[OperatorDailyRow | VersionRow | RefRow]


MODELS: tuple[type[BaseModel], ...] = (
    JobAnswer,
    DailyRow,
    OperatorDailyRow,
    Percentiles,
    VersionRow,
    RefRow,
    Privacy,
    WeekRow,
    WeekStats,
    VersionCount,
    RefCount,
    VersionRelease,
    RefRelease,
    OperatorSession,
    SessionList,
    SessionDetail,
    Rollups,
)

SECURITY_SCHEMES: dict[str, Any] = {
    "jobToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "SESSION_EVENTS_JOB_TOKEN: runs the rollup job and nothing else.",
    },
    "readToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "SESSION_EVENTS_READ_TOKEN: opens the operator's view and nothing else.",
    },
    "readBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "HTTP Basic with the read token as the password (any user name).",
    },
}


def _error_schema(*codes: str) -> dict[str, Any]:
    return {
        "allOf": [
            {"$ref": REF.format(model="ErrorAnswer")},
            {"properties": {"error": {"enum": sorted(codes)}}},
        ]
    }


def _challenge(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


RESPONSES: dict[str, Any] = {
    "Disabled": {
        "description": "That part's token is not configured on the function.",
        "content": {JSON: {"schema": _error_schema(Disabled.code)}},
    },
    "TokenRequired": {
        "description": "The part's own token is missing or wrong (another part's never opens it).",
        "content": {JSON: {"schema": _error_schema(Unauthorized.code)}},
        "headers": {"WWW-Authenticate": _challenge("Bearer (and Basic for the read token).")},
    },
    "BadQuery": {
        "description": "A query parameter is out of its range (`issues`, never the value).",
        "content": {JSON: {"schema": _error_schema(ValidationFailed.code)}},
    },
    "StatsOff": {
        "description": "Public statistics are off (SESSION_EVENTS_PUBLIC_STATS is not `on`).",
        "content": {JSON: {"schema": _error_schema(NotFound.code)}},
    },
    "NoRelease": {
        "description": "Public statistics are off, or the week asked for has no release.",
        "content": {JSON: {"schema": _error_schema(NotFound.code)}},
    },
}


# The HTML pages' own answers (their bodies are pages, not the JSON error envelope).
PAGE_RESPONSES: dict[str, Any] = {
    "PageTokenRequired": {
        "description": "The read token is missing or wrong; the browser asks for it.",
        "content": {HTML: {"schema": {"type": "string"}}},
        "headers": {"WWW-Authenticate": _challenge('Basic realm="session-events".')},
    },
    "PageUnavailable": {
        "description": "The read token is not configured, or the store does not answer.",
        "content": {HTML: {"schema": {"type": "string"}}},
    },
    "PageNotFound": {
        "description": "No such session (or a malformed hash or display id).",
        "content": {HTML: {"schema": {"type": "string"}}},
    },
    "PageStatsOff": {
        "description": "Public statistics are off, or the week asked for has no release.",
        "content": {HTML: {"schema": {"type": "string"}}},
    },
    "PageBadQuery": {
        "description": "The `week` parameter is not an ISO week such as 2026-W48.",
        "content": {HTML: {"schema": {"type": "string"}}},
    },
}


def _see(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _ok(description: str, model: type[BaseModel], **headers: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {JSON: {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


HASH_PARAMETER = {
    "name": "session_id_hash",
    "in": "path",
    "required": True,
    "description": "64 lowercase hex characters; anything else is a 404.",
    "schema": {"type": "string"},
}


IDENTITY_PARAMETER = {
    "name": "identity",
    "in": "path",
    "required": True,
    "description": "The identity's display id as the operator's answers give it "
    "(`u-` and four groups of four letters); anything else, or an identity that did not "
    "send this session hash, is a 404.",
    "schema": {"type": "string", "pattern": f"^{IDENTITY_ID.pattern}$"},
}


def _get(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]],
    parameters: list[dict[str, Any]],
) -> dict[str, Any]:
    get: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "security": security,
        "parameters": parameters,
        "responses": {**responses, "500": _see("Internal")},
    }
    head = {
        **get,
        "operationId": f"{operation_id}Head",
        "summary": f"{summary} (headers only)",
        "responses": {
            code: {"description": answer.get("description", "As for GET, without a body.")}
            for code, answer in get["responses"].items()
        },
    }
    return {"get": get, "head": head}


READ: list[dict[str, list[str]]] = [{"readToken": []}, {"readBasic": []}]
CACHE = {"Cache-Control": {"description": "`public, max-age=300`.", "schema": {"type": "string"}}}


def paths() -> dict[str, Any]:
    """The read side's paths (README.md, "The read side")."""
    page = {
        "description": "The page (no script, strict Content-Security-Policy).",
        "content": {HTML: {"schema": {"type": "string"}}},
    }
    operator_errors = {"401": _see("TokenRequired"), "503": _see("Disabled")}
    page_errors = {
        "401": PAGE_RESPONSES["PageTokenRequired"],
        "503": PAGE_RESPONSES["PageUnavailable"],
    }
    return {
        "/v1/jobs/rollup": {
            "post": {
                "operationId": "runRollup",
                "summary": "Recompute the trailing days' rollups (all written, or none) and "
                "release the public weeks that are due (each written once)",
                "security": [{"jobToken": []}],
                "responses": {
                    "200": _ok(
                        "The run's days, the events it read, the weeks it released.", JobAnswer
                    ),
                    "401": _see("TokenRequired"),
                    "500": _see("Internal"),
                    "503": {
                        "description": "The job token is not configured (`disabled`), or "
                        "the store does not answer (`store_unavailable`, with Retry-After).",
                        "content": {
                            JSON: {"schema": _error_schema(Disabled.code, StoreUnavailable.code)}
                        },
                    },
                },
            }
        },
        "/v1/stats/weeks": _get(
            "statsWeeks",
            "Released weeks, newest first (differentially private, OpenDP)",
            {
                "200": _ok("Released weeks only.", WeekStats, **CACHE),
                "400": _see("BadQuery"),
                "404": _see("StatsOff"),
            },
            security=[],
            parameters=_parameters(WeeksQuery),
        ),
        "/v1/stats/versions": _get(
            "statsVersions",
            "One released week's plugin versions (default: the latest release)",
            {
                "200": _ok("Most counted first.", VersionRelease, **CACHE),
                "400": _see("BadQuery"),
                "404": _see("NoRelease"),
            },
            security=[],
            parameters=_parameters(WeekQuery),
        ),
        "/v1/stats/refs": _get(
            "statsRefs",
            "One released week's discovery refs (default: the latest release)",
            {
                "200": _ok("Most counted first.", RefRelease, **CACHE),
                "400": _see("BadQuery"),
                "404": _see("NoRelease"),
            },
            security=[],
            parameters=_parameters(WeekQuery),
        ),
        "/stats": _get(
            "statsRedirect",
            "Redirects to /stats/",
            {
                "308": {
                    "description": "To `/stats/`.",
                    "headers": {
                        "Location": {"description": "`/stats/`.", "schema": {"type": "string"}}
                    },
                },
                "404": _see("StatsOff"),
            },
            security=[],
            parameters=[],
        ),
        "/stats/": _get(
            "statsPage",
            "The public statistics page: recent weeks, one release's versions and refs",
            {
                "200": {**page, "headers": CACHE},
                "400": PAGE_RESPONSES["PageBadQuery"],
                "404": PAGE_RESPONSES["PageStatsOff"],
            },
            security=[],
            parameters=_parameters(WeekQuery),
        ),
        "/admin": _get(
            "adminRedirect",
            "Redirects to /admin/",
            {
                "308": {
                    "description": "To `/admin/`.",
                    "headers": {
                        "Location": {"description": "`/admin/`.", "schema": {"type": "string"}}
                    },
                }
            },
            security=[],
            parameters=[],
        ),
        "/admin/": _get(
            "adminDashboard",
            "The operator's dashboard page",
            {"200": page, "400": _see("BadQuery"), **page_errors},
            security=READ,
            parameters=_parameters(DashboardQuery),
        ),
        "/admin/sessions": _get(
            "adminSessions",
            "Sessions newest first, with a cursor",
            {
                "200": _ok("A page of sessions.", SessionList),
                "400": _see("BadQuery"),
                **operator_errors,
            },
            security=READ,
            parameters=_parameters(SessionsQuery),
        ),
        "/admin/sessions/{session_id_hash}": _get(
            "adminSession",
            "The first stored event with this session hash (a later one under another "
            "identity never replaces it) and its identity's sessions of the 30 days before",
            {"200": _ok("The session.", SessionDetail), "404": _see("NotFound"), **operator_errors},
            security=READ,
            parameters=[HASH_PARAMETER],
        ),
        "/admin/sessions/{session_id_hash}/view": _get(
            "adminSessionPage",
            "The session graph page of the first stored event with this session hash",
            {"200": page, "404": PAGE_RESPONSES["PageNotFound"], **page_errors},
            security=READ,
            parameters=[HASH_PARAMETER],
        ),
        "/admin/identities/{identity}/sessions/{session_id_hash}": _get(
            "adminIdentitySession",
            "One identity's session and its sessions of the 30 days before (the list's rows "
            "link here: each to its own event)",
            {"200": _ok("The session.", SessionDetail), "404": _see("NotFound"), **operator_errors},
            security=READ,
            parameters=[IDENTITY_PARAMETER, HASH_PARAMETER],
        ),
        "/admin/identities/{identity}/sessions/{session_id_hash}/view": _get(
            "adminIdentitySessionPage",
            "The session graph page of one identity's session",
            {"200": page, "404": PAGE_RESPONSES["PageNotFound"], **page_errors},
            security=READ,
            parameters=[IDENTITY_PARAMETER, HASH_PARAMETER],
        ),
        "/admin/rollups": _get(
            "adminRollups",
            "Exact rollup numbers (ref names only at K identities or more)",
            {
                "200": _ok("The rows of one kind.", Rollups),
                "400": _see("BadQuery"),
                **operator_errors,
            },
            security=READ,
            parameters=_parameters(RollupsQuery),
        ),
    }
