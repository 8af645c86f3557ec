"""The subcommands and --dry-run, run as real processes."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from session_event_emitter.outbox import Outbox
from session_event_emitter.send import audit


def _enqueue(home: Any, count: int = 1) -> None:
    outbox = Outbox(home.state)
    for n in range(count):
        key = f"{n:064x}"
        outbox.put(key, {"identity_hash": "a" * 64, "session_id_hash": key})


def test_dry_run_prints_the_event_and_stores_and_sends_nothing(
    consent_on: Any,
    run_cli: Any,
    stub_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    hook_json: Any,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    done = run_cli("--dry-run", "--tool-count", "4", "--tokens-saved", "99", stdin=hook_json())
    assert done.returncode == 0
    event = json.loads(done.stdout)
    assert (event["tool_count"], event["tokens_saved"]) == (4, 99)
    assert not consent_on.state.exists()
    assert stub_server.received == []


def test_dry_run_works_with_consent_off_and_says_so(
    home: Any, run_cli: Any, hook_json: Any
) -> None:
    done = run_cli("--dry-run", stdin=hook_json())
    assert done.returncode == 0
    assert "identity_hash" in json.loads(done.stdout)
    assert b"telemetry is off" in done.stderr
    assert not home.state.exists()


def test_dry_run_uses_the_kept_install_identity(
    consent_on: Any, run_cli: Any, hook_json: Any, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    run_cli(stdin=hook_json("s1"))
    [path] = consent_on.outbox_files()
    stored = json.loads(path.read_text())["event"]
    printed = json.loads(run_cli("--dry-run", stdin=hook_json("s1")).stdout)
    assert printed["identity_hash"] == stored["identity_hash"]
    assert printed["session_id_hash"] == stored["session_id_hash"]


def test_status_reports_consent_endpoint_and_depth(
    consent_on: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "https://ingest.example/")
    _enqueue(consent_on, 2)
    done = run_cli("status", "--json")
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["consent"] == "on"
    assert report["consent_source"] == "SESSION_EVENTS_TELEMETRY"
    assert report["endpoint"] == "https://ingest.example/v1/session-events"
    assert report["batch_endpoint"] == "https://ingest.example/v1/session-events/batch"
    assert report["outbox_events"] == 2
    assert report["last_delivery"] is None


def test_status_text_names_the_consent_source(home: Any, run_cli: Any) -> None:
    done = run_cli("status")
    assert done.returncode == 0
    assert b"consent:       off (source: default" in done.stdout
    assert not home.state.exists()


def test_a_broken_config_file_stores_nothing_is_named_by_status_and_enable_repairs_it(
    consent_on: Any, run_cli: Any, hook_json: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "https://ingest.example/")
    consent_on.state.mkdir(parents=True, exist_ok=True)
    (consent_on.state / "config.json").write_text('{"telemetry": "of')  # cut short mid-write
    assert run_cli(stdin=hook_json("while-broken")).returncode == 0
    assert consent_on.outbox_files() == []
    status = json.loads(run_cli("status", "--json").stdout)
    assert status["consent"] == "off"
    assert "config.json (there, but not readable as a JSON object)" in status["consent_source"]
    assert run_cli("enable").returncode == 0
    assert run_cli(stdin=hook_json("after-enable")).returncode == 0
    assert len(consent_on.outbox_files()) == 1


def test_enable_records_consent_and_endpoint_in_the_config_file(home: Any, run_cli: Any) -> None:
    done = run_cli("enable", "--url", "https://ingest.example/")
    assert done.returncode == 0
    config = json.loads((home.state / "config.json").read_text())
    assert config == {"telemetry": "on", "url": "https://ingest.example/"}
    assert (home.state / "config.json").stat().st_mode & 0o777 == 0o600
    status = json.loads(run_cli("status", "--json").stdout)
    assert (status["consent"], status["endpoint"]) == (
        "on",
        "https://ingest.example/v1/session-events",
    )


def test_enable_warns_when_do_not_track_still_wins(
    home: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    done = run_cli("enable")
    assert b"DO_NOT_TRACK" in done.stderr


def test_disable_records_consent_off_and_empties_the_outbox(
    consent_on: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSION_EVENTS_TELEMETRY")
    _enqueue(consent_on, 3)
    done = run_cli("disable")
    assert done.returncode == 0
    assert b"3 pending event(s) and 0 dead letter(s) deleted" in done.stdout
    assert consent_on.outbox_files() == []
    assert json.loads((consent_on.state / "config.json").read_text())["telemetry"] == "off"


def test_flush_delivers_the_outbox_in_the_foreground(
    consent_on: Any, run_cli: Any, stub_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    _enqueue(consent_on, 2)
    done = run_cli("flush")
    assert done.returncode == 0
    assert b"accepted 2" in done.stdout
    assert consent_on.outbox_files() == []


def test_flush_with_consent_off_sends_nothing(
    home: Any, run_cli: Any, stub_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    _enqueue(home, 1)
    done = run_cli("flush")
    assert done.returncode == 0
    assert stub_server.received == []
    assert len(home.outbox_files()) == 1


def test_flush_against_a_refused_port_reports_failure_and_keeps_events(
    consent_on: Any, run_cli: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    _enqueue(consent_on, 1)
    done = run_cli("flush", "--deadline", "1")
    assert done.returncode == 1
    assert len(consent_on.outbox_files()) == 1


def test_log_shows_delivered_events(consent_on: Any, run_cli: Any) -> None:
    audit.append_delivered(
        consent_on.state,
        [{"status": "accepted", "event": {"tool_count": n}} for n in range(3)],
    )
    done = run_cli("log", "-n", "2")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["event"]["tool_count"] for line in lines] == [1, 2]


def test_log_with_nothing_delivered_says_so_on_stderr(home: Any, run_cli: Any) -> None:
    done = run_cli("log")
    assert (done.returncode, done.stdout) == (0, b"")
    assert b"no delivered events" in done.stderr


def test_bad_subcommand_arguments_exit_two(home: Any, run_cli: Any) -> None:
    assert run_cli("log", "-n", "many").returncode == 2


def test_console_script_is_installed() -> None:
    import shutil
    import sys

    script = shutil.which("session-event-emit", path=os.path.dirname(sys.executable))
    assert script is not None


def test_disable_also_forgets_the_refs_recorded_for_running_sessions(
    consent_on: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    done = run_cli("ref", "--session-id", "running-session", "docs:quickstart")
    assert done.returncode == 0
    refs_dir = consent_on.state / "session-refs"
    assert list(refs_dir.iterdir())
    monkeypatch.delenv("SESSION_EVENTS_TELEMETRY")
    assert run_cli("disable").returncode == 0
    assert [p for p in refs_dir.iterdir() if p.suffix == ".json"] == []
