"""A scripted ingest server on loopback that answers what real networks answer.

Each request gets the next answer of its script (the last one repeats): this API's
verdicts, or a proxy's HTML error page, a JSON error of any status, a hang, a reset
connection, JSON of another shape, the wrong number of results; or (``drip``, not in
KINDS) an answer that trickles in forever. Every request is recorded with the keys of
its events and what they were told.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from loopback import LoopbackServer, QuietHandler

BATCH_PATH = "/v1/session-events/batch"
SINGLE_PATH = "/v1/session-events"

VERDICT_KINDS = ("accepted", "duplicate", "invalid", "retry_item", "mixed")
FAILURE_KINDS = (
    "400_json_validation",
    "400_html",
    "401",
    "403",
    "404",
    "405",
    "413",
    "415",
    "429",
    "500",
    "502",
    "503",
    "hang",
    "reset",
    "malformed_json",
    "wrong_count",
)
KINDS = VERDICT_KINDS + FAILURE_KINDS

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>400 Bad Request</title></head>"
    b"<body><center><h1>400 Bad Request</h1></center><hr><center>nginx</center></body></html>"
)


def event_key(event: object) -> str:
    """The outbox key of an event: sha256(identity_hash + ":" + session_id_hash)."""
    if not isinstance(event, dict):
        return "?"
    pair = f"{event.get('identity_hash')}:{event.get('session_id_hash')}"
    return hashlib.sha256(pair.encode()).hexdigest()


@dataclass
class Request:
    """One request as the server saw it, and the verdict each of its events got (if any)."""

    path: str
    keys: list[str]
    kind: str
    told: dict[str, str] = field(default_factory=dict)
    note: object = None


@dataclass
class FaultServer:
    """The server's script and record; `note` is called per request (a test's own state)."""

    script: list[str] = field(default_factory=lambda: ["accepted"])
    requests: list[Request] = field(default_factory=list)
    note: Callable[[], object] = lambda: None
    release: threading.Event = field(default_factory=threading.Event)
    hang_seconds: float = 5.0
    # Seconds every answer waits before it leaves (a slow store behind the endpoint).
    answer_delay: float = 0.0
    # Called before the answer to the request of that index (counted from `play`).
    before_answer: dict[int, Callable[[], None]] = field(default_factory=dict)
    port: int = 0
    _cursor: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def play(self, *kinds: str) -> None:
        with self._lock:
            self.script, self._cursor = list(kinds), 0

    def next_kind(self) -> tuple[str, Callable[[], None] | None]:
        with self._lock:
            kind = self.script[min(self._cursor, len(self.script) - 1)]
            hook = self.before_answer.get(self._cursor)
            self._cursor += 1
            return kind, hook

    def told(self, verdict: str) -> set[str]:
        """Keys that were given `verdict` by some answer."""
        return {k for r in self.requests for k, v in r.told.items() if v == verdict}


def _verdicts(kind: str, keys: list[str]) -> list[str]:
    if kind == "retry_item":
        return ["retry"] * len(keys)
    if kind == "mixed":
        cycle = ("accepted", "retry", "duplicate", "invalid")
        return [cycle[int(key[:2], 16) % 4] for key in keys]
    return [kind] * len(keys)


def _handler(server: FaultServer) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.read_body()
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if self.path == BATCH_PATH and isinstance(body, dict):
                events = body.get("events") or []
            elif self.path == SINGLE_PATH:
                events = [body]
            else:
                events = []
            keys = [event_key(event) for event in events]
            kind, before_answer = server.next_kind()
            request = Request(self.path, keys, kind, note=server.note())
            server.requests.append(request)
            if before_answer is not None:
                before_answer()
            if server.answer_delay:
                server.release.wait(server.answer_delay)
            self._answer(kind, request)

        def _answer(self, kind: str, request: Request) -> None:
            keys = request.keys
            if kind == "hang":
                server.release.wait(server.hang_seconds)
                return
            if kind == "drip":
                self._drip()
                return
            if kind == "reset":
                self.reset()
                return
            if kind in VERDICT_KINDS:
                verdicts = _verdicts(kind, keys)
                # What it tells is recorded before the answer leaves: a client may act on
                # the answer (and the model check its promises) before this thread runs on.
                if request.path == SINGLE_PATH:
                    verdict = verdicts[0]
                    if verdict == "retry":
                        self.answer_json(503, {"ok": False, "error": "store_unavailable"})
                        return
                    request.told = {keys[0]: verdict}
                    if verdict == "invalid":
                        sent = self.answer_json(
                            400, {"ok": False, "error": "validation_failed", "issues": []}
                        )
                    else:
                        sent = self.answer_json(202, {"ok": True, "status": verdict})
                    if not sent:
                        request.told = {}
                    return
                results = [
                    {"status": v, **({"issues": []} if v == "invalid" else {})} for v in verdicts
                ]
                request.told = dict(zip(keys, verdicts, strict=True))
                if not self.answer_json(200, {"ok": True, "results": results}):
                    request.told = {}
                return
            if kind == "400_json_validation":
                # From the single endpoint this is the event's verdict (the original's way).
                if request.path == SINGLE_PATH:
                    request.told = {keys[0]: "invalid"}
                answer = {"ok": False, "error": "validation_failed", "issues": []}
                if not self.answer_json(400, answer):
                    request.told = {}
            elif kind == "400_html":
                self.answer(400, HTML_PAGE, "text/html")
            elif kind == "429":
                self.answer_json(429, {"ok": False, "error": "rate_limited"}, {"Retry-After": "1"})
            elif kind == "malformed_json":
                self.answer(200, b'{"ok": true, "results": [')
            elif kind == "wrong_count":
                self.answer_json(
                    200, {"ok": True, "results": [{"status": "accepted"}] * (len(keys) + 1)}
                )
            elif kind in ("500", "502", "503"):
                self.answer(int(kind), b"<html><body>Bad Gateway</body></html>", "text/html")
            else:
                status = int(kind)
                self.answer_json(status, {"error": "Not found" if status == 404 else "refused"})

        def _drip(self) -> None:
            """An answer that never ends: a status line, then a header byte every 100 ms.

            A timeout that bounds each read never fires against it; only a bound on the
            whole answer does. It drips until released, or for `hang_seconds`.
            """
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                ticks = int(server.hang_seconds / 0.1)
                while ticks > 0 and not server.release.wait(0.1):
                    self.wfile.write(b"a")
                    ticks -= 1

    return Handler


@contextlib.contextmanager
def running(server: FaultServer) -> Iterator[FaultServer]:
    """Serve `server` on a free loopback port for the duration of the block."""
    with LoopbackServer(_handler(server), stopping=server.release) as httpd:
        server.port = httpd.port
        yield server
