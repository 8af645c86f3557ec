"""A stand-in of the original plugin's ingest server, on loopback.

What it does, as the original does (emitter/README.md, "Alongside the original plugin"):

- only ``POST /v1/session-events``; any other path, or any other method, gets the JSON
  404 ``{"error": "Not found"}`` (so ``/v1/session-events/batch`` does not exist);
- the body must be a JSON object with the nine keys of the event and nothing else: a
  ``schema_version`` key is an unknown key, as is any other, and ``discovery_refs`` may be
  left out but is never ``null`` (the original's schema has it optional, not nullable);
- every field is validated as infra/session-event.schema.json says (a count of ``5.0`` is
  the integer 5);
- a valid event answers ``202 {"ok": true}``, stored once per (identity_hash,
  session_id_hash) pair (a repeat answers the same and changes nothing); an invalid one
  answers ``400 {"error": "Validation failed", "issues": [...]}``; a body that is not
  JSON answers ``400 {"error": "Invalid JSON body"}``.

Use the ``original_server`` fixture: ``from original_server import original_server_fixture``
in a test module makes it available there.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest
from loopback import LoopbackServer, QuietHandler

ENDPOINT = "/v1/session-events"
MAX_BODY = 1024 * 1024
KEYS = (
    "identity_hash",
    "github_hash",
    "session_id_hash",
    "ended_at",
    "tool_count",
    "tokens_saved",
    "branch_sha",
    "discovery_refs",
    "plugin_version",
)
REQUIRED = ("identity_hash", "session_id_hash", "ended_at", "tool_count", "tokens_saved")
REQUIRED += ("plugin_version",)

_HASH = re.compile(r"[0-9a-f]{64}")
_BRANCH = re.compile(r"[0-9A-Fa-f]{7,40}")
_VERSION = re.compile(r"[0-9A-Za-z.+_-]{1,64}")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)

Issue = dict[str, object]


def _issue(code: str, path: str, message: str) -> Issue:
    return {"code": code, "path": [path], "message": message}


def _date_time(text: str) -> datetime | None:
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    tz = UTC
    if sign is not None and not zulu:
        if int(off_h) >= 24 or int(off_m) >= 60:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        return None
    return moment.astimezone(UTC)


def _whole_number(value: object, maximum: int) -> int | None:
    """A JSON integer in [0, maximum] (``5.0`` is 5); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= maximum:
        return None
    return value


def validate(body: dict[str, object], now: datetime | None = None) -> list[Issue]:
    """The issues of one event under the schema without ``schema_version``; [] when valid."""
    issues: list[Issue] = []
    unknown = sorted(set(body) - set(KEYS))
    if unknown:
        issues.append({"code": "unrecognized_keys", "keys": unknown, "path": []})
    for key in REQUIRED:
        if key not in body:
            issues.append(_issue("invalid_type", key, "Required"))
    for key in ("identity_hash", "session_id_hash"):
        value = body.get(key)
        if key in body and not (isinstance(value, str) and _HASH.fullmatch(value)):
            issues.append(_issue("invalid_string", key, "must be 64 lowercase hex chars"))
    if body.get("github_hash") is not None:
        value = body["github_hash"]
        if not (isinstance(value, str) and _HASH.fullmatch(value)):
            issues.append(_issue("invalid_string", "github_hash", "must be 64 lowercase hex"))
    if "ended_at" in body:
        value = body["ended_at"]
        moment = _date_time(value) if isinstance(value, str) else None
        latest = (now or datetime.now(UTC)) + timedelta(hours=24)
        if moment is None or not EARLIEST <= moment <= latest:
            issues.append(_issue("invalid_string", "ended_at", "must be ISO timestamp"))
    for key, maximum in (("tool_count", 1_000_000), ("tokens_saved", 1_000_000_000)):
        if key in body and _whole_number(body[key], maximum) is None:
            issues.append(_issue("invalid_type", key, f"must be an integer in [0, {maximum}]"))
    if body.get("branch_sha") is not None:
        value = body["branch_sha"]
        if not (isinstance(value, str) and _BRANCH.fullmatch(value)):
            issues.append(_issue("invalid_string", "branch_sha", "must be 7-40 hex chars"))
    if "discovery_refs" in body:
        refs = body["discovery_refs"]
        if not isinstance(refs, list) or len(refs) > 200:
            issues.append(_issue("invalid_type", "discovery_refs", "must be an array (<= 200)"))
        elif not all(isinstance(ref, str) and _REF.fullmatch(ref) for ref in refs):
            issues.append(_issue("invalid_string", "discovery_refs", "malformed ref"))
    if "plugin_version" in body:
        value = body["plugin_version"]
        if not (isinstance(value, str) and _VERSION.fullmatch(value)):
            issues.append(_issue("invalid_string", "plugin_version", "malformed version"))
    return issues


@dataclass
class OriginalServer:
    """The stand-in's state: what it stored, and every request it saw (method, path)."""

    events: list[dict[str, object]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The base URL (``ASHLR_API_URL``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """The full endpoint URL (``ASHLR_SESSION_EVENTS_URL``)."""
        return self.url + ENDPOINT

    def accept(self, body: dict[str, object]) -> None:
        pair = (body["identity_hash"], body["session_id_hash"])
        with self.lock:
            if any((e["identity_hash"], e["session_id_hash"]) == pair for e in self.events):
                return
            stored = dict(body)
            for key in ("tool_count", "tokens_saved"):
                stored[key] = _whole_number(stored[key], 1_000_000_000)
            stored.setdefault("discovery_refs", [])
            self.events.append(stored)


def _handler_for(server: OriginalServer) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, payload: object) -> None:
            self.answer_json(status, payload, content_type="application/json; charset=UTF-8")

        def _not_found(self) -> None:
            with server.lock:
                server.requests.append((self.command, self.path))
            self.read_body(MAX_BODY)  # drain, so the connection can be reused
            self._answer(404, {"error": "Not found"})

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_found

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != ENDPOINT:
                self._not_found()
                return
            with server.lock:
                server.requests.append((self.command, self.path))
            try:
                body = json.loads(self.read_body(MAX_BODY))
            except (ValueError, UnicodeDecodeError):
                self._answer(400, {"error": "Invalid JSON body"})
                return
            if not isinstance(body, dict):
                issue = {"code": "invalid_type", "expected": "object", "path": []}
                self._answer(400, {"error": "Validation failed", "issues": [issue]})
                return
            issues = validate(body)
            if issues:
                self._answer(400, {"error": "Validation failed", "issues": issues})
                return
            server.accept(body)
            self._answer(202, {"ok": True})

    return Handler


@pytest.fixture(name="original_server")
def original_server_fixture() -> Iterator[OriginalServer]:
    """The stand-in, serving on 127.0.0.1 for the length of one test."""
    state = OriginalServer()
    with LoopbackServer(_handler_for(state)) as httpd:
        state.port = httpd.port
        yield state
