"""One JSON line per request on stdout, from an allowlist of fields (Cloud Logging format)."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

ALLOWED_FIELDS = frozenset(
    {
        "method",
        "route",
        "status",
        "code",
        "outcome",
        "events",
        "accepted",
        "duplicate",
        "invalid",
        "retry",
        "deleted",
        "latency_ms",
        "identity_prefix",
        "store",
        "error_type",
    }
)
PREFIX_LENGTH = 6

_write_lock = threading.Lock()
# Built once: json.dumps with these options would build an encoder for every line.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def hash_prefix(value: str | None) -> str | None:
    """The only form in which a hash may appear in a log."""
    return value[:PREFIX_LENGTH] if value else None


def severity_for(status: int) -> str:
    if status >= 500:
        return "ERROR"
    if status >= 400:
        return "WARNING"
    return "INFO"


def log_request(message: str, status: int, stream: TextIO | None = None, **fields: Any) -> None:
    """Write one line; fields outside the allowlist are dropped, never written."""
    line: dict[str, Any] = {"severity": severity_for(status), "message": message, "status": status}
    for key, value in fields.items():
        if key in ALLOWED_FIELDS and value is not None:
            line[key] = hash_prefix(value) if key == "identity_prefix" else value
    _write(line, stream)


def log_problem(message: str, stream: TextIO | None = None) -> None:
    """One ERROR line outside any request (a problem found at start-up)."""
    _write({"severity": "ERROR", "message": message}, stream)


def _write(line: dict[str, Any], stream: TextIO | None) -> None:
    text = _ENCODER.encode(line) + "\n"
    out = stream or sys.stdout
    with _write_lock:
        out.write(text)
        out.flush()
