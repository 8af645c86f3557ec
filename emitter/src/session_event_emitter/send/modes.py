"""Remembers the servers without a batch endpoint (the original's): their events go one by one.

``endpoint-modes.json`` under the emitter's home maps a batch URL to when it was found
missing. An entry is written only after the single endpoint gave a verdict, so a wrong URL
(where both answer 404) is never remembered as a server of the original kind. An entry
older than ``REPROBE_AFTER_SECONDS`` is not trusted any more: the batch endpoint is asked
again, in case the server has gained one. Keys are URLs with any password hidden.
"""

from __future__ import annotations

import json
import time

from session_event_emitter.endpoint import redact
from session_event_emitter.fsutil import read_json_object, write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from session_event_emitter.fsutil import StrPath

MODES_NAME = "endpoint-modes.json"
REPROBE_AFTER_SECONDS = 7 * 24 * 3600.0


def _path(home: StrPath) -> str:
    return f"{home}/{MODES_NAME}"


def single_only(home: StrPath, batch_url: str, *, now: float | None = None) -> bool:
    """Whether events for `batch_url`'s server are posted one by one (for a week at most)."""
    entry = read_json_object(_path(home), 64 * 1024).get(redact(batch_url))
    since = entry.get("since") if isinstance(entry, dict) else None
    if isinstance(since, bool) or not isinstance(since, int | float):
        return False
    age = (time.time() if now is None else now) - since
    return 0 <= age < REPROBE_AFTER_SECONDS


def remember_single_only(home: StrPath, batch_url: str) -> None:
    modes = read_json_object(_path(home), 64 * 1024)
    modes[redact(batch_url)] = {
        "since": time.time(),
        "why": "the batch endpoint answered 404/405",
    }
    write_atomic(_path(home), json.dumps(modes, sort_keys=True).encode("utf-8"))
