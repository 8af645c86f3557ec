"""End to end: the emitter's `forget` against the real function on loopback (SQLite).

Events reach the function through the hook and `flush`, one through the ingest endpoint
as the install sent it last quarter, and another install's event beside them; `forget`
must leave none of this install's and all of the other's.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from loopback import ServedFunction


def _salted(install_id: str, moment: datetime) -> str:
    salt = f"salt_{moment.year}Q{(moment.month - 1) // 3 + 1}"
    return hashlib.sha256((install_id + salt).encode()).hexdigest()


def _event(identity_hash: str, session: str, ended: datetime) -> dict[str, Any]:
    return {
        "identity_hash": identity_hash,
        "session_id_hash": hashlib.sha256(session.encode()).hexdigest(),
        "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "tool_count": 3,
        "tokens_saved": 10,
        "plugin_version": "1.0.0",
    }


def test_forget_erases_this_install_on_the_real_function_and_nothing_else(
    consent_on: Any,
    function: ServedFunction,
    run_cli: Any,
    hook_json: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", function.url)
    for session in ("e2e-forget-1", "e2e-forget-2", "e2e-forget-3"):
        assert run_cli(stdin=hook_json(session)).returncode == 0
    flushed = run_cli("flush")
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    install_id = (consent_on.state / "install-id").read_text().strip()
    last_quarter = datetime.now(UTC) - timedelta(days=100)
    assert function.post(_event(_salted(install_id, last_quarter), "old", last_quarter)) == 202
    other = hashlib.sha256(b"someone else").hexdigest()
    assert function.post(_event(other, "theirs", datetime.now(UTC))) == 202
    ours = {_salted(install_id, datetime.now(UTC)), _salted(install_id, last_quarter)}
    assert sum(function.identities().get(hash_, 0) for hash_ in ours) == 4

    done = run_cli("forget")

    assert done.returncode == 0, done.stdout + done.stderr
    assert b"the server deleted 4 event(s)" in done.stdout
    assert function.identities() == {other: 1}
    logged = function.log.read_text()
    assert '"deleted":4' in logged
    assert install_id not in logged
    status = json.loads(run_cli("status", "--json").stdout)
    assert (status["consent"], status["outbox_events"]) == ("off", 0)
    assert run_cli("log").stdout == b""
    # An "on" in the environment does not outvote the recorded "off": nothing more is sent.
    assert run_cli(stdin=hook_json("e2e-after")).returncode == 0
    assert run_cli("flush").returncode == 0
    assert function.identities() == {other: 1}
