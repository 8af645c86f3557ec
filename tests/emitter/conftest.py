"""Fixtures for the emitter tests: an isolated home, CLI runner, and loopback HTTP stubs."""

from __future__ import annotations

import contextlib
import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import loopback
import pytest
from loopback import LoopbackServer, QuietHandler, SilentHandler

ISOLATED_PREFIXES = ("SESSION_EVENTS_", "ASHLR_")
ISOLATED_NAMES = (
    "DO_NOT_TRACK",
    "CLAUDE_SESSION_ID",
    "CLAUDE_PLUGIN_ROOT",
    "XDG_STATE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@dataclass
class Home:
    """Paths of one isolated emitter installation."""

    root: Path
    user_home: Path
    state: Path

    @property
    def outbox(self) -> Path:
        return self.state / "outbox"

    @property
    def dead_letter(self) -> Path:
        return self.state / "dead-letter"

    @property
    def legacy(self) -> Path:
        return self.user_home / ".ashlr"

    def outbox_files(self) -> list[Path]:
        if not self.outbox.is_dir():
            return []
        return sorted(p for p in self.outbox.iterdir() if p.name.endswith(".json"))

    def all_files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A fresh HOME and SESSION_EVENTS_HOME, every emitter variable cleared (restored after)."""
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES:
            monkeypatch.delenv(name, raising=False)
    user_home = tmp_path / "home"
    state = tmp_path / "state"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.setenv("SESSION_EVENTS_HOME", str(state))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # A detached sender started by a test must not outlive it by much.
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", "2")
    monkeypatch.setenv("SESSION_EVENTS_RETRY_BASE_DELAY", "0.05")
    return Home(root=tmp_path, user_home=user_home, state=state)


@pytest.fixture
def consent_on(home: Home, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv("SESSION_EVENTS_TELEMETRY", "on")
    return home


CliRunner = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def run_cli(home: Home) -> CliRunner:
    """Run ``python -m session_event_emitter`` with the test's environment."""

    def run(
        *args: str,
        stdin: bytes | None = b"",
        env: dict[str, str] | None = None,
        timeout: float = 20.0,
        python_flags: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, *python_flags, "-m", "session_event_emitter", *args],
            input=stdin,
            env=dict(os.environ) if env is None else env,
            capture_output=True,
            timeout=timeout,
            check=False,
            cwd=home.root,
        )

    return run


def _hook_input(session_id: str | None = "session-123", **extra: object) -> bytes:
    payload: dict[str, object] = {"hook_event_name": "SessionEnd", "reason": "exit", **extra}
    if session_id is not None:
        payload["session_id"] = session_id
    return json.dumps(payload).encode()


@pytest.fixture
def hook_json() -> Callable[..., bytes]:
    """Builds SessionEnd hook input: ``hook_json("id", cwd=..., transcript_path=...)``."""
    return _hook_input


@pytest.fixture
def function(tmp_path: Path) -> Iterator[loopback.ServedFunction]:
    """The ingest function served on loopback with SQLite (functions-framework)."""
    if not loopback.FUNCTION_SOURCE.exists():
        pytest.skip("functions/main.py is not in this tree")
    with loopback.served_function(tmp_path) as served:
        yield served


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    return loopback.free_port()


Reply = tuple[int, dict[str, str], object]
Responder = Callable[[list[dict[str, object]]], Reply | None]


def _accept_all(events: list[dict[str, object]]) -> Reply:
    return 200, {}, {"ok": True, "results": [{"status": "accepted"} for _ in events]}


@dataclass
class StubServer:
    """A programmable ingest stub: its `responder` decides each answer (None = hang)."""

    responder: Responder = _accept_all
    received: list[list[dict[str, object]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events(self) -> list[dict[str, object]]:
        return [event for batch in self.received for event in batch]

    def accept(self) -> None:
        self.responder = _accept_all

    def reply(
        self, status: int, body: object = None, headers: dict[str, str] | None = None
    ) -> None:
        payload = body if body is not None else {"ok": False, "error": "stub"}
        self.responder = lambda events: (status, headers or {}, payload)

    def results(self, *statuses: str) -> None:
        self.responder = lambda events: (
            200,
            {},
            {"ok": True, "results": [{"status": s} for s in statuses[: len(events)]]},
        )

    def hang(self) -> None:
        self.responder = lambda events: None


def _handler_for(stub: StubServer) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.read_body() or b"{}")
            events = body.get("events", [body]) if isinstance(body, dict) else []
            stub.received.append(events)
            reply = stub.responder(events)
            if reply is None:
                stub.release.wait(30)
                return
            status, headers, payload = reply
            self.answer_json(status, payload, headers)

    return Handler


@pytest.fixture
def stub_server() -> Iterator[StubServer]:
    stub = StubServer()
    with LoopbackServer(_handler_for(stub), stopping=stub.release) as server:
        stub.port = server.port
        yield stub


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Takes TCP connections and never answers a byte."""
    with LoopbackServer(SilentHandler) as server:
        yield server.url


class _Dripping(socketserver.BaseRequestHandler):
    """A status line, then one header byte every 100 ms until the server stops."""

    server: LoopbackServer

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self.server.stopping.wait(0.1):
                self.request.sendall(b"a")


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """Answers with a status line, then one header byte every 100 ms, forever.

    Per-read socket timeouts never fire against it: only a wall-clock deadline ends a
    client that is talking to it.
    """
    with LoopbackServer(_Dripping) as server:
        yield server.url
