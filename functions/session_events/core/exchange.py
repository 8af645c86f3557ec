"""The one request wrapper of both route tables: run a handler, answer, log one line.

A handler fills an `Exchange` (status, body, headers, the fields its log line may carry) or
raises an `IngestError`; anything else becomes a generic 500 whose text stays here. JSON
answers and HTML pages leave with the same headers, the pages with a strict CSP; an error
on an HTML route is a page, from the route table's own `error_page` when it has one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from flask import Request, Response

from session_events.core.errors import IngestError
from session_events.core.logs import log_request

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Set in the WSGI environ once the body has been read whole.
BODY_READ = "session_events.body_read"

# Built once: json.dumps with these options would build an encoder for every answer.
_ENCODER = json.JSONEncoder(separators=(",", ":"))

_ERROR_TITLES = {401: "Sign in with the read token", 404: "Not found", 503: "Not available"}

# An error's page on an HTML route, from its status and error code (never the request's data).
ErrorPage = Callable[[int, str], str]


class Exchange:
    """What one request produced: the answer and the fields its log line may carry."""

    def __init__(self) -> None:
        self.route = "(unknown)"
        self.html = False
        self.status = 500
        self.body: dict[str, Any] | str = {"ok": False, "error": "internal"}
        self.headers: dict[str, str] = {}
        self.log: dict[str, Any] = {}

    def answer(
        self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.body = status, body
        self.headers.update(headers or {})

    def fail(self, error: IngestError) -> None:
        self.status, self.body = error.status, error.body()
        self.headers.update(error.headers())
        self.log["code"] = error.code
        if error.status >= 500:
            self.log["error_type"] = error.detail or type(error).__name__


def serve(
    request: Request, handler: Callable[[Exchange], None], error_page: ErrorPage | None = None
) -> Response:
    """The whole request: the handler's answer, or its error's; nothing escapes."""
    started = time.perf_counter()
    exchange = Exchange()
    try:
        handler(exchange)
    except IngestError as error:
        exchange.fail(error)
    except Exception as error:  # anything unexpected: a generic 500, its text stays here
        exchange.fail(IngestError())
        exchange.log["error_type"] = type(error).__name__
    exchange.log["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    log_request(
        f"{request.method} {exchange.route} {exchange.status}",
        exchange.status,
        method=request.method,
        route=exchange.route,
        **exchange.log,
    )
    return _response(request, exchange, error_page or _error_page)


def _response(request: Request, exchange: Exchange, error_page: ErrorPage) -> Response:
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    headers.update(exchange.headers)
    if exchange.html:
        headers.update(HTML_HEADERS)
        body = exchange.body
        if not isinstance(body, str):
            body = _page_of(error_page, exchange.status, str(exchange.log.get("code", "")))
        payload = body.encode()
        content_type = "text/html; charset=utf-8"
    else:
        payload = _ENCODER.encode(exchange.body).encode()
        content_type = "application/json"
    headers["Content-Length"] = str(len(payload))
    return Response(
        # An answer given before the body was read whole goes out as a stream, which
        # functions-framework does not follow with reading the rest of the body into memory.
        iter([payload]) if _body_left_unread(request) else payload,
        status=exchange.status,
        headers=headers,
        content_type=content_type,
    )


def _body_left_unread(request: Request) -> bool:
    has_body = (
        bool(request.content_length)
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )
    return has_body and not request.environ.get(BODY_READ, False)


def _page_of(error_page: ErrorPage, status: int, code: str) -> str:
    """The error's page; the plain one if the route table's own page fails to render."""
    try:
        return error_page(status, code)
    except Exception:  # a broken error page must not turn a 401 into a 500
        return _error_page(status, code)


def _error_page(status: int, _code: str = "") -> str:
    title = _ERROR_TITLES.get(status, "Error")
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title><h1>{title}</h1>"
    )
