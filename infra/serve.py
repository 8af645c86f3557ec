"""Serves the function locally with functions-framework, as `make run` and `make demo` do.

A port that is already taken is refused at once, in a sentence naming it and `PORT=`;
"serving on" is printed only once the function answers `/healthz`; INT or TERM stops the
server this started. Standard library only: it runs before anything but the function's own
requirements is installed.

usage: python infra/serve.py [--host 127.0.0.1] [--port 8080]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO

REPO = Path(__file__).resolve().parents[1]
# Liveness bound of a start: a cold start takes well under a second on an idle machine.
START_BOUND_S = 120.0


Server = subprocess.Popen[bytes]


class PortTaken(Exception):
    """Something already listens on the port."""


def check_port_free(host: str, port: int, command: str = "make run") -> None:
    """PortTaken with a sentence naming the port and PORT= when it cannot be bound here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The server sets SO_REUSEADDR too: a port left in TIME_WAIT is free for it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortTaken(
                    f"port {port} on {host} is already in use (is another server running "
                    f"there?); stop it, or choose another port: PORT={port + 1} {command}"
                ) from None
            raise PortTaken(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def local_url(host: str, port: int) -> str:
    """The URL this machine reaches the server on."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{reach}:{port}" if ":" not in reach else f"http://[{reach}]:{port}"


def start(
    host: str, port: int, env: Mapping[str, str] | None = None, output: IO[bytes] | None = None
) -> Server:
    """functions-framework serving the function on host:port (after `check_port_free`),
    its output to `output` (default: this process's own)."""
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(REPO / "functions" / "main.py"),
        "--target",
        "session_events",
        "--host",
        host,
        "--port",
        str(port),
    ]
    return subprocess.Popen(
        command,
        env=dict(os.environ if env is None else env),
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        # A process group of its own (the framework's master and its worker): `stop` ends
        # the whole group, so no worker outlives its master, whatever signal came first.
        start_new_session=True,
    )


def answers(url: str) -> bool:
    """Whether `url`/healthz answers 200 now."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def wait_serving(url: str, process: Server, bound_s: float = START_BOUND_S) -> None:
    """Return once `url`/healthz answers 200; RuntimeError if the server ends or never does."""
    ends = time.monotonic() + bound_s
    while time.monotonic() < ends:
        if process.poll() is not None:
            raise RuntimeError(f"the function exited ({process.returncode}) before it answered")
        if answers(url):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the function did not answer {url}/healthz within {bound_s:g} s")


def stop(process: Server) -> None:
    """TERM to the server's whole process group, then KILL to whatever is left of it after
    10 s (a worker whose master has already gone included)."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    ends = time.monotonic() + 5
    while _group_alive(process.pid) and time.monotonic() < ends:
        time.sleep(0.05)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def exit_on_stop_signals() -> None:
    """Ctrl-C or TERM ends this process through its `finally` blocks: the first raises
    SystemExit, any later one is ignored (make passes a TERM on), so none can cut the
    server's `stop` short and leave it running."""
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _terminate(signum: int, _frame: FrameType | None) -> None:
    for later in (signal.SIGINT, signal.SIGTERM):
        signal.signal(later, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve.py", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    store = os.environ.get("SESSION_EVENTS_STORE") or "sqlite"
    try:
        check_port_free(args.host, args.port)
    except PortTaken as taken:
        print(f"session-events: {taken}", file=sys.stderr)
        return 1
    exit_on_stop_signals()
    process = start(args.host, args.port)
    try:
        url = local_url(args.host, args.port)
        try:
            wait_serving(url, process)
        except RuntimeError as failed:
            print(f"session-events: {failed}; its output is above", file=sys.stderr)
            return 1
        shown = f"http://{args.host}:{args.port}" if ":" not in args.host else url
        print(f"session-events: serving on {shown} (store: {store})", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        stop(process)


if __name__ == "__main__":
    sys.exit(main())
