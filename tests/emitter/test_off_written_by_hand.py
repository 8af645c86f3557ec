"""An "off" written into a config file by hand withdraws consent as `disable` does: nothing
that was pending or dead-lettered before it is ever sent, even after a later "on"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from session_event_emitter.outbox import Outbox

WAIT_S = 15.0  # the test's senders have a 2 s deadline


def _queue(home: Any, pending: int, dead: int) -> None:
    outbox = Outbox(home.state)
    for n in range(pending + dead):
        key = f"{n:064x}"
        outbox.put(key, {"identity_hash": "a" * 64, "session_id_hash": key})
    for entry in outbox.entries()[:dead]:
        outbox.dead_letter(entry, "invalid", {"field": "tool_count"})
    assert (len(home.outbox_files()), _dead(home)) == (pending, dead)


def _dead(home: Any) -> int:
    return len(list(home.dead_letter.glob("*.json"))) if home.dead_letter.is_dir() else 0


def _write(path: Path, value: dict[str, object] | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value if isinstance(value, str) else json.dumps(value))


def _eventually(check: Callable[[], bool]) -> bool:
    ends = time.monotonic() + WAIT_S
    while time.monotonic() < ends:
        if check():
            return True
        time.sleep(0.05)
    return check()


OFFS: dict[str, Callable[[Any, str], None]] = {
    "our config says off": lambda home, url: _write(
        home.state / "config.json", {"telemetry": "off", "url": url}
    ),
    "our config says do_not_track": lambda home, url: _write(
        home.state / "config.json", {"telemetry": "on", "do_not_track": True, "url": url}
    ),
    "the original's config says off": lambda home, url: _write(
        home.legacy / "config.json", {"telemetry": "off"}
    ),
}


@pytest.mark.parametrize("write_off", OFFS.values(), ids=OFFS.keys())
def test_after_an_off_written_by_hand_a_hook_deletes_what_was_pending_and_a_later_on_sends_none(
    home: Any,
    run_cli: Any,
    stub_server: Any,
    hook_json: Callable[..., bytes],
    write_off: Callable[[Any, str], None],
) -> None:
    assert run_cli("enable", "--url", stub_server.url).returncode == 0
    _queue(home, pending=3, dead=2)

    write_off(home, stub_server.url)
    done = run_cli(stdin=hook_json("after-off"))  # a session ends while it is off
    assert done.returncode == 0 and done.stdout == b""
    assert _eventually(lambda: home.outbox_files() == [] and _dead(home) == 0)

    # Back on, by hand: nothing from before the "off" leaves, not even through retry-dead.
    _write(home.state / "config.json", {"telemetry": "on", "url": stub_server.url})
    (home.legacy / "config.json").unlink(missing_ok=True)
    assert run_cli("retry-dead").returncode == 0
    assert run_cli("flush").returncode == 0
    assert stub_server.events == []


@pytest.mark.parametrize("command", ["enable", "flush"])
def test_enable_or_flush_after_an_off_written_by_hand_deletes_what_was_pending_and_says_so(
    home: Any, run_cli: Any, stub_server: Any, command: str
) -> None:
    assert run_cli("enable", "--url", stub_server.url).returncode == 0
    _queue(home, pending=2, dead=1)
    _write(home.state / "config.json", {"telemetry": "off", "url": stub_server.url})

    done = run_cli(command, "--url", stub_server.url)
    assert done.returncode == 0, done.stderr
    assert b"2 pending event(s) and 1 dead letter(s) from before it deleted" in done.stdout
    assert home.outbox_files() == [] and _dead(home) == 0
    assert run_cli("flush").returncode == 0
    assert stub_server.events == []


UNSURE = {
    "our config cannot be read": ("config.json", '{"telemetry": "o'),
    "the original's config is not JSON.parse's": ("legacy", '\ufeff{"telemetry": "off"}'),
}


@pytest.mark.parametrize(("where", "text"), UNSURE.values(), ids=UNSURE.keys())
def test_a_config_that_cannot_be_read_sends_nothing_and_deletes_nothing(
    home: Any,
    run_cli: Any,
    stub_server: Any,
    hook_json: Callable[..., bytes],
    where: str,
    text: str,
) -> None:
    """Half-written by an editor, or unreadable: it may say off, so nothing is sent; it may
    not, so no consented event is deleted either."""
    assert run_cli("enable", "--url", stub_server.url).returncode == 0
    _queue(home, pending=2, dead=0)
    path = home.state / "config.json" if where == "config.json" else home.legacy / "config.json"
    _write(path, text)
    assert run_cli(stdin=hook_json("while-unreadable")).returncode == 0
    assert run_cli("flush").returncode == 0
    time.sleep(0.5)
    assert len(home.outbox_files()) == 2 and stub_server.events == []

    path.unlink()
    assert run_cli("enable", "--url", stub_server.url).returncode == 0
    assert run_cli("flush").returncode == 0
    assert len(stub_server.events) == 2 and home.outbox_files() == []
