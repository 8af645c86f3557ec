"""Privacy: with consent off the hook touches nothing; server logs never carry a hash or a value.

The hook runs under a Python audit hook (PEP 578) that records every socket, process,
directory and file-for-writing operation, so "opens no socket, creates no file" is
observed, not inferred. The log scan runs last (see conftest) and reads the log of every
server this suite started, plus traffic of its own carrying marker values.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time

import pytest
from conftest import StartFunction
from exit_probe import AT_EXIT
from harness import (
    SERVER_LOGS,
    SUBMITTED_VALUES,
    Install,
    event,
    recording_listener,
    sha256_hex,
)

AUDITED = (
    AT_EXIT
    + """
import json, os, sys
seen = set()
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
WATCH = ("subprocess.Popen", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn",
         "os.system", "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink",
         "os.link", "os.chmod", "os.truncate")
def audit(name, args):
    if name.startswith("socket.") or name in WATCH:
        seen.add(name)
    elif name == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE
        ):
            seen.add("open for writing")
sys.addaudithook(audit)
at_exit(lambda: sys.stderr.write("\\nAUDIT " + json.dumps(sorted(seen)) + "\\n"))
sys.argv = ["session-event-emit"]
from session_event_emitter.cli import run
run()
"""
)


def audited_hook(install: Install, env: dict[str, str]) -> tuple[int, bytes, list[str]]:
    done = subprocess.run(
        [sys.executable, "-B", "-c", AUDITED],  # -B: no .pyc writes to confuse the audit
        input=json.dumps({"session_id": "privacy-session", "reason": "exit"}).encode(),
        env=env,
        capture_output=True,
        timeout=15,
        check=False,
        cwd=install.root,
    )
    line = [x for x in done.stderr.decode().splitlines() if x.startswith("AUDIT ")][-1]
    return done.returncode, done.stdout, json.loads(line[len("AUDIT ") :])


CONSENT_OFF = {
    "default (never opted in)": {"SESSION_EVENTS_TELEMETRY": ""},
    "SESSION_EVENTS_TELEMETRY=off": {"SESSION_EVENTS_TELEMETRY": "off"},
    "DO_NOT_TRACK=1 beats telemetry on": {"DO_NOT_TRACK": "1"},
    "ASHLR_TELEMETRY=off": {"SESSION_EVENTS_TELEMETRY": "", "ASHLR_TELEMETRY": "off"},
}


@pytest.mark.parametrize("case", list(CONSENT_OFF))
def test_consent_off_hook_creates_no_file_and_opens_no_socket(install: Install, case: str) -> None:
    with recording_listener() as listener:
        env = install.env(f"http://127.0.0.1:{listener.port}", **CONSENT_OFF[case])
        env = {name: value for name, value in env.items() if value != ""}
        before = sorted(install.root.rglob("*"))
        code, stdout, audit = audited_hook(install, env)
        time.sleep(1.0)  # room for a sender, had one been started
        assert code == 0 and stdout == b""
        assert audit == [], f"the hook did {audit} with consent off"
        assert sorted(install.root.rglob("*")) == before  # user/ only, still empty
        assert not install.state.exists()
        assert listener.accepted == 0
        assert install.senders() == []


def test_consent_on_control_the_audit_and_the_listener_do_see_activity(
    install: Install,
) -> None:
    """The same harness with consent on sees the writes, the sender and its connection."""
    with recording_listener() as listener:
        code, stdout, audit = audited_hook(
            install, install.env(f"http://127.0.0.1:{listener.port}")
        )
        assert code == 0 and stdout == b""
        assert "open for writing" in audit
        assert {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec"} & set(audit)
        assert not any(name.startswith("socket.") for name in audit)  # the hook itself: none
        assert install.pending()
        assert install.wait_senders_gone(install.sender_deadline + 15)
        assert listener.accepted >= 1


HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def _marker() -> str:
    return "mk" + secrets.token_hex(6)


def test_server_logs_carry_no_hash_and_no_submitted_value(
    start_function: StartFunction, tmp_path: os.PathLike[str]
) -> None:
    """Runs last: the log of every server of this run, plus traffic made to carry markers."""
    function = start_function(SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="5")
    hashes = [sha256_hex(_marker()) for _ in range(4)]
    branch = secrets.token_hex(20)
    version, ref = _marker(), "ref:" + _marker()
    valid = event(
        identity_hash=hashes[0],
        session_id_hash=hashes[1],
        github_hash=hashes[2],
        branch_sha=branch,
        plugin_version=version,
        discovery_refs=[ref],
    )
    bad_value, bad_key, bad_token = _marker(), _marker(), _marker()
    requests = [
        ("/v1/session-events", json.dumps(valid).encode(), {}),
        ("/v1/session-events", json.dumps(valid).encode(), {}),  # duplicate
        ("/v1/session-events", json.dumps({**valid, "tool_count": bad_value}).encode(), {}),
        ("/v1/session-events", json.dumps({**valid, bad_key: hashes[3]}).encode(), {}),
        ("/v1/session-events", f'{{"x": "{bad_value}"'.encode(), {}),
        ("/v1/session-events/batch", json.dumps({"events": [valid] * 7}).encode(), {}),  # 429
        ("/v1/session-events", b"{}", {"Authorization": f"Bearer {bad_token}"}),
        ("/nowhere/" + bad_value, b"{}", {}),
    ]
    for path, body, headers in requests:
        status, _, answer = function.post(
            path, body, {"Content-Type": "application/json", **headers}
        )
        assert status < 500
        for value in (*hashes, branch, version, ref, bad_value, bad_key, bad_token):
            assert value.encode() not in answer
    SUBMITTED_VALUES.update({*hashes, branch, version, ref, bad_value, bad_key, bad_token})
    SUBMITTED_VALUES.update(h[:7] for h in hashes)  # the log's prefix is 6 characters
    function.stop()

    assert len(SERVER_LOGS) >= 1
    for log in SERVER_LOGS:
        text = log.read_text(errors="replace") if log.exists() else ""
        assert not HEX64.search(text), f"a 64-hex string in {log.name}"
        for value in SUBMITTED_VALUES:
            escaped = json.dumps(value)[1:-1]
            assert value not in text and escaped not in text, f"{value!r} in {log.name}"
