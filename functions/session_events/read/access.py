"""Who may use which read-side route: the job token, the read token, and their errors.

Each part has a token of its own (README.md, "The read side"): the job token runs the rollup
job, the read token opens the operator's view (as a Bearer token, or as the password of HTTP
Basic so a browser can open the pages). An unset token turns its part off (503 `disabled`).
Tokens are compared in constant time; a token never opens another part's routes.

IngestError
├── Unauthorized        401 unauthorized (Bearer, or Basic for the HTML pages)
└── Disabled            503 disabled: that part's token is not configured
"""

from __future__ import annotations

import base64
import binascii
import hmac

from flask import Request

from session_events.core.errors import IngestError, Unauthorized

REALM = 'realm="session-events"'


class Disabled(IngestError):
    """The route's part is switched off: its token is not set."""

    code = "disabled"
    status = 503


class BasicUnauthorized(Unauthorized):
    """A 401 that asks a browser for the read token (as the password of HTTP Basic)."""

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f"Basic {REALM}"}


class ReadUnauthorized(Unauthorized):
    """A 401 of the operator's JSON API: Bearer or Basic."""

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f"Bearer {REALM}, Basic {REALM}"}


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def presented_secrets(request: Request) -> list[str]:
    """The bearer token, or the Basic password, the request carries (at most one)."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return [value]
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return []
        _user, colon, password = decoded.partition(":")
        return [password] if colon and password else []
    return []


def require_job_token(request: Request, token: str | None) -> None:
    """The job runs only with `Authorization: Bearer <job token>`."""
    if token is None:
        raise Disabled("job token not set")
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not _same(value.strip(), token):
        raise Unauthorized()


def require_read_token(request: Request, token: str | None, *, html: bool) -> None:
    """The operator's view opens with the read token, as Bearer or as the Basic password."""
    if token is None:
        raise Disabled("read token not set")
    secrets = presented_secrets(request)
    if not any(_same(secret, token) for secret in secrets):
        raise BasicUnauthorized() if html else ReadUnauthorized()
