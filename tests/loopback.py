"""Loopback helpers shared by the test suites and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Variables that would point a child process at a user's own setup instead of the test's.
ISOLATED_PREFIXES = ("SESSION_EVENTS_", "ASHLR_", "GOOGLE_", "FIRESTORE_")
ISOLATED_NAMES = (
    "DO_NOT_TRACK",
    "CLAUDE_SESSION_ID",
    "XDG_STATE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without session-events, proxy or cloud variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ISOLATED_PREFIXES) and name not in ISOLATED_NAMES
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


REPO = Path(__file__).resolve().parents[1]
FUNCTION_SOURCE = REPO / "functions" / "main.py"


def start_function(
    port: int, env: dict[str, str], log: Path, *, python: str = sys.executable
) -> subprocess.Popen[bytes]:
    """The ingest function as a user serves it (functions-framework on 127.0.0.1:`port`),
    its output appended to `log`."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            [
                python,
                "-m",
                "functions_framework",
                "--source",
                str(FUNCTION_SOURCE),
                "--target",
                "session_events",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO / "functions",
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Return once `url`/healthz answers 200; RuntimeError (with the log's end) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the function exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the function did not become healthy:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a server started here: TERM, then KILL after 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
