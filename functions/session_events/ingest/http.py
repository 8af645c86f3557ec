"""HTTP edge: request -> checks -> service -> one JSON answer and one log line.

This module never sees a store client; the answers are the ones of README.md's API table.
"""

from __future__ import annotations

import hmac
import json
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Request, Response
from pydantic_core import ValidationError

from session_events.core.errors import (
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from session_events.core.exchange import BODY_READ, Exchange, serve
from session_events.ingest.config import BATCH_BODY_LIMIT, FORGET_BODY_LIMIT, SINGLE_BODY_LIMIT
from session_events.ingest.validator import (
    SessionEvent,
    batch_items,
    validate_event,
    validation_issues,
)
from session_events.runtime import Runtime, get_runtime

SINGLE_PATH = "/v1/session-events"
BATCH_PATH = "/v1/session-events/batch"
FORGET_PATH = "/v1/forget"

ROUTES: dict[str, tuple[str, ...]] = {
    SINGLE_PATH: ("POST",),
    BATCH_PATH: ("POST",),
    FORGET_PATH: ("POST",),
    "/healthz": ("GET", "HEAD"),
    "/readyz": ("GET", "HEAD"),
    "/openapi.json": ("GET", "HEAD"),
}

# The read side (rollup job, public statistics and page, operator's view) lives in read/.
READ_PREFIXES = ("/v1/jobs/", "/v1/stats/", "/stats", "/admin")

_READ_CHUNK = 64 * 1024
_GZIP = ("gzip", "x-gzip")


def handle(request: Request, runtime: Runtime | None = None) -> Response:
    """The whole request: route, check, run, answer; nothing escapes as an exception."""
    if request.path.startswith(READ_PREFIXES):
        from session_events.read.routes import handle_read  # off the ingest path's imports

        return handle_read(request, runtime)

    def run(exchange: Exchange) -> None:
        allowed = ROUTES.get(request.path)
        if allowed is None:
            raise NotFound()
        exchange.route = request.path
        if request.method not in allowed:
            raise MethodNotAllowed(allowed)
        _dispatch(request, runtime or get_runtime(), exchange)

    return serve(request, run)


def _dispatch(request: Request, runtime: Runtime, exchange: Exchange) -> None:
    path = request.path
    if path == "/healthz":
        exchange.answer(200, {"ok": True})
        return
    if path == "/readyz":
        runtime.store.ping()
        exchange.answer(200, {"ok": True})
        return
    if path == "/openapi.json":
        from session_events.contract.openapi import (
            openapi_document,  # built on demand: off cold start
        )

        exchange.answer(200, openapi_document())
        return
    _authorize(request, runtime.settings.ingest_token)
    if path == SINGLE_PATH:
        _ingest_one(request, runtime, exchange)
    elif path == FORGET_PATH:
        _forget(request, runtime, exchange)
    else:
        _ingest_batch(request, runtime, exchange)


def _authorize(request: Request, token: str | None) -> None:
    if token is None:
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = token.encode("utf-8")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode("utf-8"), expected
    ):
        raise Unauthorized()


def _ingest_one(request: Request, runtime: Runtime, exchange: Exchange) -> None:
    payload = parse_object(read_body(request, SINGLE_BODY_LIMIT))
    try:
        event = validate_event(payload)
    except ValidationError as error:
        raise ValidationFailed(validation_issues(error)) from None
    exchange.log["identity_prefix"] = event.identity_hash
    _take_tokens(runtime, {event.identity_hash: 1})
    outcome = runtime.service.ingest(event)
    exchange.log.update(events=1, outcome=str(outcome))
    exchange.answer(202, {"ok": True, "status": str(outcome)})


def _ingest_batch(request: Request, runtime: Runtime, exchange: Exchange) -> None:
    payload = parse_object(read_body(request, BATCH_BODY_LIMIT))
    try:
        items = batch_items(payload)
    except ValidationError as error:
        raise ValidationFailed(validation_issues(error)) from None
    events: list[SessionEvent | None] = []
    issues: dict[int, list[dict[str, Any]]] = {}
    for position, item in enumerate(items):
        try:
            events.append(validate_event(item))
        except ValidationError as error:
            events.append(None)
            issues[position] = validation_issues(error)
    counts: dict[str, int] = {}
    for event in events:
        if event is not None:
            counts[event.identity_hash] = counts.get(event.identity_hash, 0) + 1
    if len(counts) == 1:
        exchange.log["identity_prefix"] = next(iter(counts))
    _take_tokens(runtime, counts)
    outcomes = runtime.service.ingest_many(events)
    results: list[dict[str, Any]] = []
    for position, outcome in enumerate(outcomes):
        result: dict[str, Any] = {"status": str(outcome)}
        if position in issues:
            result["issues"] = issues[position]
        results.append(result)
    exchange.log.update(
        events=len(outcomes),
        **{str(kind): sum(1 for o in outcomes if o == kind) for kind in set(outcomes)},
    )
    exchange.answer(200, {"ok": True, "results": results})


def _forget(request: Request, runtime: Runtime, exchange: Exchange) -> None:
    """Delete every event of one install; the install id is never stored or logged."""
    from session_events.contract.schema import ForgetRequest  # pydantic: off the ingest path
    from session_events.ingest.forget import erase, identity_hash, quarter_salt

    payload = parse_object(read_body(request, FORGET_BODY_LIMIT))
    try:
        install_id = ForgetRequest.model_validate(payload).install_id
    except ValidationError as error:
        raise ValidationFailed(validation_issues(error, FORGET_FIELDS)) from None
    now = datetime.now(UTC)
    # One bucket per person, the one their events of this quarter draw from.
    _take_tokens(runtime, {identity_hash(install_id, quarter_salt(now)): 1})
    deleted = erase(runtime.store, install_id, now)
    exchange.log["deleted"] = deleted
    exchange.answer(200, {"ok": True, "deleted": deleted})


FORGET_FIELDS = frozenset({"install_id"})


def _take_tokens(runtime: Runtime, counts: dict[str, int]) -> None:
    if counts:
        wait = runtime.limiter.acquire(counts)
        if wait:
            raise RateLimited(wait)


def read_body(request: Request, limit: int) -> bytes:
    """The decoded body, refused (413) as soon as it is known to exceed `limit` bytes."""
    content_type = request.headers.get("Content-Type")
    media_type = (content_type or "").split(";")[0].strip().lower()
    if content_type is not None and media_type != "application/json":
        raise UnsupportedMediaType()
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "", *_GZIP):
        raise UnsupportedMediaType()
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge()
    raw = _read_at_most(request.stream.read, limit)
    request.environ[BODY_READ] = True
    if encoding in _GZIP:
        raw = gunzip_at_most(raw, limit)
    return raw


def _read_at_most(read: Callable[[int], bytes], limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()


def gunzip_at_most(data: bytes, limit: int) -> bytes:
    """Inflate at most limit + 1 bytes: a body that would grow past `limit` is a 413."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise InvalidJson() from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge()
    if not inflater.eof or inflater.unused_data:
        raise InvalidJson()
    return out


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _no_constants(_name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


# Built once: json.loads with these options would build a decoder for every body.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constants)


def parse_object(raw: bytes) -> dict[str, Any]:
    """Strict JSON: an object, no duplicate keys, no NaN/Infinity; anything else is invalid_json."""
    try:
        # As json.loads reads bytes: UTF-8, -16 or -32, told apart by their first bytes.
        value = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, RecursionError):
        raise InvalidJson() from None
    if not isinstance(value, dict):
        raise InvalidJson()
    return value
