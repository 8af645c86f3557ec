"""infra/firestore.rules denies every client; firestore.indexes.json says what deploy.sh does."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "firestore.rules"
INDEXES = ROOT / "infra" / "firestore.indexes.json"


def _code(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def _planned_commands() -> list[list[str]]:
    env = {**os.environ, "DRY_RUN": "1", "GOOGLE_CLOUD_PROJECT": "p", "REGION": "r"}
    done = subprocess.run(
        ["bash", str(ROOT / "infra" / "deploy.sh"), "firestore"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [shlex.split(line)[1:] for line in done.stdout.splitlines() if line.startswith("gcloud")]


def _flag(command: list[str], name: str) -> list[str]:
    return [word.split("=", 1)[1] for word in command if word.startswith(f"--{name}=")]


def test_rules_use_version_2() -> None:
    assert _code(RULES.read_text()).lstrip().startswith("rules_version = '2';")


def test_rules_deny_every_read_and_write() -> None:
    allows = re.findall(r"allow\s+([^;]*);", _code(RULES.read_text()))
    assert allows == ["read, write: if false"]
    assert "match /{document=**}" in RULES.read_text()


def test_index_file_matches_the_deployed_composite_indexes() -> None:
    config: dict[str, Any] = json.loads(INDEXES.read_text())
    creates = [c for c in _planned_commands() if c[:3] == ["firestore", "indexes", "composite"]]
    assert len(creates) == len(config["indexes"]) == 3
    for create, index in zip(creates, config["indexes"], strict=True):
        assert _flag(create, "collection-group") == [index["collectionGroup"]]
        assert _flag(create, "query-scope") == [index["queryScope"].lower()]
        assert _flag(create, "field-config") == [
            f"field-path={field['fieldPath']},order={field['order'].lower()}"
            for field in index["fields"]
        ]


def test_index_file_matches_the_deployed_exemptions_and_ttl() -> None:
    config: dict[str, Any] = json.loads(INDEXES.read_text())
    commands = _planned_commands()
    exempt = [
        (_flag(c, "collection-group")[0], c[4])
        for c in commands
        if c[:4] == ["firestore", "indexes", "fields", "update"]
    ]
    ttl = [c[4] for c in commands if c[:4] == ["firestore", "fields", "ttls", "update"]]
    overrides = config["fieldOverrides"]
    assert [(o["collectionGroup"], o["fieldPath"]) for o in overrides if o["indexes"] == []] == (
        exempt
    )
    assert [o["fieldPath"] for o in overrides if o.get("ttl") is True] == ttl == ["expire_at"]
    assert {o["collectionGroup"] for o in overrides} == {"session_events", "session_events_rollups"}
