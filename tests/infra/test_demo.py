"""`make demo` as a newcomer runs it: the URLs it prints answer with the history it sent,
and Ctrl-C stops everything it started and deletes its data."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback import clean_env, free_port

ROOT = Path(__file__).resolve().parents[2]
# Liveness bound only: far above what the demo takes, and proves "not forever".
DEMO_BOUND_S = 180
IDENTITIES = 14
WEEKS = 2


@dataclass
class Demo:
    process: subprocess.Popen[str]
    port: int
    output: list[str]

    @property
    def text(self) -> str:
        return "".join(self.output)


def start_demo(port: int, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "demo",
            f"PORT={port}",
            f"DEMO_FLAGS={' '.join(flags)}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
        start_new_session=True,  # a group of its own, as a terminal gives a foreground job
    )


def read_until(process: subprocess.Popen[str], needle: str) -> list[str]:
    assert process.stdout is not None
    seen: list[str] = []
    ends = time.monotonic() + DEMO_BOUND_S
    while time.monotonic() < ends:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never printed; output: {''.join(seen)}")


def interrupt(process: subprocess.Popen[str]) -> str:
    """Ctrl-C as a terminal sends it (to the whole foreground group); the rest of the output."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        return rest
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def processes_of(folder: str) -> list[int]:
    """The processes whose environment names `folder` (the demo's data): its function's."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if folder.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # ended meanwhile, or another user's
    return found


def all_gone(folder: str, bound_s: float = 15.0) -> bool:
    ends = time.monotonic() + bound_s
    while processes_of(folder) and time.monotonic() < ends:
        time.sleep(0.1)
    return processes_of(folder) == []


@pytest.fixture
def demo() -> Iterator[Demo]:
    port = free_port()
    process = start_demo(port, "--identities", str(IDENTITIES), "--weeks", str(WEEKS))
    started: Demo | None = None
    try:
        started = Demo(process, port, read_until(process, "Ctrl-C"))
        yield started
    finally:
        if process.poll() is None:
            interrupt(process)
    # Ctrl-C stops everything it started: no process of it is left (its function's master
    # and worker included), whichever test ran.
    folder = re.search(r"\(SQLite in (\S+)\)", started.text)
    assert folder is not None and all_gone(folder[1]), f"left running: {processes_of(folder[1])}"


def get(url: str, password: str | None = None) -> tuple[int, str, bytes]:
    headers = {}
    if password is not None:
        credentials = base64.b64encode(f"newcomer:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def printed(demo: Demo, pattern: str) -> str:
    match = re.search(pattern, demo.text)
    assert match, f"{pattern!r} not in the demo's output:\n{demo.text}"
    return match[1]


def test_the_viewer_url_and_token_it_prints_open_the_history_it_sent(demo: Demo) -> None:
    viewer = printed(demo, r"operator's viewer:\s+(\S+)")
    token = printed(demo, r"password: (\S+)")
    assert viewer == f"http://127.0.0.1:{demo.port}/admin/"
    assert get(viewer)[0] == 401  # the token is what opens it
    status, content_type, page = get(viewer, token)
    assert status == 200 and content_type.startswith("text/html")
    assert b"1.2.0" in page  # the versions table holds the history's first version

    base = viewer.removesuffix("/admin/")
    sent = int(printed(demo, r"sent (\d+) sessions"))
    answer = json.loads(get(f"{base}/admin/sessions?days={WEEKS * 7 + 1}&limit=1", token)[2])
    assert answer["total_count_in_window"] == sent > IDENTITIES
    identities = {row["identity"] for row in _all_sessions(base, token, WEEKS * 7 + 1)}
    assert len(identities) == IDENTITIES
    daily = json.loads(get(f"{base}/admin/rollups?kind=daily", token)[2])
    assert sum(1 for row in daily["rows"] if row.get("sessions")) >= WEEKS * 5
    versions = json.loads(get(f"{base}/admin/rollups?kind=versions", token)[2])
    assert len({row["version"] for row in versions["rows"]}) >= 2


def _all_sessions(base: str, token: str, days: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    cursor = ""
    while True:
        url = f"{base}/admin/sessions?days={days}&limit=200"
        url += f"&cursor={cursor}" if cursor else ""
        body = json.loads(get(url, token)[2])
        rows.extend(body["sessions"])
        cursor = body.get("next_cursor") or ""
        if not cursor:
            return rows


def test_some_sessions_are_logged_in_and_carry_refs(demo: Demo) -> None:
    base = f"http://127.0.0.1:{demo.port}"
    token = printed(demo, r"password: (\S+)")
    rows = _all_sessions(base, token, WEEKS * 7 + 1)
    assert 0 < sum(1 for row in rows if row["github"] is not None) < len(rows)
    assert any(row["discovery_refs"] for row in rows)
    assert any(row["branch_sha"] for row in rows)


def test_the_public_url_it_prints_answers_without_a_token(demo: Demo) -> None:
    public = printed(demo, r"public statistics:\s+(\S+)")
    assert public.startswith(f"http://127.0.0.1:{demo.port}/")
    status, _content_type, _body = get(public)
    assert status == 200


def test_ctrl_c_stops_the_function_and_deletes_the_demo_data(demo: Demo) -> None:
    folder = Path(printed(demo, r"\(SQLite in (\S+)\)"))
    assert (folder / "session_events.db").exists()
    rest = interrupt(demo.process)
    assert demo.process.returncode is not None
    assert "stopped" in rest
    assert not folder.exists()
    with socket.socket() as probe:  # nothing listens on the port any more
        assert probe.connect_ex(("127.0.0.1", demo.port)) != 0


def test_demo_on_a_taken_port_fails_naming_the_port_and_port_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(8)
        port = taken.getsockname()[1]
        process = start_demo(port)
        try:
            output, _ = process.communicate(timeout=DEMO_BOUND_S)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in output
    assert f"PORT={port + 1} make demo" in output
