"""Shared fixtures: the Firestore emulator (started once per run) and loopback helpers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from loopback import free_port


def _wait_for_emulator(url: str, process: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the Firestore emulator exited while starting")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError("the Firestore emulator did not start in time")


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[str]:
    """host:port of a Firestore emulator; skips without gcloud unless CI is set."""
    existing = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if existing:
        yield existing
        return
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        if os.environ.get("CI"):
            pytest.fail("gcloud is not installed: the Firestore emulator tests must run in CI")
        pytest.skip("gcloud is not installed (the Firestore emulator comes with it)")
    host = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [gcloud, "emulators", "firestore", "start", f"--host-port={host}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its Java child shares the group, so the group is stopped
    )
    try:
        _wait_for_emulator(f"http://{host}/", process, deadline_s=90)
        yield host
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
