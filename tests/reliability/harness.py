"""Live wiring for the reliability suite: the function as a process, emitter installs, a proxy.

Everything talks over 127.0.0.1. Each server's stdout and stderr go to a file that the
privacy test scans at the end of the run (see ``SERVER_LOGS``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopback import LoopbackServer, QuietHandler, clean_env, start_function, stop, wait_healthy

REPO = Path(__file__).resolve().parents[2]

FIXTURE_EVENT: dict[str, Any] = json.loads((REPO / "tests" / "fixtures" / "event.json").read_text())

# Every log file written by a server of this suite, and every value a test submitted that
# must never show up in one of them (the privacy test reads both at the end of the run).
SERVER_LOGS: list[Path] = []
SUBMITTED_VALUES: set[str] = set()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event(**changes: Any) -> dict[str, Any]:
    """A valid event (the fixture) with some fields changed."""
    return {**FIXTURE_EVENT, **changes}


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- the function --------------------------------------------------------------------------


@dataclass
class FunctionServer:
    """The ingest function served by functions-framework (gunicorn) on loopback, SQLite store."""

    port: int
    db: Path
    log: Path
    env: dict[str, str]
    python: str = sys.executable
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FunctionServer:
        env = clean_env(
            SESSION_EVENTS_STORE="sqlite",
            SESSION_EVENTS_SQLITE_PATH=str(self.db),
            PYTHONPATH=str(REPO / "functions"),
            PYTHONUNBUFFERED="1",
            **self.env,
        )
        if self.log not in SERVER_LOGS:
            SERVER_LOGS.append(self.log)
        self.proc = start_function(self.port, env, self.log, python=self.python)
        wait_healthy(self.url, self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def restart(self, **env: str) -> FunctionServer:
        self.stop()
        self.env = {**self.env, **env}
        return self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pairs(self) -> list[tuple[str, str]]:
        """(identity_hash, session_id_hash) of every stored row."""
        if not self.db.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as conn:
            try:
                rows = conn.execute(
                    "SELECT identity_hash, session_id_hash FROM session_events"
                ).fetchall()
            except sqlite3.OperationalError:
                return []
        return [(str(a), str(b)) for a, b in rows]

    def count(self) -> int:
        return len(self.pairs())

    def rss_kb(self) -> int:
        """Resident memory of the server's whole process tree (gunicorn master and workers)."""
        assert self.proc is not None
        return sum(_rss_kb(pid) for pid in process_tree(self.proc.pid))

    def peak_rss_kb(self) -> int:
        """The highest peak resident memory (VmHWM) of any process of the server's tree."""
        assert self.proc is not None
        return max(_status_kb(pid, "VmHWM") for pid in process_tree(self.proc.pid))

    def post(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh socket; returns status, headers and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", path, body=body, headers=headers or {})
            answer = conn.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            conn.close()


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


def _status_kb(pid: int, name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


# -- emitter installs ------------------------------------------------------------------------


@dataclass
class Install:
    """One emitter installation with its own HOME and SESSION_EVENTS_HOME (consent on)."""

    root: Path
    sender_deadline: float = 2.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def user_home(self) -> Path:
        return self.root / "user"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def outbox(self) -> Path:
        return self.state / "outbox"

    @property
    def quarantine(self) -> Path:
        return self.state / "quarantine"

    def env(self, url: str | None, **extra: str) -> dict[str, str]:
        self.user_home.mkdir(parents=True, exist_ok=True)
        env = clean_env(
            HOME=str(self.user_home),
            SESSION_EVENTS_HOME=str(self.state),
            SESSION_EVENTS_TELEMETRY="on",
            SESSION_EVENTS_SENDER_DEADLINE=str(self.sender_deadline),
            SESSION_EVENTS_RETRY_BASE_DELAY="0.05",
            **self.extra_env,
        )
        if url is not None:
            env["SESSION_EVENTS_URL"] = url
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        url: str | None,
        stdin: bytes = b"",
        timeout: float = 20.0,
        env: dict[str, str] | None = None,
        **popen: Any,
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "session_event_emitter", *args],
            input=stdin,
            env=self.env(url) if env is None else env,
            capture_output=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
            **popen,
        )

    def consent_by_config(self, url: str) -> dict[str, str]:
        """This install's environment with consent recorded by `enable`, not by a variable."""
        env = self.env(url)
        del env["SESSION_EVENTS_TELEMETRY"]
        done = self.run("enable", url=url, env=env)
        assert done.returncode == 0, done.stderr
        return env

    def hook(
        self, session_id: str, url: str | None, **kwargs: Any
    ) -> subprocess.CompletedProcess[bytes]:
        return self.run(url=url, stdin=hook_input(session_id), **kwargs)

    def flush(self, url: str | None, deadline: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        return self.run("flush", "--deadline", str(deadline), url=url, timeout=deadline + 15)

    def pending(self) -> list[Path]:
        if not self.outbox.is_dir():
            return []
        return sorted(p for p in self.outbox.iterdir() if not p.name.startswith("."))

    def pending_events(self) -> list[dict[str, Any]]:
        """The events of every pending outbox file (each must parse: none is corrupt)."""
        return [json.loads(path.read_bytes())["event"] for path in self.pending()]

    def quarantined(self) -> list[Path]:
        return sorted(self.quarantine.iterdir()) if self.quarantine.is_dir() else []

    def delivered(self) -> list[dict[str, Any]]:
        path = self.state / "delivered.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def senders(self) -> list[int]:
        return processes_with_env("SESSION_EVENTS_HOME", str(self.state))

    def wait_senders_gone(self, timeout: float) -> bool:
        return wait_until(lambda: not self.senders(), timeout, interval=0.1)

    def kill_senders(self) -> None:
        for pid in self.senders():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def hook_input(session_id: str) -> bytes:
    return json.dumps(
        {"hook_event_name": "SessionEnd", "reason": "exit", "session_id": session_id}
    ).encode()


def processes_with_env(name: str, value: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds ``name=value``, this one excluded."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


# -- a proxy that injects faults in front of the function -----------------------------------


# "forward", "hang", "lose_answer" (forward, then drop the connection), "429:<seconds>", "503"
Action = str


@dataclass
class ProxyRecord:
    at: float
    path: str
    action: Action
    upstream_status: int | None = None


@dataclass
class FaultProxy:
    """Loopback HTTP proxy: each request gets the next scripted action, then `default`."""

    upstream: str
    default: Action = "forward"
    script: list[Action] = field(default_factory=list)
    answer_delay: float = 0.0
    records: list[ProxyRecord] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    stored: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_action(self) -> Action:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def forward(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        host, port = self.upstream.split("://", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            conn.close()


def _proxy_handler(proxy: FaultProxy) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.read_body()
            action = proxy.next_action()
            record = ProxyRecord(time.monotonic(), self.path, action)
            proxy.records.append(record)
            if action == "hang":
                proxy.release.wait(60)
                self.close_connection = True
                return
            if action.startswith("429:") or action == "503":
                status = 429 if action.startswith("429") else 503
                retry_after = action.split(":", 1)[1] if status == 429 else "1"
                error = "rate_limited" if status == 429 else "store_unavailable"
                self.answer_json(
                    status, {"ok": False, "error": error}, {"Retry-After": retry_after}
                )
                return
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            status, upstream_headers, data = proxy.forward(self.path, body, headers)
            record.upstream_status = status
            proxy.stored.release()
            if action == "lose_answer":
                self.close_connection = True
                return
            if proxy.answer_delay:
                time.sleep(proxy.answer_delay)
            extra = {k: v for k, v in upstream_headers.items() if k.lower() == "retry-after"}
            self.answer(status, data, headers=extra)

    return Handler


@contextlib.contextmanager
def running_proxy(proxy: FaultProxy) -> Iterator[FaultProxy]:
    with LoopbackServer(_proxy_handler(proxy), stopping=proxy.release) as server:
        proxy.port = server.port
        yield proxy


@dataclass
class ConnectionRecorder:
    """A TCP listener that counts the connections it accepts and answers none of them."""

    port: int = 0
    accepted: int = 0


@contextlib.contextmanager
def recording_listener() -> Iterator[ConnectionRecorder]:
    recorder = ConnectionRecorder()
    lock = threading.Lock()

    class Count(socketserver.BaseRequestHandler):
        def handle(self) -> None:  # returning closes the connection unanswered
            with lock:
                recorder.accepted += 1

    with LoopbackServer(Count) as server:
        recorder.port = server.port
        yield recorder
