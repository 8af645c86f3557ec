"""Shared pieces of the benchmarks: paths, a clean environment, statistics, sample events."""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
FUNCTION_SOURCE = REPO / "functions" / "main.py"
NOOP_SOURCE = Path(__file__).resolve().parent / "noop_function.py"
FIXTURE_EVENT: dict[str, Any] = json.loads((REPO / "tests" / "fixtures" / "event.json").read_text())

_ISOLATED_PREFIXES = ("SESSION_EVENTS_", "ASHLR_", "GOOGLE_", "FIRESTORE_")
_ISOLATED_NAMES = (
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


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without session-events, proxy or cloud variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_ISOLATED_PREFIXES) and name not in _ISOLATED_NAMES
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def event(**changes: Any) -> dict[str, Any]:
    """A valid event (the shared fixture) with some fields changed."""
    return {**FIXTURE_EVENT, **changes}


def hex64(*parts: int) -> str:
    """64 lowercase hex chars built from integers: unique session ids without hashing."""
    text = "".join(f"{part:016x}" for part in parts)
    return text[-64:].rjust(64, "0")
