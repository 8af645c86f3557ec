"""Turns a configured URL into the ingest endpoints it names, or into words saying why not.

A base URL (``https://host`` or ``https://host/prefix``) names both endpoints:
``<base>/v1/session-events`` (one event) and ``<base>/v1/session-events/batch``. A URL that
already ends in ``/v1/session-events`` is that single endpoint, and its batch endpoint is
``<it>/batch``; one ending in ``/v1/session-events/batch`` is that batch endpoint. The
original plugin's ``ASHLR_SESSION_EVENTS_URL`` is a single endpoint exactly as given: the
batch URL is derived only when it ends in ``/v1/session-events``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SINGLE_PATH = "/v1/session-events"
BATCH_PATH = "/v1/session-events/batch"
FORGET_PATH = "/v1/forget"


class Endpoint:
    """Where events go: the single-event URL, and the batch URL where there is one."""

    __slots__ = ("batch", "single")

    def __init__(self, single: str, batch: str | None) -> None:
        self.single = single
        self.batch = batch

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Endpoint):
            return NotImplemented
        return (self.single, self.batch) == (other.single, other.batch)

    def __hash__(self) -> int:
        return hash((self.single, self.batch))

    def __repr__(self) -> str:
        return f"Endpoint(single={self.single!r}, batch={self.batch!r})"

    @property
    def shown(self) -> str:
        """The endpoint for people to read: the single URL with any password hidden."""
        return redact(self.single)


class UnusableUrl(ValueError):
    """A configured URL the emitter cannot send to; the message says why, in words."""


def parse_endpoint(raw: str, *, exact_single: bool = False) -> Endpoint:
    """The endpoints `raw` names (see the module docstring), or UnusableUrl saying why.

    `exact_single` reads `raw` as the single endpoint exactly as given (the original
    plugin's ``ASHLR_SESSION_EVENTS_URL``).
    """
    text = raw.strip()
    if not text:
        raise UnusableUrl("it is empty")
    if any(c.isspace() for c in text):
        raise UnusableUrl("it contains white space")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise UnusableUrl("it must start with http:// or https://")
    try:
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise UnusableUrl("its port is not a number from 1 to 65535") from None
    if not host:
        raise UnusableUrl("it names no host")
    if parts.query or parts.fragment:
        raise UnusableUrl("it must not carry a query (?…) or a fragment (#…)")
    path = parts.path.rstrip("/")

    def url(with_path: str) -> str:
        return urlunsplit((parts.scheme.lower(), parts.netloc, with_path, "", ""))

    if path.endswith(BATCH_PATH):
        single = path[: -len(BATCH_PATH)] + SINGLE_PATH
        return Endpoint(url(single), url(path))
    if path.endswith(SINGLE_PATH):
        return Endpoint(url(path), url(path + "/batch"))
    if exact_single:
        return Endpoint(url(parts.path or "/"), None)
    return Endpoint(url(path + SINGLE_PATH), url(path + BATCH_PATH))


def redact(url: str) -> str:
    """`url` with the password of its user part (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def forget_url(endpoint: Endpoint) -> str | None:
    """The erasure route beside the single endpoint (``<base>/v1/forget``); None when the
    single endpoint is a URL given exactly that does not end in ``/v1/session-events``."""
    if not endpoint.single.endswith(SINGLE_PATH):
        return None
    return endpoint.single[: -len(SINGLE_PATH)] + FORGET_PATH
