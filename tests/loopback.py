"""Loopback helpers shared by the test suites and the benchmarks."""

from __future__ import annotations

import os
import socket

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
