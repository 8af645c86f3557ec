"""Loopback helpers shared by the test suites and the benchmarks.

``LoopbackServer`` is the one in-process test server: a threaded server on 127.0.0.1 at a
free port, started and stopped by a ``with`` block, whose handler class decides everything
it says (``QuietHandler`` for HTTP, ``SilentHandler`` for a peer that never answers, or any
``socketserver`` handler for raw bytes). The function itself runs as a process
(``start_function``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import socketserver
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

# Variables that would point a child process at a user's own setup instead of the test's.
ISOLATED_PREFIXES = ("SESSION_EVENTS_", "ASHLR_", "GOOGLE_", "FIRESTORE_")
ISOLATED_NAMES = (
    "DO_NOT_TRACK",
    "CLAUDE_SESSION_ID",
    "XDG_STATE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without session-events, proxy or cloud variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ISOLATED_PREFIXES) and name not in ISOLATED_NAMES
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


REPO = Path(__file__).resolve().parents[1]
FUNCTION_SOURCE = REPO / "functions" / "main.py"


def start_function(
    port: int, env: dict[str, str], log: Path, *, python: str = sys.executable
) -> subprocess.Popen[bytes]:
    """The ingest function as a user serves it (functions-framework on 127.0.0.1:`port`),
    its output appended to `log`."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            [
                python,
                "-m",
                "functions_framework",
                "--source",
                str(FUNCTION_SOURCE),
                "--target",
                "session_events",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO / "functions",
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Return once `url`/healthz answers 200; RuntimeError (with the log's end) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the function exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the function did not become healthy:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a server started here: TERM, then KILL after 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclasses.dataclass(frozen=True)
class ServedFunction:
    """The ingest function served on loopback with SQLite, and what its database holds."""

    url: str
    db: Path
    log: Path

    def rows(self, session_id: str) -> int:
        """How many rows hold the session whose raw id is `session_id`."""
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        if not self.db.exists():
            return 0
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM session_events WHERE session_id_hash = ?", (digest,)
            ).fetchone()
        return int(count)

    def identities(self) -> dict[str, int]:
        """Rows per identity hash."""
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            rows = conn.execute(
                "SELECT identity_hash, COUNT(*) FROM session_events GROUP BY identity_hash"
            ).fetchall()
        return {str(identity): int(count) for identity, count in rows}

    def post(self, event: dict[str, object]) -> int:
        """POST one event to the ingest endpoint; the answer's status."""
        request = urllib.request.Request(
            self.url + "/v1/session-events",
            data=json.dumps(event).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)


@contextlib.contextmanager
def served_function(folder: Path, port: int | None = None) -> Iterator[ServedFunction]:
    """The function as a user serves it, on SQLite in `folder`, for the ``with`` block."""
    port = free_port() if port is None else port
    db, log = folder / "db.sqlite", folder / "function.log"
    env = {
        **os.environ,
        "SESSION_EVENTS_STORE": "sqlite",
        "SESSION_EVENTS_SQLITE_PATH": str(db),
        "PYTHONPATH": str(REPO / "functions"),
    }
    proc = start_function(port, env, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, log)
        yield ServedFunction(url=url, db=db, log=log)
    finally:
        stop(proc)


class LoopbackServer(ThreadingHTTPServer):
    """A threaded server on 127.0.0.1 at a free port, serving for the length of a ``with``
    block; `handler` answers each connection in a thread of its own.

    ``stopping`` is set as the block ends, before the server stops: a handler that hangs on
    purpose waits on it, so no connection outlives the test (a stand-in may hand in its own
    event, which a test can also set earlier).
    """

    daemon_threads = True
    request_queue_size = 128  # many clients at once are taken, not refused

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler],
        *,
        stopping: threading.Event | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.stopping = threading.Event() if stopping is None else stopping
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="loopback-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class QuietHandler(BaseHTTPRequestHandler):
    """An HTTP handler that logs nothing, with the two halves every stand-in needs: read the
    body, send a whole answer."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def read_body(self, limit: int | None = None) -> bytes:
        """The request's body as its Content-Length gives it (at most `limit` bytes)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return b""
        return self.rfile.read(length if limit is None else min(length, limit))

    def answer(
        self,
        status: int,
        data: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> bool:
        """Send a whole answer (no body to a HEAD); False when the client was gone before
        it could be told."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True
            return False
        return True

    def answer_json(
        self,
        status: int,
        payload: object,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> bool:
        return self.answer(status, json.dumps(payload).encode(), content_type, headers)

    def reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0), answering nothing."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()


class SilentHandler(socketserver.BaseRequestHandler):
    """Takes the connection, reads nothing, never answers a byte; lets go when the server
    stops."""

    server: LoopbackServer

    def handle(self) -> None:
        self.server.stopping.wait()
