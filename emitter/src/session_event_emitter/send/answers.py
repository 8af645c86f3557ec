"""Reads the server's answers: per-event verdicts, or a refusal of the whole request in words.

Only an answer in this API's own JSON shape speaks about the events in it (emitter/README.md,
"Delivery"):

- batch endpoint: ``200 {"ok": true, "results": [...]}`` with exactly one result per event;
  each result's ``status`` is ``accepted``, ``duplicate``, ``invalid`` or ``retry`` (any
  other value is read as ``retry``);
- single endpoint: a 2xx whose body is ``{"ok": true, ...}`` with no ``results`` (its
  ``"status"``, when present, says ``accepted`` or ``duplicate``; the original server says
  only ``{"ok": true}``), or a 400 whose JSON body
  is a validation answer (ours: ``"error": "validation_failed"``; the original's:
  ``"error": "Validation failed"``; both with ``issues``), which is ``invalid``.

Anything else — another status, an HTML page, JSON of another shape, the wrong number of
results — is a :class:`Refusal`: it keeps every event pending and says why, in words a
user can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

from session_event_emitter.send.transport import Answer

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
INVALID = "invalid"
RETRY = "retry"
VERDICTS = frozenset({ACCEPTED, DUPLICATE, INVALID, RETRY})

VALIDATION_ERRORS = frozenset({"validation_failed", "Validation failed"})
TRANSIENT_STATUS = frozenset({408, 500, 502, 503, 504})
CONTENT_STATUS = frozenset({400, 403, 413, 415})
MAX_ISSUES = 50


@dataclass(frozen=True)
class Verdict:
    """The server's word on one event."""

    status: str
    issues: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Refusal:
    """An answer that says nothing about the events: they stay pending.

    `transient`: worth trying again within this run (after a back-off).
    `split`: a smaller batch may pass (429, 413).
    `about_content`: a refusal a filter in front of the server (a WAF, a size limit) may
    give because of one event's content (400, 403, 413, 415): worth finding that event.
    `no_batch_endpoint`: the batch URL does not exist here (404/405), so the single
    endpoint should be tried.
    """

    words: str
    status: int | None = None
    retry_after: float | None = None
    transient: bool = False
    split: bool = False
    about_content: bool = False
    no_batch_endpoint: bool = False


def read_batch(answer: Answer, count: int) -> list[Verdict] | Refusal:
    """One verdict per event of a batch of `count`, or the Refusal of the whole request."""
    if answer.status == 200:
        payload = _json_object(answer)
        results = payload.get("results") if payload is not None else None
        if payload is None or payload.get("ok") is not True or not isinstance(results, list):
            return Refusal(_not_this_api(answer), answer.status)
        if len(results) != count:
            return Refusal(
                f"HTTP 200 with {len(results)} result(s) for {count} event(s): "
                "not an answer of this API",
                answer.status,
            )
        return [_verdict(result) for result in results]
    refusal = refuse(answer)
    if answer.status in (404, 405):
        return Refusal(refusal.words, answer.status, no_batch_endpoint=True)
    return refusal


def read_single(answer: Answer) -> Verdict | Refusal:
    """The verdict on the one event posted to the single endpoint, or the Refusal."""
    payload = _json_object(answer)
    if 200 <= answer.status < 300:
        if (
            payload is None
            or payload.get("ok") is not True
            or payload.get("status", ACCEPTED) not in (ACCEPTED, DUPLICATE)
            or "results" in payload
        ):
            # Not the one event's verdict: JSON of another API, or of the batch endpoint.
            return Refusal(_not_this_api(answer), answer.status)
        return Verdict(DUPLICATE if payload.get("status") == DUPLICATE else ACCEPTED)
    if (
        answer.status == 400
        and payload is not None
        and payload.get("error") in VALIDATION_ERRORS
        and isinstance(payload.get("issues"), list)
    ):
        return Verdict(INVALID, clean_issues(payload["issues"]))
    return refuse(answer)


def refuse(answer: Answer) -> Refusal:
    """The Refusal of a non-verdict answer, with advice chosen by its status."""
    refusal = _refusal(answer)
    if answer.status in CONTENT_STATUS:
        return replace(refusal, about_content=True)
    return refusal


def _refusal(answer: Answer) -> Refusal:
    status = answer.status
    what = _described(answer)
    if 300 <= status < 400:
        where = f" to {answer.location}" if answer.location else ""
        return Refusal(f"{what}: the endpoint redirects{where}; configure that URL", status)
    if status in (401, 403):
        return Refusal(
            f"{what}: the server refused the ingest token; check SESSION_EVENTS_INGEST_TOKEN "
            "(or ingest_token in the config file)",
            status,
        )
    if status in (404, 405):
        return Refusal(f"{what}: there is no session-events API at this URL; check it", status)
    if status == 429:
        return Refusal(
            f"{what}: rate limited",
            status,
            retry_after=_retry_after(answer),
            transient=True,
            split=True,
        )
    if status == 413:
        return Refusal(f"{what}: the request was too large", status, split=True)
    if status in TRANSIENT_STATUS:
        return Refusal(
            f"{what}: the server could not take the events now",
            status,
            retry_after=_retry_after(answer),
            transient=True,
        )
    if 400 <= status < 500:
        return Refusal(
            f"{what}: the request was refused as a whole (by a proxy, or a server that is "
            "not this API?)",
            status,
        )
    return Refusal(f"{what}: the server failed", status, transient=status >= 500)


def read_erasure(answer: Answer) -> int | str:
    """The count an answer of ``POST /v1/forget`` says was deleted, or why there is none,
    in words a user can act on (nothing is known to be deleted then)."""
    payload = _json_object(answer)
    deleted = payload.get("deleted") if payload is not None else None
    if (
        answer.status == 200
        and payload is not None
        and payload.get("ok") is True
        and type(deleted) is int
        and deleted >= 0
    ):
        return deleted
    what = _described(answer)
    status = answer.status
    if status in (404, 405):
        return (
            f"{what}: this server cannot erase: it has no erasure route (POST /v1/forget); "
            "only its operator can delete what it holds (or the URL is wrong)"
        )
    if status in (401, 403):
        return (
            f"{what}: the server refused the ingest token; check SESSION_EVENTS_INGEST_TOKEN "
            "(or ingest_token in the config file)"
        )
    if status == 429 or status in TRANSIENT_STATUS:
        wait = _retry_after(answer)
        when = f"in {wait:g} s" if wait is not None else "later"
        return f"{what}: the server could not erase now; try again {when}"
    if 300 <= status < 400:
        where = f" to {answer.location}" if answer.location else ""
        return f"{what}: the URL redirects{where}; configure that URL"
    if status == 400:
        return f"{what}: the server refused the install id kept here"
    if 200 <= status < 300:
        return f"{what}: not this API's answer to an erasure (a proxy or a wrong URL?)"
    return f"{what}: the server did not erase"


def clean_issues(issues: object) -> list[dict[str, object]]:
    """Keep only loc/type/msg of the server's issues, at most MAX_ISSUES of them."""
    if not isinstance(issues, list):
        return []
    return [
        {k: issue[k] for k in ("loc", "type", "msg") if k in issue}
        for issue in issues[:MAX_ISSUES]
        if isinstance(issue, dict)
    ]


def _retry_after(answer: Answer) -> float | None:
    """Seconds the answer's Retry-After asks for (delta-seconds or an HTTP date), if any."""
    if not answer.retry_after:
        return None
    try:
        return float(Retry().parse_retry_after(answer.retry_after.strip()))
    except (InvalidHeader, ValueError, TypeError, OverflowError):
        return None


def _verdict(result: object) -> Verdict:
    if not isinstance(result, dict):
        return Verdict(RETRY)
    status = result.get("status")
    if status == INVALID:
        return Verdict(INVALID, clean_issues(result.get("issues")))
    return Verdict(status if status in (ACCEPTED, DUPLICATE) else RETRY)


def _json_object(answer: Answer) -> dict[str, object] | None:
    if "json" not in answer.content_type.lower():
        return None
    try:
        value = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _described(answer: Answer) -> str:
    """``HTTP 400 (bad_request)``, ``HTTP 502 with an HTML page``, ``HTTP 404 with no JSON``."""
    payload = _json_object(answer)
    if payload is not None:
        error = payload.get("error")
        if isinstance(error, str) and 0 < len(error) <= 64 and error.isprintable():
            return f"HTTP {answer.status} ({error})"
        return f"HTTP {answer.status}"
    kind = answer.content_type.split(";")[0].strip().lower()
    if kind == "text/html" or answer.body.lstrip()[:1] == b"<":
        return f"HTTP {answer.status} with an HTML page, not this API's JSON"
    return f"HTTP {answer.status} without this API's JSON"


def _not_this_api(answer: Answer) -> str:
    return (
        f"{_described(answer)}: the answer is not this API's, so nothing is known about the "
        "events (a proxy or a wrong URL?)"
    )
