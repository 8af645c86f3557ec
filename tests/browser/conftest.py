"""Fixtures of the browser suite: the function on loopback and Debian's Chromium via Playwright.

Without /usr/bin/chromium or the `playwright` package the suite skips on a workstation and
fails under CI. Screenshots go to $VIEWER_SCREENSHOT_DIR, else to pytest's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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
from loopback import clean_env, free_port, start_function, stop, wait_healthy


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the browser tests must run in CI")
    pytest.skip(reason)


@contextmanager
def _serve(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> Iterator[Served]:
    """The function served by functions-framework on 127.0.0.1 with a fresh SQLite store."""
    folder = tmp_path_factory.mktemp("viewer-server")
    port = free_port()
    env = clean_env(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(folder / "events.db"),
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
        SESSION_EVENTS_PUBLISH_K=str(K),
        PYTHONPATH=str(REPO / "functions"),
        PYTHONUNBUFFERED="1",
        **settings,
    )
    log = folder / "function.log"
    proc = start_function(port, env, log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        yield Served(url=f"http://127.0.0.1:{port}", proc=proc, log=log)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The function with the read token of the browser suite."""
    with _serve(tmp_path_factory, SESSION_EVENTS_READ_TOKEN=READ_TOKEN) as function:
        yield function


@pytest.fixture(scope="module")
def served_without_read_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The function as it starts before its operator set a read token."""
    with _serve(tmp_path_factory) as function:
        yield function


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: $VIEWER_SCREENSHOT_DIR, else a folder of pytest's tmp dir."""
    configured = os.environ.get("VIEWER_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("viewer-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    SCREENSHOT_DIRS.add(folder)
    return folder


SCREENSHOT_DIRS: set[Path] = set()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots of this run are (they are test artifacts, never committed)."""
    for folder in sorted(SCREENSHOT_DIRS):
        shots = sorted(path.name for path in folder.glob("*.png"))
        if shots:
            terminalreporter.write_line(f"viewer screenshots ({len(shots)}): {folder}")


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
