"""The project's error tree, each error with a stable code and HTTP status.

IngestError(code, status, retryable)
├── RequestRejected            4xx: the client's mistake, never retried as is
│   ├── InvalidJson            400 invalid_json
│   ├── ValidationFailed       400 validation_failed (+ issues)
│   ├── Unauthorized           401 unauthorized
│   ├── NotFound               404 not_found
│   ├── MethodNotAllowed       405 method_not_allowed (+ Allow)
│   ├── PayloadTooLarge        413 payload_too_large
│   ├── UnsupportedMediaType   415 unsupported_media_type
│   └── RateLimited            429 rate_limited (+ Retry-After)
├── StoreUnavailable           503 store_unavailable (+ Retry-After)
└── ConfigurationError         500 internal (names every bad variable; logged, never sent)
"""

from __future__ import annotations

from typing import Any


class IngestError(Exception):
    """Base of every error the function answers with; `code` is what the client sees."""

    code = "internal"
    status = 500
    retryable = False

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code}


class RequestRejected(IngestError):
    """The request itself is wrong; sending it again unchanged cannot succeed."""

    status = 400


class InvalidJson(RequestRejected):
    code = "invalid_json"


class ValidationFailed(RequestRejected):
    code = "validation_failed"

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("schema violation")
        self.issues = issues

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, "issues": self.issues}


class Unauthorized(RequestRejected):
    code = "unauthorized"
    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="session-events"'}


class NotFound(RequestRejected):
    code = "not_found"
    status = 404


class MethodNotAllowed(RequestRejected):
    code = "method_not_allowed"
    status = 405

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__("method not allowed")
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class PayloadTooLarge(RequestRejected):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(RequestRejected):
    code = "unsupported_media_type"
    status = 415


class RateLimited(RequestRejected):
    code = "rate_limited"
    status = 429
    retryable = True

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("rate limited")
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class StoreUnavailable(IngestError):
    """The store could not be reached or did not answer in time; the client should retry."""

    code = "store_unavailable"
    status = 503
    retryable = True
    retry_after_s = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class ConfigurationError(IngestError):
    """Settings are malformed; the detail names every bad variable, never its value (logs only)."""
