"""One HTTP POST to the ingest endpoint, with ``requests``: the only module that imports it.

Proxies and custom CAs from the environment apply (``requests`` reads them). Redirects
are not followed (a POST that is redirected arrives as a GET, or somewhere unintended):
the redirect is an answer like any other. At most ``MAX_ANSWER_BYTES`` of an answer are
read, so a proxy's error page of any size costs little; that is enough for the largest
answer the ingest function gives (a full batch of invalid events, each with its issues).

The read timeout bounds the whole answer, not each read: urllib3's read timeout restarts
with every byte, so a server that drips its answer would hold the request (and the lock
`disable` waits for) until the sender's deadline. Each request's connections are
watched (`_WatchedHTTPConnection`, installed as the pools' connection class), and when
the answer has not come whole within the read timeout a timer thread shuts their
sockets down, which ends the blocked read at once, TLS included. The connection itself
is bounded by the connect timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.auth
import urllib3.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager, ProxyManager

from session_event_emitter import __version__

MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """What the server said: status, the headers this emitter reads, and the body's start."""

    status: int
    content_type: str
    retry_after: str | None
    location: str | None
    body: bytes
    raw: object  # urllib3's response, for urllib3.util.Retry


class Unreachable(Exception):
    """No answer: the connection failed or timed out. The message says which, in words."""

    def __init__(self, words: str, *, timeout: bool) -> None:
        super().__init__(words)
        self.words = words
        self.timeout = timeout


def _host_and_port(url: str) -> str:
    """``host:port`` of `url` (the scheme's port when none is given), never its credentials."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Bearer(requests.auth.AuthBase):
    """The ingest token as ``Authorization: Bearer``.

    Given as the request's auth, not as a header, because requests replaces an
    Authorization header with Basic credentials from the URL or ``~/.netrc`` when a
    request has no auth of its own.
    """

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class _AnswerDeadline:
    """Shuts down the sockets of one request once its answer is late; see the module doc."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.passed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket | None) -> None:
        """Cut `sock` when the time is up; the clock starts with the first socket."""
        if sock is None:
            return
        with self._lock:
            if self.passed:
                _shut_down(sock)
                return
            self._sockets.append(sock)
            if self._timer is None:
                self._timer = threading.Timer(self.seconds, self._pass)
                self._timer.daemon = True
                self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._sockets.clear()

    def _pass(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    """End every read and write on `sock` now (the socket's own call, so TLS alike)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_ANSWER_DEADLINE: contextvars.ContextVar[_AnswerDeadline | None] = contextvars.ContextVar(
    "answer_deadline", default=None
)


def _watch(sock: socket.socket | None) -> None:
    deadline = _ANSWER_DEADLINE.get()
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    """urllib3's connection, whose socket the running request's answer deadline watches."""

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:  # a kept-alive connection
        _watch(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedTLSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedTLSPool}


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with the watched pools, directly and through an HTTP(S) proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):  # a SOCKS proxy keeps its own pools
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class Transport:
    """Posts JSON bodies with one pooled session; use as a context manager."""

    def __init__(self, ingest_token: str | None = None) -> None:
        self.session = requests.Session()
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, _WatchedAdapter())
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"session-event-emitter/{__version__}",
        }
        self.auth = _Bearer(ingest_token) if ingest_token else None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.session.close()

    def post(self, url: str, body: bytes, timeout: tuple[float, float]) -> Answer:
        """POST `body` to `url`; an Answer, or Unreachable when there is none.

        `timeout` is (connect, answer): the whole answer must have come within the second.
        """
        host = _host_and_port(url)
        deadline = _AnswerDeadline(timeout[1])
        watching = _ANSWER_DEADLINE.set(deadline)
        try:
            response, data = self._exchange(url, body, timeout)
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise _late(host, timeout) from None
        except (requests.ConnectionError, urllib3.exceptions.ProtocolError):
            if deadline.passed:  # the socket it cut shows as a connection closed
                raise _late(host, timeout) from None
            raise Unreachable(f"could not connect to {host}", timeout=False) from None
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,
        ) as exc:
            if deadline.passed:
                raise _late(host, timeout) from None
            raise Unreachable(
                f"the request to {host} failed ({type(exc).__name__})", timeout=False
            ) from None
        finally:
            deadline.cancel()
            _ANSWER_DEADLINE.reset(watching)
        if deadline.passed:  # cut inside a body that has no length: not the whole answer
            raise _late(host, timeout)
        return Answer(
            status=response.status_code,
            content_type=response.headers.get("Content-Type", ""),
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
            body=data,
            raw=response.raw,
        )

    def _exchange(
        self, url: str, body: bytes, timeout: tuple[float, float]
    ) -> tuple[requests.Response, bytes]:
        response = self.session.post(
            url,
            data=body,
            headers=self.headers,
            auth=self.auth,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            return response, response.raw.read(MAX_ANSWER_BYTES, decode_content=True) or b""
        finally:
            response.close()


def _late(host: str, timeout: tuple[float, float]) -> Unreachable:
    return Unreachable(f"{host} did not answer in full within {timeout[1]:g} s", timeout=True)
