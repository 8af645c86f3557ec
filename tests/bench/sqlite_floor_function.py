"""The SQLite floor: an HTTP Cloud Function that only stores each event, as cheaply as it can.

It parses the body with `json.loads` and inserts one row with the function's own table,
indexes (the read side's included) and statement, committed per event as a 202 promises,
and answers the ingest's 202. It checks nothing, logs nothing and keeps no deadline: no
ingest that commits each event before answering can cost less on this store, so its
requests per second beside the no-op's bound what the function can reach.
"""

import json
import os
import sqlite3
import sys
import threading
from pathlib import Path

import functions_framework
from flask import Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from session_events.stores.sqlite.store import INSERT, READ_SCHEMA, SCHEMA

_BODY = '{"ok":true,"status":"accepted"}'
_lock = threading.Lock()
_path = Path(os.environ["SESSION_EVENTS_SQLITE_PATH"])
_path.parent.mkdir(parents=True, exist_ok=True)
_connection = sqlite3.connect(_path, check_same_thread=False, isolation_level=None)
_connection.execute("PRAGMA journal_mode=WAL")
_connection.execute("PRAGMA synchronous=NORMAL")
_connection.executescript(SCHEMA)
_connection.executescript(READ_SCHEMA)


@functions_framework.http
def sqlite_floor(request: Request) -> Response:
    """Store the posted event (one row, one commit) and answer 202; any GET is a health check."""
    if request.method != "POST":
        return Response("ok", status=200)
    event = json.loads(request.get_data())
    row = (
        event["identity_hash"],
        event.get("github_hash"),
        event["session_id_hash"],
        event["ended_at"],
        event["tool_count"],
        event["tokens_saved"],
        event.get("branch_sha"),
        json.dumps(event.get("discovery_refs", []), separators=(",", ":")),
        event["plugin_version"],
        event["ended_at"],  # received_at and expire_at: the same width as the function's
        event["ended_at"],
    )
    with _lock:
        _connection.execute(INSERT, row)
    return Response(_BODY, status=202, mimetype="application/json")
