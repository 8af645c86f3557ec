"""infra/firestore.rules on the Firestore emulator: clients are refused, IAM-level access is not."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "firestore.rules"
DOCUMENTS = "/v1/projects/demo-rules/databases/(default)/documents/session_events"

pytestmark = pytest.mark.firestore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        if os.environ.get("CI"):
            pytest.fail("gcloud is not installed: the rules test must run in CI")
        pytest.skip("gcloud is not installed (the Firestore emulator comes with it)")
    host = f"127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [gcloud, "emulators", "firestore", "start", f"--host-port={host}", f"--rules={RULES}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, "the Firestore emulator exited while starting"
            assert time.monotonic() < deadline, "the Firestore emulator did not start in time"
            try:
                with urllib.request.urlopen(f"http://{host}/", timeout=1):
                    break
            except OSError:
                time.sleep(0.25)
        yield f"http://{host}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _call(url: str, method: str, body: dict[str, object] | None, *, owner: bool) -> int:
    headers = {"Content-Type": "application/json"}
    if owner:
        headers["Authorization"] = "Bearer owner"  # the emulator's IAM-level (admin) access
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_client_cannot_write(emulator: str) -> None:
    url = f"{emulator}{DOCUMENTS}?documentId=client-write"
    body = {"fields": {"tool_count": {"integerValue": "1"}}}
    assert _call(url, "POST", body, owner=False) == 403


def test_client_cannot_read_what_the_server_wrote(emulator: str) -> None:
    url = f"{emulator}{DOCUMENTS}?documentId=server-write"
    body = {"fields": {"tool_count": {"integerValue": "1"}}}
    assert _call(url, "POST", body, owner=True) == 200
    assert _call(f"{emulator}{DOCUMENTS}/server-write", "GET", None, owner=False) == 403
    assert _call(f"{emulator}{DOCUMENTS}/server-write", "GET", None, owner=True) == 200


def test_client_cannot_list(emulator: str) -> None:
    assert _call(f"{emulator}{DOCUMENTS}", "GET", None, owner=False) == 403
