"""A cold instance answers its first event without loading what only the read side needs.

Starting the function and answering one ingest request on the default store (SQLite) must
not import OpenDP (the public releases), the read side's or the viewer's modules (the
stores' read model included), the published OpenAPI documents or a cloud store's client,
and must build no Jinja2 environment nor compile any template: each would lengthen every
cold start. The function
runs in a fresh interpreter, as functions-framework starts it, and the same interpreter
then serves a read-side request, so the listing is seen to catch what a request loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import MAIN, ROOT, event

READ_TOKEN = "read-token-for-the-import-probe"

PROBE = """
import json, sys
import jinja2

built = {"environments": 0, "compiled": 0}
make_environment, compile_source = jinja2.Environment.__init__, jinja2.Environment.compile


def counted_environment(self, *args, **kwargs):
    built["environments"] += 1
    make_environment(self, *args, **kwargs)


def counted_compile(self, *args, **kwargs):
    built["compiled"] += 1
    return compile_source(self, *args, **kwargs)


jinja2.Environment.__init__, jinja2.Environment.compile = counted_environment, counted_compile

import functions_framework

app = functions_framework.create_app(target="session_events", source=MAIN)
client = app.test_client()
first = client.post("/v1/session-events", json=EVENT)
after_ingest = {"status": first.status_code, "modules": sorted(sys.modules), **built}
read = client.get("/admin/sessions", headers={"Authorization": "Bearer " + TOKEN})
after_read = {"status": read.status_code, "modules": sorted(sys.modules)}
print(json.dumps([after_ingest, after_read]))
"""

# Prefixes of modules a first ingest request has no use for.
OFF_THE_INGEST_PATH = (
    "opendp",
    "session_events.read",
    "session_events.rollups",
    "session_events.viewer",
    "session_events.stores.readmodel",
    "session_events.contract.openapi",
    "session_events.stores.firestore",
    "session_events.stores.dynamodb",
    "google.cloud.firestore",
    "google.api_core",
    "boto3",
    "botocore",
)


def _probe(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    script = f"MAIN, EVENT, TOKEN = {str(MAIN)!r}, {json.dumps(event())}, {READ_TOKEN!r}\n" + PROBE
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "SESSION_EVENTS_STORE": "sqlite",
            "SESSION_EVENTS_SQLITE_PATH": str(tmp_path / "events.db"),
            "SESSION_EVENTS_READ_TOKEN": READ_TOKEN,
        },
        check=True,
    )
    after_ingest, after_read = json.loads(done.stdout.strip().splitlines()[-1])
    return after_ingest, after_read


def _loaded(modules: list[str], prefix: str) -> list[str]:
    return [name for name in modules if name == prefix or name.startswith(prefix + ".")]


def test_first_ingest_request_loads_nothing_of_the_read_side(tmp_path: Path) -> None:
    after_ingest, after_read = _probe(tmp_path)
    assert after_ingest["status"] == 202
    loaded = {
        prefix: _loaded(after_ingest["modules"], prefix)
        for prefix in OFF_THE_INGEST_PATH
        if _loaded(after_ingest["modules"], prefix)
    }
    assert loaded == {}
    assert after_ingest["environments"] == 0, "a Jinja2 environment was built"
    assert after_ingest["compiled"] == 0, "a Jinja2 template was compiled"
    # The same listing sees the read side once a request needs it.
    assert after_read["status"] == 200
    assert _loaded(after_read["modules"], "session_events.read")
