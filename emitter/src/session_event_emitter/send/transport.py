"""One HTTP POST to the ingest endpoint, with ``requests``: the only module that imports it.

Proxies and custom CAs from the environment apply (``requests`` reads them). Redirects
are not followed (a POST that is redirected arrives as a GET, or somewhere unintended):
the redirect is an answer like any other. At most ``MAX_ANSWER_BYTES`` of an answer are
read, so a proxy's error page of any size costs little; that is enough for the largest
answer the ingest function gives (a full batch of invalid events, each with its issues).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import requests.auth
import urllib3.exceptions

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


class Transport:
    """Posts JSON bodies with one pooled session; use as a context manager."""

    def __init__(self, ingest_token: str | None = None) -> None:
        self.session = requests.Session()
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
        """POST `body` to `url`; an Answer, or Unreachable when there is none."""
        host = _host_and_port(url)
        try:
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
                data = response.raw.read(MAX_ANSWER_BYTES, decode_content=True) or b""
            finally:
                response.close()
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise Unreachable(
                f"{host} did not answer within {max(timeout):g} s", timeout=True
            ) from None
        except (requests.ConnectionError, urllib3.exceptions.ProtocolError):
            raise Unreachable(f"could not connect to {host}", timeout=False) from None
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,
        ) as exc:
            raise Unreachable(
                f"the request to {host} failed ({type(exc).__name__})", timeout=False
            ) from None
        return Answer(
            status=response.status_code,
            content_type=response.headers.get("Content-Type", ""),
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
            body=data,
            raw=response.raw,
        )
