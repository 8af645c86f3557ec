"""Baseline hook: what the original emitter did, a synchronous POST with a 500 ms timeout.

Reads the hook JSON on stdin, builds the event (hashes only) and posts it to
``<base>/v1/session-events`` with urllib, waiting for the answer; every failure is ignored.
Usage: ``python sync_post.py <base URL>``.
"""

import hashlib
import json
import sys
import urllib.request
from datetime import UTC, datetime


def main() -> int:
    base = sys.argv[1]
    try:
        hook = json.loads(sys.stdin.read() or "{}")
        now = datetime.now(UTC)
        event = {
            "identity_hash": hashlib.sha256(b"bench-install-id").hexdigest(),
            "session_id_hash": hashlib.sha256(str(hook.get("session_id")).encode()).hexdigest(),
            "ended_at": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "tool_count": 0,
            "tokens_saved": 0,
            "plugin_version": "0.0.0",
        }
        request = urllib.request.Request(
            base + "/v1/session-events",
            data=json.dumps(event).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=0.5) as answer:
            answer.read()
    except Exception:  # noqa: S110 - like the original hook, a failure is silent
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
