"""Remembers the servers without a batch endpoint (the original's): their events go one by one.

``endpoint-modes.json`` under the emitter's home maps a batch URL to when it was found
missing. An entry is written only after the single endpoint gave a verdict, so a wrong URL
(where both answer 404) is never remembered as a server of the original kind.
"""

from __future__ import annotations

import json
import time

from session_event_emitter.fsutil import read_json_object, write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from session_event_emitter.fsutil import StrPath

MODES_NAME = "endpoint-modes.json"


def _path(home: StrPath) -> str:
    return f"{home}/{MODES_NAME}"


def single_only(home: StrPath, batch_url: str) -> bool:
    """Whether events for `batch_url`'s server are posted one by one."""
    return batch_url in read_json_object(_path(home), 64 * 1024)


def remember_single_only(home: StrPath, batch_url: str) -> None:
    modes = read_json_object(_path(home), 64 * 1024)
    modes[batch_url] = {"since": time.time(), "why": "the batch endpoint answered 404/405"}
    write_atomic(_path(home), json.dumps(modes, sort_keys=True).encode("utf-8"))
