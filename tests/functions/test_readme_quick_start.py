"""The README's quick start, run as written: its curl stores an event the operator's view shows."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import clean_env, free_port, start_function, stop, wait_healthy
from support import ROOT

READ_TOKEN = "quick-start-read-token"


def quick_start_curl() -> str:
    """The README's shell block that posts an event (the first one calling curl -X POST)."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    posting = [block for block in blocks if block.lstrip().startswith("curl -X POST")]
    assert posting, "the README has no quick-start curl block"
    return posting[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = clean_env(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
    )
    log = tmp_path / "function.log"
    process = start_function(port, env, log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


def operator_sessions(address: str) -> list[dict[str, object]]:
    credentials = base64.b64encode(f"operator:{READ_TOKEN}".encode()).decode()
    request = urllib.request.Request(
        f"http://{address}/admin/sessions?days=1",
        headers={"Authorization": f"Basic {credentials}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = json.load(answer)
    sessions = body["sessions"]
    assert isinstance(sessions, list)
    return sessions


@pytest.mark.skipif(shutil.which("curl") is None, reason="the quick start uses curl")
def test_the_quick_start_curl_sends_an_event_the_operator_sees_today(served: str) -> None:
    script = quick_start_curl().replace("localhost:8080", served)
    assert operator_sessions(served) == []
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert json.loads(result.stdout) == {"ok": True, "status": "accepted"}, result.stderr
    sessions = operator_sessions(served)
    assert len(sessions) == 1
    assert sessions[0]["tool_count"] == 42
