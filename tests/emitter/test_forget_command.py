"""`session-event-emit forget`, run as a real process against servers on loopback.

It asks the server to erase this install's events, then deletes the local state and
records consent off; when the server cannot be asked, it says why, exits non-zero and
keeps everything, so it can be run again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from loopback import LoopbackServer, QuietHandler
from original_server import OriginalServer, original_server_fixture  # noqa: F401

from session_event_emitter import identity, refs
from session_event_emitter.outbox import Outbox
from session_event_emitter.send import audit

FORGET_PATH = "/v1/forget"


@dataclass
class ForgetServer:
    """A loopback server whose answer to every request is set by the test."""

    status: int = 200
    body: bytes = b'{"ok":true,"deleted":0}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, status: int, payload: object, **headers: str) -> None:
        self.status, self.body = status, json.dumps(payload).encode()
        self.content_type, self.headers = "application/json", headers

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _method, _path, _headers, body in self.requests]


@pytest.fixture
def forget_server() -> Iterator[ForgetServer]:
    stub = ForgetServer()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.read_body()
            stub.requests.append(("POST", self.path, dict(self.headers), body))
            self.answer(stub.status, stub.body, stub.content_type, stub.headers)

    with LoopbackServer(Handler) as server:
        stub.port = server.port
        yield stub


SESSION = "ab" * 32


def fill_local_state(home: Any) -> str:
    """Pending events, a dead letter, a running session's refs and an audit log; the
    install id they were made under is returned."""
    install = identity.install_id(home.state, home.legacy, create=True)
    outbox = Outbox(home.state)
    for n in range(3):
        outbox.put(f"{n:064x}", {"identity_hash": "a" * 64, "session_id_hash": f"{n:064x}"})
    outbox.put(f"{9:064x}", {"identity_hash": "a" * 64})
    (dead,) = [entry for entry in outbox.entries() if entry.key == f"{9:064x}"]
    outbox.dead_letter(dead, "invalid", {"issues": []})
    refs.record(home.state, SESSION, ["skill:grep"])
    audit.append_delivered(home.state, [{"status": "accepted", "session_id_hash": "c" * 64}])
    audit.write_last_delivery(home.state, {"outcome": "delivered", "accepted": 1})
    return install


def local_state(home: Any) -> dict[str, int]:
    outbox = Outbox(home.state)
    return {
        "pending": outbox.depth().events,
        "dead": len(outbox.dead_letters()),
        "refs": len(refs.session_refs(home.state, SESSION)),
        "delivered": len(audit.read_delivered(home.state)),
        "last_delivery": len(audit.read_last_delivery(home.state)),
    }


FULL = {"pending": 3, "dead": 1, "refs": 1, "delivered": 1, "last_delivery": 2}
EMPTY = {"pending": 0, "dead": 0, "refs": 0, "delivered": 0, "last_delivery": 0}


def config(home: Any) -> dict[str, Any]:
    path = home.state / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_forget_with_consent_off_erases_on_the_server_then_here(
    home: Any, run_cli: Any, forget_server: ForgetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = fill_local_state(home)
    monkeypatch.setenv("SESSION_EVENTS_URL", forget_server.url)
    forget_server.answer(200, {"ok": True, "deleted": 7})
    assert b"consent:       off" in run_cli("status").stdout

    done = run_cli("forget")

    assert done.returncode == 0, done.stderr
    assert [(m, p) for m, p, _h, _b in forget_server.requests] == [("POST", FORGET_PATH)]
    assert forget_server.bodies() == [{"install_id": install}]
    assert b"deleted 7 event(s)" in done.stdout
    assert local_state(home) == EMPTY
    assert config(home)["telemetry"] == "off"


def test_forget_with_consent_on_turns_it_off_for_good(
    home: Any, run_cli: Any, forget_server: ForgetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = fill_local_state(home)
    assert run_cli("enable", "--url", forget_server.url).returncode == 0
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")  # an "on" elsewhere does not bring it back
    forget_server.answer(200, {"ok": True, "deleted": 2})

    done = run_cli("forget")

    assert done.returncode == 0, done.stderr
    assert config(home)["telemetry"] == "off"
    status = json.loads(run_cli("status", "--json").stdout)
    assert status["consent"] == "off"
    assert local_state(home) == EMPTY
    # The install keeps its id: a later `enable` sends under the same identity.
    assert identity.kept_install_id(home.state, home.legacy) == install


def test_forget_sends_the_ingest_token(
    home: Any, run_cli: Any, forget_server: ForgetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_local_state(home)
    monkeypatch.setenv("SESSION_EVENTS_URL", forget_server.url + "/v1/session-events")
    monkeypatch.setenv("SESSION_EVENTS_INGEST_TOKEN", "tok-123")
    assert run_cli("forget").returncode == 0
    [(_method, path, headers, _body)] = forget_server.requests
    assert path == FORGET_PATH
    assert headers["Authorization"] == "Bearer tok-123"


def test_forget_erases_both_ids_when_the_original_plugin_has_a_machine_id_of_its_own(
    home: Any, run_cli: Any, forget_server: ForgetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events sent before the original plugin's machine-id appeared carry our own id."""
    own = fill_local_state(home)
    home.legacy.mkdir()
    (home.legacy / "machine-id").write_text("0f8c1a52-8b7e-4d4c-9a57-3c8c0e6b2f11\n")
    monkeypatch.setenv("SESSION_EVENTS_URL", forget_server.url)
    forget_server.answer(200, {"ok": True, "deleted": 3})

    done = run_cli("forget")

    assert done.returncode == 0, done.stderr
    assert sorted(body["install_id"] for body in forget_server.bodies()) == sorted(
        [own, "0f8c1a52-8b7e-4d4c-9a57-3c8c0e6b2f11"]
    )
    assert b"deleted 6 event(s)" in done.stdout


def test_forget_with_no_url_says_so_and_keeps_everything(home: Any, run_cli: Any) -> None:
    fill_local_state(home)
    done = run_cli("forget")
    assert done.returncode == 1
    assert b"no endpoint is configured" in done.stderr
    assert b"nothing was deleted" in done.stderr
    assert local_state(home) == FULL
    assert "telemetry" not in config(home)


def test_forget_with_the_server_down_says_so_and_keeps_everything(
    home: Any, run_cli: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_local_state(home)
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    done = run_cli("forget")
    assert done.returncode == 1
    assert b"could not connect to 127.0.0.1" in done.stderr
    assert b"nothing was deleted" in done.stderr
    assert local_state(home) == FULL
    assert "telemetry" not in config(home)


HTML_PAGE = b"<html><body>502 Bad Gateway</body></html>"


@pytest.mark.parametrize(
    ("status", "payload", "words"),
    [
        (503, {"ok": False, "error": "store_unavailable"}, b"try again in 5 s"),
        (500, {"ok": False, "error": "internal"}, b"HTTP 500 (internal)"),
        (429, {"ok": False, "error": "rate_limited"}, b"try again in 5 s"),
        (401, {"ok": False, "error": "unauthorized"}, b"ingest token"),
        (200, {"ok": True, "status": "accepted"}, b"not this API's answer"),
        (502, HTML_PAGE, b"HTTP 502 with an HTML page"),
    ],
)
def test_forget_keeps_everything_when_the_server_did_not_erase(
    home: Any,
    run_cli: Any,
    forget_server: ForgetServer,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    payload: object,
    words: bytes,
) -> None:
    fill_local_state(home)
    monkeypatch.setenv("SESSION_EVENTS_URL", forget_server.url)
    if isinstance(payload, bytes):
        forget_server.status, forget_server.body = status, payload
        forget_server.content_type = "text/html"
    else:
        forget_server.answer(status, payload, **{"Retry-After": "5"})
    done = run_cli("forget")
    assert done.returncode == 1
    assert words in done.stderr
    assert b"nothing was deleted" in done.stderr
    assert local_state(home) == FULL
    assert "telemetry" not in config(home)


def test_forget_against_the_original_server_says_it_cannot_erase(
    home: Any,
    run_cli: Any,
    original_server: OriginalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill_local_state(home)
    monkeypatch.setenv("ASHLR_SESSION_EVENTS_URL", original_server.endpoint)
    done = run_cli("forget")
    assert done.returncode == 1
    assert b"this server cannot erase" in done.stderr
    assert ("POST", FORGET_PATH) in original_server.requests
    assert local_state(home) == FULL
    assert "telemetry" not in config(home)


def test_forget_dry_run_says_what_it_would_do_and_does_nothing(
    home: Any, run_cli: Any, forget_server: ForgetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = fill_local_state(home)
    monkeypatch.setenv("SESSION_EVENTS_URL", forget_server.url)
    done = run_cli("forget", "--dry-run")
    assert done.returncode == 0, done.stderr
    said = done.stdout.decode()
    assert f"{forget_server.url}{FORGET_PATH}" in said
    assert "3 pending event(s), 1 dead letter(s)" in said
    assert "telemetry off" in said
    assert install not in said  # the proof of identity is not printed
    assert forget_server.requests == []
    assert local_state(home) == FULL
    assert "telemetry" not in config(home)


def test_forget_with_no_install_id_deletes_the_local_state_without_asking(
    home: Any, run_cli: Any, forget_server: ForgetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No install id was ever made here, so no event of this install can be on a server."""
    monkeypatch.setenv("SESSION_EVENTS_URL", forget_server.url)
    refs.record(home.state, SESSION, ["skill:grep"])
    done = run_cli("forget")
    assert done.returncode == 0, done.stderr
    assert forget_server.requests == []
    assert b"no install id" in done.stdout
    assert local_state(home) == EMPTY
    assert config(home)["telemetry"] == "off"
    assert not (home.state / identity.INSTALL_ID_FILE).exists()


def test_forget_help_is_listed(home: Any, run_cli: Any) -> None:
    done = run_cli("--help")
    assert b"forget" in done.stdout
