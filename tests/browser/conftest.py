"""Fixtures of the browser suite: the function on loopback and Debian's Chromium via Playwright.

Without /usr/bin/chromium or the `playwright` package the suite skips on a workstation and
fails under CI. Screenshots go to $VIEWER_SCREENSHOT_DIR, else to pytest's temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    CHROMIUM,
    JOB_TOKEN,
    READ_TOKEN,
    REPO,
    K,
    Served,
)
from loopback import clean_env, free_port


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the browser tests must run in CI")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The function served by functions-framework on 127.0.0.1 with a fresh SQLite store."""
    folder = tmp_path_factory.mktemp("viewer-server")
    port = free_port()
    env = clean_env(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(folder / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
        SESSION_EVENTS_PUBLISH_K=str(K),
        PYTHONPATH=str(REPO / "functions"),
        PYTHONUNBUFFERED="1",
    )
    log = folder / "function.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--source",
                str(REPO / "functions" / "main.py"),
                "--target",
                "session_events",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO / "functions",
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Served(url=f"http://127.0.0.1:{port}", proc=proc, log=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the function exited early:\n{log.read_text()[-2000:]}")
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the function did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: $VIEWER_SCREENSHOT_DIR, else a folder of pytest's tmp dir."""
    configured = os.environ.get("VIEWER_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("viewer-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def playwright_api() -> Iterator[Any]:
    """Playwright's sync API, started once per module."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (tests/requirements.txt)")
    with sync_playwright() as api:
        yield api
