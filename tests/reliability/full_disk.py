"""A full disk for the emitter, for any user: run inside ``unshare -rm`` (a user and mount
namespace of its own), with a tiny tmpfs mounted on the emitter's home.

Usage: full_disk.py HOME SENDER_URL FLUSH_URL ENV_JSON. It queues five events, lets the
emitter run once against a refused port (so the home looks used), fills the disk, then
runs the sender (against SENDER_URL), ``status`` and ``flush`` (against FLUSH_URL); then
frees the disk and flushes again. It prints what each of them said, as one JSON object.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys

from session_event_emitter.outbox import Outbox

EVENTS = 5


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _run(*args: str, env: dict[str, str], url: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        env={**env, "SESSION_EVENTS_URL": url},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return {"rc": done.returncode, "out": done.stdout.decode(), "err": done.stderr.decode()}


def _fill(path: str) -> None:
    """Write `path` until the disk refuses a single byte more."""
    with open(path, "wb", buffering=0) as filler:
        for size in (64 * 1024, 1):
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise


def main() -> None:
    home, sender_url, flush_url, env_json = sys.argv[1:]
    env = json.loads(env_json)
    outbox = Outbox(home)
    for number in range(EVENTS):
        identity, session = _sha("full-disk-identity"), _sha(f"full-disk-{number}")
        event = {
            "identity_hash": identity,
            "session_id_hash": session,
            "ended_at": "2026-05-22T12:34:56.000Z",
            "tool_count": number,
            "tokens_saved": 0,
            "plugin_version": "0.1.0",
            "discovery_refs": [],
        }
        outbox.put(_sha(f"{identity}:{session}"), event)
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))
        refused_url = f"http://127.0.0.1:{refused.getsockname()[1]}"
    said: dict[str, object] = {
        "first_run": _run(
            "session_event_emitter", "flush", "--deadline", "1", env=env, url=refused_url
        ),
    }
    filler = os.path.join(home, "filler")
    _fill(filler)
    said["sender"] = _run(
        "session_event_emitter.send.sender", "--deadline", "10", env=env, url=sender_url
    )
    said["status"] = _run("session_event_emitter", "status", env=env, url=flush_url)
    said["status_json"] = _run("session_event_emitter", "status", "--json", env=env, url=flush_url)
    said["flush"] = _run(
        "session_event_emitter", "flush", "--deadline", "5", env=env, url=flush_url
    )
    os.unlink(filler)
    said["flush_with_room"] = _run(
        "session_event_emitter", "flush", "--deadline", "5", env=env, url=flush_url
    )
    said["log"] = _run("session_event_emitter", "log", "-n", "0", env=env, url=flush_url)
    said["status_with_room"] = _run(
        "session_event_emitter", "status", "--json", env=env, url=flush_url
    )
    json.dump(said, sys.stdout)


if __name__ == "__main__":
    main()
