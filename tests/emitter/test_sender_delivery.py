"""Delivery against loopback stubs: verdicts, dead letters, refusals kept pending, consent, lock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from session_event_emitter.outbox import Outbox
from session_event_emitter.send import audit
from session_event_emitter.send.delivery import Policy, deliver
from session_event_emitter.send.gate import sender_lock
from session_event_emitter.settings import Settings

FAST = Policy(deadline=3.0, base_delay=0.01, max_delay=0.05, connect_timeout=1.0, read_timeout=1.0)


def _enqueue(home: Any, count: int = 1) -> list[str]:
    outbox = Outbox(home.state)
    keys = []
    for n in range(count):
        key = f"{n:064x}"
        outbox.put(key, {"identity_hash": "a" * 64, "session_id_hash": key, "tool_count": n})
        keys.append(key)
    return keys


@pytest.fixture
def online(consent_on: Any, monkeypatch: pytest.MonkeyPatch, stub_server: Any) -> Any:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    return consent_on


def _deliver(policy: Policy = FAST, **kwargs: Any) -> Any:
    return deliver(Settings.load(), policy, **kwargs)


@pytest.mark.parametrize("status", ["accepted", "duplicate"])
def test_acknowledged_events_leave_the_outbox_and_enter_the_audit_log(
    online: Any, stub_server: Any, status: str
) -> None:
    _enqueue(online, 2)
    stub_server.results(status, status)
    report = _deliver()
    assert online.outbox_files() == []
    assert [r["status"] for r in audit.read_delivered(online.state)] == [status, status]
    assert report.outcome == "delivered"


def test_posts_to_the_batch_endpoint_with_an_events_envelope(online: Any, stub_server: Any) -> None:
    _enqueue(online, 3)
    _deliver()
    assert len(stub_server.received) == 1
    assert [e["tool_count"] for e in stub_server.received[0]] == [0, 1, 2]


def test_batches_hold_at_most_one_hundred_events(online: Any, stub_server: Any) -> None:
    _enqueue(online, 150)
    _deliver()
    assert [len(batch) for batch in stub_server.received] == [100, 50]
    assert online.outbox_files() == []


def test_invalid_item_goes_to_dead_letter_and_others_are_delivered(
    online: Any, stub_server: Any
) -> None:
    _enqueue(online, 2)
    stub_server.responder = lambda events: (
        200,
        {},
        {
            "ok": True,
            "results": [
                {"status": "accepted"},
                {"status": "invalid", "issues": [{"loc": ["tool_count"], "type": "x", "msg": "m"}]},
            ],
        },
    )
    report = _deliver()
    assert online.outbox_files() == []
    [record] = Outbox(online.state).dead_letters()
    assert record["reason"] == "invalid"
    assert record["issues"] == [{"loc": ["tool_count"], "type": "x", "msg": "m"}]
    assert (report.accepted, report.dead_lettered) == (1, 1)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"ok": False, "error": "invalid_json"}),
        (400, {"ok": False, "error": "validation_failed", "issues": []}),
        (401, {"ok": False, "error": "unauthorized"}),
        (403, {"error": "Forbidden"}),
        (404, {"ok": False, "error": "not_found"}),
        (413, {"ok": False, "error": "payload_too_large"}),
        (415, {"ok": False, "error": "unsupported_media_type"}),
        (418, "<html><body>I'm a teapot</body></html>"),
        (500, {"ok": False, "error": "internal"}),
    ],
)
def test_whole_request_answers_keep_every_event_pending_however_often_they_repeat(
    online: Any, stub_server: Any, status: int, body: object
) -> None:
    keys = _enqueue(online, 3)
    stub_server.reply(status, body)
    for _ in range(12):
        report = _deliver(Policy(deadline=0.5, base_delay=0.01, max_delay=0.02))
        assert report.outcome == "pending"
        assert f"HTTP {status}" in report.detail
    assert sorted(p.stem for p in online.outbox_files()) == sorted(keys)
    assert Outbox(online.state).dead_letters() == []
    stub_server.accept()
    assert _deliver().outcome == "delivered"
    assert sorted(e["session_id_hash"] for e in stub_server.events[-3:]) == sorted(keys)


def test_a_batch_refused_with_413_is_split_until_it_passes(online: Any, stub_server: Any) -> None:
    _enqueue(online, 40)

    def respond(events: list[dict[str, object]]) -> Any:
        if len(events) > 10:
            return 413, {}, {"ok": False, "error": "payload_too_large"}
        return 200, {}, {"ok": True, "results": [{"status": "accepted"}] * len(events)}

    stub_server.responder = respond
    report = _deliver()
    assert report.accepted == 40 and online.outbox_files() == []


def test_retry_verdict_keeps_the_event_pending_and_delivers_it_next_run(
    online: Any, stub_server: Any
) -> None:
    keys = _enqueue(online, 2)
    stub_server.results("accepted", "retry")
    report = _deliver()
    assert (report.accepted, report.retry_later, report.outcome) == (1, 1, "pending")
    assert [p.stem for p in online.outbox_files()] == [keys[1]]
    assert len(stub_server.received) == 1  # not tried again in the same run
    stub_server.accept()
    assert _deliver().accepted == 1
    assert online.outbox_files() == []


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_transient_status_is_retried_then_delivered(
    online: Any, stub_server: Any, status: int
) -> None:
    _enqueue(online, 1)
    answers = iter([(status, {}, {"ok": False}), (status, {}, {"ok": False})])

    def respond(events: list[dict[str, object]]) -> Any:
        return next(answers, (200, {}, {"ok": True, "results": [{"status": "accepted"}]}))

    stub_server.responder = respond
    report = _deliver()
    assert len(stub_server.received) == 3
    assert report.accepted == 1
    assert online.outbox_files() == []


def test_retry_after_is_a_floor_for_the_wait(online: Any, stub_server: Any) -> None:
    _enqueue(online, 1)
    answers = iter([(503, {"Retry-After": "1"}, {"ok": False})])
    stub_server.responder = lambda events: next(
        answers, (200, {}, {"ok": True, "results": [{"status": "accepted"}]})
    )
    waits: list[float] = []
    _deliver(sleep=waits.append)
    assert waits and waits[0] >= 1.0


def test_outbox_survives_a_503_outage_and_is_delivered_when_the_server_returns(
    online: Any, stub_server: Any
) -> None:
    keys = _enqueue(online, 2)
    stub_server.reply(503, {"ok": False, "error": "store_unavailable"}, {"Retry-After": "0"})
    report = _deliver(Policy(deadline=0.5, base_delay=0.01, max_delay=0.05))
    assert report.outcome == "pending"
    assert len(online.outbox_files()) == 2
    stub_server.accept()
    _deliver()
    assert online.outbox_files() == []
    assert {e["session_id_hash"] for e in stub_server.events} == set(keys)


def test_outbox_survives_a_refused_connection(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, free_port: int, stub_server: Any
) -> None:
    _enqueue(consent_on, 1)
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    report = _deliver(Policy(deadline=0.5, base_delay=0.01, max_delay=0.05))
    assert report.remaining == 1
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    _deliver()
    assert consent_on.outbox_files() == []
    assert len(stub_server.events) == 1


def test_outbox_survives_a_hanging_server(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, silent_server: str, stub_server: Any
) -> None:
    _enqueue(consent_on, 1)
    monkeypatch.setenv("SESSION_EVENTS_URL", silent_server)
    report = _deliver(Policy(deadline=0.6, connect_timeout=0.3, read_timeout=0.3))
    assert report.remaining == 1
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    _deliver()
    assert consent_on.outbox_files() == []


def test_consent_withdrawn_before_sending_sends_nothing(
    online: Any, stub_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enqueue(online, 1)
    settings = Settings.load()
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    report = deliver(settings, FAST)
    assert report.outcome == "consent_off"
    assert stub_server.received == []
    assert len(online.outbox_files()) == 1


def test_a_second_sender_steps_aside_while_the_lock_is_held(online: Any, stub_server: Any) -> None:
    _enqueue(online, 1)
    with sender_lock(online.state) as held:
        assert held
        report = _deliver()
    assert report.outcome == "busy"
    assert stub_server.received == []


def test_an_event_stored_while_a_run_ends_is_not_left_behind(
    online: Any, stub_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook that stores its event after the run's last look at the outbox, while the run
    still holds the lock, starts a sender that finds the lock taken and leaves: the run takes
    that event once it has let the lock go, instead of leaving it for the next session."""
    _enqueue(online, 1)
    late_senders: list[str] = []
    record = audit.write_last_delivery

    def record_then_a_hook_ends(home: Any, result: Any) -> None:
        record(home, result)
        if result.get("outcome") != audit.RUNNING and not late_senders:
            Outbox(online.state).put("f" * 64, {"identity_hash": "b" * 64, "tool_count": 1})
            late_senders.append(_deliver().outcome)  # the late hook's own sender

    monkeypatch.setattr(audit, "write_last_delivery", record_then_a_hook_ends)
    report = _deliver()
    assert late_senders == ["busy"]
    assert online.outbox_files() == []
    assert (report.outcome, report.accepted, report.remaining) == ("delivered", 2, 0)
    assert len(audit.read_delivered(online.state)) == 2


def test_last_delivery_is_recorded_for_status(online: Any, stub_server: Any) -> None:
    _enqueue(online, 1)
    _deliver()
    last = audit.read_last_delivery(online.state)
    assert (last["outcome"], last["accepted"], last["remaining"]) == ("delivered", 1, 0)


@pytest.mark.parametrize("credentials", ["none", "netrc", "url"])
def test_ingest_token_is_sent_as_bearer_whatever_other_credentials_the_user_has(
    credentials: str, online: Any, stub_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Basic credentials from ~/.netrc or the URL never replace the ingest token."""
    seen: list[str] = []
    monkeypatch.setenv("SESSION_EVENTS_INGEST_TOKEN", "t0ken")
    if credentials == "netrc":
        netrc = online.user_home / ".netrc"
        netrc.write_text("machine 127.0.0.1 login someone password secret\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
    elif credentials == "url":
        monkeypatch.setenv(
            "SESSION_EVENTS_URL", f"http://someone:secret@127.0.0.1:{stub_server.port}"
        )
    import http.server

    original = http.server.BaseHTTPRequestHandler.send_response

    def spy(self: Any, code: int, message: str | None = None) -> None:
        seen.append(self.headers.get("Authorization", ""))
        original(self, code, message)

    monkeypatch.setattr(http.server.BaseHTTPRequestHandler, "send_response", spy)
    _enqueue(online, 1)
    _deliver()
    assert seen == ["Bearer t0ken"]


def test_delivered_audit_record_holds_the_event(online: Any, stub_server: Any) -> None:
    _enqueue(online, 1)
    _deliver()
    [record] = audit.read_delivered(online.state)
    assert json.dumps(record["event"]) == json.dumps(stub_server.events[0])


def test_disable_waits_for_the_request_in_flight_and_nothing_leaves_after_it(
    online: Any, stub_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse
    import contextlib
    import io
    import threading
    import time

    from session_event_emitter.commands import disable, enable

    monkeypatch.delenv("SESSION_EVENTS_TELEMETRY")  # consent from the config file, as `enable`
    with contextlib.redirect_stdout(io.StringIO()):
        enable.run(argparse.Namespace(url=None))
    _enqueue(online, 150)  # two batches
    answered: list[float] = []
    first = threading.Event()

    def respond(events: list[dict[str, object]]) -> Any:
        if not first.is_set():
            first.set()
            stub_server.release.wait(10)
        answered.append(time.monotonic())
        return 200, {}, {"ok": True, "results": [{"status": "accepted"}] * len(events)}

    stub_server.responder = respond
    policy = Policy(deadline=20.0, read_timeout=15.0, base_delay=0.01, max_delay=0.05)
    sender = threading.Thread(target=_deliver, args=(policy,))
    sender.start()
    assert first.wait(10)
    out = io.StringIO()
    returned: list[float] = []

    def withdraw() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            disable.run(argparse.Namespace(url=None))
        returned.append(time.monotonic())

    disabling = threading.Thread(target=withdraw)
    disabling.start()
    disabling.join(0.5)
    assert disabling.is_alive()  # waiting for the answer to the request in flight
    stub_server.release.set()
    disabling.join(10)
    sender.join(10)
    assert answered and returned and returned[0] >= answered[0]
    assert [len(batch) for batch in stub_server.received] == [100]  # nothing after "off"
    assert "50 pending event(s) and 0 dead letter(s) deleted" in out.getvalue()


def test_dead_letters_are_listed_by_status_and_retry_dead_puts_them_back(
    online: Any, stub_server: Any, run_cli: Any
) -> None:
    _enqueue(online, 2)
    stub_server.results("invalid", "invalid")
    assert _deliver().dead_lettered == 2
    assert online.outbox_files() == []
    status = run_cli("status").stdout.decode()
    assert "dead letters:  2" in status and "retry-dead" in status
    done = run_cli("retry-dead")
    assert done.returncode == 0 and b"2 dead letter(s) put back" in done.stdout
    assert len(Outbox(online.state).entries()) == 2  # pending again
    assert "2 event(s) pending" in run_cli("status").stdout.decode()
    assert Outbox(online.state).dead_letters() == []
    stub_server.accept()
    assert _deliver().accepted == 2


def test_disable_deletes_the_dead_letters_too_so_no_later_retry_dead_sends_them(
    online: Any, stub_server: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enqueue(online, 2)
    stub_server.results("invalid", "invalid")
    assert _deliver().dead_lettered == 2
    monkeypatch.delenv("SESSION_EVENTS_TELEMETRY")
    done = run_cli("disable")
    assert b"0 pending event(s) and 2 dead letter(s) deleted" in done.stdout
    assert run_cli("enable").returncode == 0
    assert b"0 dead letter(s) put back" in run_cli("retry-dead").stdout
    assert online.outbox_files() == []


def test_an_event_a_filter_refuses_does_not_hold_back_the_others(
    online: Any, stub_server: Any
) -> None:
    keys = _enqueue(online, 40)

    def respond(events: list[dict[str, object]]) -> Any:
        if any(event["tool_count"] == 7 for event in events):  # a WAF objects to one event
            return 403, {"Content-Type": "text/html"}, "<html>Request blocked</html>"
        return 200, {}, {"ok": True, "results": [{"status": "accepted"}] * len(events)}

    stub_server.responder = respond
    for _ in range(2):  # every run: the others go, the refused one waits, nothing is lost
        report = _deliver()
        assert report.outcome == "pending" and "HTTP 403" in report.detail
    assert [p.stem for p in online.outbox_files()] == [keys[7]]
    assert Outbox(online.state).dead_letters() == []
    assert {e["session_id_hash"] for e in stub_server.events} >= set(keys) - {keys[7]}
