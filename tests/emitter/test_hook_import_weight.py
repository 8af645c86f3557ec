"""The hook's weight: git is not started inside a repository, and no json with consent off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]


def test_hook_in_a_repository_records_head_without_importing_subprocess(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    repo: Path = consent_on.root / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, timeout=60)
    head = (
        subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, timeout=60
        )
        .stdout.decode()
        .strip()
    )
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write(str('subprocess' in sys.modules)))\n"
        "sys.argv = ['session-event-emit']\n"
        "from session_event_emitter import cli\n"
        "cli.run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=hook_json("in-a-repository", cwd=str(repo)),
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"False")
    [pending] = consent_on.outbox_files()
    assert json.loads(pending.read_text())["event"]["branch_sha"] == head


def test_hook_with_consent_off_and_no_config_file_loads_no_json(
    home: Any, hook_json: Any, tmp_path: Path
) -> None:
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write(\n"
        "    ','.join(m for m in ('json', 're', 'enum') if m in sys.modules)))\n"
        "sys.argv = ['session-event-emit']\n"
        "from session_event_emitter import cli\n"
        "cli.run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=hook_json("consent-off", cwd=str(tmp_path)),
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert home.outbox_files() == []
