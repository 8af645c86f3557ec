"""One JSON line per request, allowlisted fields, and a hash only as its first 6 characters."""

from __future__ import annotations

import json
import re

import pytest
from flask.testing import FlaskClient
from support import BATCH_URL, URL, event

FULL_HASH = re.compile(r"[0-9a-f]{64}")


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]


def test_each_request_writes_one_json_line_with_severity(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.post(URL, json=event())
    client.post(URL, json=event(tool_count=-1))
    client.get("/nope")
    logged = lines(capsys)
    assert [line["status"] for line in logged] == [202, 400, 404]
    assert [line["severity"] for line in logged] == ["INFO", "WARNING", "WARNING"]
    assert all(isinstance(line["message"], str) for line in logged)


def test_identity_appears_only_as_a_six_character_prefix(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = event()
    client.post(URL, json=payload)
    client.post(BATCH_URL, json={"events": [payload]})
    out = capsys.readouterr().out
    assert not FULL_HASH.search(out)
    assert payload["identity_hash"][:6] in out
    assert payload["identity_hash"][:7] not in out


def test_submitted_values_never_reach_the_log(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.post(URL, json={**event(plugin_version="leak-me"), "leak-key": "leak-value"})
    client.post(URL, data=b'{"leak-me": NaN}', content_type="application/json")
    assert "leak" not in capsys.readouterr().out
