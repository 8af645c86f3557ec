"""An "off" written by hand withdraws consent, under the orderings that could undo it:
events (or refs) from before such an "off" must not leave after a later "on" once an
emitter process ran between.

Each test: events (or refs) from while consent was on; "off" written into the config by
hand; something of the emitter runs while it is off (a hook, a running sender, `enable`);
"on" written by hand; then nothing from before the "off" may be sent.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from session_event_emitter import refs
from session_event_emitter.hook import run_hook
from session_event_emitter.identity import session_id_hash
from session_event_emitter.outbox import Outbox
from session_event_emitter.send import delivery
from session_event_emitter.settings import Settings


def _write(path: Path, value: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def _config(home: Any, telemetry: str, url: str) -> None:
    _write(home.state / "config.json", {"telemetry": telemetry, "url": url})


def _queue(home: Any, n: int) -> None:
    outbox = Outbox(home.state)
    for i in range(n):
        key = f"{i:064x}"
        outbox.put(key, {"identity_hash": "a" * 64, "session_id_hash": key})


def _deliver_now(home_dir: str, deadline: float, url: str | None, keep: str | None) -> bool:
    """The detached sender a hook starts, run here and now (deterministic)."""
    delivery.deliver(
        Settings.load(url=url), delivery.Policy(deadline=deadline, base_delay=0.05), url=url
    )
    return True


def _hook(env: dict[str, str] | None = None) -> None:
    run_hook(env=dict(os.environ) if env is None else env, stdin=io.StringIO(), spawn=_deliver_now)


def _flush() -> delivery.Report:
    return delivery.deliver(Settings.load(), delivery.Policy(deadline=3.0, base_delay=0.05))


def test_off_written_while_a_sender_is_mid_batch_is_not_undone_by_a_later_on(
    home: Any, stub_server: Any
) -> None:
    """ "off" is written while a sender is mid-request, and a session ends then (its sender
    finds the first one running): the running sender withdraws when it next reads consent."""
    _config(home, "on", stub_server.url)
    _queue(home, 2)
    answered: list[int] = []

    def responder(events: list[dict[str, object]]) -> Any:
        if not answered:
            answered.append(len(events))
            _config(home, "off", stub_server.url)  # written by hand, mid-request
            _hook()  # a session ends now: it starts a sender (run synchronously here)
            return 503, {}, {"ok": False, "error": "busy"}
        return 200, {}, {"ok": True, "results": [{"status": "accepted"} for _ in events]}

    stub_server.responder = responder
    first = _flush()
    assert first.outcome == "consent_off" and stub_server.events != []
    before_on = len(stub_server.events)

    _config(home, "on", stub_server.url)  # back on, by hand
    _flush()
    sent_after_on = stub_server.events[before_on:]
    assert sent_after_on == [], f"{len(sent_after_on)} event(s) from before the off were sent"


def test_refs_recorded_before_an_off_are_not_sent_after_a_later_on(
    home: Any, stub_server: Any
) -> None:
    """Only refs of a running session are held (no pending event): the hook run while it is
    off still has them deleted, so that session's event does not carry them after "on"."""
    _config(home, "on", stub_server.url)
    refs.record(str(home.state), session_id_hash("running-session"), ["ref-before-off"])

    _config(home, "off", stub_server.url)
    _hook({**os.environ, "CLAUDE_SESSION_ID": "another-session"})  # a session ends while off

    _config(home, "on", stub_server.url)
    _hook({**os.environ, "CLAUDE_SESSION_ID": "running-session"})
    sent_refs = [ref for event in stub_server.events for ref in event.get("discovery_refs", [])]
    assert "ref-before-off" not in sent_refs


def test_dead_letters_put_back_before_an_off_are_not_sent_after_a_later_on(
    home: Any, stub_server: Any
) -> None:
    """Dead letters that `retry-dead` put back wait in retried/: the hook run while it is off
    has them deleted too."""
    _config(home, "on", stub_server.url)
    _queue(home, 2)
    outbox = Outbox(home.state)
    for entry in outbox.entries():
        outbox.dead_letter(entry, "invalid", {})
    assert outbox.retry_dead() == (2, 0)
    assert home.outbox_files() == [] and outbox.depth().events == 2

    _config(home, "off", stub_server.url)
    _hook()  # a session ends while off

    _config(home, "on", stub_server.url)
    _flush()
    assert stub_server.events == []


def test_enable_from_a_shell_with_do_not_track_still_withdraws_a_config_off(
    home: Any, stub_server: Any, monkeypatch: Any
) -> None:
    """The config's "off" counts whatever the shell says: `enable` run with DO_NOT_TRACK=1
    (which then names itself as the source) still deletes what was pending before it."""
    import argparse

    from session_event_emitter.commands import enable

    _config(home, "on", stub_server.url)
    _queue(home, 2)
    _config(home, "off", stub_server.url)

    monkeypatch.setenv("DO_NOT_TRACK", "1")
    assert enable.run(argparse.Namespace(url=None)) == 0
    monkeypatch.delenv("DO_NOT_TRACK")

    _flush()
    assert stub_server.events == []
