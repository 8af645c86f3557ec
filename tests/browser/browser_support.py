"""Wiring of the browser suite: the function on loopback, and pages watched for what they do."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("VIEWER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READ_TOKEN = "read-token-for-the-browser-suite"
JOB_TOKEN = "job-token-for-the-browser-suite"
K = 5


@dataclass
class Served:
    """A running function: its base URL, and JSON requests with a token."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def request(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def admin_json(self, path: str) -> dict[str, Any]:
        status, _, body = self.request("GET", path, token=READ_TOKEN)
        assert status == 200, (path, status, body[:300])
        return dict(json.loads(body))


@dataclass
class Opened:
    """One page and what it did: every request, the ones for another host, console errors."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self) -> None:
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.route("**/*", self._route)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def _route(self, route: Any) -> None:
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def left_the_server(self) -> list[str]:
        """Requests for anything but the function (data: URLs never reach the network)."""
        return self.foreign + [
            url
            for url in self.requests
            if not url.startswith("data:") and not url.startswith(self.origin + "/")
        ]


@dataclass
class Browser:
    context: Any
    origin: str

    def open(self, path: str) -> Opened:
        opened = Opened(page=self.context.new_page(), origin=self.origin)
        opened.watch()
        answer = opened.page.goto(self.origin + path)
        assert answer is not None and answer.status == 200, path
        opened.page.wait_for_load_state("networkidle")
        return opened
